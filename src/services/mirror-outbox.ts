// The write-back outbox (the transactional outbox pattern): a change to what a calendar shows for a
// session writes a row here in the same transaction, so a committed change is never lost and a
// rolled-back one is never sent. The delivery worker (src/ingest/mirror-worker.ts) claims rows with
// FOR UPDATE SKIP LOCKED and a lease, one (mirror, session) at a time, and always sends the
// session's current state: a later change supersedes an earlier one, so order per session holds.
import { and, asc, eq, isNull, lte, or, sql } from "drizzle-orm";
import type { Db, Executor } from "../db/client.js";
import { calendarMirrors, mirrorOutbox } from "../db/schema.js";
import { withTransaction } from "../db/tx.js";

/** Work of one delivery: how long others keep off a claimed row. */
export const OUTBOX_LEASE_MS = 60_000;
/** After this many failed attempts a row is `failed` (shown as stuck on the settings page). */
export const OUTBOX_MAX_ATTEMPTS = 12;

export type OutboxClaim = { id: number; providerId: string; mirrorId: string; sessionId: string; version: number; attempts: number };

/**
 * Arms one outbox row per live mirror of the provider for each session. Called from the one place
 * feeds are marked changed (bumpFeedVersion); without a mirror it is a single query that inserts nothing.
 */
export async function enqueueMirrorWrites(tx: Executor, providerId: string, sessionIds: readonly string[]): Promise<void> {
  if (sessionIds.length === 0) return;
  const ids = sql.join(
    [...new Set(sessionIds)].map((id) => sql`(${id}::uuid)`),
    sql`, `,
  );
  await tx.execute(sql`
    insert into mirror_outbox (provider_id, mirror_id, session_id)
    select m.provider_id, m.id, s.id
    from calendar_mirrors m cross join (values ${ids}) as s(id)
    where m.provider_id = ${providerId} and m.disabled_at is null
    on conflict (mirror_id, session_id) do update
      set version = mirror_outbox.version + 1, state = 'pending', attempts = 0, next_attempt_at = null,
          last_error_code = null, updated_at = now()`);
}

/** Every session of a mirror, when it is created, reconnected or repaired. */
export async function enqueueMirrorSessions(tx: Executor, mirrorId: string, sessionIds: readonly string[]): Promise<void> {
  const [m] = await tx.select().from(calendarMirrors).where(eq(calendarMirrors.id, mirrorId));
  if (!m || sessionIds.length === 0) return;
  for (let i = 0; i < sessionIds.length; i += 500) {
    const ids = sql.join(
      sessionIds.slice(i, i + 500).map((id) => sql`(${id}::uuid)`),
      sql`, `,
    );
    await tx.execute(sql`
      insert into mirror_outbox (provider_id, mirror_id, session_id)
      select ${m.providerId}::uuid, ${m.id}::uuid, s.id from (values ${ids}) as s(id)
      on conflict (mirror_id, session_id) do update
        set version = mirror_outbox.version + 1, state = 'pending', attempts = 0, next_attempt_at = null,
            last_error_code = null, updated_at = now()`);
  }
}

/** Claims up to `limit` due rows for `now + lease`; a row already leased or locked is skipped. */
export async function claimOutbox(db: Db, now: Date, limit: number): Promise<OutboxClaim[]> {
  return withTransaction(db, async (tx) => {
    const due = await tx
      .select({
        id: mirrorOutbox.id,
        providerId: mirrorOutbox.providerId,
        mirrorId: mirrorOutbox.mirrorId,
        sessionId: mirrorOutbox.sessionId,
        version: mirrorOutbox.version,
        attempts: mirrorOutbox.attempts,
      })
      .from(mirrorOutbox)
      .where(
        and(
          eq(mirrorOutbox.state, "pending"),
          or(isNull(mirrorOutbox.nextAttemptAt), lte(mirrorOutbox.nextAttemptAt, now)),
          or(isNull(mirrorOutbox.claimedUntil), lte(mirrorOutbox.claimedUntil, now)),
        ),
      )
      .orderBy(asc(mirrorOutbox.id))
      .limit(limit)
      .for("update", { skipLocked: true });
    if (due.length === 0) return [];
    const until = new Date(now.getTime() + OUTBOX_LEASE_MS);
    await tx
      .update(mirrorOutbox)
      .set({ claimedUntil: until })
      .where(
        sql`${mirrorOutbox.id} in (${sql.join(
          due.map((d) => sql`${d.id}`),
          sql`, `,
        )})`,
      );
    return due;
  });
}

/** Done, unless a change re-armed the row meanwhile (then it stays pending for the next pass). */
export async function completeOutbox(db: Executor, claim: OutboxClaim): Promise<void> {
  await db
    .update(mirrorOutbox)
    .set({
      state: sql`case when ${mirrorOutbox.version} = ${claim.version} then 'done' else 'pending' end`,
      claimedUntil: null,
      updatedAt: sql`now()`,
    })
    .where(eq(mirrorOutbox.id, claim.id));
}

/** A failed attempt: retried at `retryAt` (backoff, Retry-After), or `failed` for good. */
export async function failOutbox(db: Executor, claim: OutboxClaim, code: string, retryAt: Date | null): Promise<void> {
  const attempts = claim.attempts + 1;
  const giveUp = retryAt === null || attempts >= OUTBOX_MAX_ATTEMPTS;
  await db
    .update(mirrorOutbox)
    .set({
      attempts: sql`case when ${mirrorOutbox.version} = ${claim.version} then ${attempts} else 0 end`,
      state: giveUp ? sql`case when ${mirrorOutbox.version} = ${claim.version} then 'failed' else 'pending' end` : "pending",
      nextAttemptAt: giveUp ? null : retryAt,
      lastErrorCode: code,
      claimedUntil: null,
      updatedAt: sql`now()`,
    })
    .where(eq(mirrorOutbox.id, claim.id));
}

/** Releases a claim untouched (the mirror is paused): the row waits, pending. */
export async function releaseOutbox(db: Executor, claim: OutboxClaim, retryAt: Date): Promise<void> {
  await db.update(mirrorOutbox).set({ claimedUntil: null, nextAttemptAt: retryAt }).where(eq(mirrorOutbox.id, claim.id));
}

/** Counts for the settings page: rows still to send and rows given up on. */
export async function outboxBacklog(db: Executor, mirrorId: string): Promise<{ pending: number; stuck: number }> {
  const [r] = await db
    .select({
      pending: sql<number>`count(*) filter (where ${mirrorOutbox.state} = 'pending')::int`,
      stuck: sql<number>`count(*) filter (where ${mirrorOutbox.state} = 'failed' or (${mirrorOutbox.state} = 'pending' and ${mirrorOutbox.attempts} >= 3))::int`,
    })
    .from(mirrorOutbox)
    .where(eq(mirrorOutbox.mirrorId, mirrorId));
  return { pending: r?.pending ?? 0, stuck: r?.stuck ?? 0 };
}
