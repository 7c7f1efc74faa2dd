// src/ics instruments members of ical.js that are not its documented API (recurrence step
// counting in recurrence.ts, bounded zone expansion in timezones.ts). ical.js is pinned to an exact
// version in package.json; this test fails on an upgrade that renames or changes any of them.
import ICAL from "ical.js";
import { describe, expect, it } from "vitest";

const ZONE = [
  "BEGIN:VTIMEZONE",
  "TZID:Test/Zone",
  "BEGIN:STANDARD",
  "DTSTART:19701101T020000",
  "RRULE:FREQ=YEARLY;BYMONTH=11;BYDAY=1SU",
  "TZOFFSETFROM:-0400",
  "TZOFFSETTO:-0500",
  "END:STANDARD",
  "BEGIN:DAYLIGHT",
  "DTSTART:19700308T020000",
  "RRULE:FREQ=YEARLY;BYMONTH=3;BYDAY=2SU",
  "TZOFFSETFROM:-0500",
  "TZOFFSETTO:-0400",
  "END:DAYLIGHT",
  "END:VTIMEZONE",
].join("\r\n");

describe("the ical.js members src/ics relies on", () => {
  it("RecurIterator: built with initialized: true it does not run, and the three step methods are called once fromData() starts it", () => {
    const rule = ICAL.Recur.fromString("FREQ=MONTHLY;BYDAY=1MO");
    const dtstart = ICAL.Time.fromDateTimeString("2026-01-05T10:00:00");
    const iterator = new ICAL.RecurIterator({ rule, dtstart, initialized: true });
    const calls = { check_contracting_rules: 0, is_day_in_byday: 0, expand_year_days: 0 };
    for (const name of Object.keys(calls) as Array<keyof typeof calls>) {
      expect(typeof iterator[name], name).toBe("function");
      const original = (iterator[name] as (...a: unknown[]) => unknown).bind(iterator);
      (iterator as unknown as Record<string, unknown>)[name] = (...args: unknown[]) => {
        calls[name]++;
        return original(...args);
      };
    }
    expect(Object.values(calls).every((n) => n === 0)).toBe(true);
    iterator.fromData({ rule, dtstart });
    const first = iterator.next()?.toString(); // next() hands back its own mutable Time: read it now
    for (let i = 0; i < 24; i++) iterator.next();
    expect(first).toBe("2026-01-05T10:00:00");
    expect(calls.check_contracting_rules, JSON.stringify(calls)).toBeGreaterThan(0);
    expect(calls.is_day_in_byday + calls.expand_year_days, JSON.stringify(calls)).toBeGreaterThan(0);
  });

  it("Timezone: _ensureCoverage(year), EXTRA_COVERAGE, expandedUntilYear and changes", () => {
    const component = new ICAL.Component(ICAL.parse(ZONE));
    const zone = new ICAL.Timezone(component);
    expect(typeof ICAL.Timezone.EXTRA_COVERAGE).toBe("number");
    const internals = zone as unknown as { _ensureCoverage(year: number): void; expandedUntilYear?: number; changes: unknown[] };
    expect(typeof internals._ensureCoverage).toBe("function");
    internals._ensureCoverage(2030);
    expect(internals.expandedUntilYear).toBeGreaterThanOrEqual(2030);
    expect(Array.isArray(internals.changes)).toBe(true);
    expect(internals.changes.length).toBeGreaterThan(100);
    expect(Object.keys(internals.changes[0] as object)).toEqual(expect.arrayContaining(["year", "month", "day", "hour", "utcOffset"]));
  });
});
