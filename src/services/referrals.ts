// Closing an ended session that cannot be confirmed because the provider referred the client on
// (docs/rules.md, "Confirming a session", rows 4 and 6: not licensed, or not credentialed for an in-network client, where the
// client was). The session stays as it was; a referral row takes it off the open items.
import { eq } from "drizzle-orm";
import { z } from "zod";
import { sessionReferrals } from "../db/schema.js";
import { withTransaction } from "../db/tx.js";
import { StateCodeSchema } from "../domain/jurisdictions.js";
import { REFERABLE_OUTCOMES } from "../domain/value-lists.js";
import { ConflictError, parseInput } from "../errors.js";
import { recordAudit } from "./audit.js";
import { decideForSession } from "./confirmations.js";
import { actorName, type Principal, type ServiceDeps } from "./deps.js";
import { loadSession } from "./sessions.js";

export const MarkReferredSchema = z.strictObject({ state: StateCodeSchema });

const REFERABLE = new Set<string>(REFERABLE_OUTCOMES);

export async function markSessionReferred(deps: ServiceDeps, principal: Principal, sessionId: string, input: unknown) {
  const data = parseInput(MarkReferredSchema, input);
  return withTransaction(deps.db, async (tx) => {
    const s = await loadSession(tx, principal, sessionId, { forUpdate: true });
    const existing = (await tx.select().from(sessionReferrals).where(eq(sessionReferrals.sessionId, s.id)))[0];
    if (existing) throw new ConflictError("already_referred", "This session is already marked as referred.");
    if (s.status !== "scheduled" || s.kind !== "virtual") {
      throw new ConflictError(
        "not_referable",
        "Only a telehealth session that took place and is not confirmed or cancelled can be marked as referred.",
      );
    }
    const now = deps.clock.now();
    if (now < s.endAt) throw new ConflictError("session_not_ended", "A session is marked as referred once it has taken place.");
    const decision = await decideForSession(tx, deps, s, { country: "US", state: data.state });
    if (!REFERABLE.has(decision.outcome)) {
      throw new ConflictError("not_referable", `Referral isn't the rule here: ${decision.explanation}`, { decision });
    }
    const [row] = await tx
      .insert(sessionReferrals)
      .values({
        sessionId: s.id,
        providerId: s.providerId,
        clientId: s.clientId,
        state: decision.state!,
        outcome: decision.outcome,
        referredBy: actorName(principal),
        referredAt: now,
      })
      .returning();
    await recordAudit(tx, {
      providerId: s.providerId,
      principal,
      action: "session.referred",
      subjectId: s.id,
      at: now,
      data: { outcome: decision.outcome, row: decision.row },
    });
    return { sessionId: row!.sessionId, state: row!.state, outcome: row!.outcome, referredAt: row!.referredAt.toISOString(), decision };
  });
}
