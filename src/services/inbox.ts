// The durable inbox (README, Ingestion and Running more than one instance): a notification is recorded once under a unique key and acknowledged;
// workers in any number of processes claim rows with FOR UPDATE SKIP LOCKED.
import { and, eq, getTableColumns, gt, lte, notInArray, sql } from "drizzle-orm";
import { alias } from "drizzle-orm/pg-core";
import type { Db, Executor } from "../db/client.js";
import { deliveries, providers } from "../db/schema.js";

export type DeliveryRow = typeof deliveries.$inferSelect;
export type DeliveryKind = DeliveryRow["kind"];

/** Inserts once; the same key again is a no-op that still answers "accepted". */
export async function recordDelivery(
  db: Executor,
  d: { providerId: string; sourceId: string; deliveryKey: string; kind: DeliveryKind; payload?: Record<string, unknown>; at: Date },
): Promise<{ recorded: boolean }> {
  const rows = await db
    .insert(deliveries)
    .values({
      providerId: d.providerId,
      sourceId: d.sourceId,
      deliveryKey: d.deliveryKey,
      kind: d.kind,
      payload: d.payload ?? null,
      receivedAt: d.at,
      availableAt: d.at,
    })
    .onConflictDoNothing({ target: [deliveries.sourceId, deliveries.deliveryKey] })
    .returning({ id: deliveries.id });
  return { recorded: rows.length > 0 };
}

export type ClaimCandidate = { id: number; providerId: string; sourceId: string; availableAt: Date };

/** A claimed delivery, with its provider's time zone (what applying it needs first). */
export type ClaimedDelivery = DeliveryRow & { timezone: string };

/**
 * Claims up to `max` due deliveries for `leaseMs`, in one statement: their available_at and
 * claimed_until move past the lease, so a worker that dies mid-way leaves them to be claimed again
 * (at-least-once; applying is idempotent). Candidates are the oldest due delivery of each provider
 * whose source has none in hand (here or in another process, or in `skipSources`), so no two claimed
 * share a source; `rank` orders them (the worker's round-robin), oldest first by default. The claim
 * itself is FOR UPDATE SKIP LOCKED, so two workers never take one row. Answered in rank order.
 */
export async function claimDeliveries(
  db: Db,
  now: Date,
  leaseMs: number,
  opts: { max?: number; skipSources?: string[]; rank?: (candidates: ClaimCandidate[]) => ClaimCandidate[] } = {},
): Promise<ClaimedDelivery[]> {
  const at = sql`${now.toISOString()}::timestamptz`;
  const busy = alias(deliveries, "busy");
  const candidates = await db
    .selectDistinctOn([deliveries.providerId], {
      id: deliveries.id,
      providerId: deliveries.providerId,
      sourceId: deliveries.sourceId,
      availableAt: deliveries.availableAt,
    })
    .from(deliveries)
    .where(
      and(
        eq(deliveries.state, "pending"),
        lte(deliveries.availableAt, at),
        opts.skipSources?.length ? notInArray(deliveries.sourceId, opts.skipSources) : undefined,
        // Sources with a delivery in hand, computed once (a hashed subplan), not per row.
        notInArray(
          deliveries.sourceId,
          db
            .select({ sourceId: busy.sourceId })
            .from(busy)
            .where(and(eq(busy.state, "pending"), gt(busy.claimedUntil, at))),
        ),
      ),
    )
    .orderBy(deliveries.providerId, deliveries.availableAt, deliveries.id)
    .limit(1000);
  const ranked = opts.rank ? opts.rank(candidates) : candidates.sort((a, b) => a.availableAt.getTime() - b.availableAt.getTime() || a.id - b.id);
  const until = new Date(now.getTime() + leaseMs);
  const max = opts.max ?? 1;
  const claimed: ClaimedDelivery[] = [];
  // Usually one round trip; again with the next candidates only for rows another worker took first.
  for (let from = 0; from < ranked.length && claimed.length < max; ) {
    const want = ranked.slice(from, from + (max - claimed.length));
    from += want.length;
    const ids = sql.join(
      want.map((c) => sql`${c.id}`),
      sql`, `,
    );
    const rows = await db
      .update(deliveries)
      .set({ attempts: sql`${deliveries.attempts} + 1`, availableAt: until, claimedUntil: until })
      .from(providers)
      .where(
        and(
          eq(providers.id, deliveries.providerId),
          sql`${deliveries.id} in (select ${deliveries.id} from ${deliveries} where ${deliveries.id} in (${ids}) and ${deliveries.state} = 'pending' and ${deliveries.availableAt} <= ${at} for update skip locked)`,
        ),
      )
      .returning({ ...getTableColumns(deliveries), timezone: providers.timezone });
    const order = new Map(want.map((c, i) => [c.id, i]));
    claimed.push(...rows.sort((a, b) => order.get(a.id)! - order.get(b.id)!));
  }
  return claimed;
}

