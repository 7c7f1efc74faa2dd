// The durable inbox (README, Ingestion and Running more than one instance): a notification is recorded once under a unique key and acknowledged;
// workers in any number of processes claim rows with FOR UPDATE SKIP LOCKED.
import { and, eq, getTableColumns, gt, inArray, lt, lte, notInArray, sql } from "drizzle-orm";
import { alias } from "drizzle-orm/pg-core";
import { type Db, type Executor, executedRows, executePrepared } from "../db/client.js";
import { calendarSources, deliveries, deliveryPayloadParts, providers } from "../db/schema.js";
import { withTransaction } from "../db/tx.js";
import type { SourceRow } from "./calendar-sources.js";

export type DeliveryRow = typeof deliveries.$inferSelect;
export type DeliveryKind = DeliveryRow["kind"];

// Every column but the payload: a claim never carries it (see loadDeliveryPayload).
const { payload: _payload, ...claimedColumns } = getTableColumns(deliveries);

/**
 * Inserts once; the same key again is a no-op that still answers "accepted". With `rejectedWith`
 * the delivery is recorded already refused for good (malformed, over a cap): nothing will apply it,
 * and its lastErrorCode says why.
 */
export async function recordDelivery(
  db: Executor,
  d: { providerId: string; sourceId: string; deliveryKey: string; kind: DeliveryKind; at: Date; rejectedWith?: string },
): Promise<{ recorded: boolean; id?: number }> {
  const rows = await db
    .insert(deliveries)
    .values({
      providerId: d.providerId,
      sourceId: d.sourceId,
      deliveryKey: d.deliveryKey,
      kind: d.kind,
      receivedAt: d.at,
      availableAt: d.at,
      ...(d.rejectedWith ? { state: "rejected" as const, lastErrorCode: d.rejectedWith, processedAt: d.at } : {}),
    })
    .onConflictDoNothing({ target: [deliveries.sourceId, deliveries.deliveryKey] })
    .returning({ id: deliveries.id });
  return rows[0] ? { recorded: true, id: rows[0].id } : { recorded: false };
}

/**
 * Characters of ICS per stored part. On PGlite every statement runs on the event loop: one part is a
 * few milliseconds to write or read, where a whole 2 MiB payload in one value took ~100 ms.
 */
export const PAYLOAD_PART_CHARS = 128 * 1024;

/** Cuts `text` into parts of at most PAYLOAD_PART_CHARS, never between the halves of a surrogate pair. */
export function payloadParts(text: string): string[] {
  const parts: string[] = [];
  for (let at = 0; at < text.length; ) {
    let end = Math.min(text.length, at + PAYLOAD_PART_CHARS);
    const last = text.charCodeAt(end - 1);
    if (end < text.length && last >= 0xd800 && last <= 0xdbff) end--;
    parts.push(text.slice(at, end));
    at = end;
  }
  return parts;
}

/**
 * An ics_payload delivery: the inbox row and its ICS in parts, committed together (an acknowledged
 * delivery always has its whole payload). One part (most deliveries): a single statement, perhaps
 * shared with other deliveries (recordTogether). More: one transaction, one statement per part,
 * `pause` between them.
 */
export async function recordIcsDelivery(
  db: Db,
  d: { providerId: string; sourceId: string; deliveryKey: string; at: Date },
  ics: string,
  pause: () => Promise<void>,
): Promise<{ recorded: boolean }> {
  const parts = payloadParts(ics);
  if (parts.length <= 1) return recordTogether(db, { ...d, ics });
  return withTransaction(db, async (tx) => {
    const recorded = await recordDelivery(tx, { ...d, kind: "ics_payload" });
    if (recorded.id === undefined) return { recorded: false };
    for (let part = 0; part < parts.length; part++) {
      await pause();
      await tx.insert(deliveryPayloadParts).values({ deliveryId: recorded.id, part, text: parts[part]! });
    }
    return { recorded: true };
  });
}

type OnePart = { providerId: string; sourceId: string; deliveryKey: string; at: Date; ics: string };
type Waiting = OnePart & { settle(recorded: boolean): void; fail(err: unknown): void };

/** Statements recording one-part deliveries at once, at most, per database handle. */
const RECORDING_STATEMENTS = 4;
/** Deliveries per recording statement, at most. */
const RECORDING_BATCH = 64;
const recorders = new WeakMap<Db, { running: number; queue: Waiting[] }>();

