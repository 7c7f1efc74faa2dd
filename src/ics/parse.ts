// Parses an external iCalendar body (an ics_url poll or an ics_webhook delivery, SPEC 3.4) into
// the ExternalEvent shape reconciliation reads (SPEC 6). Pure: the window, the limits and the
// provider's zone come in as arguments; no clock, no I/O, nothing registered in ical.js's global
// TimezoneService (zones are looked up per parse, see timezones.ts).
import ICAL from "ical.js";
import type { ExternalEvent, ExternalEventStatus } from "../domain/external-event.js";
import {
  DAY_MS,
  UTC_ZONE,
  createIanaZone,
  createVtimezoneZone,
  resolveTimeZoneName,
  utcToWall,
  wallMs,
  wallToUtc,
  type Zone,
} from "./timezones.js";

export type ParseErrorCode = "ics_too_large" | "ics_malformed" | "ics_not_a_calendar" | "ics_too_many_events";

export type ParseOptions = {
  /** Recurring series are expanded into the instances overlapping [windowStart, windowEnd). */
  windowStart: Date;
  windowEnd: Date;
  /** VEVENT components, overrides included. Default 20,000. */
  maxEvents?: number;
  /** Expanded instances per series inside the window. Default 1,000; beyond it a warning. */
  maxInstancesPerSeries?: number;
  /** UTF-8 bytes. Default 5 MiB. */
  maxBytes?: number;
  /** IANA zone for floating times, all-day dates and unknown TZIDs: the provider's. Default UTC. */
  defaultTimezone?: string;
};

export type ParseFailure = { ok: false; code: ParseErrorCode; message: string };
export type ParseResult =
  | {
      ok: true;
      /** The first VCALENDAR's METHOD, upper-cased (PUBLISH, REQUEST, CANCEL...). */
      method?: string;
      /** By UID in order of first appearance; a series' instances by original start. */
      events: ExternalEvent[];
      /**
       * "code: detail", never quoting event text. `series_truncated` means that series' later
       * instances are missing, not deleted: a caller inferring deletion from absence must skip it.
       */
      warnings: string[];
    }
  | ParseFailure;

const DEFAULT_MAX_EVENTS = 20_000;
const DEFAULT_MAX_INSTANCES = 1_000;
const DEFAULT_MAX_BYTES = 5 * 1024 * 1024;
/**
 * Work one parse may spend expanding recurrences, in units of 3 to 16 µs (measured on Node 20):
 * an ical.js iterator pass or day test is 1, an RDATE/EXDATE value 3 (ical.js hydrates each in 6
 * to 10 µs), a VTIMEZONE observance-year 4 (~11 µs each). At most 1-2.5 s of work; a provider's
 * real calendar needs a few thousand units, a weekly series over a 13-month window about 60.
 */
const EXPANSION_BUDGET = 150_000;
const UNITS_PER_DATE_VALUE = 3;
const UNITS_PER_OBSERVANCE_YEAR = 4;
/** ical.js slows superlinearly on parameters: 870,000 on one line took 47 s. Real lines carry a few. */
const MAX_PARAMETERS_PER_LINE = 100;
/** TZIDs looked up by name per parse (each lookup costs ~50 µs of Intl). */
const MAX_NAMED_ZONES = 64;
/** VCALENDAR > VEVENT > VALARM is 3 deep; anything far deeper is not a calendar export. */
const MAX_NESTING = 8;
const MAX_WARNINGS = 50;
const TEXT_PROPERTIES = ["location", "url", "description", "conference", "x-google-conference", "x-microsoft-skypeteamsmeetingurl"];

