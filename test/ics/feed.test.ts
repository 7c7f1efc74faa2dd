import { spawnSync } from "node:child_process";
import { randomUUID } from "node:crypto";
import { fileURLToPath } from "node:url";
import fc from "fast-check";
import ICAL from "ical.js";
import { describe, expect, it } from "vitest";
import { DEFAULT_MAX_FEED_BYTES, type FeedCalendar, type FeedEvent, fitFeedToSize, formatUtc, renderFeed } from "../../src/ics/feed.js";
import { unfoldLines } from "../../src/ics/text.js";
import { parseWithPython } from "../helpers/python-ics.js";

const strictUtf8 = new TextDecoder("utf-8", { fatal: true });
const bytesOf = (s: string) => Buffer.byteLength(s, "utf8");

const T0 = new Date("2026-11-01T09:30:00.000Z");
const HOUR = 3_600_000;

function makeCalendar(over: Partial<FeedCalendar> = {}): FeedCalendar {
  return {
    name: "Dr. Rivera — sessions",
    timezone: "America/New_York",
    prodId: "-//Telehealth Net//Feed//EN",
    organizer: { name: "Dr. Ana Rivera", email: "no-reply@practice.test" },
    ...over,
  };
}

let counter = 0;
function makeEvent(over: Partial<FeedEvent> = {}): FeedEvent {
  counter++;
  const start = over.start ?? new Date(Date.UTC(2026, 10, 26, 14) + counter * HOUR);
  return {
    uid: `${randomUUID()}@sessions.test`,
    sequence: 0,
    start,
    end: new Date(start.getTime() + 50 * 60_000),
    stamp: T0,
    lastModified: T0,
    status: "CONFIRMED",
    summary: "Session",
    ...over,
  };
}

const zoom = (over: Partial<NonNullable<FeedEvent["virtual"]>> = {}): NonNullable<FeedEvent["virtual"]> => ({
  url: "https://zoom.us/j/98765432101?pwd=Zx81,kLm;N0",
  instructions: "Join 5 minutes early; the waiting room is on.",
  modality: "video",
  googleMeet: false,
  ...over,
});
const meet = (): NonNullable<FeedEvent["virtual"]> => ({
  url: "https://meet.google.com/abc-defg-hij",
  modality: "video",
  googleMeet: true,
});

/** Unfolded lines of each VEVENT, in document order. */
function eventBlocks(ics: string): string[][] {
  const blocks: string[][] = [];
  let current: string[] | undefined;
  for (const line of unfoldLines(ics)) {
    if (line === "BEGIN:VEVENT") current = [];
    else if (line === "END:VEVENT") {
      blocks.push(current!);
      current = undefined;
    } else current?.push(line);
  }
  return blocks;
}

/** RFC 5545 3.1 on the bytes: CRLF only, last line too, <= 75 octets, no split UTF-8 character. */
function checkWire(ics: string): void {
  expect(ics.endsWith("END:VCALENDAR\r\n")).toBe(true);
  expect(ics.replace(/\r\n/g, "")).not.toMatch(/[\r\n]/);
  const bytes = Buffer.from(ics, "utf8");
  let start = 0;
  for (let i = 0; i + 1 < bytes.length; i++) {
    if (bytes[i] === 0x0d && bytes[i + 1] === 0x0a) {
      const line = bytes.subarray(start, i);
      expect(line.length, line.toString()).toBeLessThanOrEqual(75);
      expect(() => strictUtf8.decode(line)).not.toThrow();
      start = i + 2;
      i++;
    }
  }
  expect(start).toBe(bytes.length);
}

function parseIcal(ics: string) {
  const root = new ICAL.Component(ICAL.parse(ics));
  return { root, vevents: root.getAllSubcomponents("vevent") };
}