/**
 * A one-part delivery, recorded in a statement it may share with others arriving meanwhile (group
 * commit): while RECORDING_STATEMENTS are running, new deliveries wait and go together in the next
 * one. Nothing waits for company: with a statement free, the delivery goes at once. Each caller is
 * answered only after the statement holding its row has committed.
 */
function recordTogether(db: Db, d: OnePart): Promise<{ recorded: boolean }> {
  let r = recorders.get(db);
  if (!r) {
    r = { running: 0, queue: [] };
    recorders.set(db, r);
  }
  const recorder = r;
  const answer = new Promise<{ recorded: boolean }>((resolve, reject) =>
    recorder.queue.push({ ...d, settle: (recorded) => resolve({ recorded }), fail: reject }),
  );
  const next = () => {
    while (recorder.running < RECORDING_STATEMENTS && recorder.queue.length > 0) {
      const batch = recorder.queue.splice(0, RECORDING_BATCH);
      recorder.running++;
      void recordBatch(db, batch).finally(() => {
        recorder.running--;
        next();
      });
    }
  };
  next();
  return answer;
}

async function recordBatch(db: Db, batch: Waiting[]): Promise<void> {
  // The same (source, key) twice in one batch: the first is recorded, the second is its duplicate.
  const first = new Map<string, Waiting>();
  const repeats: Waiting[] = [];
  for (const w of batch) {
    const k = `${w.sourceId} ${w.deliveryKey}`;
    if (first.has(k)) repeats.push(w);
    else first.set(k, w);
  }
  const rows = [...first.values()];
  try {
    const input = JSON.stringify(rows.map((w) => ({ p: w.providerId, s: w.sourceId, k: w.deliveryKey, a: w.at.toISOString(), t: w.ics })));
    const recorded = await executePrepared<{ s: string; k: string }>(
      db,
      sql`
      with input as (
        select * from json_to_recordset(${input}::json) as t(p uuid, s uuid, k text, a timestamptz, t text)
      ), recorded as (
        insert into ${deliveries} (provider_id, source_id, delivery_key, kind, received_at, available_at)
        select p, s, k, 'ics_payload', a, a from input
        on conflict (source_id, delivery_key) do nothing
        returning id, source_id, delivery_key
      ), stored as (
        insert into ${deliveryPayloadParts} (delivery_id, part, text)
        select recorded.id, 0, input.t from recorded join input on input.s = recorded.source_id and input.k = recorded.delivery_key
      )
      select source_id::text as s, delivery_key as k from recorded`,
    );
    const keys = new Set(recorded.map((r) => `${r.s} ${r.k}`));
    for (const w of rows) w.settle(keys.has(`${w.sourceId} ${w.deliveryKey}`));
    for (const w of repeats) w.settle(false);
  } catch (err) {
    // One delivery must not fail the others: on any error each is recorded again on its own.
    if (batch.length === 1) return batch[0]!.fail(err);
    await Promise.all(batch.map((w) => recordBatch(db, [w])));
  }
}

export type ClaimCandidate = { id: number; providerId: string; sourceId: string; availableAt: Date };

/**
 * A claimed delivery: every column but the payload (up to 2 MiB, read when processed), with its
 * provider's time zone and its source's row (what applying it needs first), in the claim's round trip.
 */
export type ClaimedDelivery = Omit<DeliveryRow, "payload"> & { timezone: string; source: SourceRow };

// The claim answers each delivery's source row too (deleted or not), under these keys.
const SOURCE_KEY = "source.";
const sourceColumns = Object.fromEntries(Object.entries(getTableColumns(calendarSources)).map(([k, c]) => [`${SOURCE_KEY}${k}`, c]));

function withSource(row: Record<string, unknown>): ClaimedDelivery {
  const delivery: Record<string, unknown> = {};
  const source: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(row)) {
    if (k.startsWith(SOURCE_KEY)) source[k.slice(SOURCE_KEY.length)] = v;
    else delivery[k] = v;
  }
  return { ...(delivery as Omit<ClaimedDelivery, "source">), source: source as SourceRow };
}

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
      .innerJoin(calendarSources, eq(calendarSources.providerId, providers.id))
      .where(
        and(
          eq(providers.id, deliveries.providerId),
          eq(calendarSources.id, deliveries.sourceId),
          sql`${deliveries.id} in (select ${deliveries.id} from ${deliveries} where ${deliveries.id} in (${ids}) and ${deliveries.state} = 'pending' and ${deliveries.availableAt} <= ${at} for update skip locked)`,
        ),
      )
      .returning({ ...claimedColumns, timezone: providers.timezone, ...sourceColumns });
    const order = new Map(want.map((c, i) => [c.id, i]));
    claimed.push(...rows.sort((a, b) => order.get(a.id)! - order.get(b.id)!).map(withSource));
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