type Moment = { wall: number; utc: number; isDate: boolean; zone: Zone };
/** RFC 5545 3.3.6: days and weeks are nominal (wall clock), hours and below exact. */
type Span = { days: number; ms: number };
type Slot = { start: number; end: number; allDay: boolean };
type VeventRecord = {
  uid: string;
  component: ICAL.Component;
  /** The VTIMEZONEs of the VCALENDAR it came from, for its RDATE/EXDATE values. */
  zones: Map<string, Zone>;
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
type Context = {
  windowStart: number;
  windowEnd: number;
  maxInstances: number;
  defaultZone: Zone;
  namedZones: Map<string, Zone | null>;
  stepsLeft: number;
  warnings: Set<string>;
};

class ExpansionBudgetExceeded extends Error {}
class SeriesStepLimit extends Error {}

/**
 * Never throws on any `ics`; a bad `options` (window not a valid, ordered pair of Dates, a limit
 * that is not a positive integer, an unknown defaultTimezone) is a programming error: RangeError.
 */
export function parseExternalCalendar(ics: string, options: ParseOptions): ParseResult {
  const limits = readOptions(options);
  if (typeof ics !== "string") return fail("ics_malformed", "The calendar body is not text.");
  const body = ics.startsWith("\uFEFF") ? ics.slice(1) : ics;
  // A UTF-16 length over the limit is over it in UTF-8 too, so the byte count is skipped then.
  if (body.length > limits.maxBytes || Buffer.byteLength(body, "utf8") > limits.maxBytes) {
    return fail("ics_too_large", `The calendar is larger than ${limits.maxBytes} bytes.`);
  }
  const shapeFailure = checkShape(body, limits.maxEvents);
  if (shapeFailure) return shapeFailure;
  const ctx: Context = {
    windowStart: limits.windowStart,
    windowEnd: limits.windowEnd,
    maxInstances: limits.maxInstances,
    defaultZone: limits.defaultZone,
    namedZones: new Map(),
    stepsLeft: EXPANSION_BUDGET,
    warnings: new Set(),
  };
  try {
    return readCalendars(body, limits.maxEvents, ctx);
  } catch (error) {
    if (error instanceof ExpansionBudgetExceeded) {
      return fail("ics_too_many_events", "Expanding the calendar's recurring events exceeds the work limit.");
    }
    // ical.js messages quote the offending line, which may hold client data: never passed on.
    return fail("ics_malformed", "The calendar could not be parsed.");
  }
}

function fail(code: ParseErrorCode, message: string): ParseFailure {
  return { ok: false, code, message };
}

function readOptions(options: ParseOptions) {
  const windowStart = options.windowStart instanceof Date ? options.windowStart.getTime() : NaN;
  const windowEnd = options.windowEnd instanceof Date ? options.windowEnd.getTime() : NaN;
  if (!(windowStart < windowEnd)) throw new RangeError("windowStart and windowEnd must be valid Dates, start first");
  const positive = (value: number | undefined, fallback: number, name: string) => {
    if (value === undefined) return fallback;
    if (!Number.isSafeInteger(value) || value < 1) throw new RangeError(`${name} must be a positive integer`);
    return value;
  };
  const defaultZone = createIanaZone(options.defaultTimezone ?? "UTC");
  if (!defaultZone) throw new RangeError("defaultTimezone must be an IANA time zone");
  return {
    windowStart,
    windowEnd,
    defaultZone,
    maxEvents: positive(options.maxEvents, DEFAULT_MAX_EVENTS, "maxEvents"),
    maxInstances: positive(options.maxInstancesPerSeries, DEFAULT_MAX_INSTANCES, "maxInstancesPerSeries"),
    maxBytes: positive(options.maxBytes, DEFAULT_MAX_BYTES, "maxBytes"),
  };
}

const COMPONENT_LINE = /^(BEGIN|END)[ \t]*:[ \t]*([^\r\n]*?)[ \t]*$/gim;

/**
 * One linear pass over the BEGIN/END lines before ical.js sees the body: refuses a body that does
 * not open like a calendar (an HTML login page), counts VEVENTs so 100,000 of them are refused
 * without being parsed, and requires BEGIN/END to pair up, which ical.js does not check
 * (it accepts a stray END:VEVENT) and which a truncated download breaks.
 */
function checkShape(body: string, maxEvents: number): ParseFailure | undefined {
  const text = body.replace(/\r?\n[ \t]/g, ""); // RFC 5545 3.1 unfolding
  if (!/^\s*BEGIN[ \t]*:/i.test(text)) return fail("ics_not_a_calendar", "The body is not an iCalendar object.");
  const stack: string[] = [];
  let vevents = 0;
  for (const match of text.matchAll(COMPONENT_LINE)) {
    const name = match[2]!.toUpperCase();
    if (match[1]!.toUpperCase() === "BEGIN") {
      if (name === "VEVENT" && ++vevents > maxEvents) {
        return fail("ics_too_many_events", `The calendar has more than ${maxEvents} events.`);
      }
      if (stack.push(name) > MAX_NESTING) return fail("ics_malformed", "The calendar nests components too deeply.");
    } else if (stack.pop() !== name) {
      return fail("ics_malformed", "The calendar's BEGIN and END lines do not match.");
    }
  }
  if (stack.length > 0) return fail("ics_malformed", "The calendar ends before its last component does (truncated?).");
  if (tooManyParameters(text)) return fail("ics_malformed", "A line of the calendar has too many parameters.");
  return undefined;
}

/** RFC 5545 3.1: name *(";" param) ":" value, where a quoted param value may hold ";" and ":". */
function tooManyParameters(text: string): boolean {
  let params = 0;
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x22) quoted = !quoted;
    else if (quoted && c !== 0x0a) continue;
    else if (c === 0x3b && ++params > MAX_PARAMETERS_PER_LINE) return true;
    else if (c === 0x3a || c === 0x0a) {
      // The value runs to the end of the line; the next line starts afresh.
      const lineEnd = c === 0x0a ? i : text.indexOf("\n", i);
      if (lineEnd < 0) return false;
      i = lineEnd;
      params = 0;
      quoted = false;
    }
  }
  return false;
}

