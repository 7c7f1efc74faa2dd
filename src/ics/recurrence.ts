// Recurrence expansion for parse.ts: RFC 5545 3.8.5 sets (RRULE, RDATE, EXDATE), overrides by
// RECURRENCE-ID, and the work budget that bounds ical.js's recurrence iterator. Pure like parse.ts:
// the window, the limits and the budget arrive in an ExpansionContext made per parse.
import ICAL from "ical.js";
import type { ExternalEvent } from "../domain/external-event.js";
import type { ExternalEventStatus } from "../domain/value-lists.js";
import { DAY_MS, utcToWall, wallMs, wallToUtc, type Zone } from "./timezones.js";

/**
 * Work one parse may spend expanding recurrences, in units of 3 to 16 µs (measured on Node 20):
 * an ical.js iterator pass or day test is 1, an RDATE/EXDATE value 3 (ical.js hydrates each in 6
 * to 10 µs), a VTIMEZONE observance-year 4 (~11 µs each). At most 1-2.5 s of work; a provider's
 * real calendar needs a few thousand units, a weekly series over a 13-month window about 60.
 */
export const EXPANSION_BUDGET = 150_000;
const UNITS_PER_DATE_VALUE = 3;
export const UNITS_PER_OBSERVANCE_YEAR = 4;
const MAX_WARNINGS = 50;

export type Moment = { wall: number; utc: number; isDate: boolean; zone: Zone };
/** RFC 5545 3.3.6: days and weeks are nominal (wall clock), hours and below exact. */
export type Span = { days: number; ms: number };
type Slot = { start: number; end: number; allDay: boolean };
export type VeventRecord = {
  uid: string;
  /**
   * Only for a series (RRULE or RDATE), which expansion walks; a one-off event keeps none, so a
   * 20,000-event calendar does not hold 20,000 ical.js trees (and their garbage collection) at once.
   */
  component?: ICAL.Component;
  /** Reads its RDATE/EXDATE values in the VTIMEZONEs of the VCALENDAR it came from. */
  readDate: (prop: ICAL.Property, value: unknown) => Moment;
  start?: Moment;
  recurrenceId?: Moment;
  span: Span;
  status: ExternalEventStatus;
  sequence: number;
  updatedMs?: number;
  busy: boolean;
  texts: string[];
  sessionId?: string;
};
/** What expansion reads and spends, one per parse; parse.ts adds its zone lookups to it. */
export type ExpansionContext = {
  windowStart: number;
  windowEnd: number;
  maxInstances: number;
  stepsLeft: number;
  warnings: Set<string>;
  /** A series cut at maxInstances (or the per-series work limit) fails the parse instead of warning. */
  rejectTruncatedSeries?: boolean;
};

export class ExpansionBudgetExceeded extends Error {}
export class SeriesOverCap extends Error {}
class SeriesStepLimit extends Error {}

export function charge(ctx: ExpansionContext, units: number): void {
  ctx.stepsLeft -= units;
  if (ctx.stepsLeft < 0) throw new ExpansionBudgetExceeded();
}

export function warn(ctx: ExpansionContext, message: string): void {
  if (ctx.warnings.size < MAX_WARNINGS) ctx.warnings.add(message);
  else ctx.warnings.add("warnings_truncated: further warnings were dropped");
}

export function quoted(value: string): string {
  return JSON.stringify(value.length > 80 ? `${value.slice(0, 80)}…` : value);
}

/** Higher SEQUENCE wins, then the later LAST-MODIFIED/DTSTAMP, then the later copy in the body. */
function isNewer(candidate: VeventRecord, current: VeventRecord): boolean {
  if (candidate.sequence !== current.sequence) return candidate.sequence > current.sequence;
  return (candidate.updatedMs ?? -Infinity) >= (current.updatedMs ?? -Infinity);
}

export function emitEvents(records: VeventRecord[], ctx: ExpansionContext): ExternalEvent[] {
  const steps = emitEventsInSteps(records, ctx);
  for (;;) {
    const step = steps.next();
    if (step.done) return step.value;
  }
}

