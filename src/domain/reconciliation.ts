// How one external event meets our sessions, and which open items a provider sees. Pure.

import type { EligibilityDecision } from "./eligibility.js";
import type { ExternalEvent } from "./external-event.js";
import type { SessionStatus } from "./value-lists.js";

/** What we last stored of an external event, to tell newer from older (RFC 5545 3.8.7.4 SEQUENCE, then LAST-MODIFIED). */
export type StoredVersion = { sequence: number; updatedAt: Date | null; status: string };

/**
 * An older SEQUENCE, or the same SEQUENCE with an older update time, never overwrites a newer one.
 * A deletion stub (Google's id-only cancelled event) carries neither, and deletion is final: it applies.
 */
export function isStale(incoming: ExternalEvent, stored: StoredVersion | null): boolean {
  if (!stored) return false;
  const stub = incoming.status === "cancelled" && !incoming.start && !incoming.updatedAt;
  if (stub) return false;
  if (incoming.sequence !== stored.sequence) return incoming.sequence < stored.sequence;
  if (incoming.updatedAt && stored.updatedAt) return new Date(incoming.updatedAt) < stored.updatedAt;
  // Same version, nothing newer to say: applying it again must change nothing.
  return false;
}

export type MatchableSession = {
  id: string;
  status: SessionStatus;
  startAt: Date;
  endAt: Date;
};

export type EventEffect =
  | { kind: "none"; reason: "no_session" | "same" | "session_cancelled" | "invalid_times" }
  | { kind: "cancel_session" }
  | { kind: "reschedule_session"; start: Date; end: Date }
  | { kind: "confirmed_session_differs" };

/** For a matched session: a move reschedules, a cancellation cancels; a confirmed session never changes. */
export function effectOnSession(event: ExternalEvent, session: MatchableSession | null): EventEffect {
  if (!session) return { kind: "none", reason: "no_session" };
  const differs = externalDiffers(event, session);
  if (session.status === "confirmed") return differs ? { kind: "confirmed_session_differs" } : { kind: "none", reason: "same" };
  if (session.status === "cancelled") return { kind: "none", reason: "session_cancelled" };
  if (event.status === "cancelled") return { kind: "cancel_session" };
  if (!event.start || !event.end || event.allDay) return { kind: "none", reason: "invalid_times" };
  if (!differs) return { kind: "none", reason: "same" };
  return { kind: "reschedule_session", start: new Date(event.start), end: new Date(event.end) };
}

export function externalDiffers(event: { status: string; start?: string; end?: string }, session: { startAt: Date; endAt: Date }): boolean {
  if (event.status === "cancelled") return true;
  if (!event.start || !event.end) return false;
  return new Date(event.start).getTime() !== session.startAt.getTime() || new Date(event.end).getTime() !== session.endAt.getTime();
}

export type ItemKind =
  | "needs_client_location"
  | EligibilityDecision["outcome"]
  | "external_change_on_confirmed_session"
  | "unlinked_session"
  | "overlaps_busy_time"
  | "external_event_after_cancellation"
  | "calendar_needs_reconnect";

export type ReconciliationItem = {
  kind: ItemKind;
  sessionId?: string;
  start?: string;
  end?: string;
  title: string;
  action: string;
  detail?: string;
  decision?: EligibilityDecision;
};

/** An ended telehealth session not yet confirmed (docs/rules.md, "Confirming a session"): what stops it, in a provider's words. */
export function endedSessionItem(session: { id: string; startAt: Date; endAt: Date }, decision: EligibilityDecision | null): ReconciliationItem {
  const base = { sessionId: session.id, start: session.startAt.toISOString(), end: session.endAt.toISOString() };
  if (!decision || decision.outcome === "client_location_required") {
    return {
      kind: "needs_client_location",
      ...base,
      title: "Client location needed",
      action: "Add the state your client was in during this session, then confirm it.",
      ...(decision ? { decision } : {}),
    };
  }
  const titles: Record<EligibilityDecision["outcome"], string> = {
    client_location_required: "Client location needed",
    location_outside_us: "Client was outside the US",
    audio_only_not_allowed: "Audio-only not allowed",
    refer: "Refer to a provider licensed there",
    eligible: "Ready to confirm",
    needs_credentialing: "Begin credentialing",
    private_pay_only: "Private pay only",
  };
  return { kind: decision.outcome, ...base, title: titles[decision.outcome], action: decision.action, detail: decision.explanation, decision };
}

/**
 * The calendar shows, live, an event whose session was cancelled, and the event changed after the
 * cancellation (restored, re-sent, moved back): someone may expect that session to happen.
 */
export function reappearedAfterCancellation(
  event: { status: string; updatedAt: Date | null },
  session: { status: string; cancelledAt: Date | null },
): boolean {
  return (
    session.status === "cancelled" &&
    event.status !== "cancelled" &&
    !!event.updatedAt &&
    !!session.cancelledAt &&
    event.updatedAt > session.cancelledAt
  );
}

type Interval = { start: Date; end: Date };
export const overlaps = (a: Interval, b: Interval) => a.start < b.end && b.start < a.end;

const PLATFORM_LABELS: Record<string, string> = { google: "Google Calendar", microsoft: "Outlook calendar" };

/**
 * A connected calendar whose access was withdrawn or expired (OAuth invalid_grant): only the provider
 * can fix it. Nothing was cancelled meanwhile; reconnecting catches up on what changed.
 */
export function reconnectItem(source: { kind: string; name: string | null; lastErrorAt: Date | null }): ReconciliationItem {
  const label = PLATFORM_LABELS[source.kind] ?? "calendar";
  return {
    kind: "calendar_needs_reconnect",
    title: `Reconnect your ${label}`,
    action: `${source.name ? `“${source.name}” stopped syncing` : "A calendar stopped syncing"}: access was withdrawn or expired. Reconnect it under Connected calendars; your sessions are unchanged and catch up once it is back.`,
  };
}
