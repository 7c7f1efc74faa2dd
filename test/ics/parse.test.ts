import { readFileSync } from "node:fs";
import fc from "fast-check";
import ICAL from "ical.js";
import { describe, expect, it } from "vitest";
import type { ExternalEvent } from "../../src/domain/external-event.js";
import { MAX_LINE_CHARS, MAX_VEVENT_CHARS, type ParseOptions, type ParseResult, parseExternalCalendar } from "../../src/ics/parse.js";
import { createIanaZone, createVtimezoneZone, resolveTimeZoneName, utcToWall, wallToUtc } from "../../src/ics/timezones.js";

const fixture = (name: string) => readFileSync(new URL(`../../fixtures/ics/${name}`, import.meta.url), "utf8");

const WINDOW = { windowStart: new Date("2026-10-01T00:00:00Z"), windowEnd: new Date("2026-12-01T00:00:00Z") };

function parse(ics: string, options: Partial<ParseOptions> = {}): ParseResult {
  return parseExternalCalendar(ics, { ...WINDOW, ...options });
}

function parsed(ics: string, options: Partial<ParseOptions> = {}) {
  const result = parse(ics, options);
  if (!result.ok) throw new Error(`expected ok, got ${result.code}: ${result.message}`);
  return result;
}

function calendar(...lines: string[]): string {
  return ["BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//Test//Parser tests//EN", ...lines, "END:VCALENDAR", ""].join("\r\n");
}

function vevent(...lines: string[]): string {
  return ["BEGIN:VEVENT", "DTSTAMP:20260901T000000Z", ...lines, "END:VEVENT"].join("\r\n");
}

const NEW_YORK_VTIMEZONE = [
  "BEGIN:VTIMEZONE",
  "TZID:America/New_York",
  "BEGIN:DAYLIGHT",
  "TZOFFSETFROM:-0500",
  "TZOFFSETTO:-0400",
  "DTSTART:19700308T020000",
  "RRULE:FREQ=YEARLY;BYMONTH=3;BYDAY=2SU",
  "END:DAYLIGHT",
  "BEGIN:STANDARD",
  "TZOFFSETFROM:-0400",
  "TZOFFSETTO:-0500",
  "DTSTART:19701101T020000",
  "RRULE:FREQ=YEARLY;BYMONTH=11;BYDAY=1SU",
  "END:STANDARD",
  "END:VTIMEZONE",
].join("\r\n");

const byId = (events: ExternalEvent[], externalId: string) => {
  const found = events.find((e) => e.externalId === externalId);
  if (!found) throw new Error(`no event ${externalId} in ${events.map((e) => e.externalId).join(", ")}`);
  return found;
};
const starts = (events: ExternalEvent[]) => events.map((e) => e.start);

