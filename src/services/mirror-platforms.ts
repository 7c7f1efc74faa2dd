// What write-back needs of a calendar platform (Google, Microsoft): a calendar of our own, and
// idempotent writes of one event per session. Implemented in src/ingest/mirror-*.ts and injected,
// so services never import the ingestion layer.
import type { ConnectionKind } from "../domain/value-lists.js";

/** One session as a mirror shows it, already filtered by the mirror's privacy level. */
export type MirrorEventContent = {
  sessionId: string;
  /** The session's RFC 5545 UID, also kept in the event's private properties. */
  uid: string;
  summary: string;
  description?: string;
  location?: string;
  start: Date;
  end: Date;
  /** The provider's IANA zone: instants are sent in UTC with this zone beside them. */
  timeZone: string;
};

export type RemoteEventRef = { remoteEventId: string; etag: string | null };

/** A remote event as drift repair and echo suppression read it. */
export type RemoteMirrorEvent = { remoteEventId: string; etag: string | null; sessionId: string | null; cancelled: boolean };

/**
 * A failed platform call. `rate_limited` and `transient` are retried with backoff (after
 * `retryAfterSeconds` when given); `auth` needs a fresh token or the provider; `not_found` means
 * the calendar is gone (drift repair re-creates it).
 */
export type MirrorErrorKind = "rate_limited" | "transient" | "auth" | "not_found" | "bad_request" | "invalid_response" | "full_sync_required";

export type MirrorPlatform = {
  kind: ConnectionKind;
  /** The OAuth scope write-back needs, asked for at connect time when the provider opts in. */
  writeScope: string;
  /** Whether a grant's scope, as the token endpoint reported it, includes `writeScope`. */
  grantsWrite(scope: string | null): boolean;
  createCalendar(token: string, input: { name: string; timeZone: string }): Promise<{ id: string }>;
  /** Resolves when the calendar is gone, also when it was already. */
  deleteCalendar(token: string, calendarId: string): Promise<void>;
  calendarExists(token: string, calendarId: string): Promise<boolean>;
  /**
   * Creates or updates the session's event: never two events for one session, even after a lost
   * answer (deterministic id or lookup by our private property), updates guarded by If-Match.
   */
  upsertEvent(token: string, calendarId: string, content: MirrorEventContent, known: RemoteEventRef | null): Promise<RemoteEventRef>;
  /** Removes the session's event; an event already gone is success. */
  removeEvent(token: string, calendarId: string, sessionId: string, known: RemoteEventRef | null): Promise<void>;
  listEvents(token: string, calendarId: string): Promise<RemoteMirrorEvent[]>;
};

export type MirrorPlatforms = Partial<Record<ConnectionKind, MirrorPlatform>>;

/** Thrown by platforms; the message carries neither tokens nor event content. */
export class MirrorApiError extends Error {
  constructor(
    readonly kind: MirrorErrorKind,
    readonly status: number,
    readonly reason?: string,
    readonly retryAfterSeconds?: number,
  ) {
    super(`calendar write: ${kind} (HTTP ${status}${reason ? `, ${reason}` : ""})`);
    this.name = "MirrorApiError";
  }
}

/** The private extended property holding our session id (the ingestion adapters read the same key). */
export const SESSION_ID_PROPERTY = "telehealthSessionId";
export const SESSION_UID_PROPERTY = "telehealthSessionUid";