describe("renderFeed: calendar header", () => {
  it("writes the calendar header in a fixed order, METHOD:PUBLISH with an organizer", () => {
    const ics = renderFeed(makeCalendar(), []);
    expect(ics).toBe(
      [
        "BEGIN:VCALENDAR",
        "VERSION:2.0",
        "PRODID:-//Telehealth Net//Feed//EN",
        "CALSCALE:GREGORIAN",
        "METHOD:PUBLISH",
        "X-WR-CALNAME:Dr. Rivera — sessions",
        "NAME:Dr. Rivera — sessions",
        "X-WR-TIMEZONE:America/New_York",
        "REFRESH-INTERVAL;VALUE=DURATION:PT1H",
        "X-PUBLISHED-TTL:PT1H",
        "END:VCALENDAR",
        "",
      ].join("\r\n"),
    );
  });

  it("has no METHOD and no ORGANIZER without an organizer", () => {
    const ics = renderFeed(makeCalendar({ organizer: undefined }), [makeEvent({ virtual: zoom() })]);
    expect(ics).not.toMatch(/^METHOD:/m);
    expect(ics).not.toMatch(/^ORGANIZER/m);
    expect(unfoldLines(ics).slice(0, 4)).toEqual(["BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//Telehealth Net//Feed//EN", "CALSCALE:GREGORIAN"]);
  });

  it("escapes the calendar name as TEXT and honours refreshInterval", () => {
    const ics = renderFeed(makeCalendar({ name: "Rivera, A; feed", refreshInterval: "PT30M" }), []);
    expect(unfoldLines(ics)).toEqual(
      expect.arrayContaining([
        "X-WR-CALNAME:Rivera\\, A\\; feed",
        "NAME:Rivera\\, A\\; feed",
        "REFRESH-INTERVAL;VALUE=DURATION:PT30M",
        "X-PUBLISHED-TTL:PT30M",
      ]),
    );
  });

  it.each(["1H", "PT", "P", "-PT1H", "PT1H\r\nX-EVIL:1"])("rejects refreshInterval %j", (bad) => {
    expect(() => renderFeed(makeCalendar({ refreshInterval: bad }), [])).toThrow(RangeError);
  });
});

