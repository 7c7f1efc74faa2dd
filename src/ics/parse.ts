// Parses an external iCalendar body (an ics_url poll or an ics_webhook delivery, README, Ingestion)
// into the ExternalEvent shape reconciliation reads. Pure: the window, the limits and the
// provider's zone come in as arguments; no clock, no I/O, nothing registered in ical.js's global
// TimezoneService (zones are looked up per parse, see timezones.ts).
import ICAL from "ical.js";
import type { ExternalEvent } from "../domain/external-event.js";
import {
  charge,
  EXPANSION_BUDGET,
  ExpansionBudgetExceeded,
  type ExpansionContext,
  emitEventsInSteps,
  type Moment,
  quoted,
  SeriesOverCap,
  type Span,
  UNITS_PER_OBSERVANCE_YEAR,
  type VeventRecord,
  wallOfTime,
  warn,
} from "./recurrence.js";
import { createIanaZone, createVtimezoneZone, DAY_MS, resolveTimeZoneName, UTC_ZONE, wallToUtc, type Zone } from "./timezones.js";

export type ParseErrorCode = "ics_too_large" | "ics_malformed" | "ics_not_a_calendar" | "ics_too_many_events" | "ics_too_many_instances";

export type ParseOptions = {
  /** Recurring series are expanded into the instances overlapping [windowStart, windowEnd). */
  windowStart: Date;
  windowEnd: Date;
  /** VEVENT components, overrides included. Default 20,000. */
  maxEvents?: number;
  /** Expanded instances per series inside the window. Default 1,000; beyond it a warning. */
  maxInstancesPerSeries?: number;
  /** Beyond maxInstancesPerSeries the parse fails (ics_too_many_instances) instead of cutting the series. */
  rejectTruncatedSeries?: boolean;
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
/** ical.js slows superlinearly on parameters: 870,000 on one line took 47 s. Real lines carry a few. */
const MAX_PARAMETERS_PER_LINE = 100;
/**
 * Characters in one unfolded content line. RFC 5545 3.1 folds lines at 75 octets, and real values
 * (a long HTML description, a small inline attachment) stay far below this; ical.js reads a line in
 * one synchronous call (an EXDATE of 300,000 values took ~0.5 s), so a longer line is refused unread.
 */
export const MAX_LINE_CHARS = 256 * 1024;
/** Characters in one VEVENT, for the same reason: ical.js reads each VEVENT in one call. */
export const MAX_VEVENT_CHARS = 512 * 1024;
/** TZIDs looked up by name per parse (each lookup costs ~50 µs of Intl). */
const MAX_NAMED_ZONES = 64;
/** VCALENDAR > VEVENT > VALARM is 3 deep; anything far deeper is not a calendar export. */
const MAX_NESTING = 8;
const TEXT_PROPERTIES = ["location", "url", "description", "conference", "x-google-conference", "x-microsoft-skypeteamsmeetingurl"];

type Context = ExpansionContext & {
  defaultZone: Zone;
  namedZones: Map<string, Zone | null>;
};

/**
 * Never throws on any `ics`; a bad `options` (window not a valid, ordered pair of Dates, a limit
 * that is not a positive integer, an unknown defaultTimezone) is a programming error: RangeError.
 */
export function parseExternalCalendar(ics: string, options: ParseOptions): ParseResult {
  const steps = parseExternalCalendarInSteps(ics, options);
  for (;;) {
    const step = steps.next();
    if (step.done) return step.value;
  }
}

/**
 * The same parse as a generator that yields between slices of a few milliseconds of work (a batch
 * of VEVENTs, one series), so a caller on a shared event loop can pause, and give up, between them.
 */
export function* parseExternalCalendarInSteps(ics: string, options: ParseOptions): Generator<void, ParseResult, void> {
  const limits = readOptions(options);
  if (typeof ics !== "string") return fail("ics_malformed", "The calendar body is not text.");
  const body = ics.startsWith("\uFEFF") ? ics.slice(1) : ics;
  // A UTF-16 length over the limit is over it in UTF-8 too, so the byte count is skipped then.
  if (body.length > limits.maxBytes || Buffer.byteLength(body, "utf8") > limits.maxBytes) {
    return fail("ics_too_large", `The calendar is larger than ${limits.maxBytes} bytes.`);
  }
  const shape = yield* checkShape(body, limits.maxEvents);
  if (!shape.ok) return shape;
  const ctx: Context = {
    windowStart: limits.windowStart,
    windowEnd: limits.windowEnd,
    maxInstances: limits.maxInstances,
    defaultZone: limits.defaultZone,
    namedZones: new Map(),
    stepsLeft: EXPANSION_BUDGET,
    warnings: new Set(),
    rejectTruncatedSeries: limits.rejectTruncatedSeries,
  };
  try {
    return yield* readCalendars(shape, limits.maxEvents, ctx);
  } catch (error) {
    if (error instanceof ExpansionBudgetExceeded) {
      return fail("ics_too_many_events", "Expanding the calendar's recurring events exceeds the work limit.");
    }
    if (error instanceof SeriesOverCap) {
      return fail("ics_too_many_instances", `A recurring event has more than ${limits.maxInstances} instances in the window.`);
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
    rejectTruncatedSeries: options.rejectTruncatedSeries === true,
  };
}

const COMPONENT_LINE = /^(BEGIN|END)[ \t]*:[ \t]*([^\r\n]*?)[ \t]*$/gim;

/** A VEVENT that is a direct child of a top-level VCALENDAR: [start, end) of the unfolded text. */
type VeventSpan = { start: number; end: number; top: number };
type Shape = { ok: true; text: string; vevents: VeventSpan[] };

/**
 * One linear pass over the BEGIN/END lines before ical.js sees the body: refuses a body that does
 * not open like a calendar (an HTML login page), counts VEVENTs so 100,000 of them are refused
 * without being parsed, and requires BEGIN/END to pair up, which ical.js does not check
 * (it accepts a stray END:VEVENT) and which a truncated download breaks. It also finds where each
 * calendar's VEVENTs lie, so ical.js can read them a batch at a time.
 */
function* checkShape(body: string, maxEvents: number): Generator<void, Shape | ParseFailure, void> {
  const text = body.replace(/\r?\n[ \t]/g, ""); // RFC 5545 3.1 unfolding
  yield;
  if (!/^\s*BEGIN[ \t]*:/i.test(text)) return fail("ics_not_a_calendar", "The body is not an iCalendar object.");
  const stack: string[] = [];
  const spans: VeventSpan[] = [];
  let vevents = 0;
  let top = -1;
  let open: number | undefined;
  let seen = 0;
  for (const match of text.matchAll(COMPONENT_LINE)) {
    if (++seen % 2_000 === 0) yield;
    const name = match[2]!.toUpperCase();
    if (match[1]!.toUpperCase() === "BEGIN") {
      if (name === "VEVENT" && ++vevents > maxEvents) {
        return fail("ics_too_many_events", `The calendar has more than ${maxEvents} events.`);
      }
      if (stack.length === 0) top++;
      if (name === "VEVENT" && stack.length === 1 && stack[0] === "VCALENDAR") open = match.index;
      if (stack.push(name) > MAX_NESTING) return fail("ics_malformed", "The calendar nests components too deeply.");
    } else if (stack.pop() !== name) {
      return fail("ics_malformed", "The calendar's BEGIN and END lines do not match.");
    } else if (open !== undefined && stack.length === 1) {
      let end = match.index + match[0].length;
      if (text[end] === "\r") end++;
      if (text[end] === "\n") end++;
      spans.push({ start: open, end, top });
      open = undefined;
    }
  }
  if (stack.length > 0) return fail("ics_malformed", "The calendar ends before its last component does (truncated?).");
  yield;
  const lineDefect = yield* oversizedLine(text);
  if (lineDefect) return lineDefect;
  if (spans.some((span) => span.end - span.start > MAX_VEVENT_CHARS))
    return fail("ics_too_large", `An event of the calendar is longer than ${MAX_VEVENT_CHARS} characters.`);
  return { ok: true, text, vevents: spans };
}

/**
 * A line longer than MAX_LINE_CHARS, or with more than MAX_PARAMETERS_PER_LINE parameters. RFC 5545
 * 3.1: name *(";" param) ":" value, where a quoted param value may hold ";" and ":".
 */
function* oversizedLine(text: string): Generator<void, ParseFailure | undefined, void> {
  const tooLong = () => fail("ics_malformed", `A line of the calendar is longer than ${MAX_LINE_CHARS} characters.`);
  let params = 0;
  let quoted = false;
  let lineStart = 0;
  let nextPause = 256 * 1024;
  for (let i = 0; i < text.length; i++) {
    if (i >= nextPause) {
      nextPause = i + 256 * 1024;
      yield;
    }
    if (i - lineStart > MAX_LINE_CHARS) return tooLong();
    const c = text.charCodeAt(i);
    if (c === 0x22) quoted = !quoted;
    else if (quoted && c !== 0x0a) continue;
    else if (c === 0x3b && ++params > MAX_PARAMETERS_PER_LINE) return fail("ics_malformed", "A line of the calendar has too many parameters.");
    else if (c === 0x3a || c === 0x0a) {
      // The value runs to the end of the line; the next line starts afresh.
      const lineEnd = c === 0x0a ? i : text.indexOf("\n", i);
      if ((lineEnd < 0 ? text.length : lineEnd) - lineStart > MAX_LINE_CHARS) return tooLong();
      if (lineEnd < 0) return undefined;
      i = lineEnd;
      lineStart = lineEnd + 1;
      params = 0;
      quoted = false;
    }
  }
  return undefined;
}

/** VEVENTs handed to ical.js at once, and at most this many characters of them: a few milliseconds of parsing. */
const VEVENTS_PER_BATCH = 50;
const CHARS_PER_BATCH = 64 * 1024;

function* readCalendars(shape: Shape, maxEvents: number, ctx: Context): Generator<void, ParseResult, void> {
  const { text, vevents: spans } = shape;
  // The calendars without their VEVENTs (properties, VTIMEZONEs, anything else) in one parse.
  let skeleton = text;
  if (spans.length > 0) {
    const parts: string[] = [];
    let at = 0;
    for (const span of spans) {
      parts.push(text.slice(at, span.start));
      at = span.end;
    }
    parts.push(text.slice(at));
    skeleton = parts.join("");
  }
  const jcal: unknown = ICAL.parse(skeleton);
  // ICAL.parse gives one jCal component, or an array of them when the body holds several.
  const roots = !Array.isArray(jcal) || jcal.length === 0 ? [] : typeof jcal[0] === "string" ? [jcal] : jcal;
  const components = roots.map((root) => new ICAL.Component(root as unknown[]));
  const calendars = components.filter((c) => c.name === "vcalendar");
  if (calendars.length === 0) return fail("ics_not_a_calendar", "The body holds no VCALENDAR.");
  if (calendars.length < components.length) warn(ctx, "non_calendar_ignored: components beside VCALENDAR were ignored");

  let method: string | undefined;
  const readers: Array<{ readDate: VeventRecord["readDate"]; cancels: boolean } | undefined> = [];
  for (const calendar of components) {
    if (calendar.name !== "vcalendar") {
      readers.push(undefined);
      continue;
    }
    const calendarMethod = textOf(calendar, "method")?.toUpperCase();
    method ??= calendarMethod;
    const zones = yield* readVtimezones(calendar, ctx);
    const readDate = (prop: ICAL.Property, value: unknown) => momentOf(prop, value, zones, ctx);
    readers.push({ readDate, cancels: calendarMethod === "CANCEL" });
  }

  const records: VeventRecord[] = [];
  let vevents = 0;
  for (let i = 0; i < spans.length; ) {
    let n = 1;
    while (n < VEVENTS_PER_BATCH && i + n < spans.length && spans[i + n]!.end - spans[i]!.start <= CHARS_PER_BATCH) n++;
    const batch = spans.slice(i, i + n);
    i += n;
    const blocks = batch.map((span) => {
      const block = text.slice(span.start, span.end);
      return block.endsWith("\n") ? block : `${block}\r\n`;
    });
    const wrapper = new ICAL.Component(ICAL.parse(`BEGIN:VCALENDAR\r\n${blocks.join("")}END:VCALENDAR\r\n`) as unknown[]);
    const parsed = wrapper.getAllSubcomponents("vevent");
    if (parsed.length !== batch.length) throw new Error("VEVENT batch did not parse as cut");
    for (let j = 0; j < batch.length; j++) {
      const reader = readers[batch[j]!.top];
      if (!reader) continue;
      if (++vevents > maxEvents) return fail("ics_too_many_events", `The calendar has more than ${maxEvents} events.`);
      const record = readVevent(parsed[j]!, reader.readDate, reader.cancels, ctx);
      if (record) records.push(record);
    }
    yield;
  }
  const events = yield* emitEventsInSteps(records, ctx);
  return { ok: true, ...(method ? { method } : {}), events, warnings: [...ctx.warnings] };
}

function textOf(component: ICAL.Component, name: string): string | undefined {
  const value = component.getFirstPropertyValue(name);
  return typeof value === "string" && value.trim() !== "" ? value.trim() : undefined;
}

function* readVtimezones(calendar: ICAL.Component, ctx: Context): Generator<void, Map<string, Zone>, void> {
  const zones = new Map<string, Zone>();
  for (const component of calendar.getAllSubcomponents("vtimezone")) {
    const tzid = textOf(component, "tzid");
    if (!tzid || zones.has(tzid)) continue;
    const zone = createVtimezoneZone(component, (years) => charge(ctx, years * UNITS_PER_OBSERVANCE_YEAR));
    if (zone) zones.set(tzid, zone);
    else warn(ctx, `vtimezone_unusable: VTIMEZONE ${quoted(tzid)} was ignored; its TZID is resolved by name`);
    yield;
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

function readVevent(vevent: ICAL.Component, readDate: VeventRecord["readDate"], calendarCancels: boolean, ctx: Context) {
  const uid = textOf(vevent, "uid");
  if (!uid) {
    warn(ctx, "missing_uid: a VEVENT without UID was skipped (RFC 5545 3.6.1 requires one)");
    return undefined;
  }
  const moment = (name: string) => {
    const prop = vevent.getFirstProperty(name);
    return prop ? readDate(prop, prop.getFirstValue()) : undefined;
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
    readDate,
    span: start ? spanOf(vevent, start, readDate, ctx) : { days: 0, ms: 0 },
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
  if (vevent.hasProperty("rrule") || vevent.hasProperty("rdate")) record.component = vevent;
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

function spanOf(vevent: ICAL.Component, start: Moment, readDate: VeventRecord["readDate"], ctx: Context): Span {
  const endProp = vevent.getFirstProperty("dtend");
  let span: Span;
  if (endProp) {
    const end = readDate(endProp, endProp.getFirstValue());
    span = start.isDate && end.isDate ? { days: Math.round((end.wall - start.wall) / DAY_MS), ms: 0 } : { days: 0, ms: end.utc - start.utc };
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