describe("fixtures in the shape Google and Exchange export", () => {
  it.each(["weekly-dst.ics", "weekly-dst-no-vtimezone.ics"])(
    "%s: a weekly 14:00 New York session is 18:00Z before the Nov 1, 2026 change and 19:00Z after",
    (name) => {
      const result = parsed(fixture(name));
      expect(result.warnings).toEqual([]);
      expect(starts(result.events)).toEqual([
        "2026-10-15T18:00:00.000Z",
        "2026-10-22T18:00:00.000Z",
        "2026-10-29T18:00:00.000Z",
        "2026-11-05T19:00:00.000Z",
        "2026-11-12T19:00:00.000Z",
        "2026-11-19T19:00:00.000Z",
        "2026-11-26T19:00:00.000Z",
      ]);
      for (const event of result.events) {
        expect(event.recurrenceId).toBe(event.start);
        expect(event.externalId).toBe(`${event.uid}/${event.recurrenceId}`);
        expect(Date.parse(event.end!) - Date.parse(event.start!)).toBe(50 * 60_000);
        expect(event).toMatchObject({ status: "confirmed", allDay: false, busy: true, sequence: 0 });
      }
    },
  );

  it("google-export: an override moves one instance and carries its own SEQUENCE and LAST-MODIFIED", () => {
    const { events, method } = parsed(fixture("google-export.ics"), { defaultTimezone: "America/New_York" });
    expect(method).toBe("PUBLISH");
    const uid = "3vq6h0rj2m8s4k1c7n9b5t2p0d@google.com";
    expect(byId(events, `${uid}/2026-10-20T14:00:00.000Z`)).toEqual({
      externalId: `${uid}/2026-10-20T14:00:00.000Z`,
      uid,
      recurrenceId: "2026-10-20T14:00:00.000Z",
      status: "confirmed",
      start: "2026-10-21T19:00:00.000Z",
      end: "2026-10-21T19:50:00.000Z",
      allDay: false,
      sequence: 1,
      updatedAt: "2026-10-15T12:15:00.000Z",
      busy: true,
      texts: [
        "Weekly check-in.\n\nJoin with Google Meet: https://meet.google.com/abc-defg-hij\n\nLearn more about Meet at: https://support.google.com/a/users/answer/9282720",
        "https://meet.google.com/abc-defg-hij",
      ],
    });
    // The untouched instances keep the master's version.
    expect(byId(events, `${uid}/2026-10-27T14:00:00.000Z`)).toMatchObject({ sequence: 0, updatedAt: "2026-09-10T15:00:00.000Z" });
    // Every instance appears once, in order of original start.
    const series = events.filter((e) => e.uid === uid).map((e) => e.recurrenceId);
    expect(series).toEqual([...new Set(series)].sort());
  });

  it("google-export: EXDATE inside the window is a cancelled instance; outside it, nothing", () => {
    const uid = "3vq6h0rj2m8s4k1c7n9b5t2p0d@google.com";
    const inside = parsed(fixture("google-export.ics")).events;
    expect(byId(inside, `${uid}/2026-10-13T14:00:00.000Z`)).toMatchObject({
      status: "cancelled",
      start: "2026-10-13T14:00:00.000Z",
      end: "2026-10-13T14:50:00.000Z",
    });
    const later = parsed(fixture("google-export.ics"), { windowStart: new Date("2026-10-14T00:00:00Z") }).events;
    expect(later.filter((e) => e.uid === uid).map((e) => e.recurrenceId)).not.toContain("2026-10-13T14:00:00.000Z");
  });

  it("google-export: a cancelled instance, a deleted event, a tentative one, an all-day free one", () => {
    const { events } = parsed(fixture("google-export.ics"), { defaultTimezone: "America/New_York" });
    expect(byId(events, "3vq6h0rj2m8s4k1c7n9b5t2p0d@google.com/2026-11-03T15:00:00.000Z")).toMatchObject({
      status: "cancelled",
      sequence: 1,
    });
    expect(byId(events, "5p6q7r8s9t0u1v2w3x4y5z6a7b@google.com")).toMatchObject({ status: "cancelled", sequence: 2 });
    expect(byId(events, "4a5b6c7d8e9f0g1h2i3j4k5l6m@google.com")).toMatchObject({ status: "tentative", start: "2026-10-16T16:00:00.000Z" });
    expect(byId(events, "9z8y7x6w5v4u3t2s1r0q9p8o7n@google.com")).toMatchObject({
      allDay: true,
      busy: false,
      // All-day dates are the provider's days.
      start: "2026-10-09T04:00:00.000Z",
      end: "2026-10-10T04:00:00.000Z",
    });
    const intake = byId(events, "0b1c2d3e4f5g6h7i8j9k0l1m2n@google.com");
    expect(intake).toMatchObject({ start: "2026-10-07T18:00:00.000Z", end: "2026-10-07T18:50:00.000Z", status: "confirmed" });
    expect(intake.recurrenceId).toBeUndefined();
    expect(intake.texts).toContain("https://us02web.zoom.us/j/81234567890?pwd=Zm9vYmFy");
  });

  it("outlook-export: Windows TZIDs with Exchange's 1601 VTIMEZONEs, UNTIL inclusive, EXDATE, an override", () => {
    const result = parsed(fixture("outlook-export.ics"), { windowEnd: new Date("2027-01-15T00:00:00Z") });
    expect(result.warnings).toEqual([]);
    const uid = "040000008200E00074C5B7101A82E00800000000D0F1A2B3C4D5D601000000000000000010000000A1B2C3D4E5F60718293A4B5C6D7E8F90";
    const series = result.events.filter((e) => e.uid === uid);
    expect(series.map((e) => [e.recurrenceId, e.start, e.status])).toEqual([
      ["2026-10-07T18:00:00.000Z", "2026-10-07T18:00:00.000Z", "confirmed"],
      ["2026-10-14T18:00:00.000Z", "2026-10-14T18:00:00.000Z", "confirmed"],
      ["2026-10-21T18:00:00.000Z", "2026-10-21T18:00:00.000Z", "confirmed"],
      ["2026-10-28T18:00:00.000Z", "2026-10-29T20:00:00.000Z", "confirmed"],
      ["2026-11-04T19:00:00.000Z", "2026-11-04T19:00:00.000Z", "confirmed"],
      ["2026-11-11T19:00:00.000Z", "2026-11-11T19:00:00.000Z", "cancelled"],
      ["2026-11-18T19:00:00.000Z", "2026-11-18T19:00:00.000Z", "confirmed"],
      ["2026-11-25T19:00:00.000Z", "2026-11-25T19:00:00.000Z", "confirmed"],
      ["2026-12-02T19:00:00.000Z", "2026-12-02T19:00:00.000Z", "confirmed"],
      ["2026-12-09T19:00:00.000Z", "2026-12-09T19:00:00.000Z", "confirmed"],
      // UNTIL=20261216T190000Z is that instance's own start: included (RFC 5545 3.3.10).
      ["2026-12-16T19:00:00.000Z", "2026-12-16T19:00:00.000Z", "confirmed"],
    ]);
    expect(series[0]!.texts.some((t) => t.startsWith("https://teams.microsoft.com/l/meetup-join/"))).toBe(true);
    expect(series[3]).toMatchObject({ sequence: 1, texts: ["Room 4", "Moved to later this week.\n"] });
    expect(result.events.find((e) => e.uid?.includes("E1F2A3B4"))).toMatchObject({ start: "2026-10-08T16:00:00.000Z" });
    expect(result.events.find((e) => e.uid?.includes("F2A3B4C5D6E7D8"))).toMatchObject({ allDay: true, busy: false });
  });

  it.each(["google-export.ics", "outlook-export.ics", "weekly-dst.ics"])(
    "%s: expanded starts agree with ical.js's own RecurExpansion (an independent code path)",
    (name) => {
      const ics = fixture(name);
      const windowEnd = new Date("2027-01-15T00:00:00Z");
      const ours = parsed(ics, { windowEnd, defaultTimezone: "America/New_York" }).events;
      const root = new ICAL.Component(ICAL.parse(ics));
      const events = root.getAllSubcomponents("vevent");
      for (const master of events.filter((e) => e.hasProperty("rrule"))) {
        const uid = master.getFirstPropertyValue("uid") as string;
        const exceptions = events.filter((e) => e !== master && e.getFirstPropertyValue("uid") === uid);
        const expected: string[] = [];
        const iterator = new ICAL.Event(master, { exceptions }).iterator();
        for (let next = iterator.next(); next && next.toJSDate() < windowEnd; next = iterator.next()) {
          if (next.toJSDate() >= WINDOW.windowStart) expected.push(next.toJSDate().toISOString());
        }
        // ical.js leaves EXDATEs out and keeps overridden instances under their original start.
        const exdates = new Set(master.getAllProperties("exdate").flatMap((p) => p.getValues().map((t: ICAL.Time) => t.toJSDate().toISOString())));
        const got = ours
          .filter((e) => e.uid === uid)
          .map((e) => e.recurrenceId!)
          .filter((rid) => !exdates.has(rid));
        expect(got.length).toBeGreaterThan(0);
        expect(got).toEqual(expected);
      }
    },
  );
});

