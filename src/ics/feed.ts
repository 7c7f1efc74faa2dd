// The subscribable feed body (docs/rules.md, "Feeds"). Everything arrives as arguments: no clock, no process TZ, no
// locale, so the same data always gives the same bytes (the ETag is only stable if this is).
import type { Modality } from "../domain/value-lists.js";
import { CRLF, contentLine, escapeText, foldLine, joinLines, uriValue } from "./text.js";

export type FeedCalendar = {
  name: string;
  /** IANA zone of the provider, only a display hint for X-WR-TIMEZONE; every instant is UTC. */
  timezone: string;
  prodId: string;
  /** When present: METHOD:PUBLISH and ORGANIZER on every event (RFC 5546 3.2.1 requires ORGANIZER
   *  with PUBLISH). When absent: no METHOD, the feed is a plain snapshot (RFC 5545 3.7.2). */
  organizer?: { name: string; email: string };
  /** RFC 5545 3.3.6 duration, unsigned; default PT1H. Also written as X-PUBLISHED-TTL. */
  refreshInterval?: string;
};

/** RFC 5545 3.8.1.11: the VEVENT statuses a feed or an invitation writes. */
export type FeedEventStatus = "CONFIRMED" | "CANCELLED";

export type FeedEvent = {
  uid: string;
  sequence: number;
  start: Date;
  end: Date;
  stamp: Date;
  lastModified: Date;
  status: FeedEventStatus;
  /** Already chosen by privacy level by the caller. */
  summary: string;
  /** Extra text after the link and instructions. */
  description?: string;
  /** Absent for in-person sessions or when the feed hides links. */
  virtual?: { url: string; instructions?: string; modality: Modality; googleMeet: boolean };
  /** In-person only (e.g. "In person"), never a client address. Ignored when `virtual` is set. */
  location?: string;
};

/** Google's cap on subscribed feeds, reported by users in public issue trackers (ical-relay, seminars). */
export const DEFAULT_MAX_FEED_BYTES = 1_000_000;

const DURATION = /^P(?:\d+W|(?:\d+D)?(?:T(?:\d+H)?(?:\d+M)?(?:\d+S)?)?)$/;

function pad2(n: number): string {
  return n < 10 ? "0" + n : "" + n;
}

/**
 * RFC 5545 3.3.5 form 2 (UTC): 20261126T140000Z. UTC getters only, so neither TZ nor locale can leak
 * in (measured 3x faster than slicing toISOString). Milliseconds are dropped (DATE-TIME has whole
 * seconds). An invalid Date, or a year outside 0000-9999 (no 4-digit form), throws.
 */
export function formatUtc(date: Date): string {
  const y = date.getUTCFullYear();
  if (!(y >= 0 && y <= 9999)) throw new RangeError("formatUtc: invalid date or year outside 0000-9999");
  return (
    (y < 1000 ? String(y).padStart(4, "0") : "" + y) +
    pad2(date.getUTCMonth() + 1) +
    pad2(date.getUTCDate()) +
    "T" +
    pad2(date.getUTCHours()) +
    pad2(date.getUTCMinutes()) +
    pad2(date.getUTCSeconds()) +
    "Z"
  );
}

type Prepared = {
  headerLines: string[];
  header: string;
  /** Identical on every event, so rendered once. */
  organizerLine: string | undefined;
  /**
   * The link lines by (link, instructions, description, modality, Meet). Most sessions of a provider
   * share the default link and instructions (docs/rules.md, "Sessions"), so each distinct combination is escaped and
   * folded once per render. Lives only as long as one render: no module state.
   */
  linkLines: Map<string, readonly string[]>;
};

function prepare(calendar: FeedCalendar): Prepared {
  const refresh = calendar.refreshInterval ?? "PT1H";
  if (!DURATION.test(refresh) || refresh === "P" || refresh.endsWith("T")) {
    throw new RangeError("refreshInterval is not an RFC 5545 duration");
  }
  const name = escapeText(calendar.name);
  const lines = ["BEGIN:VCALENDAR", "VERSION:2.0", foldLine("PRODID:" + escapeText(calendar.prodId)), "CALSCALE:GREGORIAN"];
  if (calendar.organizer) lines.push("METHOD:PUBLISH");
  lines.push(
    // RFC 7986 3: NAME for current clients, X-WR-CALNAME for the ones that predate it (Google, Outlook).
    foldLine("X-WR-CALNAME:" + name),
    foldLine("NAME:" + name),
    foldLine("X-WR-TIMEZONE:" + escapeText(calendar.timezone)),
    // RFC 7986 5.7: VALUE=DURATION is mandatory on REFRESH-INTERVAL.
    "REFRESH-INTERVAL;VALUE=DURATION:" + refresh,
    "X-PUBLISHED-TTL:" + refresh,
  );
  const org = calendar.organizer;
  return {
    headerLines: lines,
    header: lines.join(CRLF) + CRLF,
    organizerLine: org ? contentLine("ORGANIZER", { CN: org.name }, "mailto:" + uriValue(org.email)) : undefined,
    linkLines: new Map(),
  };
}

