// Many push notifications for one source (Google and Microsoft send one per change, often in
// bursts) need one pull, not one each: a pull reads the calendar as it is when it runs, so it
// answers every notification that was already recorded when it began. Those are read before the
// pull starts (committed rows only, so nothing recorded later is taken) and marked done in the
// transaction that applies the pull, so they are done exactly when it is. A notification recorded
// after the pull began stays pending and gets a pull of its own.
import { and, eq, inArray, ne } from "drizzle-orm";
import type { Executor } from "../db/client.js";
import { deliveries } from "../db/schema.js";

/** Bounded: a pull answers at most this many waiting notifications; the rest wait for the next. */
const MAX_COVERED = 1000;

/** Pending pull notifications of a source other than `exceptId`, as recorded now. */
export async function waitingPullsOf(db: Executor, sourceId: string, exceptId: number): Promise<number[]> {
  const rows = await db
    .select({ id: deliveries.id })
    .from(deliveries)
    .where(and(eq(deliveries.sourceId, sourceId), eq(deliveries.kind, "pull"), eq(deliveries.state, "pending"), ne(deliveries.id, exceptId)))
    .limit(MAX_COVERED);
  return rows.map((r) => r.id);
}

/** Inside the applying transaction: the covered notifications are done with it (unless already). */
export async function completeCoveredPulls(tx: Executor, ids: number[], now: Date): Promise<number> {
  if (ids.length === 0) return 0;
  const rows = await tx
    .update(deliveries)
    .set({ state: "done", processedAt: now, lastErrorCode: null, claimedUntil: null })
    .where(and(inArray(deliveries.id, ids), eq(deliveries.state, "pending")))
    .returning({ id: deliveries.id });
  return rows.length;
}
