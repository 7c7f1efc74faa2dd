// Wall-clock <-> UTC conversion for the ICS parser: IANA zones through Intl (the tz database Node
// ships), VTIMEZONE components through the transitions ical.js expands, and the Windows zone names
// Exchange and Graph write. Pure: no clock, no I/O, nothing registered globally.
import ICAL from "ical.js";

export const DAY_MS = 86_400_000;

/** A time zone reduced to the two questions conversions ask. */
export type Zone = {
  readonly id: string;
  /** Milliseconds to add to a UTC instant to get the wall-clock time at that instant. */
  offsetAt(utcMs: number): number;
  /** The instant a wall-clock time denotes, by the RFC 5545 3.3.5 rules (see wallToUtc). */
  toUtc(wall: number): number;
};

export const UTC_ZONE: Zone = { id: "UTC", offsetAt: () => 0, toUtc: (wall) => wall };

/**
 * A wall-clock time as milliseconds on a UTC-like scale ("wall ms"), so calendar arithmetic on it
 * (add N days) never sees DST. Handles years below 100, which `Date.UTC` would move to 19xx.
 */
export function wallMs(year: number, month: number, day: number, hour = 0, minute = 0, second = 0): number {
  const date = new Date(0);
  date.setUTCFullYear(year, month - 1, day);
  date.setUTCHours(hour, minute, second, 0);
  return date.getTime();
}

export function utcToWall(utcMs: number, zone: Zone): number {
  return utcMs + zone.offsetAt(utcMs);
}

/**
 * RFC 5545 3.3.5: a local time that occurs twice (fall back) means its first occurrence; one that
 * does not occur (spring forward) "is interpreted using the UTC offset before the gap", i.e. it
 * lands as far after the transition as it was written after it (02:30 in New York -> 03:30 EDT).
 */
export function wallToUtc(wall: number, zone: Zone): number {
  return zone.toUtc(wall);
}

/**
 * Builds a zone from its offset function. Offsets lie within ±18 h, so every instant a wall time
 * of day D can denote lies between D-1 and D+2; when the offset is the same at both ends it holds
 * throughout (no zone changes offset twice within three days), and the day's answer is remembered:
 * a series then costs two offset lookups per distinct day instead of three per instance.
 */
export function createZone(id: string, offsetAt: (utcMs: number) => number): Zone {
  const dayOffsets = new Map<number, number>();
  return {
    id,
    offsetAt,
    toUtc(wall) {
      const day = Math.floor(wall / DAY_MS);
      let offset = dayOffsets.get(day);
      if (offset === undefined) {
        const before = offsetAt((day - 1) * DAY_MS);
        offset = before === offsetAt((day + 2) * DAY_MS) ? before : NaN;
        dayOffsets.set(day, offset);
      }
      return Number.isNaN(offset) ? resolveNearTransition(wall, offsetAt) : wall - offset;
    },
  };
}

/** A wall time within a day of an offset change: assumes that change is the only one that close. */
function resolveNearTransition(wall: number, offsetAt: (utcMs: number) => number): number {
  const before = offsetAt(wall - DAY_MS);
  const after = offsetAt(wall + DAY_MS);
  const valid: number[] = [];
  for (const offset of before === after ? [before] : [before, after]) {
    const instant = wall - offset;
    if (offsetAt(instant) === offset) valid.push(instant);
  }
  if (valid.length > 0) return Math.min(...valid);
  return wall - before;
}

const INTL_FIELDS: Intl.DateTimeFormatOptions = {
  hourCycle: "h23",
  era: "short",
  year: "numeric",
  month: "numeric",
  day: "numeric",
  hour: "numeric",
  minute: "numeric",
  second: "numeric",
};

/**
 * Intl formats by zone name, null for a name ICU does not know: building one takes ~0.16 ms on
 * Node 20, more than parsing a small calendar's events (a CPU profile of npm run bench, part 4).
 * Names come from input, so the memo is emptied when it grows past INTL_FORMATS_KEPT.
 */
const intlFormats = new Map<string, Intl.DateTimeFormat | null>();
const INTL_FORMATS_KEPT = 1_000;

function intlFormat(name: string): Intl.DateTimeFormat | null {
  let format = intlFormats.get(name);
  if (format !== undefined) return format;
  try {
    format = new Intl.DateTimeFormat("en-US", { ...INTL_FIELDS, timeZone: name });
  } catch {
    format = null;
  }
  if (intlFormats.size >= INTL_FORMATS_KEPT) intlFormats.clear();
  intlFormats.set(name, format);
  return format;
}

/** An IANA zone through Intl; undefined when this Node's ICU does not know the name. */
export function createIanaZone(name: string): Zone | undefined {
  const format = intlFormat(name);
  if (!format) return undefined;
  return createZone(format.resolvedOptions().timeZone, (utcMs) => {
    // Intl works in whole seconds; offsets are compared against the instant truncated the same way.
    const whole = utcMs - (((utcMs % 1000) + 1000) % 1000);
    const f: Record<string, string> = {};
    for (const part of format.formatToParts(whole)) f[part.type] = part.value;
    const year = Number(f.era === "BC" || f.era === "B" ? 1 - Number(f.year) : f.year);
    return wallMs(year, Number(f.month), Number(f.day), Number(f.hour), Number(f.minute), Number(f.second)) - whole;
  });
}

