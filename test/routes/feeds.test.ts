import { spawnSync } from "node:child_process";
import { Agent, request as httpRequest } from "node:http";
import { gunzipSync } from "node:zlib";
import ICAL from "ical.js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { byId, ok, problem } from "../helpers/api-client.js";
import { makeTestApp } from "../helpers/app.js";
import { DAY, fixedClock, HOUR } from "../helpers/clock.js";
import { createClient, createFeed, createSession, feedPath, insertManySessions, providerWithClient, setLink } from "../helpers/factories.js";
import { parseWithPython } from "../helpers/python-ics.js";

const clock = fixedClock("2026-11-26T12:00:00Z");
const t = await makeTestApp({ clock });

// Every feed test runs twice: through app.request (Hono alone) and through the node:http server
// main.ts runs, where warm feeds are answered by the fast path ahead of Hono.
const TRANSPORTS = ["app.request", "node:http server"] as const;
let via: (typeof TRANSPORTS)[number] = "app.request";
const server = await t.listen();
afterAll(() => server.close());

/** node:http, not fetch: fetch would decode gzip and hide Content-Encoding's bytes. */
function viaServer(method: string, path: string, headers: Record<string, string>): Promise<Response> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(`${server.baseUrl}${path}`, { method, headers, agent }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () => {
        const h = new Headers();
        for (const [k, v] of Object.entries(res.headers)) if (v !== undefined) h.set(k, Array.isArray(v) ? v.join(", ") : v);
        const body = Buffer.concat(chunks);
        resolve(new Response(res.statusCode === 304 || method === "HEAD" ? null : body, { status: res.statusCode!, headers: h }));
      });
      res.on("error", reject);
    });
    req.on("error", reject);
    req.end();
  });
}
const agent = new Agent({ keepAlive: true });
afterAll(() => agent.destroy());

const send = (method: string, url: string, headers: Record<string, string> = {}) =>
  via === "app.request" ? t.request(method, feedPath(url), { token: null, headers }) : viaServer(method, feedPath(url), headers);
// The public feed address is not part of the bearer API: it is fetched as a calendar app would.
const get = (url: string, headers: Record<string, string> = {}) => send("GET", url, headers);
const listFeeds = async (providerId: string) => ok(t.api.GET("/api/v1/providers/{id}/feeds", byId(providerId)));
const feedOf = (id: string, feedId: string) => ({ params: { path: { id, feedId } } });

async function dbSessions(providerId: string) {
  return t.database.db.query.sessions.findMany({ where: (s, { eq }) => eq(s.providerId, providerId) });
}

function icalEvents(body: string) {
  const comp = new ICAL.Component(ICAL.parse(body));
  return comp.getAllSubcomponents("vevent").map((v) => {
    const e = new ICAL.Event(v);
    return { uid: e.uid, start: e.startDate.toJSDate().toISOString(), end: e.endDate.toJSDate().toISOString(), sequence: e.sequence, v };
  });
}

async function world() {
  const { provider, client } = await providerWithClient(t, {}, { displayName: "Zelda Quixote-Marsh" });
  const sessions = [];
  for (let i = 0; i < 4; i++)
    sessions.push(
      await createSession(t, provider.id, client.id, { start: new Date(Date.parse("2026-11-20T15:00:00Z") + i * 3 * DAY).toISOString() }),
    );
  sessions.push(await createSession(t, provider.id, client.id, { start: "2026-12-05T15:00:00Z", kind: "in_person" }));
  return { provider, client, sessions };
}

