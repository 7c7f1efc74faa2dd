// Part 1: feed rendering in one process. Our writer (renderFeed, and fitFeedToSize as the server
// calls it) against ical-generator, ics, and the floor: the same unfolded lines built by plain
// concatenation and one join. Run as its own child (`node --expose-gc --import tsx
// test/bench/render.ts [--quick]`) so the orchestrator's heap does not disturb it; prints JSON.
import { createHash } from "node:crypto";
import { pathToFileURL } from "node:url";
import ical, { ICalEventClass, ICalEventStatus, ICalEventTransparency } from "ical-generator";
import { createEvents, type EventAttributes } from "ics";
import { type FeedCalendar, type FeedEvent, fitFeedToSize, formatUtc, renderFeed } from "../../src/ics/feed.js";
import { escapeText, unfoldLines } from "../../src/ics/text.js";

export const ZOOM_URL = "https://zoom.us/j/1234567890";
export const INSTRUCTIONS = "Join 5 minutes early; the waiting room admits you.";
const DAY = 86_400_000;

const CALENDAR: FeedCalendar = {
  name: "Sessions - Dr Bench",
  timezone: "America/New_York",
  prodId: "-//Telehealth Calendar//Feed 1.0//EN",
};

/**
 * The events the server would hand the writer for one provider: ~5 a day over the default window
 * (30 days back, 180 ahead), 50 minutes each; 5% in person, 5% audio-only, 2% cancelled.
 */
export function makeEvents(n: number, now: number): FeedEvent[] {
  const events: FeedEvent[] = [];
  for (let i = 0; i < n; i++) {
    const day = Math.floor((i * 208) / n) - 29;
    const start = new Date(Math.floor((now + day * DAY) / DAY) * DAY + (13 + (i % 8)) * 3600_000 + (i % 3) * 60_000);
    const updated = new Date(now - ((i * 7919) % 40) * DAY);
    const inPerson = i % 20 === 7;
    const cancelled = i % 50 === 13;
    events.push({
      uid: `${createHash("md5").update(`bench-${i}`).digest("hex")}@telehealth-calendar`,
      sequence: cancelled ? 1 : 0,
      start,
      end: new Date(start.getTime() + 50 * 60_000),
      stamp: updated,
      lastModified: updated,
      status: cancelled ? "CANCELLED" : "CONFIRMED",
      summary: inPerson ? "In-person session" : "Telehealth session",
      ...(inPerson
        ? { location: "In person" }
        : { virtual: { url: ZOOM_URL, instructions: INSTRUCTIONS, modality: i % 20 === 3 ? "audio_only" : "video", googleMeet: false } }),
    });
  }
  // In the order renderFeed writes them (start, then UID), so the floor can walk them as they are.
  return events.sort((a, b) => a.start.getTime() - b.start.getTime() || (a.uid < b.uid ? -1 : a.uid > b.uid ? 1 : 0));
}

/**
 * The floor: the lines renderFeed writes, unfolded, built by concatenation in input order with the
 * same date formatting, then one join. Values that need escaping are per-provider constants here,
 * escaped once outside the timed loop, so the floor does strictly less work than any writer.
 */
function makeFloor(calendar: FeedCalendar) {
  const name = escapeText(calendar.name);
  const header = [
    "BEGIN:VCALENDAR",
    "VERSION:2.0",
    "PRODID:" + escapeText(calendar.prodId),
    "CALSCALE:GREGORIAN",
    "X-WR-CALNAME:" + name,
    "NAME:" + name,
    "X-WR-TIMEZONE:" + calendar.timezone,
    "REFRESH-INTERVAL;VALUE=DURATION:PT1H",
    "X-PUBLISHED-TTL:PT1H",
  ];
  const instructions = "\\n" + escapeText(INSTRUCTIONS);
  const location = escapeText(ZOOM_URL);
  return (events: readonly FeedEvent[]): string => {
    const out = header.slice();
    for (const ev of events) {
      out.push(
        "BEGIN:VEVENT",
        "UID:" + ev.uid,
        "DTSTAMP:" + formatUtc(ev.stamp),
        "DTSTART:" + formatUtc(ev.start),
        "DTEND:" + formatUtc(ev.end),
        "SEQUENCE:" + ev.sequence,
        "LAST-MODIFIED:" + formatUtc(ev.lastModified),
        "STATUS:" + ev.status,
        "CLASS:PRIVATE",
        "SUMMARY:" + ev.summary,
        "TRANSP:OPAQUE",
      );
      const v = ev.virtual;
      if (v) {
        out.push(
          "LOCATION:" + location,
          "URL:" + v.url,
          "DESCRIPTION:" + v.url + instructions,
          (v.modality === "audio_only"
            ? "CONFERENCE;VALUE=URI;FEATURE=AUDIO;LABEL=Join audio-only session:"
            : "CONFERENCE;VALUE=URI;FEATURE=AUDIO,VIDEO;LABEL=Join video session:") + v.url,
        );
      } else if (ev.location) out.push("LOCATION:" + ev.location);
      out.push("END:VEVENT");
    }
    out.push("END:VCALENDAR");
    return out.join("\r\n") + "\r\n";
  };
}

/** ical-generator's model: built and serialised per feed, as a server using it would. No CONFERENCE
 *  (it has no such property and rejects x-names without X-). */