/**
 * RFC 7986 5.11 CONFERENCE (VALUE=URI is required), unfolded. FEATURE says what the link carries: an
 * audio-only session (Medicare, docs/rules.md) must not advertise video. `url` must already be a URI value.
 */
export function conferenceLine(url: string, modality: Modality): string {
  return modality === "audio_only"
    ? "CONFERENCE;VALUE=URI;FEATURE=AUDIO;LABEL=Join audio-only session:" + url
    : "CONFERENCE;VALUE=URI;FEATURE=AUDIO,VIDEO;LABEL=Join video session:" + url;
}

const FOOTER_LINE = "END:VCALENDAR";
const FOOTER = FOOTER_LINE + CRLF;

function checkEvent(ev: FeedEvent): void {
  if (!Number.isSafeInteger(ev.sequence) || ev.sequence < 0) {
    throw new RangeError("FeedEvent.sequence must be a non-negative integer"); // RFC 5545 3.8.7.4
  }
  if (!(ev.end.getTime() > ev.start.getTime())) {
    throw new RangeError("FeedEvent.end must be after start"); // RFC 5545 3.8.2.2
  }
  if (ev.uid.length === 0) throw new RangeError("FeedEvent.uid is empty"); // RFC 5545 3.6.1
}

/** One VEVENT's lines, appended to `out`. Property order is fixed so equal input gives equal bytes. */
function renderEvent(p: Prepared, ev: FeedEvent, out: string[]): void {
  checkEvent(ev);
  const stamp = formatUtc(ev.stamp);
  out.push(
    "BEGIN:VEVENT",
    foldLine("UID:" + escapeText(ev.uid)),
    "DTSTAMP:" + stamp,
    "DTSTART:" + formatUtc(ev.start),
    "DTEND:" + formatUtc(ev.end),
    "SEQUENCE:" + ev.sequence,
    "LAST-MODIFIED:" + (ev.lastModified.getTime() === ev.stamp.getTime() ? stamp : formatUtc(ev.lastModified)),
    "STATUS:" + ev.status,
    // Hides details from people the subscriber shares the calendar with (RFC 5545 3.8.1.3).
    "CLASS:PRIVATE",
    foldLine("SUMMARY:" + escapeText(ev.summary)),
    "TRANSP:OPAQUE",
  );
  if (p.organizerLine !== undefined) out.push(p.organizerLine);
  const v = ev.virtual;
  if (v) {
    const instructions = v.instructions ?? "";
    const description = ev.description ?? "";
    // Length-prefixed, so two different tuples can never share a key.
    const key = v.modality + (v.googleMeet ? "+meet:" : ":") + v.url.length + ":" + v.url + instructions.length + ":" + instructions + description;
    let lines = p.linkLines.get(key);
    if (lines === undefined) {
      lines = linkLines(v.url, instructions, description, v.modality, v.googleMeet);
      p.linkLines.set(key, lines);
    }
    for (const line of lines) out.push(line);
  } else {
    if (ev.location) out.push(foldLine("LOCATION:" + escapeText(ev.location)));
    if (ev.description) out.push(foldLine("DESCRIPTION:" + escapeText(ev.description)));
  }
  out.push("END:VEVENT");
}

/** LOCATION, URL, DESCRIPTION, CONFERENCE and, for Meet, X-GOOGLE-CONFERENCE; folded. */
function linkLines(rawUrl: string, instructions: string, extra: string, modality: Modality, googleMeet: boolean): string[] {
  const url = uriValue(rawUrl);
  // LOCATION and DESCRIPTION are TEXT, so the link is escaped there (a "," in a query becomes "\,");
  // URL and CONFERENCE are URI (RFC 5545 3.8.4.6, RFC 7986 5.11) and carry it verbatim.
  let description = rawUrl;
  if (instructions) description += "\n" + instructions;
  if (extra) description += "\n\n" + extra;
  const lines = [
    foldLine("LOCATION:" + escapeText(rawUrl)),
    foldLine("URL:" + url),
    foldLine("DESCRIPTION:" + escapeText(description)),
    foldLine(conferenceLine(url, modality)),
  ];
  // How Google's own feeds carry Meet links; they do not use RFC 7986 5.11 CONFERENCE (as seen in
  // Google's "Secret address in iCal format" feeds).
  if (googleMeet) lines.push(foldLine("X-GOOGLE-CONFERENCE:" + url));
  return lines;
}