function readCalendars(body: string, maxEvents: number, ctx: Context): ParseResult {
  const jcal: unknown = ICAL.parse(body);
  // ICAL.parse gives one jCal component, or an array of them when the body holds several.
  const roots = !Array.isArray(jcal) || jcal.length === 0 ? [] : typeof jcal[0] === "string" ? [jcal] : jcal;
  const components = roots.map((root) => new ICAL.Component(root as unknown[]));
  const calendars = components.filter((c) => c.name === "vcalendar");
  if (calendars.length === 0) return fail("ics_not_a_calendar", "The body holds no VCALENDAR.");
  if (calendars.length < components.length) warn(ctx, "non_calendar_ignored: components beside VCALENDAR were ignored");

  let method: string | undefined;
  const records: VeventRecord[] = [];
  let vevents = 0;
  for (const calendar of calendars) {
    const calendarMethod = textOf(calendar, "method")?.toUpperCase();
    method ??= calendarMethod;
    const zones = readVtimezones(calendar, ctx);
    for (const vevent of calendar.getAllSubcomponents("vevent")) {
      if (++vevents > maxEvents) return fail("ics_too_many_events", `The calendar has more than ${maxEvents} events.`);
      const record = readVevent(vevent, zones, calendarMethod === "CANCEL", ctx);
      if (record) records.push(record);
    }
  }
  const events = emitEvents(records, ctx);
  return { ok: true, ...(method ? { method } : {}), events, warnings: [...ctx.warnings] };
}

function charge(ctx: Context, units: number): void {
  ctx.stepsLeft -= units;
  if (ctx.stepsLeft < 0) throw new ExpansionBudgetExceeded();
}

function warn(ctx: Context, message: string): void {
  if (ctx.warnings.size < MAX_WARNINGS) ctx.warnings.add(message);
  else ctx.warnings.add("warnings_truncated: further warnings were dropped");
}

function textOf(component: ICAL.Component, name: string): string | undefined {
  const value = component.getFirstPropertyValue(name);
  return typeof value === "string" && value.trim() !== "" ? value.trim() : undefined;
}

function quoted(value: string): string {
  return JSON.stringify(value.length > 80 ? `${value.slice(0, 80)}…` : value);
}