function renderIcalGenerator(events: readonly FeedEvent[]): string {
  const cal = ical({ name: CALENDAR.name, prodId: "//Telehealth Calendar//Feed 1.0//EN", ttl: 3600, x: { "X-WR-TIMEZONE": CALENDAR.timezone } });
  for (const ev of events) {
    const v = ev.virtual;
    cal.createEvent({
      id: ev.uid,
      sequence: ev.sequence,
      start: ev.start,
      end: ev.end,
      stamp: ev.stamp,
      lastModified: ev.lastModified,
      status: ev.status === "CANCELLED" ? ICalEventStatus.CANCELLED : ICalEventStatus.CONFIRMED,
      summary: ev.summary,
      class: ICalEventClass.PRIVATE,
      transparency: ICalEventTransparency.OPAQUE,
      ...(v ? { location: v.url, url: v.url, description: `${v.url}\n${v.instructions ?? ""}` } : { location: ev.location ?? null }),
    });
  }
  return cal.toString();
}

/** ics: one createEvents call per feed (it validates every event). No CONFERENCE; DTSTAMP is its own. */
function renderIcs(events: readonly FeedEvent[]): string {
  const attrs: EventAttributes[] = events.map((ev) => {
    const v = ev.virtual;
    return {
      uid: ev.uid,
      sequence: ev.sequence,
      start: ev.start.getTime(),
      startInputType: "utc",
      startOutputType: "utc",
      end: ev.end.getTime(),
      endInputType: "utc",
      endOutputType: "utc",
      lastModified: ev.lastModified.getTime(),
      title: ev.summary,
      status: ev.status,
      classification: "PRIVATE",
      transp: "OPAQUE",
      ...(v ? { location: v.url, url: v.url, description: `${v.url}\n${v.instructions ?? ""}` } : ev.location ? { location: ev.location } : {}),
    };
  });
  const r = createEvents(attrs, { productId: "Telehealth Calendar//Feed 1.0//EN", calName: CALENDAR.name });
  if (r.error || !r.value) throw new Error(`ics failed: ${r.error?.message}`);
  return r.value;
}

export type RenderRow = { sessions: number; renderer: string; medianMs: number; p90Ms: number; runs: number; bytes: number };
export type RenderResult = { rows: RenderRow[]; runs: number; sizes: number[]; notes: string[] };

type Renderer = { name: string; fn: (events: readonly FeedEvent[]) => string; slow?: boolean; capped?: boolean };

function sortedMedian(xs: number[], p = 50): number {
  const s = xs.slice().sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))]!;
}

export function benchRender(opts: { quick: boolean; now?: number }): RenderResult {
  const now = opts.now ?? Date.UTC(2026, 10, 26, 12);
  const sizes = opts.quick ? [100, 1000] : [100, 1000, 5000];
  const runs = opts.quick ? 20 : 30;
  const gc = (globalThis as { gc?: () => void }).gc;
  const floor = makeFloor(CALENDAR);
  const rows: RenderRow[] = [];
  const notes: string[] = [];
  for (const n of sizes) {
    const events = makeEvents(n, now);
    const precomputed = unfoldLines(renderFeed(CALENDAR, events));
    const renderers: Renderer[] = [
      { name: "ours: renderFeed", fn: (e) => renderFeed(CALENDAR, e) },
      { name: "ours: fitFeedToSize (as served)", fn: (e) => fitFeedToSize(CALENDAR, e, { now: new Date(now) }).ics, capped: true },
      { name: "floor: build lines + join", fn: floor },
      { name: "reference: join of precomputed lines", fn: () => precomputed.join("\r\n") + "\r\n" },
      { name: "ical-generator", fn: renderIcalGenerator, slow: true },
      { name: "ics", fn: renderIcs, slow: true },
    ];
    // Sanity: the floor writes exactly our logical lines, and every library writes every event.
    const ours = renderFeed(CALENDAR, events);
    if (floor(events) !== unfoldLines(ours).join("\r\n") + "\r\n") throw new Error(`floor differs from renderFeed unfolded at n=${n}`);
    for (const r of renderers) {
      const count = r.fn(events).split("BEGIN:VEVENT").length - 1;
      if (r.capped && count < n) {
        notes.push(
          `${n.toLocaleString("en-US")} sessions: ${r.name} keeps ${count.toLocaleString("en-US")} events under the 1 MB cap Google reports for subscribed feeds, so it writes fewer bytes than renderFeed`,
        );
      } else if (count !== n) throw new Error(`${r.name} wrote ${count} events, not ${n}`);
    }
    const samples = new Map<string, number[]>(renderers.map((r) => [r.name, []]));
    const bytes = new Map<string, number>();
    // Warm-up: JIT every path before timing.
    for (const r of renderers) for (let i = 0; i < (r.slow ? 3 : 10); i++) bytes.set(r.name, Buffer.byteLength(r.fn(events)));
    gc?.();
    // Rounds interleave the renderers, so machine noise spreads over all of them alike.
    for (let round = 0; round < runs; round++) {
      for (const r of renderers) {
        const t0 = performance.now();
        const out = r.fn(events);
        const dt = performance.now() - t0;
        if (out.length === 0) throw new Error("empty output");
        samples.get(r.name)!.push(dt);
      }
    }
    for (const r of renderers) {
      const s = samples.get(r.name)!;
      rows.push({ sessions: n, renderer: r.name, medianMs: sortedMedian(s), p90Ms: sortedMedian(s, 90), runs: s.length, bytes: bytes.get(r.name)! });
    }
  }
  if (!gc) notes.push("global.gc not exposed: no collection between sizes");
  return { rows, runs, sizes, notes };
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? "").href) {
  const result = benchRender({ quick: process.argv.includes("--quick") });
  process.stdout.write(JSON.stringify(result) + "\n");
}