/** emitEvents as a generator that yields after each UID's group, so a caller can pause between them. */
export function* emitEventsInSteps(records: VeventRecord[], ctx: ExpansionContext): Generator<void, ExternalEvent[], void> {
  // Duplicate UIDs happen in the wild (vdirsyncer #1140); keep one copy per (UID, RECURRENCE-ID).
  const groups = new Map<string, { master?: VeventRecord; overrides: Map<number, VeventRecord> }>();
  for (const record of records) {
    let group = groups.get(record.uid);
    if (!group) {
      group = { overrides: new Map() };
      groups.set(record.uid, group);
    }
    if (record.recurrenceId) {
      const current = group.overrides.get(record.recurrenceId.utc);
      if (!current || isNewer(record, current)) group.overrides.set(record.recurrenceId.utc, record);
    } else if (!group.master || isNewer(record, group.master)) {
      group.master = record;
    }
  }

  const events: ExternalEvent[] = [];
  for (const { master, overrides } of groups.values()) {
    const recurring = master?.start && master.component;
    let excluded = (_rid: Moment) => false;
    const instances: Array<[number, ExternalEvent]> = [];
    if (master && recurring) {
      excluded = yield* expandSeries(master, overrides, ctx, instances);
    } else if (master) {
      if (master.start) {
        const end = endOf(master.start, master.span);
        events.push(toEvent(master, { start: master.start.utc, end, allDay: master.start.isDate }));
      } else if (master.status === "cancelled") {
        events.push(toEvent(master, undefined));
      } else {
        warn(ctx, `missing_dtstart: UID ${quoted(master.uid)} has no DTSTART and was skipped`);
      }
    }
    for (const override of overrides.values()) {
      const rid = override.recurrenceId!;
      const start = override.start ?? rid;
      const span = override.start ? override.span : (master?.span ?? { days: 0, ms: 0 });
      const slot = { start: start.utc, end: endOf(start, span), allDay: start.isDate };
      // Emitted when the original slot or the new one is in the window, so a session matched to
      // an instance that moved out of the window still sees the move.
      const originalInWindow = rid.utc >= ctx.windowStart && rid.utc < ctx.windowEnd;
      if (!originalInWindow && !overlapsWindow(slot.start, slot.end, ctx)) continue;
      // A cancelled series cancels its overrides; so does an EXDATE naming the same instance
      // (RFC 5545 3.8.5.1: EXDATE removes it from the set).
      const cancelled = master?.status === "cancelled" || excluded(rid);
      instances.push([rid.utc, toEvent(override, slot, rid.utc, cancelled ? "cancelled" : undefined, master?.sessionId)]);
    }
    instances.sort((a, b) => a[0] - b[0]);
    for (const [, event] of instances) events.push(event);
    yield;
  }
  return events;
}

function toEvent(
  record: VeventRecord,
  slot: Slot | undefined,
  recurrenceId?: number,
  status?: ExternalEventStatus,
  fallbackSessionId?: string,
): ExternalEvent {
  const rid = recurrenceId === undefined ? undefined : isoOf(recurrenceId);
  const sessionId = record.sessionId ?? fallbackSessionId;
  return {
    externalId: rid ? `${record.uid}/${rid}` : record.uid,
    uid: record.uid,
    ...(rid ? { recurrenceId: rid } : {}),
    ...(sessionId ? { sessionId } : {}),
    status: status ?? record.status,
    ...(slot ? { start: isoOf(slot.start), end: isoOf(slot.end), allDay: slot.allDay } : {}),
    sequence: record.sequence,
    ...(record.updatedMs !== undefined ? { updatedAt: isoOf(record.updatedMs) } : {}),
    busy: record.busy,
    texts: [...record.texts],
  };
}

function endOf(start: { wall: number; utc: number; zone: Zone }, span: Span): number {
  if (span.days === 0) return start.utc + span.ms;
  return wallToUtc(start.wall + span.days * DAY_MS, start.zone) + span.ms;
}

function overlapsWindow(start: number, end: number, ctx: ExpansionContext): boolean {
  return start < ctx.windowEnd && (start >= ctx.windowStart || end > ctx.windowStart);
}

function isoOf(ms: number): string {
  return new Date(ms).toISOString();
}

/**
 * RFC 5545 3.8.5.3: the set is DTSTART, plus RDATEs and RRULE occurrences, minus EXDATEs. Pushes
 * the instances overlapping the window that no override replaces (EXDATE ones as cancelled) and
 * returns the EXDATE test for the overrides. Yields while walking rules (see expandRule).
 */