function readVtimezones(calendar: ICAL.Component, ctx: Context): Map<string, Zone> {
  const zones = new Map<string, Zone>();
  for (const component of calendar.getAllSubcomponents("vtimezone")) {
    const tzid = textOf(component, "tzid");
    if (!tzid || zones.has(tzid)) continue;
    const zone = createVtimezoneZone(component, (years) => charge(ctx, years * UNITS_PER_OBSERVANCE_YEAR));
    if (zone) zones.set(tzid, zone);
    else warn(ctx, `vtimezone_unusable: VTIMEZONE ${quoted(tzid)} was ignored; its TZID is resolved by name`);
  }
  return zones;
}

/**
 * RFC 5545 3.3.5: a DATE-TIME is UTC ("Z"), local with a TZID, or floating. A TZID resolves to the
 * calendar's VTIMEZONE first (RFC 5545 3.2.19), else by name (IANA, Windows). An unknown TZID and a
 * floating time are read in the provider's zone: a calendar that names no zone we know was most
 * likely written for its owner's wall clock, and guessing UTC would move every event by hours.
 * DATE values (all-day) are the provider's days too.
 */
function zoneOf(prop: ICAL.Property, value: ICAL.Time, zones: Map<string, Zone>, ctx: Context): Zone {
  if (value.isDate) return ctx.defaultZone;
  if (value.zone === ICAL.Timezone.utcTimezone) return UTC_ZONE;
  const tzid = prop.getParameter("tzid");
  if (typeof tzid !== "string" || tzid === "") return ctx.defaultZone;
  const own = zones.get(tzid);
  if (own) return own;
  let named = ctx.namedZones.get(tzid);
  if (named === undefined) {
    named = ctx.namedZones.size < MAX_NAMED_ZONES ? (resolveTimeZoneName(tzid) ?? null) : null;
    if (!named) warn(ctx, `unknown_tzid: TZID ${quoted(tzid)} is not a known zone; read in ${ctx.defaultZone.id}`);
    ctx.namedZones.set(tzid, named);
  }
  return named ?? ctx.defaultZone;
}

function momentOf(prop: ICAL.Property, value: unknown, zones: Map<string, Zone>, ctx: Context): Moment {
  if (!(value instanceof ICAL.Time)) throw new Error(`${prop.name} is not a date or date-time`);
  const zone = zoneOf(prop, value, zones, ctx);
  const wall = wallOfTime(value);
  if (!Number.isFinite(wall)) throw new Error(`${prop.name} is out of range`);
  return { wall, utc: wallToUtc(wall, zone), isDate: value.isDate, zone };
}

function wallOfTime(time: ICAL.Time): number {
  return time.isDate
    ? wallMs(time.year, time.month, time.day)
    : wallMs(time.year, time.month, time.day, time.hour, time.minute, time.second);
}

function readVevent(vevent: ICAL.Component, zones: Map<string, Zone>, calendarCancels: boolean, ctx: Context) {
  const uid = textOf(vevent, "uid");
  if (!uid) {
    warn(ctx, "missing_uid: a VEVENT without UID was skipped (RFC 5545 3.6.1 requires one)");
    return undefined;
  }
  const moment = (name: string) => {
    const prop = vevent.getFirstProperty(name);
    return prop ? momentOf(prop, prop.getFirstValue(), zones, ctx) : undefined;
  };
  const start = moment("dtstart");
  const recurrenceId = moment("recurrence-id");
  const range = vevent.getFirstProperty("recurrence-id")?.getParameter("range");
  if (typeof range === "string" && range.toUpperCase() === "THISANDFUTURE") {
    warn(ctx, `range_ignored: RANGE=THISANDFUTURE on UID ${quoted(uid)} is applied to its own instance only`);
  }
  const updated = moment("last-modified") ?? moment("dtstamp");
  const sequence = vevent.getFirstPropertyValue("sequence");
  const statusValue = textOf(vevent, "status")?.toUpperCase();
  const record: VeventRecord = {
    uid,
    component: vevent,
    zones,
    span: start ? spanOf(vevent, start, zones, ctx) : { days: 0, ms: 0 },
    // RFC 5546 3.2.5: METHOD:CANCEL cancels every component it carries.
    status:
      calendarCancels || statusValue === "CANCELLED" || statusValue === "CANCELED"
        ? "cancelled"
        : statusValue === "TENTATIVE"
          ? "tentative"
          : "confirmed",
    sequence: typeof sequence === "number" && Number.isSafeInteger(sequence) && sequence > 0 ? sequence : 0,
    busy: textOf(vevent, "transp")?.toUpperCase() !== "TRANSPARENT",
    texts: textsOf(vevent),
  };
  if (start) record.start = start;
  if (recurrenceId) record.recurrenceId = recurrenceId;
  if (updated) record.updatedMs = updated.utc;
  const sessionId = textOf(vevent, "x-telehealth-session-id");
  if (sessionId) record.sessionId = sessionId;
  return record;
}