/** One delivery (tests and tools): claimDeliveries with max 1. */
export async function claimDelivery(
  db: Db,
  now: Date,
  leaseMs: number,
  opts: { skipSources?: string[]; rank?: (candidates: ClaimCandidate[]) => ClaimCandidate[] } = {},
): Promise<ClaimedDelivery | null> {
  return (await claimDeliveries(db, now, leaseMs, { ...opts, max: 1 }))[0] ?? null;
}

/** Marks done inside the transaction that applied it: applied and done commit together. */
export async function completeDelivery(tx: Executor, id: number, now: Date): Promise<boolean> {
  const rows = await tx
    .update(deliveries)
    .set({ state: "done", processedAt: now, lastErrorCode: null, claimedUntil: null })
    .where(and(eq(deliveries.id, id), eq(deliveries.state, "pending")))
    .returning({ id: deliveries.id });
  return rows.length > 0;
}

export const MAX_ATTEMPTS = 12;

/**
 * Exponential backoff capped at an hour; after MAX_ATTEMPTS the row stays, as `failed`, for an
 * operator. `reject`: refused for good (over a cap, unreadable); the row keeps why.
 */
export async function retryDelivery(
  db: Executor,
  d: DeliveryRow,
  now: Date,
  errorCode: string,
  opts: { retryAfterMs?: number; final?: boolean; reject?: boolean } = {},
): Promise<void> {
  const final = opts.reject || opts.final || d.attempts >= MAX_ATTEMPTS;
  const backoff = opts.retryAfterMs ?? Math.min(3600_000, 1000 * 2 ** Math.min(d.attempts, 12));
  await db
    .update(deliveries)
    .set({
      state: opts.reject ? "rejected" : final ? "failed" : "pending",
      availableAt: new Date(now.getTime() + backoff),
      claimedUntil: null,
      lastErrorCode: errorCode,
      processedAt: final ? now : null,
    })
    .where(eq(deliveries.id, d.id));
}

/**
 * A verified notification refused for good (malformed, unsafe text): recorded as `rejected` with its
 * reason and no payload, so the provider sees why on the source instead of a silent drop.
 */
export async function recordRejectedDelivery(
  db: Executor,
  d: { providerId: string; sourceId: string; deliveryKey: string; kind: DeliveryKind; errorCode: string; at: Date },
): Promise<{ recorded: boolean }> {
  const rows = await db
    .insert(deliveries)
    .values({
      providerId: d.providerId,
      sourceId: d.sourceId,
      deliveryKey: d.deliveryKey,
      kind: d.kind,
      payload: null,
      state: "rejected",
      lastErrorCode: d.errorCode,
      receivedAt: d.at,
      availableAt: d.at,
      processedAt: d.at,
    })
    .onConflictDoNothing({ target: [deliveries.sourceId, deliveries.deliveryKey] })
    .returning({ id: deliveries.id });
  return { recorded: rows.length > 0 };
}

/**
 * Retention: payloads of finished deliveries (done or rejected) processed before `before` are set to
 * null; the rows stay for the audit trail. At most `batch` rows per call, so no statement runs long.
 */
export async function purgeDeliveryPayloads(db: Executor, before: Date, batch = 500): Promise<number> {
  const rows = await db
    .update(deliveries)
    .set({ payload: null })
    .where(
      sql`${deliveries.id} in (select ${deliveries.id} from ${deliveries} where ${deliveries.state} in ('done', 'rejected') and ${deliveries.payload} is not null and ${deliveries.processedAt} < ${before.toISOString()}::timestamptz limit ${batch})`,
    )
    .returning({ id: deliveries.id });
  return rows.length;
}