function* expandSeries(
  master: VeventRecord,
  overrides: Map<number, VeventRecord>,
  ctx: ExpansionContext,
  out: Array<[number, ExternalEvent]>,
): Generator<void, (rid: Moment) => boolean, void> {
  const start = master.start!;
  const component = master.component!;
  const zone = start.zone;
  const slots = new Map<number, Slot & { wall: number }>();
  const consider = (wall: number, utc: number, end = endOf({ wall, utc, zone }, master.span)) => {
    if (overlapsWindow(utc, end, ctx) && !slots.has(utc)) slots.set(utc, { wall, start: utc, end, allDay: start.isDate });
    return slots.size <= ctx.maxInstances;
  };
  consider(start.wall, start.utc);
  for (const prop of component.getAllProperties("rdate")) {
    for (const value of datesOf(prop, ctx)) {
      const period = value instanceof ICAL.Period ? value : undefined;
      const moment = master.readDate(prop, period ? period.start : value);
      const end = period ? master.readDate(prop, period.getEnd()).utc : undefined;
      consider(utcToWall(moment.utc, zone), moment.utc, end);
    }
  }
  let truncated = false;
  for (const prop of component.getAllProperties("rrule")) {
    const rule = prop.getFirstValue();
    if (!(rule instanceof ICAL.Recur)) throw new Error("RRULE is not a recurrence rule");
    truncated = (yield* expandRule(rule, master, consider, ctx)) || truncated;
  }
  if (component.hasProperty("exrule")) {
    warn(ctx, `exrule_ignored: EXRULE (deprecated by RFC 5545) on UID ${quoted(master.uid)} was not applied`);
  }

  const excludedInstants = new Set<number>();
  const excludedDays = new Set<number>();
  for (const prop of component.getAllProperties("exdate")) {
    for (const value of datesOf(prop, ctx)) {
      const moment = master.readDate(prop, value);
      // A DATE EXDATE on a timed series removes that day's instance (as Google and Outlook read it).
      if (moment.isDate && !start.isDate) excludedDays.add(Math.floor(moment.wall / DAY_MS));
      else excludedInstants.add(moment.utc);
    }
  }
  const isExcluded = (utc: number, wall: number) => excludedInstants.has(utc) || excludedDays.has(Math.floor(wall / DAY_MS));

  const ordered = [...slots.values()].sort((a, b) => a.start - b.start);
  if (ordered.length > ctx.maxInstances) {
    ordered.length = ctx.maxInstances;
    truncated = true;
  }
  if (truncated && ctx.rejectTruncatedSeries) throw new SeriesOverCap();
  if (truncated) {
    warn(ctx, `series_truncated: UID ${quoted(master.uid)} was cut at ${ctx.maxInstances} instances or the work limit`);
  }
  for (const slot of ordered) {
    if (overrides.has(slot.start)) continue;
    out.push([slot.start, toEvent(master, slot, slot.start, isExcluded(slot.start, slot.wall) ? "cancelled" : undefined)]);
  }
  return (rid) => isExcluded(rid.utc, utcToWall(rid.utc, zone));
}

/** An RDATE/EXDATE's values, paid for before ical.js hydrates them (jCal: name, params, type, values). */
function datesOf(prop: ICAL.Property, ctx: ExpansionContext): unknown[] {
  charge(ctx, (prop.toJSON().length - 3) * UNITS_PER_DATE_VALUE);
  return prop.getValues();
}

function floatingTime(wall: number, isDate: boolean): ICAL.Time {
  const d = new Date(wall);
  return new ICAL.Time(
    {
      year: d.getUTCFullYear(),
      month: d.getUTCMonth() + 1,
      day: d.getUTCDate(),
      hour: isDate ? 0 : d.getUTCHours(),
      minute: isDate ? 0 : d.getUTCMinutes(),
      second: isDate ? 0 : d.getUTCSeconds(),
      isDate,
    },
    ICAL.Timezone.localTimezone,
  );
}

export function wallOfTime(time: ICAL.Time): number {
  return time.isDate ? wallMs(time.year, time.month, time.day) : wallMs(time.year, time.month, time.day, time.hour, time.minute, time.second);
}

/** Occurrences walked between yields: a few milliseconds of ical.js iteration. */
const OCCURRENCES_PER_STEP = 200;

/**
 * Walks one RRULE on the series' wall clock (floating times, so a weekly 14:00 stays 14:00 across
 * DST) and converts each occurrence with the series' zone. Returns true when it stopped early.
 * Yields every OCCURRENCES_PER_STEP occurrences: one series may walk thousands.
 */
function* expandRule(
  rule: ICAL.Recur,
  master: VeventRecord,
  consider: (wall: number, utc: number) => boolean,
  ctx: ExpansionContext,
): Generator<void, boolean, void> {
  const start = master.start!;
  const zone = start.zone;
  const iterationRule = rule.clone();
  // Nothing after the window is needed, so UNTIL is clamped to it (a day past, in wall time, to
  // cover any offset): ical.js otherwise searches impossible YEARLY rules up to year 20000.
  let untilWall = utcToWall(ctx.windowEnd, zone) + DAY_MS;
  const until = rule.until;
  if (until) {
    const written = wallOfTime(until);
    // RFC 5545 3.3.10: UNTIL is UTC when DTSTART has a zone; a DATE UNTIL on a timed series is
    // read as the whole of that day; a floating UNTIL is already on the series' wall clock.
    const wall =
      until.zone === ICAL.Timezone.utcTimezone ? utcToWall(written, zone) : until.isDate && !start.isDate ? written + DAY_MS - 1000 : written;
    untilWall = Math.min(untilWall, wall);
  }
  iterationRule.until = floatingTime(untilWall, false);
  const first = fastForward(iterationRule, start, master.span, ctx) ?? floatingTime(start.wall, start.isDate);
  try {
    // Enough for maxInstances occurrences of a BYDAY/BYSETPOS rule a few periods from the window.
    const iterator = guardedIterator(iterationRule, first, ctx, 5 * ctx.maxInstances + 2_000);
    let walked = 0;
    for (let next = iterator.next(); next; next = iterator.next()) {
      if (++walked % OCCURRENCES_PER_STEP === 0) yield;
      const wall = wallOfTime(next);
      const utc = wallToUtc(wall, zone);
      if (utc >= ctx.windowEnd) return false;
      if (!consider(wall, utc)) return true;
    }
  } catch (error) {
    if (error instanceof SeriesStepLimit) return true;
    throw error;
  }
  return false;
}

