// The settings pages' work queue: open items with their client, most urgent first, and the verbs
// that resolve them in place (add where the client was and confirm; confirm; refer on). Each verb
// is the API's own service called in turn, so the page can do nothing the API refuses.
import { and, eq, inArray, isNull } from "drizzle-orm";
import { clientLocations, clients, sessions } from "../db/schema.js";
import type { EligibilityDecision } from "../domain/eligibility.js";
import { initialsOf } from "../domain/feed-policy.js";
import type { ReconciliationItem } from "../domain/reconciliation.js";
import { orderByUrgency } from "../domain/work-queue.js";
import { AppError, ConflictError } from "../errors.js";
import type { ProviderScope } from "./auth.js";
import { addLocation, CreateLocationSchema, listClients, toLocationView } from "./clients.js";
import { confirmSession, previewEligibility } from "./confirmations.js";
import type { Principal, ServiceDeps } from "./deps.js";
import { listReconciliationItems } from "./reconciliation.js";
import { markSessionReferred } from "./referrals.js";
import { loadSession } from "./sessions.js";

export type QueueClient = { id: string; displayName: string; initials: string };
export type QueueItem = ReconciliationItem & { client?: QueueClient };

const clientOf = (c: { id: string; displayName: string }): QueueClient => ({
  id: c.id,
  displayName: c.displayName,
  initials: initialsOf(c.displayName),
});

export async function listWorkQueue(deps: ServiceDeps, scope: ProviderScope): Promise<{ items: QueueItem[] }> {
  const { providerId } = scope;
  const { items } = await listReconciliationItems(deps, scope);
  const ids = [...new Set(items.map((i) => i.sessionId).filter((x): x is string => !!x))];
  const rows = ids.length
    ? await deps.db
        .select({ sessionId: sessions.id, id: clients.id, displayName: clients.displayName })
        .from(sessions)
        .innerJoin(clients, eq(clients.id, sessions.clientId))
        .where(and(eq(sessions.providerId, providerId), inArray(sessions.id, ids)))
    : [];
  const bySession = new Map(rows.map((r) => [r.sessionId, clientOf(r)]));
  const named = items.map((i): QueueItem => {
    const client = i.sessionId ? bySession.get(i.sessionId) : undefined;
    return client ? { ...i, client } : i;
  });
  return { items: orderByUrgency(named) };
}

/** One page of clients, each with their current (not archived) locations, newest first. */
export async function listClientsWithLocations(deps: ServiceDeps, scope: ProviderScope, query: unknown) {
  const { providerId } = scope;
  const page = await listClients(deps, scope, query);
  const ids = page.items.map((c) => c.id);
  const locs = ids.length
    ? await deps.db
        .select()
        .from(clientLocations)
        .where(and(eq(clientLocations.providerId, providerId), inArray(clientLocations.clientId, ids), isNull(clientLocations.archivedAt)))
    : [];
  const views = locs.map(toLocationView).sort((a, b) => b.createdAt.localeCompare(a.createdAt));
  return {
    items: page.items.map((c) => ({ ...c, initials: initialsOf(c.displayName), locations: views.filter((l) => l.clientId === c.id) })),
    ...(page.nextCursor ? { nextCursor: page.nextCursor } : {}),
  };
}

/** Where the client was, as the page collects it: a US state, or a country outside the US; since when. */
export type LocationEntry = { state?: string; country?: string; from?: Date; label?: string };

const LOCATION_FIELDS = new Set(Object.keys(CreateLocationSchema.shape));
/** Whether the location service takes a country (for places outside the US) and a start date. */
export const LOCATION_SUPPORTS = { country: LOCATION_FIELDS.has("country"), from: LOCATION_FIELDS.has("from") };

/**
 * The location service's input for what the page collected. The one place that knows which optional
 * fields the service takes: a field it does not take is left out rather than refused.
 */
export function toLocationInput(entry: LocationEntry): Record<string, unknown> {
  return {
    ...(entry.country && LOCATION_SUPPORTS.country ? { country: entry.country } : {}),
    ...(entry.state ? { state: entry.state } : {}),
    ...(entry.label ? { label: entry.label } : {}),
    ...(entry.from && LOCATION_SUPPORTS.from ? { from: entry.from.toISOString() } : {}),
  };
}

export type QueueOutcome =
  | { kind: "confirmed"; decision: EligibilityDecision }
  /** Row 7: confirmable only as private pay, which the provider must choose with the client's agreement. */
  | { kind: "private_pay_needs_agreement"; decision: EligibilityDecision }
  | { kind: "not_confirmable"; decision: EligibilityDecision };

async function confirmUnlessBlocked(
  deps: ServiceDeps,
  principal: Principal,
  sessionId: string,
  place: { country: string; state: string | null },
  confirmInput: Record<string, unknown>,
  privatePayAgreed: boolean,
): Promise<QueueOutcome> {
  const decision = await previewEligibility(deps, principal, sessionId, { country: place.country, ...(place.state ? { state: place.state } : {}) });
  if (!decision.confirmable) return { kind: "not_confirmable", decision };
  if (decision.outcome === "private_pay_only" && !privatePayAgreed) return { kind: "private_pay_needs_agreement", decision };
  try {
    const confirmed = await confirmSession(deps, principal, sessionId, confirmInput);
    return { kind: "confirmed", decision: confirmed.decision };
  } catch (err) {
    // The provider's licenses changed between the preview and the confirmation.
    if (err instanceof AppError && err.extra.decision) {
      return { kind: "not_confirmable", decision: err.extra.decision as EligibilityDecision };
    }
    throw err;
  }
}

/**
 * Records where the client was (a fact, kept whatever the outcome), then confirms the session when
 * the rules allow it. Private pay is never chosen here: it needs the provider's explicit choice.
 */
export async function addLocationAndConfirm(deps: ServiceDeps, principal: Principal, sessionId: string, entry: LocationEntry): Promise<QueueOutcome> {
  const s = await loadSession(deps.db, principal, sessionId);
  // Checked before the location is added, so a stale page changes nothing.
  if (s.status === "confirmed") throw new ConflictError("already_confirmed", "This session is already confirmed.");
  if (s.status === "cancelled") throw new ConflictError("session_cancelled", "A cancelled session cannot be confirmed.");
  const location = await addLocation(deps, principal, s.clientId, toLocationInput(entry));
  return confirmUnlessBlocked(
    deps,
    principal,
    sessionId,
    { country: location.country, state: location.state },
    { clientLocationId: location.id },
    false,
  );
}

/** Confirms with the location the open item was decided for; private pay only when agreed. */
export async function confirmFromQueue(
  deps: ServiceDeps,
  principal: Principal,
  sessionId: string,
  input: { state: string; privatePayAgreed: boolean },
) {
  return confirmUnlessBlocked(deps, principal, sessionId, { country: "US", state: input.state }, { state: input.state }, input.privatePayAgreed);
}

export async function referFromQueue(deps: ServiceDeps, principal: Principal, sessionId: string, input: { state: string }) {
  return markSessionReferred(deps, principal, sessionId, { state: input.state });
}
