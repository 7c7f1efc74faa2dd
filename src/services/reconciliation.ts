// The provider's open items (README, Ingestion and Settings pages), derived from sessions, confirmations and the external mirror.
// Nothing here is stored: an item disappears as soon as its cause does.
import { and, eq, gt, inArray, isNull, lt, lte, ne, notExists } from "drizzle-orm";
import { calendarSources, clients, externalEvents, sessionReferrals, sessions } from "../db/schema.js";
import { decideEligibility } from "../domain/eligibility.js";
import { locationAt } from "../domain/locations.js";
import {
  endedSessionItem,
  externalDiffers,
  overlaps,
  type ReconciliationItem,
  reappearedAfterCancellation,
  reconnectItem,
} from "../domain/reconciliation.js";
import { CONFIRMATION_LOOKBACK_DAYS } from "../domain/work-queue.js";
import type { ProviderScope } from "./auth.js";
import { loadClientLocations } from "./clients.js";
import type { ServiceDeps } from "./deps.js";
import { loadProvider } from "./providers.js";

const DAY_MS = 86_400_000;
/** How far back ended sessions are still chased for confirmation, and external events are compared. */
const LOOKBACK_DAYS = CONFIRMATION_LOOKBACK_DAYS;
const AHEAD_DAYS = 180;

export async function listReconciliationItems(deps: ServiceDeps, scope: ProviderScope): Promise<{ items: ReconciliationItem[] }> {
  const { providerId } = scope;
  const provider = await loadProvider(deps.db, providerId);
  const now = deps.clock.now();
  const from = new Date(now.getTime() - LOOKBACK_DAYS * DAY_MS);
  const to = new Date(now.getTime() + AHEAD_DAYS * DAY_MS);
  const db = deps.db;

  // Ended telehealth sessions, not confirmed, cancelled or referred on.
  const ended = await db
    .select({ s: sessions, c: clients })
    .from(sessions)
    .innerJoin(clients, eq(clients.id, sessions.clientId))
    .where(
      and(
        eq(sessions.providerId, providerId),
        eq(sessions.kind, "virtual"),
        eq(sessions.status, "scheduled"),
        lte(sessions.endAt, now),
        gt(sessions.endAt, from),
        notExists(db.select({ id: sessionReferrals.sessionId }).from(sessionReferrals).where(eq(sessionReferrals.sessionId, sessions.id))),
      ),
    )
    .orderBy(sessions.startAt);
  const clientIds = [...new Set(ended.map((r) => r.c.id))];
  const byClient = new Map<string, Awaited<ReturnType<typeof loadClientLocations>>>();
  for (const l of await loadClientLocations(db, clientIds)) byClient.set(l.clientId, [...(byClient.get(l.clientId) ?? []), l]);
  const items: ReconciliationItem[] = ended.map(({ s, c }) => {
    // The location that held at the session's time, never simply the latest (docs/rules.md).
    const place = locationAt(byClient.get(c.id) ?? [], s.startAt);
    const decision = place
      ? decideEligibility({
          state: place.state,
          country: place.country,
          modality: s.modality,
          client: { insurance: c.insurance, medicare: c.medicare },
          provider: { licenses: provider.licenses, credentialedStates: provider.credentialedStates },
          policy: deps.config.policy,
        })
      : null;
    return endedSessionItem(s, decision);
  });

  // The external mirror of live sources, in the window.
  const external = await db
    .select({ e: externalEvents })
    .from(externalEvents)
    .innerJoin(calendarSources, and(eq(calendarSources.id, externalEvents.sourceId), isNull(calendarSources.deletedAt)))
    .where(and(eq(externalEvents.providerId, providerId), gt(externalEvents.endAt, from), lt(externalEvents.startAt, to)));
  const matchedIds = [...new Set(external.map((r) => r.e.sessionId).filter((x): x is string => !!x))];
  const matched = matchedIds.length ? await db.select().from(sessions).where(inArray(sessions.id, matchedIds)) : [];
  const byId = new Map(matched.map((s) => [s.id, s]));

  for (const { e } of external) {
    const s = e.sessionId ? byId.get(e.sessionId) : undefined;
    if (s?.status === "confirmed" && externalDiffers({ status: e.status, start: e.startAt?.toISOString(), end: e.endAt?.toISOString() }, s)) {
      items.push({
        kind: "external_change_on_confirmed_session",
        sessionId: s.id,
        start: s.startAt.toISOString(),
        end: s.endAt.toISOString(),
        title: "Changed in your calendar after confirmation",
        action:
          e.status === "cancelled"
            ? "The event was cancelled in your calendar, but the session is confirmed. Check which is right; contact support to correct a confirmed session."
            : `Your calendar now shows ${e.startAt?.toISOString()}; the confirmed session stays as it was. Check which is right.`,
      });
    } else if (s && e.startAt && e.endAt && reappearedAfterCancellation({ status: e.status, updatedAt: e.externalUpdatedAt }, s)) {
      items.push({
        kind: "external_event_after_cancellation",
        sessionId: s.id,
        start: e.startAt.toISOString(),
        end: e.endAt.toISOString(),
        title: "Back in your calendar after it was cancelled",
        action:
          "This session was cancelled, but the event is in your calendar again. Schedule a new session if it is going ahead, or remove the event.",
      });
    } else if (!s && e.providerLink && e.status !== "cancelled" && e.startAt && e.endAt) {
      items.push({
        kind: "unlinked_session",
        start: e.startAt.toISOString(),
        end: e.endAt.toISOString(),
        title: "Calendar event with your telehealth link",
        action: "This event uses your video link but is not a session here. Add it as a session so it can be confirmed and billed.",
      });
    }
  }

  // Busy time that overlaps a scheduled session (not the session's own event).
  const busy = external.map((r) => r.e).filter((e) => e.busy && e.status !== "cancelled" && !e.sessionId && !e.providerLink && e.startAt && e.endAt);
  if (busy.length) {
    const upcoming = await db
      .select()
      .from(sessions)
      .where(and(eq(sessions.providerId, providerId), ne(sessions.status, "cancelled"), gt(sessions.endAt, now), lt(sessions.startAt, to)));
    for (const s of upcoming) {
      const clash = busy.find((e) => overlaps({ start: e.startAt!, end: e.endAt! }, { start: s.startAt, end: s.endAt }));
      if (clash) {
        items.push({
          kind: "overlaps_busy_time",
          sessionId: s.id,
          start: s.startAt.toISOString(),
          end: s.endAt.toISOString(),
          title: "Overlaps a busy time in your calendar",
          action: "Another event in your calendar overlaps this session. Reschedule one of them.",
        });
      }
    }
  }
  // Calendars that lost their grant: one item per connection (or per source without one).
  const lost = await db
    .select()
    .from(calendarSources)
    .where(and(eq(calendarSources.providerId, providerId), isNull(calendarSources.deletedAt), eq(calendarSources.status, "needs_reconnect")))
    .orderBy(calendarSources.createdAt);
  const seen = new Set<string>();
  for (const s of lost) {
    const key = typeof s.settings.connectionId === "string" ? s.settings.connectionId : s.id;
    if (seen.has(key)) continue;
    seen.add(key);
    items.push(reconnectItem({ kind: s.kind, name: (s.settings.name as string | undefined) ?? null, lastErrorAt: s.lastErrorAt }));
  }
  return { items };
}
