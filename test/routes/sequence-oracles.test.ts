// Independent parsers (ical.js, python3-icalendar, python3-vobject) read the served feed after each
// change a calendar can see: SEQUENCE rises on exactly the changed events, DTSTAMP and LAST-MODIFIED
// move with it, and past events stay as they were when the default link changes (docs/rules.md).
import ICAL from "ical.js";
import { describe, expect, it } from "vitest";
import { byId, ok } from "../helpers/api-client.js";
import { makeTestApp } from "../helpers/app.js";
import { fixedClock, HOUR } from "../helpers/clock.js";
import { createFeed, createSession, feedPath, providerWithClient, setLink } from "../helpers/factories.js";
import { type PythonIcsEvent, parseWithPython } from "../helpers/python-ics.js";

const clock = fixedClock("2026-12-10T12:00:00Z");
const t = await makeTestApp({ clock });

type Seen = {
  sequence: number;
  summary?: string;
  location?: string;
  url?: string;
  description?: string;
  status?: string;
  stamp?: string;
  lastModified?: string;
};
type View = Record<string, Seen>;

function viaIcalJs(text: string): View {
  const comp = new ICAL.Component(ICAL.parse(text));
  const out: View = {};
  for (const v of comp.getAllSubcomponents("vevent")) {
    const s = (name: string) => {
      const p = v.getFirstPropertyValue(name);
      return p === null || p === undefined ? undefined : String(p);
    };
    out[s("uid")!] = {
      sequence: Number(v.getFirstPropertyValue("sequence")),
      summary: s("summary"),
      location: s("location"),
      url: s("url"),
      description: s("description"),
      status: s("status"),
      stamp: (v.getFirstPropertyValue("dtstamp") as ICAL.Time).toJSDate().toISOString(),
      lastModified: (v.getFirstPropertyValue("last-modified") as ICAL.Time).toJSDate().toISOString(),
    };
  }
  return out;
}

const fromPython = (events: PythonIcsEvent[]): View =>
  Object.fromEntries(
    events.map((e) => [
      e.uid,
      { sequence: e.sequence!, summary: e.summary, location: e.location, url: e.url, description: e.description, status: e.status },
    ]),
  );

/** The feed as each of the three parsers reads it. */
async function read(url: string): Promise<Record<"icaljs" | "icalendar" | "vobject", View>> {
  const res = await t.request("GET", feedPath(url), { token: null });
  const body = await res.text();
  expect(res.status, body).toBe(200);
  const [icalendar, vobject] = await Promise.all([parseWithPython(body, "icalendar"), parseWithPython(body, "vobject")]);
  expect(icalendar.errors).toEqual([]);
  return { icaljs: viaIcalJs(body), icalendar: fromPython(icalendar.events), vobject: fromPython(vobject.events) };
}

const PARSERS = ["icaljs", "icalendar", "vobject"] as const;
const withoutStamps = ({ stamp: _s, lastModified: _l, ...rest }: Seen) => rest;

describe("SEQUENCE, DTSTAMP and LAST-MODIFIED seen by three independent parsers", () => {
  it("rise on each visible change; past events unchanged after a new default link", async () => {
    const { provider, client } = await providerWithClient(t, {}, { displayName: "Ada Lovelace" });
    const past = await createSession(t, provider.id, client.id, { start: "2026-12-08T15:00:00Z" });
    const cancelled = await createSession(t, provider.id, client.id, { start: "2026-12-12T15:00:00Z" });
    await ok(t.api.POST("/api/v1/sessions/{id}/cancel", byId(cancelled.id)));
    const upcoming = await createSession(t, provider.id, client.id, { start: "2026-12-14T15:00:00Z" });
    const feed = await createFeed(t, provider.id, { privacy: "initials" });

    const v0 = await read(feed.url);
    for (const p of PARSERS) expect(Object.keys(v0[p]).sort()).toEqual([past.uid, cancelled.uid, upcoming.uid].sort());

    // 1. A new default link: only the upcoming session follows it.
    clock.advance(HOUR);
    await setLink(t, provider.id, { url: "https://zoom.us/j/2222222222", instructions: "New room, same waiting room." });
    const v1 = await read(feed.url);
    for (const p of PARSERS) {
      expect(v1[p][past.uid], p).toEqual(v0[p][past.uid]);
      expect(v1[p][cancelled.uid], p).toEqual(v0[p][cancelled.uid]);
      expect(v1[p][upcoming.uid]!.sequence, p).toBe(v0[p][upcoming.uid]!.sequence + 1);
      expect(v1[p][upcoming.uid]!.url ?? v1[p][upcoming.uid]!.location, p).toContain("2222222222");
    }
    expect(v1.icaljs[upcoming.uid]!.stamp).toBe(clock.now().toISOString());
    expect(v1.icaljs[upcoming.uid]!.lastModified).toBe(clock.now().toISOString());

    // 2. The client is renamed: the initials change, on every event that shows them.
    clock.advance(HOUR);
    await ok(t.api.PATCH("/api/v1/clients/{id}", { ...byId(client.id), body: { displayName: "Grace Hopper" } }));
    const v2 = await read(feed.url);
    for (const p of PARSERS) {
      for (const uid of [past.uid, cancelled.uid, upcoming.uid]) {
        expect(v2[p][uid]!.summary, p).toContain("G.H.");
        expect(v2[p][uid]!.sequence, p).toBe(v1[p][uid]!.sequence + 1);
      }
    }
    expect(v2.icaljs[past.uid]!.stamp).toBe(clock.now().toISOString());

    // 3. Rescheduled.
    clock.advance(HOUR);
    await ok(t.api.PATCH("/api/v1/sessions/{id}", { ...byId(upcoming.id), body: { start: "2026-12-14T17:00:00Z" } }));
    const v3 = await read(feed.url);
    for (const p of PARSERS) {
      expect(v3[p][upcoming.uid]!.sequence, p).toBe(v2[p][upcoming.uid]!.sequence + 1);
      expect(withoutStamps(v3[p][past.uid]!), p).toEqual(withoutStamps(v2[p][past.uid]!));
    }
    expect(v3.icaljs[upcoming.uid]!.lastModified).toBe(clock.now().toISOString());

    // 4. Cancelled.
    clock.advance(HOUR);
    await ok(t.api.POST("/api/v1/sessions/{id}/cancel", byId(upcoming.id)));
    const v4 = await read(feed.url);
    for (const p of PARSERS) {
      expect(v4[p][upcoming.uid]!.sequence, p).toBe(v3[p][upcoming.uid]!.sequence + 1);
      expect(v4[p][upcoming.uid]!.status, p).toBe("CANCELLED");
    }
    expect(v4.icaljs[upcoming.uid]!.stamp).toBe(clock.now().toISOString());

    // Same data, same bytes: nothing changed, nothing moves.
    const again = await read(feed.url);
    expect(again).toEqual(v4);
  });
});