describe("time zones", () => {
  const single = (tzid: string, wall: string) =>
    parsed(calendar(vevent("UID:tz-1", `DTSTART;TZID=${tzid}:${wall}`, `DTEND;TZID=${tzid}:${wall}`))).events[0]!.start;

  it.each([
    ["Eastern Standard Time", "2026-01-15T15:00:00.000Z", "2026-07-15T14:00:00.000Z"],
    ["Central Standard Time", "2026-01-15T16:00:00.000Z", "2026-07-15T15:00:00.000Z"],
    ["Mountain Standard Time", "2026-01-15T17:00:00.000Z", "2026-07-15T16:00:00.000Z"],
    ["Pacific Standard Time", "2026-01-15T18:00:00.000Z", "2026-07-15T17:00:00.000Z"],
    ["US Mountain Standard Time", "2026-01-15T17:00:00.000Z", "2026-07-15T17:00:00.000Z"],
    ["GMT Standard Time", "2026-01-15T10:00:00.000Z", "2026-07-15T09:00:00.000Z"],
    ["W. Europe Standard Time", "2026-01-15T09:00:00.000Z", "2026-07-15T08:00:00.000Z"],
    ['"Eastern Standard Time"', "2026-01-15T15:00:00.000Z", "2026-07-15T14:00:00.000Z"],
    ["america/new_york", "2026-01-15T15:00:00.000Z", "2026-07-15T14:00:00.000Z"],
    ["/mozilla.org/20070129_1/America/New_York", "2026-01-15T15:00:00.000Z", "2026-07-15T14:00:00.000Z"],
    ['"(UTC-08:00) Pacific Time (US & Canada)"', "2026-01-15T18:00:00.000Z", "2026-07-15T17:00:00.000Z"],
  ])("TZID %s without a VTIMEZONE: 10:00 in January and July", (tzid, january, july) => {
    expect(single(tzid, "20260115T100000")).toBe(january);
    expect(single(tzid, "20260715T100000")).toBe(july);
  });

  // RFC 5545 3.3.5: 01:30 on the fall-back night is its first occurrence (EDT); 02:30 on the
  // spring-forward night does not exist and is read with the offset before the gap (03:30 EDT).
  it.each([
    ["with its VTIMEZONE", [NEW_YORK_VTIMEZONE]],
    ["without a VTIMEZONE", []],
  ])("New York %s: DST overlap takes the first occurrence, a gap time moves forward", (_label, zone) => {
    const result = parsed(
      calendar(
        ...zone,
        vevent("UID:overlap", "DTSTART;TZID=America/New_York:20261101T013000"),
        vevent("UID:gap", "DTSTART;TZID=America/New_York:20260308T023000"),
        vevent("UID:after-overlap", "DTSTART;TZID=America/New_York:20261101T020000"),
      ),
      { windowStart: new Date("2026-01-01T00:00:00Z") },
    );
    expect(starts(result.events)).toEqual(["2026-11-01T05:30:00.000Z", "2026-03-08T07:30:00.000Z", "2026-11-01T07:00:00.000Z"]);
  });

  it("floating times and all-day dates are read in defaultTimezone (UTC when not given)", () => {
    const ics = calendar(
      vevent("UID:floating", "DTSTART:20261015T090000", "DTEND:20261015T095000"),
      vevent("UID:day", "DTSTART;VALUE=DATE:20261015"),
    );
    expect(starts(parsed(ics).events)).toEqual(["2026-10-15T09:00:00.000Z", "2026-10-15T00:00:00.000Z"]);
    const chicago = parsed(ics, { defaultTimezone: "America/Chicago" }).events;
    expect(chicago.map((e) => [e.start, e.end])).toEqual([
      ["2026-10-15T14:00:00.000Z", "2026-10-15T14:50:00.000Z"],
      // RFC 5545 3.6.1: a DATE start without DTEND lasts one day.
      ["2026-10-15T05:00:00.000Z", "2026-10-16T05:00:00.000Z"],
    ]);
  });

  it("an unknown TZID is read in defaultTimezone, with a warning", () => {
    const result = parsed(calendar(vevent("UID:x", "DTSTART;TZID=Customized Time Zone:20261015T090000")), { defaultTimezone: "America/Denver" });
    expect(result.events[0]!.start).toBe("2026-10-15T15:00:00.000Z");
    expect(result.warnings).toEqual([expect.stringMatching(/^unknown_tzid: TZID "Customized Time Zone"/)]);
  });

  it("the calendar's VTIMEZONE wins over what its name means (RFC 5545 3.2.19)", () => {
    const fixedPlusOne = [
      "BEGIN:VTIMEZONE",
      "TZID:America/New_York",
      "BEGIN:STANDARD",
      "DTSTART:19700101T000000",
      "TZOFFSETFROM:+0100",
      "TZOFFSETTO:+0100",
      "END:STANDARD",
      "END:VTIMEZONE",
    ].join("\r\n");
    const result = parsed(calendar(fixedPlusOne, vevent("UID:x", "DTSTART;TZID=America/New_York:20261015T090000")));
    expect(result.events[0]!.start).toBe("2026-10-15T08:00:00.000Z");
  });

  it("a VTIMEZONE whose rules would make ical.js expand without bound is ignored for its name", () => {
    const hostile = [
      "BEGIN:VTIMEZONE",
      "TZID:America/New_York",
      "BEGIN:STANDARD",
      "DTSTART:00010101T000000",
      "TZOFFSETFROM:+0100",
      "TZOFFSETTO:+0200",
      "RRULE:FREQ=SECONDLY",
      "END:STANDARD",
      "END:VTIMEZONE",
    ].join("\r\n");
    const started = performance.now();
    const result = parsed(calendar(hostile, vevent("UID:x", "DTSTART;TZID=America/New_York:20261015T090000")));
    expect(performance.now() - started).toBeLessThan(1_000);
    expect(result.events[0]!.start).toBe("2026-10-15T13:00:00.000Z");
    expect(result.warnings).toEqual([expect.stringMatching(/^vtimezone_unusable/)]);
  });

  it("registers nothing in ical.js's global TimezoneService", () => {
    const before = ICAL.TimezoneService.count;
    parsed(fixture("weekly-dst.ics"));
    parsed(fixture("outlook-export.ics"));
    expect(ICAL.TimezoneService.count).toBe(before);
    expect(ICAL.TimezoneService.has("America/New_York")).toBe(false);
    expect(ICAL.TimezoneService.has("Eastern Standard Time")).toBe(false);
  });

  it("resolves Windows IDs and rejects names no zone database knows", () => {
    expect(resolveTimeZoneName("Eastern Standard Time")?.id).toBe("America/New_York");
    expect(resolveTimeZoneName("Central Standard Time")?.id).toBe("America/Chicago");
    expect(resolveTimeZoneName("Not/A_Zone")).toBeUndefined();
    expect(resolveTimeZoneName("")).toBeUndefined();
  });

  const zoneNames = [
    "America/New_York",
    "America/Los_Angeles",
    "Europe/London",
    "Australia/Lord_Howe",
    "Asia/Kathmandu",
    "Pacific/Chatham",
    "Pacific/Apia",
    "America/Sao_Paulo",
  ];
  it("property: wallToUtc(utcToWall(t)) is the earliest instant showing that wall time", () => {
    const zones = zoneNames.map((name) => createIanaZone(name)!);
    fc.assert(
      fc.property(fc.constantFrom(...zones), fc.integer({ min: Date.UTC(1990, 0, 1), max: Date.UTC(2040, 0, 1) }), (zone, instant) => {
        const utc = Math.floor(instant / 1000) * 1000;
        const wall = utcToWall(utc, zone);
        const back = wallToUtc(wall, zone);
        expect(utcToWall(back, zone)).toBe(wall);
        expect(back).toBeLessThanOrEqual(utc);
      }),
      { numRuns: 2_000 },
    );
  });

  it("a VTIMEZONE zone stays right whatever order instants are asked in (ical.js expands lazily)", () => {
    // Regression: asking for 2010, then 2029, then 2032 once left 2032 unexpanded (EST in May).
    const vtimezone = new ICAL.Component(ICAL.parse(calendar(NEW_YORK_VTIMEZONE))).getFirstSubcomponent("vtimezone")!;
    const zone = createVtimezoneZone(vtimezone, () => {})!;
    const intl = createIanaZone("America/New_York")!;
    for (const iso of ["2010-02-02T00:04:02Z", "2029-09-23T08:31:26Z", "2032-05-23T21:02:00Z", "2032-03-14T07:00:00Z", "2037-07-01T00:00:00Z"]) {
      expect(zone.offsetAt(Date.parse(iso)), iso).toBe(intl.offsetAt(Date.parse(iso)));
    }
  });

  it("property: Google's America/New_York VTIMEZONE and the tz database agree on every instant 2008-2037", () => {
    const vtimezone = new ICAL.Component(ICAL.parse(calendar(NEW_YORK_VTIMEZONE))).getFirstSubcomponent("vtimezone")!;
    const fromComponent = createVtimezoneZone(vtimezone, () => {})!;
    const fromIntl = createIanaZone("America/New_York")!;
    fc.assert(
      fc.property(fc.integer({ min: Date.UTC(2008, 0, 1), max: Date.UTC(2037, 11, 31) }), (instant) => {
        const utc = Math.floor(instant / 1000) * 1000;
        expect(fromComponent.offsetAt(utc)).toBe(fromIntl.offsetAt(utc));
        const wall = utcToWall(utc, fromIntl);
        expect(wallToUtc(wall, fromComponent)).toBe(wallToUtc(wall, fromIntl));
      }),
      { numRuns: 2_000 },
    );
  });
});