/**
 * The ICS of a claimed ics_payload delivery, read part by part with `pause` between (a claim never
 * carries it); rows recorded before parts existed have it in `payload`. Empty once purged.
 */
export async function loadDeliveryIcs(db: Executor, id: number, pause: () => Promise<void>): Promise<string> {
  await pause();
  // The first two parts in one read: a one-part delivery (most) is then read in a single round trip.
  const parts = (
    await db
      .select({ text: deliveryPayloadParts.text })
      .from(deliveryPayloadParts)
      .where(and(eq(deliveryPayloadParts.deliveryId, id), lt(deliveryPayloadParts.part, 2)))
      .orderBy(deliveryPayloadParts.part)
  ).map((r) => r.text);
  while (parts.length >= 2) {
    await pause();
    const [row] = await db
      .select({ text: deliveryPayloadParts.text })
      .from(deliveryPayloadParts)
      .where(and(eq(deliveryPayloadParts.deliveryId, id), eq(deliveryPayloadParts.part, parts.length)));
    if (!row) break;
    parts.push(row.text);
  }
  if (parts.length > 0) return parts.join("");
  const [legacy] = await db.select({ payload: deliveries.payload }).from(deliveries).where(eq(deliveries.id, id));
  return String(legacy?.payload?.ics ?? "");
}

/**
 * Still pending (nobody finished it meanwhile), locked until the caller's transaction ends: a part
 * of a large delivery is applied only then (see the worker).
 */
export async function deliveryStillPending(tx: Executor, id: number): Promise<boolean> {
  const rows = await tx
    .select({ id: deliveries.id })
    .from(deliveries)
    .where(and(eq(deliveries.id, id), eq(deliveries.state, "pending")))
    .for("update");
  return rows.length > 0;
}

/** Characters of ICS that the deliveries following a claimed one may carry in all (see pendingPayloadsAfter). */
export const FOLLOWING_PAYLOAD_CHARS = 1024 * 1024;
/** Deliveries following a claimed one, at most, applied with it. */
export const MAX_FOLLOWING = 64;

export type FollowingPayload = { id: number; ics: string };

/**
 * A claimed ics_payload delivery's ICS (null when it is stored in more than one part: read it with
 * loadDeliveryIcs) and, when it is one part, the ics_payload deliveries of its source recorded after
 * it and waiting now, in order, with their ICS: the ones a worker applies together with it (README,
 * Ingestion). One round trip. Only an unbroken run follows: it ends before the first delivery that
 * is not a due, unclaimed, one-part ICS payload, or that would take the run over
 * FOLLOWING_PAYLOAD_CHARS or MAX_FOLLOWING. What is left is claimed later on its own, so no delivery
 * is ever applied before one recorded earlier.
 */
export async function loadPayloadRun(
  db: Executor,
  lead: Pick<DeliveryRow, "id" | "sourceId">,
  now: Date,
): Promise<{ ics: string | null; following: FollowingPayload[] }> {
  const at = sql`${now.toISOString()}::timestamptz`;
  const result = await db.execute(sql`
    select id, usable, parts, text from (
      select *, sum(coalesce(length(text), 0)) over w - first_value(coalesce(length(text), 0)) over w as after_lead
      from (
        select d.id,
          d.kind = 'ics_payload' and d.available_at <= ${at} and (d.claimed_until is null or d.claimed_until <= ${at}) and d.payload is null as usable,
          (select count(*)::int from ${deliveryPayloadParts} q where q.delivery_id = d.id) as parts,
          p.text
        from ${deliveries} d
        left join ${deliveryPayloadParts} p on p.delivery_id = d.id and p.part = 0
        where d.source_id = ${lead.sourceId}::uuid and d.state = 'pending' and d.id >= ${lead.id}
        order by d.id
        limit ${MAX_FOLLOWING + 1}
      ) waiting
      window w as (order by id)
    ) run
    where id = ${lead.id} or after_lead <= ${FOLLOWING_PAYLOAD_CHARS}
    order by id`);
  const rows = executedRows<{ id: number | string; usable: boolean; parts: number; text: string | null }>(result);
  const [first, ...rest] = rows;
  if (!first || Number(first.id) !== lead.id || first.parts !== 1 || first.text === null) return { ics: null, following: [] };
  const following: FollowingPayload[] = [];
  for (const r of rest) {
    if (!r.usable || r.parts !== 1 || r.text === null) break;
    following.push({ id: Number(r.id), ics: r.text });
  }
  return { ics: first.text, following };
}