function compareUid(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/**
 * Events are written by start, then UID, whatever order the caller's query returned them in, so the
 * bytes (and an ETag over them) depend on the data only.
 */
function sortEvents(events: readonly FeedEvent[]): FeedEvent[] {
  return events.slice().sort((a, b) => a.start.getTime() - b.start.getTime() || compareUid(a.uid, b.uid));
}

/** The whole feed: CRLF line ends including after END:VCALENDAR (RFC 5545 3.1; iCalcreator#93). */
export function renderFeed(calendar: FeedCalendar, events: readonly FeedEvent[]): string {
  const p = prepare(calendar);
  const sorted = sortEvents(events);
  // One array of lines and one join: measured ~2x faster than concatenating per-event strings.
  const out = p.headerLines.slice();
  for (const ev of sorted) renderEvent(p, ev, out);
  out.push(FOOTER_LINE);
  return joinLines(out);
}

export type FitFeedOptions = {
  /** Events that ended at or before `now` are "past" and are dropped first. */
  now: Date;
  maxBytes?: number;
};

export type FitFeedResult = {
  ics: string;
  /** UTF-8 length of `ics`. */
  bytes: number;
  /** Events written. */
  kept: number;
  /** UIDs dropped, oldest end first. */
  droppedPast: string[];
  /** UIDs dropped once no past event was left, furthest start first. */
  droppedFuture: string[];
  /** False only when even the header alone exceeds maxBytes. */
  fits: boolean;
};

/**
 * renderFeed under a byte budget. Google reportedly ignores subscribed feeds over 1 MB
 * (reported by users in public issue trackers), and an ignored feed shows nothing at all, so: drop the oldest past
 * events first (docs/rules.md, "Feeds"); if that is not enough, drop the furthest future ones, because an incomplete
 * horizon is better than a feed Google discards. Each event is rendered once and measured once; the
 * result is one join of the survivors, never a re-render.
 */
export function fitFeedToSize(calendar: FeedCalendar, events: readonly FeedEvent[], options: FitFeedOptions): FitFeedResult {
  const maxBytes = options.maxBytes ?? DEFAULT_MAX_FEED_BYTES;
  const now = options.now.getTime();
  const p = prepare(calendar);
  const sorted = sortEvents(events);
  const n = sorted.length;
  const blocks = new Array<string>(n);
  const sizes = new Array<number>(n);
  let total = Buffer.byteLength(p.header) + FOOTER.length;
  const lines: string[] = [];
  for (let i = 0; i < n; i++) {
    lines.length = 0;
    renderEvent(p, sorted[i]!, lines);
    const block = joinLines(lines);
    blocks[i] = block;
    // byteLength counts without encoding into a new buffer.
    const size = Buffer.byteLength(block);
    sizes[i] = size;
    total += size;
  }
  const droppedPast: string[] = [];
  const droppedFuture: string[] = [];
  if (total > maxBytes) {
    const keep = new Array<boolean>(n).fill(true);
    const past: number[] = [];
    const rest: number[] = [];
    for (let i = 0; i < n; i++) (sorted[i]!.end.getTime() <= now ? past : rest).push(i);
    past.sort((a, b) => sorted[a]!.end.getTime() - sorted[b]!.end.getTime() || a - b);
    // `rest` is in start order already; walk it backwards for furthest-first.
    for (let k = 0; k < past.length && total > maxBytes; k++) {
      const i = past[k]!;
      keep[i] = false;
      total -= sizes[i]!;
      droppedPast.push(sorted[i]!.uid);
    }
    for (let k = rest.length - 1; k >= 0 && total > maxBytes; k--) {
      const i = rest[k]!;
      keep[i] = false;
      total -= sizes[i]!;
      droppedFuture.push(sorted[i]!.uid);
    }
    const kept: string[] = [];
    for (let i = 0; i < n; i++) if (keep[i]) kept.push(blocks[i]!);
    return {
      ics: p.header + kept.join("") + FOOTER,
      bytes: total,
      kept: kept.length,
      droppedPast,
      droppedFuture,
      fits: total <= maxBytes,
    };
  }
  return { ics: p.header + blocks.join("") + FOOTER, bytes: total, kept: n, droppedPast, droppedFuture, fits: true };
}
