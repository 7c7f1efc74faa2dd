import { and, eq, isNull } from "drizzle-orm";
import { z } from "zod";
import type { Executor } from "../db/client.js";
import { clientLocations, confirmations, providers } from "../db/schema.js";
import { withTransaction } from "../db/tx.js";
import { decideEligibility, type EligibilityDecision } from "../domain/eligibility.js";
import { StateCodeSchema } from "../domain/jurisdictions.js";
import { effectiveLink } from "../domain/sessions.js";
import { ConflictError, parseInput, UnprocessableError } from "../errors.js";
import { recordAudit } from "./audit.js";
import { actorName, type Principal, type ServiceDeps } from "./deps.js";
import { insertLocation, loadClient } from "./clients.js";
import { loadSession, sessionView, writeSessionChange, type SessionRow } from "./sessions.js";
import { loadTelehealthLink } from "./telehealth-links.js";

export const ConfirmSessionSchema = z.union([
  z.strictObject({ clientLocationId: z.uuid() }),
  z.strictObject({ state: StateCodeSchema, label: z.string().trim().min(1).max(100).optional() }),
]);

export const EligibilityQuerySchema = z.strictObject({ state: StateCodeSchema.optional() });

/** SPEC 4.3 for one session and one client location; `state: null` is row 1. */
export async function decideForSession(
  db: Executor,
  deps: Pick<ServiceDeps, "config">,
  s: SessionRow,
  state: string | null,
): Promise<EligibilityDecision> {
  const [client, provider] = await Promise.all([
    loadClient(db, { kind: "admin" }, s.clientId),
    db.select().from(providers).where(eq(providers.id, s.providerId)).then((r) => r[0]!),
  ]);
  return decideEligibility({
    state,
    modality: s.modality,
    client: { insurance: client.insurance, medicare: client.medicare },
    provider: { licenses: provider.licenses, credentialedStates: provider.credentialedStates },
    policy: deps.config.policy,
  });
}

export async function previewEligibility(deps: ServiceDeps, principal: Principal, sessionId: string, query: unknown) {
  const q = parseInput(EligibilityQuerySchema, query);
  const s = await loadSession(deps.db, principal, sessionId);
  return decideForSession(deps.db, deps, s, q.state ?? null);
}

/**
 * Confirms a telehealth session after it took place, with the client's location (SPEC 4.3). At most
 * once: the session row is locked, and the confirmation's primary key is the session id, so two
 * simultaneous requests cannot both succeed.
 */
export async function confirmSession(deps: ServiceDeps, principal: Principal, sessionId: string, input: unknown) {
  const data = parseInput(ConfirmSessionSchema, input);
  return withTransaction(deps.db, async (tx) => {
    const s = await loadSession(tx, principal, sessionId, { forUpdate: true });
    if (s.status === "confirmed") throw new ConflictError("already_confirmed", "This session is already confirmed.");
    if (s.status === "cancelled") throw new ConflictError("session_cancelled", "A cancelled session cannot be confirmed.");
    if (s.kind !== "virtual") throw new ConflictError("not_a_telehealth_session", "Only telehealth sessions are confirmed with a client location.");
    const now = deps.clock.now();
    if (now < s.startAt) throw new ConflictError("session_not_started", "A session is confirmed once it has taken place.");

    const client = await loadClient(tx, principal, s.clientId);
    let location: typeof clientLocations.$inferSelect | undefined;
    if ("clientLocationId" in data) {
      location = (
        await tx
          .select()
          .from(clientLocations)
          .where(and(eq(clientLocations.id, data.clientLocationId), eq(clientLocations.clientId, client.id), isNull(clientLocations.archivedAt)))
      )[0];
      if (!location) throw new UnprocessableError("unknown_location", "No such current location for this client.", { field: "clientLocationId" });
    }
    const state = location?.state ?? ("state" in data ? data.state : null);
    const decision = await decideForSession(tx, deps, s, state);
    if (!decision.confirmable) {
      throw new ConflictError("not_confirmable", decision.explanation, { decision });
    }
    // A location typed at confirmation joins the client's list of virtual session locations.
    location ??= await insertLocation(tx, client, { state: state!, label: "label" in data ? data.label : undefined }, now);
    const linkUsed = effectiveLink(s, await loadTelehealthLink(tx, s.providerId));
    await tx.insert(confirmations).values({
      sessionId: s.id,
      providerId: s.providerId,
      clientLocationId: location.id,
      state: location.state,
      label: location.label,
      outcome: decision.outcome,
      row: decision.row,
      billing: decision.billing ?? null,
      linkUsed,
      decision,
      confirmedBy: actorName(principal),
      confirmedAt: now,
    });
    const updated = await writeSessionChange(tx, s, { status: "confirmed" }, now);
    await recordAudit(tx, { providerId: s.providerId, principal, action: "session.confirmed", subjectId: s.id, at: now, data: { outcome: decision.outcome, row: decision.row } });
    return { decision, session: await sessionView(tx, updated) };
  });
}