function textsOf(vevent: ICAL.Component): string[] {
  const texts = new Set<string>();
  for (const name of TEXT_PROPERTIES) {
    for (const prop of vevent.getAllProperties(name)) {
      // ALTREP (RFC 5545 3.2.1) is where some clients put the link behind a LOCATION label.
      for (const value of [...prop.getValues(), prop.getParameter("altrep")]) {
        if (typeof value === "string" && value.trim() !== "") texts.add(value);
      }
    }
  }
  return [...texts];
}

function spanOf(vevent: ICAL.Component, start: Moment, zones: Map<string, Zone>, ctx: Context): Span {
  const endProp = vevent.getFirstProperty("dtend");
  let span: Span;
  if (endProp) {
    const end = momentOf(endProp, endProp.getFirstValue(), zones, ctx);
    span =
      start.isDate && end.isDate
        ? { days: Math.round((end.wall - start.wall) / DAY_MS), ms: 0 }
        : { days: 0, ms: end.utc - start.utc };
  } else {
    const duration = vevent.getFirstPropertyValue("duration");
    if (duration instanceof ICAL.Duration) {
      const sign = duration.isNegative ? -1 : 1;
      span = {
        days: sign * (duration.weeks * 7 + duration.days),
        ms: sign * ((duration.hours * 60 + duration.minutes) * 60 + duration.seconds) * 1000,
      };
    } else {
      // RFC 5545 3.6.1: without DTEND or DURATION a DATE start lasts one day, a DATE-TIME is an instant.
      span = { days: start.isDate ? 1 : 0, ms: 0 };
    }
  }
  if (span.days < 0 || span.ms < 0) {
    warn(ctx, "end_before_start: an event ending before it starts was read as ending at its start");
    return { days: 0, ms: 0 };
  }
  return span;
}

function endOf(start: { wall: number; utc: number; zone: Zone }, span: Span): number {
  if (span.days === 0) return start.utc + span.ms;
  return wallToUtc(start.wall + span.days * DAY_MS, start.zone) + span.ms;
}

function overlapsWindow(start: number, end: number, ctx: Context): boolean {
  return start < ctx.windowEnd && (start >= ctx.windowStart || end > ctx.windowStart);
}

function isoOf(ms: number): string {
  return new Date(ms).toISOString();
}

/** Higher SEQUENCE wins, then the later LAST-MODIFIED/DTSTAMP, then the later copy in the body. */
function isNewer(candidate: VeventRecord, current: VeventRecord): boolean {
  if (candidate.sequence !== current.sequence) return candidate.sequence > current.sequence;
  return (candidate.updatedMs ?? -Infinity) >= (current.updatedMs ?? -Infinity);
}