describe("recurrence", () => {
  it("an RRULE with no end stops at maxInstancesPerSeries with a warning, and fast", () => {
    const ics = calendar(vevent("UID:forever", "DTSTART:20000101T090000Z", "DTEND:20000101T095000Z", "RRULE:FREQ=DAILY"));
    const started = performance.now();
    const result = parsed(ics, {
      windowStart: new Date("2026-01-01T00:00:00Z"),
      windowEnd: new Date("2036-01-01T00:00:00Z"),
      maxInstancesPerSeries: 100,
    });
    const elapsed = performance.now() - started;
    expect(result.events).toHaveLength(100);
    expect(result.events[0]!.start).toBe("2026-01-01T09:00:00.000Z");
    expect(result.events[99]!.start).toBe("2026-04-10T09:00:00.000Z");
    expect(result.warnings).toEqual([expect.stringMatching(/^series_truncated: UID "forever"/)]);
    expect(elapsed).toBeLessThan(500);
  });

  it("the same unbounded RRULE ends at windowEnd without a warning when under the cap", () => {
    const result = parsed(calendar(vevent("UID:forever", "DTSTART:20000103T090000Z", "RRULE:FREQ=WEEKLY")));
    expect(result.events).toHaveLength(9);
    expect(result.warnings).toEqual([]);
  });

  // ical.js's iterator never returns from next() for this rule; init() walks impossible YEARLY
  // rules year by year. Both must stop, cut with a warning.
  it.each([
    ["FREQ=DAILY;BYMONTH=2;BYMONTHDAY=30", "20260101T100000Z"],
    ["FREQ=HOURLY;BYMONTH=2;BYMONTHDAY=31", "20260101T100000Z"],
    ["FREQ=YEARLY;COUNT=3;BYMONTH=4;BYMONTHDAY=15;BYDAY=1MO", "10000101T100000Z"],
    ["FREQ=MONTHLY;BYDAY=MO,TU,WE,TH,FR;BYSETPOS=-1;COUNT=100000", "19000101T100000Z"],
  ])("%s terminates", (rule, dtstart) => {
    const started = performance.now();
    const result = parse(calendar(vevent("UID:odd", `DTSTART:${dtstart}`, `RRULE:${rule}`)));
    expect(performance.now() - started).toBeLessThan(2_000);
    expect(result.ok).toBe(true);
  });

  it("a series that began decades ago is expanded from near the window and matches ical.js (fast-check)", () => {
    const rule = fc.oneof(
      fc.record({
        freq: fc.constant("DAILY"),
        interval: fc.integer({ min: 1, max: 3 }),
        extra: fc.constantFrom("", ";BYDAY=MO,WE,FR", ";BYMONTH=3,10"),
      }),
      fc.record({
        freq: fc.constant("WEEKLY"),
        interval: fc.integer({ min: 1, max: 3 }),
        extra: fc.constantFrom("", ";BYDAY=TU", ";BYDAY=MO,TH", ";BYDAY=SU;WKST=MO"),
      }),
      fc.record({
        freq: fc.constant("MONTHLY"),
        interval: fc.integer({ min: 1, max: 2 }),
        extra: fc.constantFrom("", ";BYDAY=2TU", ";BYDAY=-1FR", ";BYMONTHDAY=1,15"),
      }),
      fc.record({ freq: fc.constant("YEARLY"), interval: fc.integer({ min: 1, max: 2 }), extra: fc.constantFrom("", ";BYMONTH=11;BYDAY=4TH") }),
    );
    const pad = (n: number) => String(n).padStart(2, "0");
    fc.assert(
      fc.property(
        rule,
        fc.integer({ min: 1990, max: 2024 }),
        fc.integer({ min: 1, max: 12 }),
        fc.integer({ min: 1, max: 28 }),
        fc.integer({ min: 8, max: 18 }),
        fc.boolean(),
        fc.integer({ min: 0, max: 400 }),
        ({ freq, interval, extra }, year, month, day, hour, zoned, windowOffsetDays) => {
          const dtstart = `${year}${pad(month)}${pad(day)}T${pad(hour)}0000`;
          const start = zoned ? `DTSTART;TZID=America/New_York:${dtstart}` : `DTSTART:${dtstart}Z`;
          const ics = calendar(NEW_YORK_VTIMEZONE, vevent("UID:series", start, "DURATION:PT50M", `RRULE:FREQ=${freq};INTERVAL=${interval}${extra}`));
          const windowStart = new Date(Date.UTC(2025, 0, 1) + windowOffsetDays * 86_400_000);
          const windowEnd = new Date(windowStart.getTime() + 200 * 86_400_000);
          const ours = parsed(ics, { windowStart, windowEnd }).events.map((e) => e.start);
          const master = new ICAL.Component(ICAL.parse(ics)).getFirstSubcomponent("vevent")!;
          const expected: string[] = [];
          const iterator = new ICAL.Event(master).iterator();
          for (let next = iterator.next(); next && next.toJSDate() < windowEnd; next = iterator.next()) {
            const startMs = next.toJSDate().getTime();
            if (startMs + 50 * 60_000 > windowStart.getTime()) expected.push(new Date(startMs).toISOString());
          }
          expect(ours).toEqual(expected);
        },
      ),
      { numRuns: 60 },
    );
  });

  it("UNTIL in UTC on a TZID series without VTIMEZONE is compared as an instant", () => {
    // 14:00 EST is 19:00Z, so an UNTIL one second earlier excludes Jan 26 (a wall-clock
    // comparison of 14:00 against 18:59:59 would keep it).
    const ics = calendar(vevent("UID:u", "DTSTART;TZID=America/New_York:20260105T140000", "RRULE:FREQ=WEEKLY;UNTIL=20260126T185959Z"));
    const result = parsed(ics, { windowStart: new Date("2026-01-01T00:00:00Z"), windowEnd: new Date("2026-03-01T00:00:00Z") });
    expect(starts(result.events)).toEqual(["2026-01-05T19:00:00.000Z", "2026-01-12T19:00:00.000Z", "2026-01-19T19:00:00.000Z"]);
  });

  it("a DATE UNTIL on a timed series keeps that whole day", () => {
    const ics = calendar(vevent("UID:u", "DTSTART:20261005T160000Z", "RRULE:FREQ=WEEKLY;UNTIL=20261019"));
    expect(starts(parsed(ics).events)).toEqual(["2026-10-05T16:00:00.000Z", "2026-10-12T16:00:00.000Z", "2026-10-19T16:00:00.000Z"]);
  });

  it("COUNT numbers occurrences from DTSTART even when they are before the window", () => {
    const ics = calendar(vevent("UID:c", "DTSTART:20260907T160000Z", "RRULE:FREQ=WEEKLY;COUNT=6"));
    expect(starts(parsed(ics).events)).toEqual(["2026-10-05T16:00:00.000Z", "2026-10-12T16:00:00.000Z"]);
  });

  it("RDATE (DATE-TIME and PERIOD) adds instances; DURATION sets their length", () => {
    const ics = calendar(
      vevent(
        "UID:r",
        "DTSTART:20261005T160000Z",
        "DURATION:PT45M",
        "RDATE:20261007T170000Z,20261009T170000Z",
        "RDATE;VALUE=PERIOD:20261010T100000Z/PT2H",
      ),
    );
    expect(parsed(ics).events.map((e) => [e.start, e.end])).toEqual([
      ["2026-10-05T16:00:00.000Z", "2026-10-05T16:45:00.000Z"],
      ["2026-10-07T17:00:00.000Z", "2026-10-07T17:45:00.000Z"],
      ["2026-10-09T17:00:00.000Z", "2026-10-09T17:45:00.000Z"],
      ["2026-10-10T10:00:00.000Z", "2026-10-10T12:00:00.000Z"],
    ]);
  });

  it("a nominal DURATION of a day spans the DST change on the wall clock (RFC 5545 3.3.6)", () => {
    const ics = calendar(vevent("UID:d", "DTSTART;TZID=America/New_York:20261031T120000", "DURATION:P1D"));
    expect(parsed(ics).events[0]).toMatchObject({ start: "2026-10-31T16:00:00.000Z", end: "2026-11-01T17:00:00.000Z" });
  });

  it("an override without its master (a webhook carrying only the changed instance)", () => {
    const ics = calendar(
      vevent(
        "UID:only",
        "RECURRENCE-ID;TZID=America/New_York:20261020T100000",
        "DTSTART;TZID=America/New_York:20261022T110000",
        "DTEND;TZID=America/New_York:20261022T115000",
        "SEQUENCE:3",
      ),
    );
    expect(parsed(ics).events).toEqual([
      {
        externalId: "only/2026-10-20T14:00:00.000Z",
        uid: "only",
        recurrenceId: "2026-10-20T14:00:00.000Z",
        status: "confirmed",
        start: "2026-10-22T15:00:00.000Z",
        end: "2026-10-22T15:50:00.000Z",
        allDay: false,
        sequence: 3,
        updatedAt: "2026-09-01T00:00:00.000Z",
        busy: true,
        texts: [],
      },
    ]);
  });

  it("an instance moved out of the window is still reported; one moved in from outside too", () => {
    const ics = calendar(
      vevent("UID:m", "DTSTART:20260901T160000Z", "DTEND:20260901T165000Z", "RRULE:FREQ=WEEKLY;COUNT=20"),
      vevent("UID:m", "RECURRENCE-ID:20261117T160000Z", "DTSTART:20261208T160000Z", "DTEND:20261208T165000Z", "SEQUENCE:1"),
      vevent("UID:m", "RECURRENCE-ID:20260922T160000Z", "DTSTART:20261002T160000Z", "DTEND:20261002T165000Z", "SEQUENCE:1"),
    );
    const events = parsed(ics).events;
    expect(byId(events, "m/2026-11-17T16:00:00.000Z")).toMatchObject({ start: "2026-12-08T16:00:00.000Z", sequence: 1 });
    expect(byId(events, "m/2026-09-22T16:00:00.000Z")).toMatchObject({ start: "2026-10-02T16:00:00.000Z", sequence: 1 });
  });

  it("X-TELEHEALTH-SESSION-ID: instances carry the master's, an override its own", () => {
    const ics = calendar(
      vevent("UID:s", "DTSTART:20261005T160000Z", "RRULE:FREQ=WEEKLY;COUNT=3", "X-TELEHEALTH-SESSION-ID:ses_master"),
      vevent("UID:s", "RECURRENCE-ID:20261012T160000Z", "DTSTART:20261013T160000Z", "X-TELEHEALTH-SESSION-ID:ses_moved"),
      vevent("UID:t", "RECURRENCE-ID:20261012T160000Z", "DTSTART:20261013T160000Z"),
      vevent("UID:t", "DTSTART:20261005T160000Z", "RRULE:FREQ=WEEKLY;COUNT=3", "X-TELEHEALTH-SESSION-ID:ses_t"),
    );
    const events = parsed(ics).events;
    expect(events.filter((e) => e.uid === "s").map((e) => e.sessionId)).toEqual(["ses_master", "ses_moved", "ses_master"]);
    expect(events.filter((e) => e.uid === "t").map((e) => e.sessionId)).toEqual(["ses_t", "ses_t", "ses_t"]);
  });

  it("duplicate copies of one (UID, RECURRENCE-ID): higher SEQUENCE wins, then later LAST-MODIFIED", () => {
    const ics = calendar(
      vevent("UID:d", "DTSTART:20261005T160000Z", "SEQUENCE:2", "LAST-MODIFIED:20260901T000000Z"),
      vevent("UID:d", "DTSTART:20261006T160000Z", "SEQUENCE:1", "LAST-MODIFIED:20261001T000000Z"),
      vevent("UID:e", "DTSTART:20261005T160000Z", "SEQUENCE:1", "LAST-MODIFIED:20261002T000000Z"),
      vevent("UID:e", "DTSTART:20261007T160000Z", "SEQUENCE:1", "LAST-MODIFIED:20261001T000000Z"),
    );
    expect(parsed(ics).events.map((e) => [e.externalId, e.start])).toEqual([
      ["d", "2026-10-05T16:00:00.000Z"],
      ["e", "2026-10-05T16:00:00.000Z"],
    ]);
  });

  it("a DATE EXDATE on a timed series removes that day's instance", () => {
    const ics = calendar(vevent("UID:x", "DTSTART;TZID=America/New_York:20261005T200000", "RRULE:FREQ=DAILY;COUNT=3", "EXDATE;VALUE=DATE:20261006"));
    expect(parsed(ics).events.map((e) => e.status)).toEqual(["confirmed", "cancelled", "confirmed"]);
  });

  it("an all-day weekly series stays on the provider's days across DST", () => {
    const ics = calendar(vevent("UID:a", "DTSTART;VALUE=DATE:20261026", "RRULE:FREQ=WEEKLY;COUNT=3"));
    expect(parsed(ics, { defaultTimezone: "America/New_York" }).events.map((e) => [e.start, e.end, e.allDay])).toEqual([
      ["2026-10-26T04:00:00.000Z", "2026-10-27T04:00:00.000Z", true],
      ["2026-11-02T05:00:00.000Z", "2026-11-03T05:00:00.000Z", true],
      ["2026-11-09T05:00:00.000Z", "2026-11-10T05:00:00.000Z", true],
    ]);
  });
});

