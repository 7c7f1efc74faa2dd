import { and, eq, isNull } from "drizzle-orm";
import { z } from "zod";
import type { Executor } from "../db/client.js";
import { clientLocations, confirmations, providers } from "../db/schema.js";
import { withTransaction } from "../db/tx.js";
import { decideEligibility, type EligibilityDecision } from "../domain/eligibility.js";
import { CountryCodeSchema, StateCodeSchema } from "../domain/jurisdictions.js";
import { locationAt } from "../domain/locations.js";
import { ConflictError, parseInput, UnprocessableError } from "../errors.js";
import { recordAudit } from "./audit.js";
import { findIdenticalLocation, insertLocation, loadClient, loadClientLocations, PlaceFields } from "./clients.js";
import { actorName, type Principal, type ServiceDeps } from "./deps.js";
import { loadSession, type SessionRow, sessionLink, sessionView, writeSessionChange } from "./sessions.js";

/**
 * `{clientLocationId}` picks a saved location; `{country?, state?, label?}` types one (an identical
 * saved location is reused); `{}` uses the location on file for the session's time.
 */
export const ConfirmSessionSchema = z.union([z.strictObject({ clientLocationId: z.uuid() }), z.strictObject(PlaceFields)]);

export const EligibilityQuerySchema = z.strictObject({ state: StateCodeSchema.optional(), country: CountryCodeSchema.optional() });

type Place = { country: string; state: string | null };

/** The confirmation table (docs/rules.md) for one session and one place; `null` is row 1. */
export async function decideForSession(
  db: Executor,
  deps: Pick<ServiceDeps, "config">,
  s: SessionRow,
  place: Place | null,
): Promise<EligibilityDecision> {
  const [client, provider] = await Promise.all([
    loadClient(db, { kind: "admin" }, s.clientId),
    db
      .select()
      .from(providers)
      .where(eq(providers.id, s.providerId))
      .then((r) => r[0]!),
  ]);
  return decideEligibility({
    state: place?.state ?? null,
    country: place?.country ?? "US",
    modality: s.modality,
    client: { insurance: client.insurance, medicare: client.medicare },
    provider: { licenses: provider.licenses, credentialedStates: provider.credentialedStates },
    policy: deps.config.policy,
  });
}

/** The client's location that held at the session's start (locations are time-ranged). */
export async function locationForSession(db: Executor, s: SessionRow) {
  return locationAt(await loadClientLocations(db, [s.clientId]), s.startAt);
}

/** Without `state`/`country`, previews with the location on file for the session's time. */
export async function previewEligibility(deps: ServiceDeps, principal: Principal, sessionId: string, query: unknown) {
  const q = parseInput(EligibilityQuerySchema, query);
  const s = await loadSession(deps.db, principal, sessionId);
  const place = q.state || q.country ? { country: q.country ?? "US", state: q.state ?? null } : await locationForSession(deps.db, s);
  return decideForSession(deps.db, deps, s, place);
}

/**
 * Confirms a telehealth session for billing, once it has ended (it records that the session took
 * place), with where the client was (docs/rules.md, "Confirming a session"). At most once: the
 * session row is locked, and the confirmation's primary key is the session id.
 */
export async function confirmSession(deps: ServiceDeps, principal: Principal, sessionId: string, input: unknown) {
  const data = parseInput(ConfirmSessionSchema, input);
  return withTransaction(deps.db, async (tx) => {
    const s = await loadSession(tx, principal, sessionId, { forUpdate: true });
    if (s.status === "confirmed") throw new ConflictError("already_confirmed", "This session is already confirmed.");
    if (s.status === "cancelled") throw new ConflictError("session_cancelled", "A cancelled session cannot be confirmed.");
    if (s.kind !== "virtual") throw new ConflictError("not_a_telehealth_session", "Only telehealth sessions are confirmed with a client location.");
    const now = deps.clock.now();
    if (now < s.endAt) {
      throw new ConflictError("session_not_ended", `A session is confirmed after it has taken place: this one ends at ${s.endAt.toISOString()}.`, {
        confirmableFrom: s.endAt.toISOString(),
      });
    }

    const client = await loadClient(tx, principal, s.clientId);
    let location: typeof clientLocations.$inferSelect | null = null;
    let typed: { country: string; state: string | null; label: string | null } | null = null;
    if ("clientLocationId" in data) {
      location =
        (
          await tx
            .select()
            .from(clientLocations)
            .where(and(eq(clientLocations.id, data.clientLocationId), eq(clientLocations.clientId, client.id), isNull(clientLocations.archivedAt)))
        )[0] ?? null;
      if (!location) throw new UnprocessableError("unknown_location", "No such current location for this client.", { field: "clientLocationId" });
    } else if (data.state !== undefined || data.country !== "US" || data.label !== undefined) {
      if (data.country === "US" && data.state === undefined) {
        throw new UnprocessableError("validation_failed", "A US location needs a state (USPS code such as NY).", { field: "state" });
      }
      typed = { country: data.country, state: data.state ?? null, label: data.label ?? null };
    } else {
      location = await locationForSession(tx, s);
    }
    const place = location ?? typed;
    const decision = await decideForSession(tx, deps, s, place);
    if (!decision.confirmable) {
      // Row 1 and every other refusal answer with the decision itself, under the row's own code.
      throw new ConflictError(decision.outcome, decision.explanation, { decision });
    }
    if (!location && typed) {
      // A place typed at confirmation joins the client's locations, unless the same one is already there.
      location =
        (await findIdenticalLocation(tx, client.id, typed)) ??
        (await insertLocation(
          tx,
          client,
          { country: typed.country, state: typed.state ?? undefined, label: typed.label ?? undefined, from: s.startAt },
          now,
        ));
    }
    await tx.insert(confirmations).values({
      sessionId: s.id,
      providerId: s.providerId,
      clientLocationId: location!.id,
      country: location!.country,
      state: location!.state,
      label: location!.label,
      outcome: decision.outcome,
      row: decision.row,
      billing: decision.billing ?? null,
      // The link this session used, kept on it since booking.
      linkUsed: sessionLink(s),
      decision,
      confirmedBy: actorName(principal),
      confirmedAt: now,
    });
    const updated = await writeSessionChange(tx, s, { status: "confirmed" }, now);
    await recordAudit(tx, {
      providerId: s.providerId,
      principal,
      action: "session.confirmed",
      subjectId: s.id,
      at: now,
      data: { outcome: decision.outcome, row: decision.row },
    });
    return { decision, session: await sessionView(tx, updated) };
  });
}