const FIXED_PERIOD_MS: Partial<Record<string, number>> = {
  SECONDLY: 1000,
  MINUTELY: 60_000,
  HOURLY: 3_600_000,
  DAILY: DAY_MS,
  WEEKLY: 7 * DAY_MS,
};

/**
 * A series that began years ago would walk every past occurrence (2-7 µs each in ical.js).
 * Without COUNT (which numbers occurrences from DTSTART, RFC 5545 3.3.10), moving DTSTART forward
 * by whole periods yields the same later occurrences, provided what ical.js derives from DTSTART
 * (weekday for WEEKLY and BYWEEKNO, day of month for MONTHLY and YEARLY) survives the move. Periods
 * are counted on the wall clock, which is what the iterator walks. The new start may itself not be
 * an occurrence, so it is kept two periods plus the event's length before the window, where
 * whatever it yields is dropped.
 */
function fastForward(rule: ICAL.Recur, start: Moment, span: Span, ctx: ExpansionContext): ICAL.Time | undefined {
  if (rule.count) return undefined;
  const interval = Math.max(1, rule.interval || 1);
  const fixed = FIXED_PERIOD_MS[rule.freq];
  const periodMs = fixed ? fixed * interval : rule.freq === "MONTHLY" ? 31 * DAY_MS * interval : 366 * DAY_MS * interval;
  const moved = floatingTime(start.wall, start.isDate);
  if (!fixed && (moved.day > 28 || rule.parts.BYWEEKNO)) return undefined;
  const margin = span.days * DAY_MS + span.ms + 2 * periodMs + 2 * DAY_MS;
  const periods = Math.floor((ctx.windowStart - margin - start.utc) / periodMs);
  if (periods < 1) return undefined;
  if (fixed) return floatingTime(start.wall + periods * periodMs, start.isDate);
  if (rule.freq === "MONTHLY") {
    const months = moved.month - 1 + periods * interval;
    moved.year += Math.floor(months / 12);
    moved.month = (months % 12) + 1;
  } else {
    moved.year += periods * interval;
  }
  return moved;
}

/**
 * ical.js 2.2's RecurIterator has loops with no bound: next() retries until an occurrence passes
 * the rule's BY parts, so FREQ=DAILY;BYMONTH=2;BYMONTHDAY=30 never returns, and init() searches
 * an impossible YEARLY rule year by year from DTSTART. Each pass of those loops calls
 * check_contracting_rules(), expand_year_days() or is_day_in_byday() (MONTHLY/YEARLY rules with
 * BYDAY test up to a month of days per pass, 50-400 µs), so counting calls to the three bounds the
 * work of any rule: per series (the series is cut, with a warning) and per parse (refused).
 * init() runs inside the constructor, so the iterator is built uninitialized, instrumented, then
 * initialized through fromData(), which is what the constructor does.
 */
function guardedIterator(rule: ICAL.Recur, dtstart: ICAL.Time, ctx: ExpansionContext, seriesLimit: number) {
  const iterator = new ICAL.RecurIterator({ rule, dtstart, initialized: true });
  let steps = 0;
  const count = () => {
    charge(ctx, 1);
    if (++steps > seriesLimit) throw new SeriesStepLimit();
  };
  const checkRules = iterator.check_contracting_rules.bind(iterator);
  const testDay = iterator.is_day_in_byday.bind(iterator);
  const expandYear = iterator.expand_year_days.bind(iterator);
  iterator.check_contracting_rules = () => {
    count();
    return checkRules();
  };
  iterator.is_day_in_byday = (time) => {
    count();
    return testDay(time);
  };
  iterator.expand_year_days = (year) => {
    count();
    return expandYear(year);
  };
  iterator.fromData({ rule, dtstart });
  return iterator;
}