// CLDR windowsZones.xml, territory "001" rows, for the zones a US network's providers and their
// clients plausibly use. Exchange writes these in TZID; Graph returns them in start.timeZone.
export const WINDOWS_ZONES: Readonly<Record<string, string>> = {
  "Dateline Standard Time": "Etc/GMT+12",
  "UTC-11": "Etc/GMT+11",
  "Aleutian Standard Time": "America/Adak",
  "Hawaiian Standard Time": "Pacific/Honolulu",
  "Alaskan Standard Time": "America/Anchorage",
  "Pacific Standard Time (Mexico)": "America/Tijuana",
  "Pacific Standard Time": "America/Los_Angeles",
  "US Mountain Standard Time": "America/Phoenix",
  "Mountain Standard Time": "America/Denver",
  "Central America Standard Time": "America/Guatemala",
  "Central Standard Time": "America/Chicago",
  "Central Standard Time (Mexico)": "America/Mexico_City",
  "Canada Central Standard Time": "America/Regina",
  "SA Pacific Standard Time": "America/Bogota",
  "Eastern Standard Time": "America/New_York",
  "US Eastern Standard Time": "America/Indiana/Indianapolis",
  "Atlantic Standard Time": "America/Halifax",
  "SA Western Standard Time": "America/La_Paz",
  "Newfoundland Standard Time": "America/St_Johns",
  "E. South America Standard Time": "America/Sao_Paulo",
  "Argentina Standard Time": "America/Buenos_Aires",
  UTC: "Etc/UTC",
  "GMT Standard Time": "Europe/London",
  "Greenwich Standard Time": "Atlantic/Reykjavik",
  "W. Europe Standard Time": "Europe/Berlin",
  "Central Europe Standard Time": "Europe/Budapest",
  "Romance Standard Time": "Europe/Paris",
  "Central European Standard Time": "Europe/Warsaw",
  "W. Central Africa Standard Time": "Africa/Lagos",
  "GTB Standard Time": "Europe/Bucharest",
  "E. Europe Standard Time": "Europe/Chisinau",
  "FLE Standard Time": "Europe/Kiev",
  "Israel Standard Time": "Asia/Jerusalem",
  "South Africa Standard Time": "Africa/Johannesburg",
  "Turkey Standard Time": "Europe/Istanbul",
  "Russian Standard Time": "Europe/Moscow",
  "Arabian Standard Time": "Asia/Dubai",
  "Pakistan Standard Time": "Asia/Karachi",
  "India Standard Time": "Asia/Calcutta",
  "SE Asia Standard Time": "Asia/Bangkok",
  "China Standard Time": "Asia/Shanghai",
  "Singapore Standard Time": "Asia/Singapore",
  "Taipei Standard Time": "Asia/Taipei",
  "Tokyo Standard Time": "Asia/Tokyo",
  "Korea Standard Time": "Asia/Seoul",
  "W. Australia Standard Time": "Australia/Perth",
  "Cen. Australia Standard Time": "Australia/Adelaide",
  "AUS Central Standard Time": "Australia/Darwin",
  "E. Australia Standard Time": "Australia/Brisbane",
  "AUS Eastern Standard Time": "Australia/Sydney",
  "Tasmania Standard Time": "Australia/Hobart",
  "West Pacific Standard Time": "Pacific/Port_Moresby",
  "New Zealand Standard Time": "Pacific/Auckland",
};

// Windows display names ("(UTC-05:00) Eastern Time (US & Canada)"), which some exporters write
// as the TZID, reduced to the part after the offset.
const WINDOWS_DISPLAY_NAMES: Readonly<Record<string, string>> = {
  "eastern time (us & canada)": "America/New_York",
  "central time (us & canada)": "America/Chicago",
  "mountain time (us & canada)": "America/Denver",
  "pacific time (us & canada)": "America/Los_Angeles",
  arizona: "America/Phoenix",
  alaska: "America/Anchorage",
  hawaii: "Pacific/Honolulu",
  "atlantic time (canada)": "America/Halifax",
  "coordinated universal time": "Etc/UTC",
};

const WINDOWS_BY_LOWER = new Map(Object.entries(WINDOWS_ZONES).map(([k, v]) => [k.toLowerCase(), v]));

/**
 * The IANA zone a TZID names, or undefined. Accepts IANA names (any case), Windows IDs, Windows
 * display names, and the path-prefixed IDs older Evolution/Lightning exports write
 * ("/mozilla.org/20070129_1/America/New_York").
 */