describe("cancellation", () => {
  it("METHOD:CANCEL cancels a single event and every instance of a series (RFC 5546 3.2.5)", () => {
    const result = parsed(
      calendar(
        "METHOD:CANCEL",
        vevent("UID:one", "DTSTART:20261005T160000Z", "SEQUENCE:1"),
        vevent("UID:many", "DTSTART:20261005T180000Z", "RRULE:FREQ=WEEKLY;COUNT=3", "SEQUENCE:4"),
      ),
    );
    expect(result.method).toBe("CANCEL");
    expect(result.events.map((e) => [e.externalId, e.status])).toEqual([
      ["one", "cancelled"],
      ["many/2026-10-05T18:00:00.000Z", "cancelled"],
      ["many/2026-10-12T18:00:00.000Z", "cancelled"],
      ["many/2026-10-19T18:00:00.000Z", "cancelled"],
    ]);
  });

  it("METHOD:CANCEL for one instance by RECURRENCE-ID", () => {
    const result = parsed(calendar("METHOD:CANCEL", vevent("UID:series", "RECURRENCE-ID:20261012T160000Z", "SEQUENCE:2")));
    expect(result.events).toEqual([
      expect.objectContaining({ externalId: "series/2026-10-12T16:00:00.000Z", status: "cancelled", start: "2026-10-12T16:00:00.000Z" }),
    ]);
  });

  it("STATUS:CANCELLED deletes; without DTSTART it is a stub with no times", () => {
    const result = parsed(
      calendar(vevent("UID:gone", "STATUS:CANCELLED", "SEQUENCE:5"), vevent("UID:kept", "DTSTART:20261005T160000Z", "STATUS:CANCELLED")),
    );
    expect(result.events).toEqual([
      { externalId: "gone", uid: "gone", status: "cancelled", sequence: 5, updatedAt: "2026-09-01T00:00:00.000Z", busy: true, texts: [] },
      expect.objectContaining({ externalId: "kept", status: "cancelled", start: "2026-10-05T16:00:00.000Z" }),
    ]);
  });

  it("a cancelled master cancels its overrides too", () => {
    const ics = calendar(
      vevent("UID:c", "DTSTART:20261005T160000Z", "RRULE:FREQ=WEEKLY;COUNT=2", "STATUS:CANCELLED"),
      vevent("UID:c", "RECURRENCE-ID:20261012T160000Z", "DTSTART:20261013T160000Z", "STATUS:CONFIRMED"),
    );
    expect(parsed(ics).events.map((e) => e.status)).toEqual(["cancelled", "cancelled"]);
  });

  it.each([
    ["STATUS:CONFIRMED", "confirmed"],
    ["STATUS:TENTATIVE", "tentative"],
    ["STATUS:CANCELLED", "cancelled"],
    ["STATUS:CANCELED", "cancelled"],
    ["X-NO-STATUS:1", "confirmed"],
  ])("%s -> %s", (line, status) => {
    expect(parsed(calendar(vevent("UID:s", "DTSTART:20261005T160000Z", line))).events[0]!.status).toBe(status);
  });

  it("texts gather LOCATION, URL, DESCRIPTION, CONFERENCE, X-GOOGLE-CONFERENCE and ALTREP links", () => {
    const event = parsed(
      calendar(
        vevent(
          "UID:t",
          "DTSTART:20261005T160000Z",
          'LOCATION;ALTREP="https://doxy.me/drrivera":Doxy room',
          "URL:https://zoom.us/j/1234567890",
          "DESCRIPTION:Join: https://zoom.us/j/1234567890\\, then wait.",
          "CONFERENCE;VALUE=URI;FEATURE=AUDIO,VIDEO;LABEL=Join:https://zoom.us/j/1234567890",
          "X-GOOGLE-CONFERENCE:https://meet.google.com/abc-defg-hij",
          "TRANSP:TRANSPARENT",
        ),
      ),
    ).events[0]!;
    expect(event.texts).toEqual([
      "Doxy room",
      "https://doxy.me/drrivera",
      "https://zoom.us/j/1234567890",
      "Join: https://zoom.us/j/1234567890, then wait.",
      "https://meet.google.com/abc-defg-hij",
    ]);
    expect(event.busy).toBe(false);
  });
});