function emitEvents(records: VeventRecord[], ctx: Context): ExternalEvent[] {
  // Duplicate UIDs happen in the wild (vdirsyncer #1140); keep one copy per (UID, RECURRENCE-ID).
  const groups = new Map<string, { master?: VeventRecord; overrides: Map<number, VeventRecord> }>();
  for (const record of records) {
    let group = groups.get(record.uid);
    if (!group) groups.set(record.uid, (group = { overrides: new Map() }));
    if (record.recurrenceId) {
      const current = group.overrides.get(record.recurrenceId.utc);
      if (!current || isNewer(record, current)) group.overrides.set(record.recurrenceId.utc, record);
    } else if (!group.master || isNewer(record, group.master)) {
      group.master = record;
    }
  }

  const events: ExternalEvent[] = [];
  for (const { master, overrides } of groups.values()) {
    const recurring = master?.start && (master.component.hasProperty("rrule") || master.component.hasProperty("rdate"));
    let excluded = (_rid: Moment) => false;
    const instances: Array<[number, ExternalEvent]> = [];
    if (master && recurring) {
      excluded = expandSeries(master, overrides, ctx, instances);
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

/**
 * RFC 5545 3.8.5.3: the set is DTSTART, plus RDATEs and RRULE occurrences, minus EXDATEs. Pushes
 * the instances overlapping the window that no override replaces (EXDATE ones as cancelled) and
 * returns the EXDATE test for the overrides.
 */
function expandSeries(
  master: VeventRecord,
  overrides: Map<number, VeventRecord>,
  ctx: Context,
  out: Array<[number, ExternalEvent]>,
): (rid: Moment) => boolean {
  const start = master.start!;
  const zone = start.zone;
  const momentIn = (prop: ICAL.Property, value: unknown) => momentOf(prop, value, master.zones, ctx);
  const slots = new Map<number, Slot & { wall: number }>();
  const consider = (wall: number, utc: number, end = endOf({ wall, utc, zone }, master.span)) => {
    if (overlapsWindow(utc, end, ctx) && !slots.has(utc)) slots.set(utc, { wall, start: utc, end, allDay: start.isDate });
    return slots.size <= ctx.maxInstances;
  };
  consider(start.wall, start.utc);
  for (const prop of master.component.getAllProperties("rdate")) {
    for (const value of datesOf(prop, ctx)) {
      const period = value instanceof ICAL.Period ? value : undefined;
      const moment = momentIn(prop, period ? period.start : value);
      const end = period ? momentIn(prop, period.getEnd()).utc : undefined;
      consider(utcToWall(moment.utc, zone), moment.utc, end);
    }
  }
  let truncated = false;
  for (const prop of master.component.getAllProperties("rrule")) {
    const rule = prop.getFirstValue();
    if (!(rule instanceof ICAL.Recur)) throw new Error("RRULE is not a recurrence rule");
    truncated = expandRule(rule, master, consider, ctx) || truncated;
  }
  if (master.component.hasProperty("exrule")) {
    warn(ctx, `exrule_ignored: EXRULE (deprecated by RFC 5545) on UID ${quoted(master.uid)} was not applied`);
  }

  const excludedInstants = new Set<number>();
  const excludedDays = new Set<number>();
  for (const prop of master.component.getAllProperties("exdate")) {
    for (const value of datesOf(prop, ctx)) {
      const moment = momentIn(prop, value);
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
function datesOf(prop: ICAL.Property, ctx: Context): unknown[] {
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

/**
 * Walks one RRULE on the series' wall clock (floating times, so a weekly 14:00 stays 14:00 across
 * DST) and converts each occurrence with the series' zone. Returns true when it stopped early.
 */
function expandRule(
  rule: ICAL.Recur,
  master: VeventRecord,
  consider: (wall: number, utc: number) => boolean,
  ctx: Context,
): boolean {
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
      until.zone === ICAL.Timezone.utcTimezone
        ? utcToWall(written, zone)
        : until.isDate && !start.isDate
          ? written + DAY_MS - 1000
          : written;
    untilWall = Math.min(untilWall, wall);
  }
  iterationRule.until = floatingTime(untilWall, false);
  const first = fastForward(iterationRule, start, master.span, ctx) ?? floatingTime(start.wall, start.isDate);
  try {
    // Enough for maxInstances occurrences of a BYDAY/BYSETPOS rule a few periods from the window.
    const iterator = guardedIterator(iterationRule, first, ctx, 5 * ctx.maxInstances + 2_000);
    for (let next = iterator.next(); next; next = iterator.next()) {
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
function fastForward(rule: ICAL.Recur, start: Moment, span: Span, ctx: Context): ICAL.Time | undefined {
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
function guardedIterator(rule: ICAL.Recur, dtstart: ICAL.Time, ctx: Context, seriesLimit: number) {
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