export function resolveTimeZoneName(tzid: string): Zone | undefined {
  const name = tzid.trim().replace(/^"(.*)"$/, "$1");
  if (name === "" || name.length > 100) return undefined;
  const windows = WINDOWS_BY_LOWER.get(name.toLowerCase());
  if (windows) return createIanaZone(windows);
  const display = WINDOWS_DISPLAY_NAMES[name.replace(/^\(UTC[^)]*\)\s*/i, "").toLowerCase()];
  if (display) return createIanaZone(display);
  const direct = createIanaZone(name);
  if (direct) return direct;
  if (name.startsWith("/")) {
    // IANA names have at most three segments (America/Argentina/Buenos_Aires); trying only the
    // last one to three keeps a hostile 50-segment TZID to three lookups.
    const parts = name.split("/").filter(Boolean);
    for (let take = Math.min(3, parts.length - 1); take >= 1; take--) {
      const zone = createIanaZone(parts.slice(-take).join("/"));
      if (zone) return zone;
    }
  }
  return undefined;
}

const OBSERVANCE_RULE_PARTS = new Set(["BYMONTH", "BYDAY", "BYMONTHDAY"]);
/** Offsets past this year reuse the last transition computed; no session is booked that far out. */
const LAST_COVERED_YEAR = 2200;

/**
 * The zone a VTIMEZONE defines, or undefined when it is unusable (no observance) or its rules are
 * not the yearly kind real zones use. ical.js expands an observance's RRULE from its DTSTART
 * (often 1601) to the requested year with no work limit, so a FREQ=SECONDLY observance would hang
 * the parse; anything beyond FREQ=YEARLY with one BYMONTH is refused here, and every expansion
 * is reported to `charge` in observance-years (about 11 µs each) so the caller can bound it:
 * 10,000 VTIMEZONEs starting in year 1 would otherwise be minutes of work.
 *
 * ical.js's own offset lookup picks the later offset in an overlap, the later one in a gap, and
 * converts UTC to local with the local-time rule; its expanded transition list (`changes`, start
 * instants already in UTC) is exact, so offsets are read from that list instead. (ical.js reads
 * the clock once per process to pick how far ahead to expand; that changes work, not answers.)
 */
export function createVtimezoneZone(component: ICAL.Component, charge: (observanceYears: number) => void): Zone | undefined {
  const tzid = component.getFirstPropertyValue("tzid");
  if (typeof tzid !== "string") return undefined;
  const observances = component.getAllSubcomponents().filter((c) => c.name === "standard" || c.name === "daylight");
  if (observances.length === 0) return undefined;
  for (const observance of observances) {
    for (const prop of observance.getAllProperties("rrule")) {
      const rule = prop.getFirstValue();
      if (!(rule instanceof ICAL.Recur) || rule.freq !== "YEARLY") return undefined;
      const parts = Object.keys(rule.parts);
      if (parts.some((p) => !OBSERVANCE_RULE_PARTS.has(p))) return undefined;
      if (rule.parts.BYMONTH?.length !== 1 || (rule.parts.BYDAY?.length ?? 0) > 7) return undefined;
    }
  }
  const startYears = observances.map((o) => {
    const start = o.getFirstPropertyValue("dtstart");
    return start instanceof ICAL.Time && o.hasProperty("rrule") ? start.year : Infinity;
  });
  const timezone = new ICAL.Timezone({ component, tzid });
  let coveredTo = -Infinity;
  let starts: number[] = [];
  let offsets: number[] = [];
  let firstPrevious = 0;
  let seenChanges = -1;
  return createZone(tzid, (utcMs) => {
    const year = Math.min(new Date(utcMs).getUTCFullYear() + 1, LAST_COVERED_YEAR);
    if (year > coveredTo) {
      // ical.js re-expands every observance from its DTSTART up to year + EXTRA_COVERAGE (or later).
      const end = year + ICAL.Timezone.EXTRA_COVERAGE;
      charge(startYears.reduce((sum, from) => sum + (from === Infinity ? 1 : Math.max(1, end - from)), 0));
      timezone._ensureCoverage(year);
      // ical.js decides how far it expanded (it also expands to at least the current year + 5,
      // and skips the work when it already reached `year`): trust its figure, not ours.
      coveredTo = Math.max(year, (timezone as unknown as { expandedUntilYear?: number }).expandedUntilYear ?? end);
    }
    const changes = timezone.changes as Array<Record<string, number>>;
    if (changes.length !== seenChanges) {
      seenChanges = changes.length;
      starts = changes.map((c) => wallMs(c.year!, c.month!, c.day!, c.hour, c.minute, c.second));
      offsets = changes.map((c) => c.utcOffset! * 1000);
      firstPrevious = (changes[0]?.prevUtcOffset ?? changes[0]?.utcOffset ?? 0) * 1000;
    }
    // Last transition at or before the instant (binary search; the list is sorted).
    let lo = 0;
    let hi = starts.length - 1;
    let found = -1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      if (starts[mid]! <= utcMs) {
        found = mid;
        lo = mid + 1;
      } else hi = mid - 1;
    }
    return found < 0 ? firstPrevious : offsets[found]!;
  });
}