describe("limits and malformed input", () => {
  it("100,000 VEVENTs are refused before ical.js parses them", () => {
    const body = calendar(...Array.from({ length: 100_000 }, (_, i) => `BEGIN:VEVENT\r\nUID:${i}\r\nEND:VEVENT`));
    expect(Buffer.byteLength(body)).toBeLessThan(5 * 1024 * 1024);
    const started = performance.now();
    const result = parse(body);
    const elapsed = performance.now() - started;
    console.info(`100,000 minimal VEVENTs (${(body.length / 1e6).toFixed(1)} MB): refused in ${elapsed.toFixed(1)} ms`);
    expect(result).toMatchObject({ ok: false, code: "ics_too_many_events" });
    expect(elapsed).toBeLessThan(1_000);
  });

  it("100,000 realistic VEVENTs are over 5 MB and refused on size at once", () => {
    const event = (i: number) =>
      vevent(
        `UID:${i}@example.com`,
        "DTSTART:20261005T160000Z",
        "DTEND:20261005T165000Z",
        "SUMMARY:Session",
        "LOCATION:https://zoom.us/j/1234567890",
      );
    const body = calendar(...Array.from({ length: 100_000 }, (_, i) => event(i)));
    const started = performance.now();
    const result = parse(body);
    const elapsed = performance.now() - started;
    console.info(`100,000 realistic VEVENTs (${(body.length / 1e6).toFixed(1)} MB): refused in ${elapsed.toFixed(1)} ms`);
    expect(result).toMatchObject({ ok: false, code: "ics_too_large" });
    expect(elapsed).toBeLessThan(100);
    expect(parse(body, { maxBytes: 50_000_000 })).toMatchObject({ ok: false, code: "ics_too_many_events" });
  });

  it("maxEvents counts every VEVENT, overrides and folded BEGIN lines included", () => {
    const three = [
      vevent("UID:a", "DTSTART:20261005T160000Z"),
      vevent("UID:a", "RECURRENCE-ID:20261005T160000Z", "DTSTART:20261006T160000Z"),
      vevent("UID:b", "DTSTART:20261005T160000Z"),
    ];
    expect(parse(calendar(...three), { maxEvents: 3 }).ok).toBe(true);
    expect(parse(calendar(...three), { maxEvents: 2 })).toMatchObject({ ok: false, code: "ics_too_many_events" });
    const folded = calendar(...three).replaceAll("BEGIN:VEVENT", "BEGIN:VEV\r\n ENT");
    expect(parse(folded, { maxEvents: 2 })).toMatchObject({ ok: false, code: "ics_too_many_events" });
  });

  const good = calendar(vevent("UID:ok", "DTSTART:20261005T160000Z"));
  it.each([
    { label: "truncated mid-event", body: good.slice(0, good.indexOf("END:VEVENT")), code: "ics_malformed" },
    { label: "truncated mid-line", body: good.slice(0, good.indexOf("DTSTART") + 12), code: "ics_malformed" },
    { label: "binary garbage", body: "BEGIN:VCALENDAR\r\n\u0000\u0001\u00ff\ufffd\r\nEND:VCALENDAR", code: "ics_malformed" },
    { label: "a stray END", body: calendar("END:VEVENT", vevent("UID:x", "DTSTART:20261005T160000Z")), code: "ics_malformed" },
    {
      label: "END names the wrong component",
      body: "BEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\nUID:x\r\nEND:VTODO\r\nEND:VCALENDAR\r\n",
      code: "ics_malformed",
    },
    { label: "nested too deep", body: calendar("BEGIN:X\r\n".repeat(20) + "END:X\r\n".repeat(20)), code: "ics_malformed" },
    { label: "a bad DATE-TIME", body: calendar(vevent("UID:x", "DTSTART:2026XX05T160000Z")), code: "ics_malformed" },
    { label: "a bad RRULE", body: calendar(vevent("UID:x", "DTSTART:20261005T160000Z", "RRULE:FREQ=SOMETIMES")), code: "ics_malformed" },
    {
      label: "an RRULE ical.js rejects",
      body: calendar(vevent("UID:x", "DTSTART:20261005T160000Z", "RRULE:FREQ=WEEKLY;BYMONTHDAY=3")),
      code: "ics_malformed",
    },
    { label: "random bytes", body: "\u0089PNG\r\n\u001a\n\u0000\u0000\u0000\rIHDR", code: "ics_not_a_calendar" },
    { label: "an HTML login page", body: "<!DOCTYPE html><html><body>Sign in</body></html>", code: "ics_not_a_calendar" },
    { label: "a JSON error", body: '{"error":"unauthorized"}', code: "ics_not_a_calendar" },
    { label: "an empty body", body: "", code: "ics_not_a_calendar" },
    { label: "a vCard", body: "BEGIN:VCARD\r\nVERSION:4.0\r\nFN:Someone\r\nEND:VCARD\r\n", code: "ics_not_a_calendar" },
    { label: "a lone VEVENT", body: vevent("UID:x", "DTSTART:20261005T160000Z"), code: "ics_not_a_calendar" },
    {
      label: "a 6 MB body",
      body: calendar(vevent("UID:x", "DTSTART:20261005T160000Z", `DESCRIPTION:${"x".repeat(6 * 1024 * 1024)}`)),
      code: "ics_too_large",
    },
  ])("$label -> $code", ({ body, code }) => {
    const result = parse(body);
    expect(result).toMatchObject({ ok: false, code });
    // Messages never quote the input (a line may hold client data).
    if (!result.ok) expect(result.message).not.toMatch(/2026XX|SOMETIMES|Sign in|Someone/);
  });

  const yearOneZones = (count: number) =>
    Array.from({ length: count }, (_, i) =>
      [
        "BEGIN:VTIMEZONE",
        `TZID:Zone ${i}`,
        "BEGIN:STANDARD",
        "DTSTART:00011104T020000",
        "TZOFFSETFROM:-0400",
        "TZOFFSETTO:-0500",
        "RRULE:FREQ=YEARLY;BYMONTH=11;BYDAY=1SU",
        "END:STANDARD",
        "BEGIN:DAYLIGHT",
        "DTSTART:00010311T020000",
        "TZOFFSETFROM:-0500",
        "TZOFFSETTO:-0400",
        "RRULE:FREQ=YEARLY;BYMONTH=3;BYDAY=2SU",
        "END:DAYLIGHT",
        "END:VTIMEZONE",
        vevent(`UID:z${i}`, `DTSTART;TZID=Zone ${i}:20261005T120000`),
      ].join("\r\n"),
    );
  it.each([
    {
      label: "870,000 parameters on one line",
      body: calendar(vevent("UID:p", "DTSTART:20261005T160000Z", `X-FOO${";X-P=1".repeat(870_000)}:v`)),
      code: "ics_malformed",
    },
    {
      // One 5 MB line: refused by its length before ical.js reads it.
      label: "300,000 EXDATE values",
      body: calendar(
        vevent("UID:e", "DTSTART:20261005T160000Z", "RRULE:FREQ=DAILY", `EXDATE:${"20261006T160000Z,".repeat(300_000)}20261006T160000Z`),
      ),
      code: "ics_malformed",
    },
    { label: "1,000 VTIMEZONEs expanded from year 1", body: calendar(...yearOneZones(1_000)), code: "ics_too_many_events" },
  ])("bounded work on hostile input: $label -> $code", ({ body, code }) => {
    const started = performance.now();
    const result = parse(body);
    const elapsed = performance.now() - started;
    console.info(`${(body.length / 1e6).toFixed(1)} MB of hostile input: ${code} after ${elapsed.toFixed(0)} ms`);
    expect(result).toMatchObject({ ok: false, code });
    expect(elapsed).toBeLessThan(5_000);
  });

  it("a line longer than the cap is refused as malformed, folded or not; a line at the cap parses", () => {
    const exdates = (n: number) => `EXDATE:${"20261006T160000Z,".repeat(n - 1)}20261006T160000Z`;
    const atCap = Math.floor((MAX_LINE_CHARS - 6) / 17); // "EXDATE:" + 17 characters a value, less the last comma
    const line = exdates(atCap);
    expect(line.length).toBeLessThanOrEqual(MAX_LINE_CHARS);
    const ok = parse(calendar(vevent("UID:e", "DTSTART:20261005T160000Z", "RRULE:FREQ=DAILY;COUNT=3", line)));
    expect(ok).toMatchObject({ ok: true });
    if (ok.ok) expect(ok.events.filter((e) => e.status !== "cancelled")).toHaveLength(2);
    const over = exdates(atCap + 2);
    expect(over.length).toBeGreaterThan(MAX_LINE_CHARS);
    expect(parse(calendar(vevent("UID:e", "DTSTART:20261005T160000Z", over)))).toMatchObject({ ok: false, code: "ics_malformed" });
    // Folding (RFC 5545 3.1) does not hide the length: the cap applies to the unfolded line.
    const folded = over.match(/.{1,74}/g)!.join("\r\n ");
    expect(parse(calendar(vevent("UID:e", "DTSTART:20261005T160000Z", folded)))).toMatchObject({ ok: false, code: "ics_malformed" });
    // The last line of a body without a line end counts too.
    expect(parse(`${calendar(vevent("UID:e", "DTSTART:20261005T160000Z"))}X-TAIL:${"x".repeat(MAX_LINE_CHARS)}`)).toMatchObject({
      ok: false,
      code: "ics_malformed",
    });
  });

  it("an event longer than the cap is refused; many long lines below the line cap do not get past it", () => {
    const description = `DESCRIPTION:${"x".repeat(MAX_LINE_CHARS - 20)}`;
    const lines = Math.ceil(MAX_VEVENT_CHARS / description.length) + 1;
    const body = calendar(vevent("UID:big", "DTSTART:20261005T160000Z", ...Array.from({ length: lines }, () => description)));
    expect(parse(body)).toMatchObject({ ok: false, code: "ics_too_large" });
    expect(parse(calendar(vevent("UID:ok", "DTSTART:20261005T160000Z", description)))).toMatchObject({ ok: true });
  });

  it("the limits leave room for real input: 100 parameters, a VTIMEZONE from year 1", () => {
    expect(parse(calendar(vevent("UID:p", "DTSTART:20261005T160000Z", `X-FOO${";X-P=1".repeat(100)}:v`))).ok).toBe(true);
    expect(parse(calendar(vevent("UID:p", "DTSTART:20261005T160000Z", `X-FOO${";X-P=1".repeat(101)}:v`))).ok).toBe(false);
    expect(parsed(calendar(...yearOneZones(2))).events.map((e) => e.start)).toEqual(["2026-10-05T16:00:00.000Z", "2026-10-05T16:00:00.000Z"]);
  });

  it("accepts a byte-order mark, bare LF line ends and lower-case names", () => {
    const body = "\uFEFF" + calendar(vevent("UID:bom", "DTSTART:20261005T160000Z")).replaceAll("\r\n", "\n").toLowerCase();
    expect(parsed(body).events.map((e) => e.uid)).toEqual(["bom"]);
  });

  it("a calendar of impossible rules is refused once the expansion budget is spent", () => {
    const rules = Array.from({ length: 300 }, (_, i) =>
      vevent(`UID:odd-${i}`, "DTSTART:20260101T100000Z", "RRULE:FREQ=DAILY;BYMONTH=2;BYMONTHDAY=30"),
    );
    const started = performance.now();
    const result = parse(calendar(...rules));
    const elapsed = performance.now() - started;
    console.info(`300 never-matching RRULEs: refused after ${elapsed.toFixed(0)} ms`);
    expect(result).toMatchObject({ ok: false, code: "ics_too_many_events" });
    expect(elapsed).toBeLessThan(5_000);
  });

  it("rejects options that are programming errors", () => {
    expect(() => parseExternalCalendar(good, { windowStart: WINDOW.windowEnd, windowEnd: WINDOW.windowStart })).toThrow(RangeError);
    expect(() => parseExternalCalendar(good, { ...WINDOW, windowStart: new Date("nope") })).toThrow(RangeError);
    expect(() => parse(good, { maxEvents: 0 })).toThrow(RangeError);
    expect(() => parse(good, { defaultTimezone: "Mars/Olympus_Mons" })).toThrow(RangeError);
  });

  it("is deterministic: the same body gives the same result", () => {
    const body = fixture("google-export.ics");
    expect(parse(body)).toEqual(parse(body));
  });

  /** Every ok result is well formed: ISO instants, end not before start, one event per id. */
  function checkInvariants(result: ParseResult) {
    expect(typeof result.ok).toBe("boolean");
    if (!result.ok) {
      expect(["ics_too_large", "ics_malformed", "ics_not_a_calendar", "ics_too_many_events"]).toContain(result.code);
      return;
    }
    const ids = new Set<string>();
    for (const event of result.events) {
      expect(ids.has(event.externalId)).toBe(false);
      ids.add(event.externalId);
      expect(["confirmed", "tentative", "cancelled"]).toContain(event.status);
      if (event.start !== undefined) {
        expect(new Date(event.start).toISOString()).toBe(event.start);
        expect(Date.parse(event.end!)).toBeGreaterThanOrEqual(Date.parse(event.start));
      }
      if (event.recurrenceId !== undefined) expect(event.externalId).toBe(`${event.uid}/${event.recurrenceId}`);
    }
  }

  it("property: never throws on arbitrary strings", () => {
    const anyText = fc.oneof(fc.string({ size: "max", maxLength: 400 }), fc.string({ unit: "binary", size: "max", maxLength: 400 }));
    fc.assert(
      fc.property(anyText, (body) => checkInvariants(parse(body))),
      { numRuns: 500 },
    );
  });

  it("property: never throws on strings built from iCalendar tokens", () => {
    const token = fc.constantFrom(
      "BEGIN:VCALENDAR",
      "END:VCALENDAR",
      "BEGIN:VEVENT",
      "END:VEVENT",
      "BEGIN:VTIMEZONE",
      "END:VTIMEZONE",
      "BEGIN:STANDARD",
      "END:STANDARD",
      "UID:a",
      "UID:b",
      "DTSTART:20261005T160000Z",
      "DTSTART;TZID=America/New_York:20261005T160000",
      "DTSTART;VALUE=DATE:20261005",
      "DTEND:20261004T160000Z",
      "DURATION:-PT1H",
      "DURATION:P1W",
      "RRULE:FREQ=DAILY",
      "RRULE:FREQ=WEEKLY;BYDAY=MO;COUNT=3",
      "RRULE:FREQ=MONTHLY;BYDAY=5FR",
      "RRULE:FREQ=YEARLY;BYWEEKNO=53",
      "EXDATE:20261006T160000Z",
      "RDATE;VALUE=PERIOD:20261010T100000Z/PT2H",
      "RECURRENCE-ID:20261012T160000Z",
      "RECURRENCE-ID;RANGE=THISANDFUTURE:20261012T160000Z",
      "STATUS:CANCELLED",
      "METHOD:CANCEL",
      "TZID:America/New_York",
      "TZOFFSETFROM:-0500",
      "TZOFFSETTO:-0400",
      "SEQUENCE:99999999999999999999",
      "SEQUENCE:-3",
      " folded",
      "X-TELEHEALTH-SESSION-ID:",
      "DTSTART;TZID=Nowhere:20261005T160000",
      "TRANSP:TRANSPARENT",
      "",
      ":",
      ";",
      "BEGIN:",
      "END:",
    );
    fc.assert(
      fc.property(fc.array(token, { maxLength: 40 }), fc.constantFrom("\r\n", "\n"), (lines, eol) => checkInvariants(parse(lines.join(eol)))),
      { numRuns: 500 },
    );
  });

  it("property: never throws on random mutations of the fixtures", () => {
    const bodies = ["google-export.ics", "outlook-export.ics", "weekly-dst.ics", "weekly-dst-no-vtimezone.ics"].map(fixture);
    const mutation = fc.oneof(
      fc.record({ kind: fc.constant("delete" as const), at: fc.nat() }),
      fc.record({ kind: fc.constant("duplicate" as const), at: fc.nat() }),
      fc.record({ kind: fc.constant("swap" as const), at: fc.nat(), other: fc.nat() }),
      fc.record({ kind: fc.constant("insert" as const), at: fc.nat(), text: fc.string({ maxLength: 30 }) }),
      fc.record({ kind: fc.constant("value" as const), at: fc.nat(), text: fc.string({ maxLength: 30 }) }),
      fc.record({ kind: fc.constant("char" as const), at: fc.nat(), text: fc.string({ unit: "binary", minLength: 1, maxLength: 3 }) }),
      fc.record({ kind: fc.constant("truncate" as const), at: fc.nat() }),
    );
    fc.assert(
      fc.property(fc.constantFrom(...bodies), fc.array(mutation, { minLength: 1, maxLength: 6 }), (original, mutations) => {
        let body = original;
        for (const m of mutations) {
          const lines = body.split("\r\n");
          const i = m.at % lines.length;
          if (m.kind === "delete") lines.splice(i, 1);
          if (m.kind === "duplicate") lines.splice(i, 0, lines[i]!);
          if (m.kind === "swap") [lines[i], lines[m.other % lines.length]] = [lines[m.other % lines.length]!, lines[i]!];
          if (m.kind === "insert") lines.splice(i, 0, m.text);
          if (m.kind === "value") lines[i] = `${lines[i]!.split(":")[0]}:${m.text}`;
          body = lines.join("\r\n");
          if (m.kind === "char") body = body.slice(0, m.at % body.length) + m.text + body.slice((m.at % body.length) + 1);
          if (m.kind === "truncate") body = body.slice(0, m.at % body.length);
        }
        checkInvariants(parse(body, { defaultTimezone: "America/New_York" }));
      }),
      { numRuns: 500 },
    );
  });
});