describe.each(TRANSPORTS)("via %s", (transport) => {
  beforeAll(() => {
    via = transport;
  });
  describe("feed management", () => {
    it("creates a feed with subscribe URLs; lists it without the secret", async () => {
      const { provider } = await world();
      const feed = await createFeed(t, provider.id);
      const secret = /\/feeds\/([A-Za-z0-9_-]{43})\.ics$/.exec(feed.url)?.[1];
      expect(secret).toBeDefined();
      expect(feed.url.startsWith("https://cal.example.test/feeds/")).toBe(true);
      expect(feed.webcalUrl).toBe(feed.url.replace("https://", "webcal://"));
      expect(feed.googleSubscribeUrl).toContain(encodeURIComponent(feed.url));
      expect(feed.outlookSubscribeUrl).toMatch(/^https:\/\/outlook\.live\.com\/calendar\/0\/addfromweb\?url=/);
      const list = await listFeeds(provider.id);
      expect(list.items).toHaveLength(1);
      expect(JSON.stringify(list)).not.toContain(secret);
      const rows = await t.database.db.query.feeds.findMany();
      expect(JSON.stringify(rows)).not.toContain(secret);
    });

    it("full privacy needs acknowledgePhi", async () => {
      const { provider } = await world();
      const res = t.api.POST("/api/v1/providers/{id}/feeds", { ...byId(provider.id), body: { name: "x", privacy: "full" } });
      expect((await problem(res, 422)).code).toBe("phi_acknowledgement_required");
      await createFeed(t, provider.id, { privacy: "full", acknowledgePhi: true });
    });

    it("rotate: the old URL is 404 on the very next request, the new one 200; revoke likewise", async () => {
      const { provider } = await world();
      const feed = await createFeed(t, provider.id);
      expect((await get(feed.url)).status).toBe(200);
      const rotated = await ok(t.api.POST("/api/v1/providers/{id}/feeds/{feedId}/rotate", feedOf(provider.id, feed.id)));
      const old = await get(feed.url);
      expect(old.status).toBe(404);
      expect((await get(rotated.url)).status).toBe(200);
      await ok(t.api.DELETE("/api/v1/providers/{id}/feeds/{feedId}", feedOf(provider.id, feed.id)), 204);
      const revoked = await get(rotated.url);
      const unknown = await get("https://x/feeds/" + "A".repeat(43) + ".ics");
      const malformed = await get("https://x/feeds/short.ics");
      const bodies = await Promise.all(
        [old, revoked, unknown, malformed].map(async (r) => {
          const b = JSON.parse(await r.clone().text());
          delete b.requestId;
          return { status: r.status, body: b, ct: r.headers.get("content-type") };
        }),
      );
      for (const b of bodies) expect(b).toEqual(bodies[0]);
    });

    it("records fetches per subscriber kind without waiting on a write", async () => {
      const { provider } = await world();
      const feed = await createFeed(t, provider.id);
      await get(feed.url, { "user-agent": "Google-Calendar-Importer" });
      await get(feed.url, { "user-agent": "Microsoft Office/16.0 (Windows NT 10.0; Microsoft Outlook 16.0)" });
      await get(feed.url, { "user-agent": "iOS/17.4 (21E219) dataaccessd/1.0" });
      await get(feed.url, { "user-agent": "curl/8" });
      const before = (await listFeeds(provider.id)).items[0]!;
      expect(before.fetchCount).toBe(0); // not yet flushed: the answers did not wait for it
      await t.deps.runtime.fetchRecorder.flush();
      const after = (await listFeeds(provider.id)).items[0]!;
      expect(after.fetchCount).toBe(4);
      expect(after.lastFetchedAt).toBe(clock.now().toISOString());
      expect(after.lastFetchBySubscriber).toEqual({
        google: clock.now().toISOString(),
        microsoft: clock.now().toISOString(),
        apple: clock.now().toISOString(),
        other: clock.now().toISOString(),
      });
    });
  });

  describe("feed content", () => {
    it("parses in ical.js, python3-icalendar and python3-vobject with the database's UIDs and instants", async () => {
      const { provider } = await world();
      const feed = await createFeed(t, provider.id);
      const res = await get(feed.url);
      expect(res.status).toBe(200);
      const text = await res.text();
      expect(res.headers.get("content-type")).toBe("text/calendar; charset=utf-8");
      const expected = (await dbSessions(provider.id))
        .map((s) => ({ uid: s.uid, start: s.startAt.toISOString(), end: s.endAt.toISOString() }))
        .sort((a, b) => a.uid.localeCompare(b.uid));
      const fromIcal = icalEvents(text)
        .map(({ uid, start, end }) => ({ uid, start, end }))
        .sort((a, b) => a.uid.localeCompare(b.uid));
      expect(fromIcal).toEqual(expected);
      for (const lib of ["icalendar", "vobject"] as const) {
        const parsed = await parseWithPython(text, lib);
        const got = parsed.events.map(({ uid, start, end }) => ({ uid, start, end })).sort((a, b) => a.uid.localeCompare(b.uid));
        expect(got, lib).toEqual(expected);
      }
      // Wire rules.
      expect(text.endsWith("END:VCALENDAR\r\n")).toBe(true);
      for (const line of text.split("\r\n").slice(0, -1)) expect(Buffer.byteLength(line)).toBeLessThanOrEqual(75);
      expect(text).not.toMatch(/[^\r]\n/);
      for (const header of [
        "VERSION:2.0",
        "PRODID:",
        "CALSCALE:GREGORIAN",
        "X-WR-CALNAME:",
        "NAME:",
        "X-WR-TIMEZONE:America/New_York",
        "REFRESH-INTERVAL;VALUE=DURATION:PT1H",
        "X-PUBLISHED-TTL:PT1H",
      ]) {
        expect(text).toContain("\r\n" + header);
      }
    });

    it("virtual events carry the link and instructions; in-person ones carry no link", async () => {
      const { provider } = await world();
      const feed = await createFeed(t, provider.id);
      const events = icalEvents(await (await get(feed.url)).text());
      const virtual = events.filter((e) => e.v.getFirstPropertyValue("url"));
      const inPerson = events.filter((e) => !e.v.getFirstPropertyValue("url"));
      expect(virtual).toHaveLength(4);
      expect(inPerson).toHaveLength(1);
      const v = virtual[0]!.v;
      expect(v.getFirstPropertyValue("location")).toBe("https://zoom.us/j/1234567890");
      expect(String(v.getFirstPropertyValue("description")).split("\n")[0]).toBe("https://zoom.us/j/1234567890");
      expect(String(v.getFirstPropertyValue("description"))).toContain("waiting room");
      expect(String(v.getFirstProperty("conference")?.getParameter("feature")).split(",").sort()).toEqual(["AUDIO", "VIDEO"]);
      expect(v.getFirstPropertyValue("x-google-conference")).toBeNull();
      const p = inPerson[0]!.v;
      expect(JSON.stringify(p.toJSON())).not.toContain("zoom");
      expect(p.getFirstPropertyValue("class")).toBe("PRIVATE");
    });

    it("Meet links carry X-GOOGLE-CONFERENCE; audio-only CONFERENCE is FEATURE=AUDIO only", async () => {
      const { provider } = await providerWithClient(t);
      await setLink(t, provider.id, { url: "https://meet.google.com/abc-defg-hij" });
      const medicare = await createClient(t, provider.id, { medicare: true });
      await createSession(t, provider.id, medicare.id, { modality: "audio_only" });
      const feed = await createFeed(t, provider.id);
      const text = await (await get(feed.url)).text();
      const v = icalEvents(text)[0]!.v;
      expect(v.getFirstPropertyValue("x-google-conference")).toBe("https://meet.google.com/abc-defg-hij");
      expect(text.replace(/\r\n /g, "")).toMatch(/CONFERENCE;VALUE=URI;FEATURE=AUDIO[;:]/);
      expect(v.getFirstProperty("conference")?.getParameter("feature")).toEqual("AUDIO");
    });

    it("privacy: minimal names no client; no level carries insurance, locations or email", async () => {
      const { provider, client } = await world();
      await ok(t.api.POST("/api/v1/clients/{id}/locations", { ...byId(client.id), body: { state: "VT", label: "Lakehouse Retreat" } }), 201);
      const minimal = await (await get((await createFeed(t, provider.id)).url)).text();
      const initials = await (await get((await createFeed(t, provider.id, { privacy: "initials" })).url)).text();
      const full = await (await get((await createFeed(t, provider.id, { privacy: "full", acknowledgePhi: true })).url)).text();
      const unfold = (s: string) => s.replace(/\r\n /g, "");
      expect(unfold(minimal)).not.toMatch(/Zelda|Quixote|Marsh|Z\.Q/);
      expect(unfold(initials)).toContain("Z.Q.M.");
      expect(unfold(initials)).not.toMatch(/Zelda|Quixote/);
      expect(unfold(full)).toContain("Zelda Quixote-Marsh");
      for (const body of [minimal, initials, full].map(unfold)) {
        expect(body).not.toMatch(/in_network|out_of_network|self_pay|insurance|medicare/i);
        expect(body).not.toMatch(/Lakehouse|VT\b/);
        expect(body).not.toMatch(/@(?!telehealth-calendar)[a-z0-9-]+\.[a-z]/i); // UIDs are ours; no emails
        expect(body).not.toContain("ATTENDEE");
      }
    });

    it("same data, same bytes and ETag; a TZ=Asia/Tokyo process renders identical bytes", async () => {
      const { provider } = await world();
      const feed = await createFeed(t, provider.id);
      const a = await get(feed.url);
      const b = await get(feed.url);
      const bodyA = await a.text();
      expect(await b.text()).toBe(bodyA);
      expect(b.headers.get("etag")).toBe(a.headers.get("etag"));
      expect(a.headers.get("etag")).toMatch(/^"[A-Za-z0-9_-]+"$/);

      // Render the same rows in child processes with different TZ.
      const rows = await t.database.db.query.sessions.findMany({ where: (s, { eq }) => eq(s.providerId, provider.id) });
      const script = `
      import { renderFeed } from "./src/ics/feed.ts";
      const rows = JSON.parse(process.argv[1]);
      process.stdout.write(renderFeed({ name: "x", timezone: "America/New_York", prodId: "-//t//EN" }, rows.map((r) => ({
        uid: r.uid, sequence: r.sequence, start: new Date(r.startAt), end: new Date(r.endAt), stamp: new Date(r.updatedAt),
        lastModified: new Date(r.updatedAt), status: "CONFIRMED", summary: "Telehealth session",
        virtual: { url: "https://zoom.us/j/1234567890", instructions: "Hi", modality: "video", googleMeet: false } }))));`;
      const run = (tz: string) =>
        spawnSync(process.execPath, ["--import", "tsx", "--input-type=module", "-e", script, JSON.stringify(rows)], {
          env: { ...process.env, TZ: tz, LANG: tz === "UTC" ? "C" : "ja_JP.UTF-8" },
          encoding: "utf8",
        });
      const tokyo = run("Asia/Tokyo");
      const utc = run("UTC");
      expect(tokyo.status, tokyo.stderr).toBe(0);
      expect(tokyo.stdout.length).toBeGreaterThan(100);
      expect(tokyo.stdout).toBe(utc.stdout);
    });

    it("reschedule: same UID, SEQUENCE +1, new ETag; cancel: CANCELLED for 7 days, then gone", async () => {
      const { provider, sessions } = await world();
      const feed = await createFeed(t, provider.id);
      const target = sessions[3]!;
      const before = await get(feed.url);
      const etag1 = before.headers.get("etag");
      await ok(t.api.PATCH("/api/v1/sessions/{id}", { ...byId(target.id), body: { start: "2026-12-10T16:00:00Z" } }));
      const after = await get(feed.url);
      expect(after.headers.get("etag")).not.toBe(etag1);
      const ev = icalEvents(await after.text()).find((e) => e.uid === target.uid)!;
      expect(ev).toMatchObject({ start: "2026-12-10T16:00:00.000Z", sequence: 1 });

      await ok(t.api.POST("/api/v1/sessions/{id}/cancel", byId(target.id)));
      const cancelled = icalEvents(await (await get(feed.url)).text()).find((e) => e.uid === target.uid)!;
      expect(cancelled.sequence).toBe(2);
      expect(cancelled.v.getFirstPropertyValue("status")).toBe("CANCELLED");
      clock.advance(6 * DAY + 23 * HOUR);
      expect(icalEvents(await (await get(feed.url)).text()).some((e) => e.uid === target.uid)).toBe(true);
      clock.advance(2 * HOUR);
      expect(icalEvents(await (await get(feed.url)).text()).some((e) => e.uid === target.uid)).toBe(false);
      clock.set("2026-11-26T12:00:00Z");
    });

    it("window: default 30 days back, 180 ahead; custom windows", async () => {
      const { provider, client } = await providerWithClient(t);
      const old = await createSession(t, provider.id, client.id, { start: "2026-10-20T15:00:00Z" });
      const recent = await createSession(t, provider.id, client.id, { start: "2026-10-28T15:00:00Z" });
      const far = await createSession(t, provider.id, client.id, { start: "2027-05-30T15:00:00Z" });
      const near = await createSession(t, provider.id, client.id, { start: "2027-05-20T15:00:00Z" });
      const uids = async (url: string) => icalEvents(await (await get(url)).text()).map((e) => e.uid);
      const def = await uids((await createFeed(t, provider.id)).url);
      expect(def).toEqual(expect.arrayContaining([recent.uid, near.uid]));
      expect(def).not.toContain(old.uid);
      expect(def).not.toContain(far.uid);
      const narrow = await uids((await createFeed(t, provider.id, { pastDays: 0, futureDays: 7 })).url);
      expect(narrow).toEqual([]);
    });

    it("stays under 1 MB by dropping the oldest past events first", async () => {
      const { provider, client } = await providerWithClient(t);
      // Long instructions make each event ~2.4 KB; 600 of them exceed 1 MB, and over half are past.
      const link = await setLink(t, provider.id, { instructions: "Before we meet: ".padEnd(1990, "x") });
      const base = Date.parse("2026-10-28T00:00:00Z");
      const rows = await insertManySessions(
        t,
        { providerId: provider.id, clientId: client.id, link },
        Array.from({ length: 600 }, (_, i) => base + i * 2 * HOUR),
      );
      const res = await get((await createFeed(t, provider.id)).url);
      const text = await res.text();
      expect(Buffer.byteLength(text)).toBeLessThanOrEqual(1_000_000);
      const kept = new Set(icalEvents(text).map((e) => e.uid));
      expect(kept.size).toBeGreaterThan(100);
      expect(kept.size).toBeLessThan(600);
      // Every dropped one is older than every kept past one, and no future one is dropped.
      const now = clock.now().getTime();
      const dropped = rows.filter((r) => !kept.has(r.uid));
      const keptRows = rows.filter((r) => kept.has(r.uid));
      expect(dropped.every((r) => r.endAt.getTime() <= now)).toBe(true);
      const newestDropped = Math.max(...dropped.map((r) => r.endAt.getTime()));
      expect(keptRows.every((r) => r.endAt.getTime() >= newestDropped)).toBe(true);
    });
  });

  describe("feed HTTP", () => {
    it("conditional GET: If-None-Match wins; If-Modified-Since; garbage validators give 200; HEAD", async () => {
      const { provider } = await world();
      const feed = await createFeed(t, provider.id);
      const first = await get(feed.url);
      const etag = first.headers.get("etag")!;
      const lastModified = first.headers.get("last-modified")!;
      expect(new Date(lastModified).toUTCString()).toBe(lastModified);
      for (const [k, v] of Object.entries({ "cache-control": "private, max-age=300", "referrer-policy": "no-referrer", "x-robots-tag": "noindex" })) {
        expect(first.headers.get(k)).toBe(v);
      }
      const notModified = await get(feed.url, { "if-none-match": etag });
      expect(notModified.status).toBe(304);
      expect(await notModified.text()).toBe("");
      expect(notModified.headers.get("etag")).toBe(etag);
      expect((await get(feed.url, { "if-none-match": '"stale"' })).status).toBe(200);
      // If-None-Match wins over a matching If-Modified-Since.
      expect((await get(feed.url, { "if-none-match": '"stale"', "if-modified-since": lastModified })).status).toBe(200);
      expect((await get(feed.url, { "if-modified-since": lastModified })).status).toBe(304);
      expect((await get(feed.url, { "if-modified-since": new Date(Date.parse(lastModified) + 3600_000).toUTCString() })).status).toBe(304);
      expect((await get(feed.url, { "if-modified-since": new Date(Date.parse(lastModified) - 1000).toUTCString() })).status).toBe(200);
      for (const garbage of ["yesterday", "2026-13-45", "", "Mon, 99 Foo 2026 99:99:99 GMT"]) {
        expect((await get(feed.url, { "if-modified-since": garbage })).status, garbage).toBe(200);
      }
      expect((await get(feed.url, { "if-none-match": "garbage" })).status).toBe(200);
      const head = await send("HEAD", feed.url);
      expect(head.status).toBe(200);
      expect(head.headers.get("etag")).toBe(etag);
      expect(head.headers.get("content-length")).toBe(String(Buffer.byteLength(await first.text())));
      expect(await head.text()).toBe("");
      const headGz = await send("HEAD", feed.url, { "accept-encoding": "gzip" });
      const gz = await get(feed.url, { "accept-encoding": "gzip" });
      expect(headGz.headers.get("content-length")).toBe(String((await gz.arrayBuffer()).byteLength));
      expect(headGz.headers.get("etag")).toBe(gz.headers.get("etag"));
    });

    it("gzip only when asked; no redirects; no User-Agent gating", async () => {
      const { provider } = await world();
      const feed = await createFeed(t, provider.id);
      const plain = await get(feed.url);
      expect(plain.headers.get("content-encoding")).toBeNull();
      const body = await plain.text();
      const gz = await get(feed.url, { "accept-encoding": "gzip, deflate" });
      expect(gz.headers.get("content-encoding")).toBe("gzip");
      expect(gunzipSync(Buffer.from(await gz.arrayBuffer())).toString()).toBe(body);
      expect((await get(feed.url, { "accept-encoding": "gzip;q=0" })).headers.get("content-encoding")).toBeNull();
      for (const ua of ["", "Google-Calendar-Importer", "Mozilla/5.0", "python-requests/2"]) {
        const r = await get(feed.url, { "user-agent": ua });
        expect(r.status).toBe(200);
        expect(await r.text()).toBe(body);
      }
    });

    it("a provider's change shows at once (the cache follows the data version)", async () => {
      const { provider, client } = await world();
      const feed = await createFeed(t, provider.id);
      const n1 = icalEvents(await (await get(feed.url)).text()).length;
      await createSession(t, provider.id, client.id, { start: "2026-12-20T15:00:00Z" });
      expect(icalEvents(await (await get(feed.url)).text()).length).toBe(n1 + 1);
    });

    it("logs never contain a feed secret", async () => {
      const { provider } = await world();
      const feed = await createFeed(t, provider.id);
      await get(feed.url);
      await ok(t.api.POST("/api/v1/providers/{id}/feeds/{feedId}/rotate", feedOf(provider.id, feed.id)));
      const secret = /feeds\/(.+)\.ics/.exec(feed.url)![1]!;
      expect(t.logs.text()).not.toContain(secret);
      expect(t.logs.text()).toContain('"route":"/feeds/:file"');
    });
  });
});

describe("invitation", () => {
  it("carries the link and instructions, and meets the wire rules", async () => {
    const { sessions } = await world();
    const { data: text, response: res } = await t.api.GET("/api/v1/sessions/{id}/invite.ics", { ...byId(sessions[0]!.id), parseAs: "text" });
    if (text === undefined) throw new Error(`invite.ics answered ${res.status}`);
    expect(res.headers.get("content-type")).toMatch(/^text\/calendar/);
    expect(text.endsWith("\r\n")).toBe(true);
    for (const line of text.split("\r\n").slice(0, -1)) expect(Buffer.byteLength(line)).toBeLessThanOrEqual(75);
    const ev = icalEvents(text)[0]!;
    expect(ev.uid).toBe(sessions[0]!.uid);
    expect(String(ev.v.getFirstPropertyValue("description"))).toContain("https://zoom.us/j/1234567890");
    expect(String(ev.v.getFirstPropertyValue("description"))).toContain("waiting room");
    const py = await parseWithPython(text, "icalendar");
    expect(py.events[0]?.uid).toBe(sessions[0]!.uid);
  });
});
