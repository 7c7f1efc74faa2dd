// The one shape every ingestion adapter (ICS, Google, Microsoft) turns an external calendar event
// into, so reconciliation has a single input. Instants are UTC ISO 8601 strings.
import type { ExternalEventStatus } from "./value-lists.js";

export type ExternalEvent = {
  /** Source-specific stable key of this event or instance (Google event id, Graph id, ICS UID + RECURRENCE-ID). */
  externalId: string;
  /** RFC 5545 UID (Google iCalUID, Graph iCalUId); absent on id-only deletion stubs. */
  uid?: string;
  /** For one instance of a recurring series: the instance's original start, UTC ISO. */
  recurrenceId?: string;
  /** Our session id when the event carries it explicitly (X-TELEHEALTH-SESSION-ID, extended property). */
  sessionId?: string;
  status: ExternalEventStatus;
  /** Absent on deletion stubs. */
  start?: string;
  end?: string;
  allDay?: boolean;
  /** RFC 5545 SEQUENCE; 0 when absent. */
  sequence: number;
  /** LAST-MODIFIED / Google `updated` / Graph `lastModifiedDateTime`, UTC ISO. */
  updatedAt?: string;
  /** Free/busy: false for TRANSP:TRANSPARENT, Google transparency "transparent", Graph showAs "free". */
  busy: boolean;
  /** The platform's version tag of the event (Google `etag`, Graph `@odata.etag`): write-back knows its own writes by it. */
  etag?: string;
  /** Texts that may hold a video link (LOCATION, URL, DESCRIPTION, conference data). Never logged. */
  texts: string[];
};

/** Why an event is set aside instead of applied: it cannot be stored or matched as given. */
export type EventDefect = "event_id_invalid" | "event_uid_invalid" | "event_times_invalid" | "event_text_invalid";

/** RFC 5545 UIDs and provider ids are short opaque text; Google caps event ids at 1024 characters. */
const MAX_ID_CHARS = 1024;
// PostgreSQL text cannot hold NUL; other C0 controls and lone UTF-16 surrogates are no id anyone sent on purpose.
const BAD_ID_CHARS = /[\u0000-\u001f\u007f]|[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/u;
const BAD_TEXT_CHARS = /\u0000|[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/u;

const validId = (s: unknown) => typeof s === "string" && s.length > 0 && s.length <= MAX_ID_CHARS && !BAD_ID_CHARS.test(s);
const validInstant = (s: string | undefined) => s === undefined || (typeof s === "string" && Number.isFinite(Date.parse(s)));

/** A poison event (one no adapter should have produced, or a provider sent malformed): what is wrong, or null. */
export function eventDefect(e: ExternalEvent): EventDefect | null {
  if (!validId(e.externalId)) return "event_id_invalid";
  if (e.uid !== undefined && !validId(e.uid)) return "event_uid_invalid";
  if (!validInstant(e.start) || !validInstant(e.end) || !validInstant(e.recurrenceId) || !validInstant(e.updatedAt)) return "event_times_invalid";
  if ((e.start === undefined) !== (e.end === undefined) || (e.start && e.end && Date.parse(e.end) < Date.parse(e.start)))
    return "event_times_invalid";
  if (!Array.isArray(e.texts) || e.texts.some((t) => typeof t !== "string" || BAD_TEXT_CHARS.test(t))) return "event_text_invalid";
  return null;
}

/** How a set-aside event is named where the provider can see it: printable, short, never its text. */
export function setAsideRef(externalId: unknown): string {
  const s = typeof externalId === "string" ? externalId : "";
  const clean = s.replace(/[\u0000-\u001f\u007f]|[\ud800-\udfff]/gu, "?");
  return clean.length > 128 ? `${clean.slice(0, 128)}…` : clean;
}
