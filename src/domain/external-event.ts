// The one shape every ingestion adapter (ICS, Google, Microsoft) turns an external calendar event
// into, so reconciliation (SPEC 6) has a single input. Instants are UTC ISO 8601 strings.
export type ExternalEventStatus = "confirmed" | "tentative" | "cancelled";

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
  /** Texts that may hold a video link (LOCATION, URL, DESCRIPTION, conference data). Never logged. */
  texts: string[];
};