describe("renderFeed: events", () => {
  it("writes a virtual video event byte for byte (golden)", () => {
    const ev = makeEvent({
      uid: "s-1@sessions.test",
      sequence: 3,
      start: new Date("2026-11-26T14:00:00Z"),
      end: new Date("2026-11-26T14:50:00Z"),
      stamp: new Date("2026-11-20T08:00:00Z"),
      lastModified: new Date("2026-11-19T17:45:12Z"),
      summary: "Session with J. D.",
      description: "Reschedule from the app.",
      virtual: zoom(),
    });
    const ics = renderFeed(makeCalendar(), [ev]);
    checkWire(ics);
    const body = ics.slice(ics.indexOf("BEGIN:VEVENT"), ics.indexOf("END:VCALENDAR"));
    expect(body).toBe(
      [
        "BEGIN:VEVENT",
        "UID:s-1@sessions.test",
        "DTSTAMP:20261120T080000Z",
        "DTSTART:20261126T140000Z",
        "DTEND:20261126T145000Z",
        "SEQUENCE:3",
        "LAST-MODIFIED:20261119T174512Z",
        "STATUS:CONFIRMED",
        "CLASS:PRIVATE",
        "SUMMARY:Session with J. D.",
        "TRANSP:OPAQUE",
        "ORGANIZER;CN=Dr. Ana Rivera:mailto:no-reply@practice.test",
        "LOCATION:https://zoom.us/j/98765432101?pwd=Zx81\\,kLm\\;N0",
        "URL:https://zoom.us/j/98765432101?pwd=Zx81,kLm;N0",
        "DESCRIPTION:https://zoom.us/j/98765432101?pwd=Zx81\\,kLm\\;N0\\nJoin 5 minutes",
        "  early\\; the waiting room is on.\\n\\nReschedule from the app.",
        "CONFERENCE;VALUE=URI;FEATURE=AUDIO,VIDEO;LABEL=Join video session:https://z",
        " oom.us/j/98765432101?pwd=Zx81,kLm;N0",
        "END:VEVENT",
        "",
      ].join("\r\n"),
    );
  });

  it("adds X-GOOGLE-CONFERENCE for Meet links only", () => {
    const m = makeEvent({ virtual: meet() });
    const z = makeEvent({ virtual: zoom() });
    const [bm, bz] = eventBlocks(renderFeed(makeCalendar(), [m, z]));
    expect(bm).toContain("X-GOOGLE-CONFERENCE:https://meet.google.com/abc-defg-hij");
    expect(bz!.some((l) => l.startsWith("X-GOOGLE-CONFERENCE"))).toBe(false);
  });

  it("CONFERENCE carries FEATURE=AUDIO only for audio_only sessions", () => {
    const audio = makeEvent({ virtual: zoom({ modality: "audio_only" }) });
    const video = makeEvent({ virtual: zoom({ modality: "video" }) });
    const [ba, bv] = eventBlocks(renderFeed(makeCalendar(), [audio, video]));
    const conf = (b: string[]) => b.find((l) => l.startsWith("CONFERENCE"))!;
    expect(conf(ba!)).toMatch(/^CONFERENCE;VALUE=URI;FEATURE=AUDIO;LABEL=[^:;]+:https:\/\/zoom\.us\//);
    expect(conf(bv!)).toMatch(/^CONFERENCE;VALUE=URI;FEATURE=AUDIO,VIDEO;LABEL=[^:;]+:https:\/\/zoom\.us\//);
  });

  it("events sharing a link keep their own instructions, description, modality and Meet flag", () => {
    const url = "https://meet.google.com/abc-defg-hij";
    const variants: NonNullable<FeedEvent["virtual"]>[] = [
      { url, modality: "video", googleMeet: true, instructions: "a" },
      { url, modality: "video", googleMeet: false, instructions: "a" },
      { url, modality: "audio_only", googleMeet: true, instructions: "a" },
      { url, modality: "video", googleMeet: true, instructions: "ab" },
      { url, modality: "video", googleMeet: true, instructions: "a" },
    ];
    const events = variants.map((virtual, i) => makeEvent({ virtual, description: i === 4 ? "b" : undefined }));
    const blocks = eventBlocks(renderFeed(makeCalendar(), events));
    const pick = (b: string[]) => b.filter((l) => /^(DESCRIPTION|CONFERENCE|X-GOOGLE)/.test(l));
    expect(blocks.map(pick)).toEqual([
      [`DESCRIPTION:${url}\\na`, expect.stringContaining("FEATURE=AUDIO,VIDEO;"), `X-GOOGLE-CONFERENCE:${url}`],
      [`DESCRIPTION:${url}\\na`, expect.stringContaining("FEATURE=AUDIO,VIDEO;")],
      [`DESCRIPTION:${url}\\na`, expect.stringContaining("FEATURE=AUDIO;"), `X-GOOGLE-CONFERENCE:${url}`],
      [`DESCRIPTION:${url}\\nab`, expect.stringContaining("FEATURE=AUDIO,VIDEO;"), `X-GOOGLE-CONFERENCE:${url}`],
      [`DESCRIPTION:${url}\\na\\n\\nb`, expect.stringContaining("FEATURE=AUDIO,VIDEO;"), `X-GOOGLE-CONFERENCE:${url}`],
    ]);
  });

  it("an in-person event carries no link anywhere", () => {
    const ev = makeEvent({ location: "In person", description: "Suite 4" });
    const ics = renderFeed(makeCalendar(), [ev]);
    const [block] = eventBlocks(ics);
    expect(block).toContain("LOCATION:In person");
    expect(block).toContain("DESCRIPTION:Suite 4");
    expect(ics).not.toMatch(/https?:|zoom|meet\.google/i);
    expect(block!.some((l) => /^(URL|CONFERENCE|X-GOOGLE-CONFERENCE)[:;]/.test(l))).toBe(false);
  });

  it("a virtual event with its link hidden by the feed carries only the caller's text", () => {
    const ev = makeEvent({ description: "Open the app to join" });
    const [block] = eventBlocks(renderFeed(makeCalendar(), [ev]));
    expect(block!.filter((l) => /^(LOCATION|URL|CONFERENCE|X-GOOGLE)/.test(l))).toEqual([]);
    expect(block).toContain("DESCRIPTION:Open the app to join");
  });

  it("writes a cancelled session as STATUS:CANCELLED with its raised SEQUENCE", () => {
    const ev = makeEvent({ status: "CANCELLED", sequence: 4, virtual: zoom() });
    const [block] = eventBlocks(renderFeed(makeCalendar(), [ev]));
    expect(block).toContain("STATUS:CANCELLED");
    expect(block).toContain("SEQUENCE:4");
  });

  it("escapes TEXT properties and leaves URI properties verbatim; ical.js reads both back", () => {
    const summary = "J; D, \\ the\nsecond line";
    const ev = makeEvent({ summary, virtual: zoom({ instructions: "Ring; then wait,\r\nplease" }) });
    const ics = renderFeed(makeCalendar(), [ev]);
    expect(unfoldLines(ics)).toContain("SUMMARY:J\\; D\\, \\\\ the\\nsecond line");
    const { vevents } = parseIcal(ics);
    const v = vevents[0]!;
    expect(v.getFirstPropertyValue("summary")).toBe(summary);
    expect(v.getFirstPropertyValue("url")).toBe(zoom().url);
    expect(v.getFirstPropertyValue("location")).toBe(zoom().url);
    expect(v.getFirstPropertyValue("description")).toBe(`${zoom().url}\nRing; then wait,\nplease`);
    expect(v.getFirstPropertyValue("x-google-conference")).toBeNull();
  });

  it("rejects an event that ends before it starts, a bad sequence or an unrepresentable date", () => {
    const start = new Date("2026-11-26T14:00:00Z");
    expect(() => renderFeed(makeCalendar(), [makeEvent({ start, end: start })])).toThrow(RangeError);
    expect(() => renderFeed(makeCalendar(), [makeEvent({ sequence: -1 })])).toThrow(RangeError);
    expect(() => renderFeed(makeCalendar(), [makeEvent({ sequence: 1.5 })])).toThrow(RangeError);
    expect(() => renderFeed(makeCalendar(), [makeEvent({ stamp: new Date(Number.NaN) })])).toThrow(RangeError);
  });

  it("property: any summary, instructions and description keep the wire valid and round-trip", () => {
    const cp = (min: number, max: number) => fc.integer({ min, max }).map((c) => String.fromCodePoint(c));
    const unit = fc.oneof(
      cp(0x20, 0x7e),
      fc.constantFrom(";", ",", "\\", "\n", "\t", "é", "—", "日", "😀", "👩🏽‍⚕️"),
      cp(0x80, 0xd7ff),
      cp(0x10000, 0x10ffff),
    );
    const text = fc.string({ unit, maxLength: 200, size: "max" });
    fc.assert(
      fc.property(text, text, text, (summary, instructions, description) => {
        const ev = makeEvent({ summary, description, virtual: zoom({ instructions }) });
        const ics = renderFeed(makeCalendar({ name: summary }), [ev]);
        checkWire(ics);
        const v = parseIcal(ics).vevents[0]!;
        expect(v.getFirstPropertyValue("summary")).toBe(summary);
        let expected = zoom().url;
        if (instructions) expected += "\n" + instructions;
        if (description) expected += "\n\n" + description;
        expect(v.getFirstPropertyValue("description")).toBe(expected);
      }),
      { numRuns: 150 },
    );
  });
});

describe("renderFeed: determinism", () => {
  const events = () => [
    makeEvent({ uid: "b@t", start: new Date("2026-11-26T14:00:00Z"), virtual: zoom(), summary: "Séance 日本語 😀" }),
    makeEvent({ uid: "a@t", start: new Date("2026-11-26T14:00:00Z"), location: "In person" }),
    makeEvent({ uid: "c@t", start: new Date("2026-03-08T06:30:00Z"), virtual: meet(), status: "CANCELLED" }),
    makeEvent({ uid: "d@t", start: new Date("2026-10-25T00:59:59.999Z"), virtual: zoom({ modality: "audio_only" }) }),
  ];

  it("gives the same bytes for the same data, whatever the input order", () => {
    const list = events();
    const a = renderFeed(makeCalendar(), list);
    expect(renderFeed(makeCalendar(), list)).toBe(a);
    expect(renderFeed(makeCalendar(), [...list].reverse())).toBe(a);
    expect(eventBlocks(a).map((b) => b[0])).toEqual(["UID:c@t", "UID:d@t", "UID:a@t", "UID:b@t"]);
  });

  it("drops milliseconds and pads years: formatUtc", () => {
    expect(formatUtc(new Date("2026-10-25T00:59:59.999Z"))).toBe("20261025T005959Z");
    expect(formatUtc(new Date("0999-01-02T03:04:05Z"))).toBe("09990102T030405Z");
    expect(() => formatUtc(new Date("+010000-01-01T00:00:00Z"))).toThrow(RangeError);
  });

  it("renders byte-identical output in processes with TZ=Asia/Tokyo, UTC and America/St_Johns", () => {
    const input = { calendar: makeCalendar(), events: events() };
    const inProcess = renderFeed(input.calendar, input.events);
    const feedUrl = new URL("../../src/ics/feed.ts", import.meta.url).href;
    const repoRoot = fileURLToPath(new URL("../..", import.meta.url));
    // The child reports its own UTC offset so the test proves the TZ really differed.
    const script = `
      const { renderFeed } = await import(${JSON.stringify(feedUrl)});
      const chunks = [];
      for await (const c of process.stdin) chunks.push(c);
      const dates = new Set(["start", "end", "stamp", "lastModified"]);
      const input = JSON.parse(Buffer.concat(chunks).toString("utf8"), (k, v) => (dates.has(k) ? new Date(v) : v));
      process.stdout.write(JSON.stringify({
        offset: new Date("2026-11-26T14:00:00Z").getTimezoneOffset(),
        ics: renderFeed(input.calendar, input.events),
      }));`;
    const run = (tz: string, locale: string) => {
      const r = spawnSync(process.execPath, ["--import", "tsx", "--input-type=module", "-e", script], {
        cwd: repoRoot,
        env: { ...process.env, TZ: tz, LC_ALL: locale, LANG: locale },
        input: JSON.stringify(input),
        encoding: "utf8",
        timeout: 30_000,
      });
      expect(r.status, r.stderr).toBe(0);
      return JSON.parse(r.stdout) as { offset: number; ics: string };
    };
    const tokyo = run("Asia/Tokyo", "ja_JP.UTF-8");
    const utc = run("UTC", "C.UTF-8");
    const stJohns = run("America/St_Johns", "tr_TR.UTF-8");
    expect([tokyo.offset, utc.offset, stJohns.offset]).toEqual([-540, 0, 210]);
    expect(tokyo.ics).toBe(utc.ics);
    expect(stJohns.ics).toBe(utc.ics);
    expect(utc.ics).toBe(inProcess);
  });
});

describe("fitFeedToSize", () => {
  const now = new Date("2026-11-26T12:00:00Z");
  /** Ten past sessions in scrambled order, one in progress, ten future ones. */
  function world() {
    const past = [3, 9, 1, 7, 5, 2, 10, 8, 4, 6].map((d) => makeEvent({ start: new Date(now.getTime() - d * 24 * HOUR), virtual: zoom() }));
    const current = makeEvent({ start: new Date(now.getTime() - 20 * 60_000), virtual: zoom() });
    const future = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10].map((d) => makeEvent({ start: new Date(now.getTime() + d * 24 * HOUR), virtual: meet() }));
    return { past, current, future, all: [...past, current, ...future] };
  }
  const byEnd = (a: FeedEvent, b: FeedEvent) => a.end.getTime() - b.end.getTime();

  it("changes nothing under the budget", () => {
    const { all } = world();
    const r = fitFeedToSize(makeCalendar(), all, { now });
    expect(r.ics).toBe(renderFeed(makeCalendar(), all));
    expect(r.bytes).toBe(bytesOf(r.ics));
    expect(r).toMatchObject({ kept: all.length, droppedPast: [], droppedFuture: [], fits: true });
    expect(DEFAULT_MAX_FEED_BYTES).toBe(1_000_000);
  });

  it("drops the oldest past events first, and only as many as needed", () => {
    const { past, all } = world();
    const oldest3 = [...past].sort(byEnd).slice(0, 3);
    const survivors = all.filter((e) => !oldest3.includes(e));
    const maxBytes = bytesOf(renderFeed(makeCalendar(), survivors));
    const r = fitFeedToSize(makeCalendar(), all, { now, maxBytes });
    expect(r.droppedPast).toEqual(oldest3.map((e) => e.uid));
    expect(r.droppedFuture).toEqual([]);
    expect(r.ics).toBe(renderFeed(makeCalendar(), survivors));
    expect(r.bytes).toBe(bytesOf(r.ics));
    expect(r.bytes).toBeLessThanOrEqual(maxBytes);
    expect(r.fits).toBe(true);
  });

  it("when every past event is gone, drops the furthest future ones; an event in progress is not past", () => {
    const { past, current, future } = world();
    const survivors = [current, ...future.slice(0, 8)];
    const maxBytes = bytesOf(renderFeed(makeCalendar(), survivors));
    const r = fitFeedToSize(makeCalendar(), [...future, current, ...past], { now, maxBytes });
    expect(r.droppedPast).toEqual([...past].sort(byEnd).map((e) => e.uid));
    expect(r.droppedFuture).toEqual([future[9]!.uid, future[8]!.uid]);
    expect(r.ics).toBe(renderFeed(makeCalendar(), survivors));
    expect(r.kept).toBe(9);
  });

  it("says so when even the bare calendar does not fit", () => {
    const r = fitFeedToSize(makeCalendar(), world().all, { now, maxBytes: 100 });
    expect(r.fits).toBe(false);
    expect(r.kept).toBe(0);
    expect(r.ics).toBe(renderFeed(makeCalendar(), []));
  });

  it("keeps 5,000 real-sized events under Google's 1 MB, still a valid calendar", () => {
    const events = Array.from({ length: 5000 }, (_, i) =>
      makeEvent({
        start: new Date(now.getTime() + (i - 2500) * 5 * HOUR),
        summary: `Session ${i}`,
        virtual: i % 3 ? zoom() : meet(),
      }),
    );
    const r = fitFeedToSize(makeCalendar(), events, { now });
    expect(bytesOf(r.ics)).toBeLessThanOrEqual(1_000_000);
    expect(r.droppedPast.length).toBeGreaterThan(0);
    expect(parseIcal(r.ics).vevents).toHaveLength(r.kept);
    checkWire(r.ics);
  });
});

describe("independent parsers", () => {
  const feed = () => {
    const events = [
      makeEvent({ sequence: 2, summary: "Séance — 日本語 😀; x, y", virtual: zoom({ instructions: "待合室 waiting room 😀".repeat(5) }) }),
      makeEvent({ status: "CANCELLED", sequence: 5, virtual: meet() }),
      makeEvent({ virtual: zoom({ modality: "audio_only" }), description: "Bring, your; notes\\" }),
      makeEvent({ location: "In person" }),
    ];
    return { events, ics: renderFeed(makeCalendar(), events) };
  };
  const expectedEvents = (events: FeedEvent[]) =>
    [...events]
      .sort((a, b) => a.start.getTime() - b.start.getTime())
      .map((e) => ({
        uid: e.uid,
        start: e.start.toISOString(),
        end: e.end.toISOString(),
        status: e.status,
        sequence: e.sequence,
      }));

  it("ical.js: event count, UIDs, instants, status, sequence, CONFERENCE features", () => {
    const { events, ics } = feed();
    const { root, vevents } = parseIcal(ics);
    expect(root.getFirstPropertyValue("method")).toBe("PUBLISH");
    const parsed = vevents.map((v) => {
      const e = new ICAL.Event(v);
      return {
        uid: e.uid,
        start: e.startDate.toJSDate().toISOString(),
        end: e.endDate.toJSDate().toISOString(),
        status: v.getFirstPropertyValue("status"),
        sequence: e.sequence,
      };
    });
    expect(parsed).toEqual(expectedEvents(events));
    for (const v of vevents) expect(v.getFirstProperty("dtstart")!.getFirstValue()!.toString()).toMatch(/Z$/);
    // ical.js does not know FEATURE is a list (RFC 7986 5.11), so it hands back the raw text.
    const features = vevents.map((v) => v.getFirstProperty("conference")?.getParameter("feature"));
    expect(features).toEqual(["AUDIO,VIDEO", "AUDIO,VIDEO", "AUDIO", undefined]);
    expect(vevents[1]!.getFirstPropertyValue("x-google-conference")).toBe(meet().url);
  });

  it.each(["icalendar", "vobject"] as const)("python3-%s reads the same events and text", async (lib) => {
    const { events, ics } = feed();
    const r = await parseWithPython(ics, lib);
    expect(r.errors).toEqual([]);
    expect(r.calendar).toMatchObject({ method: "PUBLISH", version: "2.0", prodid: "-//Telehealth Net//Feed//EN" });
    expect(r.events.map(({ uid, start, end, status, sequence }) => ({ uid, start, end, status, sequence }))).toEqual(expectedEvents(events));
    const first = r.events[0]!;
    expect(first.summary).toBe("Séance — 日本語 😀; x, y");
    expect(first.description).toBe(`${zoom().url}\n${"待合室 waiting room 😀".repeat(5)}`);
    expect(first.url).toBe(zoom().url);
    expect(first.location).toBe(zoom().url);
    expect(r.events[2]!.description).toBe(`${zoom().url}\n${zoom().instructions}\n\nBring, your; notes\\`);
    expect(r.events[3]).toMatchObject({ location: "In person" });
    expect(r.events[3]!.url).toBeUndefined();
  });

  it("the python oracle fails loudly rather than skipping", async () => {
    await expect(parseWithPython("BEGIN:VCALENDAR\r\n", "nope" as never)).rejects.toThrow(/unknown lib nope/);
    await expect(parseWithPython("\xff not a calendar", "icalendar")).rejects.toThrow(/failed \(exit 1\)/);
  });
});