/** The events a delivery carried that were set aside (listed on it for the provider to see); none, no write. */
export async function recordSetAside(tx: Executor, id: number, setAside: readonly { externalId: string; reason: string }[]): Promise<void> {
  if (setAside.length)
    await tx
      .update(deliveries)
      .set({ setAside: [...setAside] })
      .where(eq(deliveries.id, id));
}

/**
 * Marks the deliveries following a claimed one done, in the transaction that applies them with it.
 * Answers the unbroken run from the first of `ids` that were still waiting and unclaimed; any after
 * a gap (another worker took one meanwhile) are left pending, to be applied in their turn.
 */
export async function completeFollowing(tx: Executor, ids: readonly number[], now: Date): Promise<number[]> {
  if (ids.length === 0) return [];
  const at = sql`${now.toISOString()}::timestamptz`;
  const done = new Set(
    (
      await tx
        .update(deliveries)
        .set({ state: "done", processedAt: now, lastErrorCode: null, claimedUntil: null })
        .where(
          and(
            inArray(deliveries.id, [...ids]),
            eq(deliveries.state, "pending"),
            sql`(${deliveries.claimedUntil} is null or ${deliveries.claimedUntil} <= ${at})`,
          ),
        )
        .returning({ id: deliveries.id })
    ).map((r) => r.id),
  );
  const gap = ids.findIndex((id) => !done.has(id));
  if (gap === -1) return [...ids];
  const after = ids.slice(gap).filter((id) => done.has(id));
  if (after.length) await tx.update(deliveries).set({ state: "pending", processedAt: null }).where(inArray(deliveries.id, after));
  return ids.slice(0, gap);
}

/**
 * Marks done inside the transaction that applied it: applied and done commit together. With
 * `lockSource`, the same statement then takes that source's transaction-scoped advisory lock (one
 * source at a time across all processes), once the delivery is known to be still pending.
 */
export async function completeDelivery(tx: Executor, id: number, now: Date, lockSource?: string): Promise<boolean> {
  const rows = await tx
    .update(deliveries)
    .set({ state: "done", processedAt: now, lastErrorCode: null, claimedUntil: null })
    .where(and(eq(deliveries.id, id), eq(deliveries.state, "pending")))
    // RETURNING is computed for the updated row only, after its update.
    .returning({
      id: deliveries.id,
      ...(lockSource !== undefined ? { locked: sql`pg_advisory_xact_lock(hashtext(${lockSource}::text))::text` } : {}),
    });
  return rows.length > 0;
}

export const MAX_ATTEMPTS = 12;

/**
 * Exponential backoff capped at an hour; after MAX_ATTEMPTS the row stays, as `failed`, for an
 * operator. `reject`: refused for good (over a cap, unreadable); the row keeps why.
 */
export async function retryDelivery(
  db: Executor,
  d: Pick<DeliveryRow, "id" | "attempts">,
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

/** Stored parts deleted per retention statement: 4 MiB of text at most, a few milliseconds of work. */
const PURGE_PARTS = 32;

/**
 * Retention: payloads of finished deliveries (done or rejected) processed before `before` are
 * deleted (their stored parts, or the older `payload` value set to null); the rows stay for the
 * audit trail. At most `batch` rows and PURGE_PARTS parts per call, so no statement runs long.
 * Answers how many rows and parts it cleared (0: nothing left).
 */
export async function purgeDeliveryPayloads(db: Executor, before: Date, batch = 500): Promise<number> {
  const finishedBefore = sql`${deliveries.state} in ('done', 'rejected') and ${deliveries.processedAt} < ${before.toISOString()}::timestamptz`;
  const legacy = await db
    .update(deliveries)
    .set({ payload: null })
    .where(
      sql`${deliveries.id} in (select ${deliveries.id} from ${deliveries} where ${finishedBefore} and ${deliveries.payload} is not null limit ${batch})`,
    )
    .returning({ id: deliveries.id });
  const parts = await db
    .delete(deliveryPayloadParts)
    .where(
      sql`(${deliveryPayloadParts.deliveryId}, ${deliveryPayloadParts.part}) in (select p.delivery_id, p.part from ${deliveryPayloadParts} p join ${deliveries} on ${deliveries.id} = p.delivery_id where ${finishedBefore} limit ${Math.min(batch, PURGE_PARTS)})`,
    )
    .returning({ deliveryId: deliveryPayloadParts.deliveryId });
  return legacy.length + parts.length;
}
