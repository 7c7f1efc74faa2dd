// Apply the current state of external events to our sessions, in the caller's transaction.
import { and, eq, inArray, isNotNull, isNull, ne, or, sql } from "drizzle-orm";
import { type Db, type Executor, executedRows } from "../db/client.js";
import { calendarSources, externalEvents, sessions, telehealthLinks } from "../db/schema.js";
import { withTransaction } from "../db/tx.js";
import { type ExternalEvent, eventDefect, setAsideRef } from "../domain/external-event.js";
import { effectOnSession, isStale } from "../domain/reconciliation.js";
import { resolveSessionTimes } from "../domain/sessions.js";
import { findLinksInText, sameMeetingLink } from "../domain/telehealth-link.js";
import { recordAudit } from "./audit.js";
import type { SourceRow } from "./calendar-sources.js";
import { type SessionRow, writeSessionChange } from "./sessions.js";

export type SetAsideEvent = { externalId: string; reason: string };
export type ApplyStats = {
  seen: number;
  stale: number;
  rescheduled: number;
  cancelled: number;
  held: number;
  unchanged: number;
  setAside: SetAsideEvent[];
};

/**
 * Rows per lookup or multi-row write, and events per slice of matching: on PGlite each statement runs
 * on the event loop (building a 100-row upsert and running it is ~15 ms), so the caller's pause
 * between chunks is what lets other requests in.
 */
const CHUNK = 100;
/** Rows per multi-row upsert: drizzle builds ~0.1 ms of parameters a row before PGlite runs it. */
const WRITE_CHUNK = 50;
/** Set-aside events listed on the delivery; the count is in the log line. */
const MAX_SET_ASIDE_LISTED = 50;
const chunks = <T>(xs: T[], size = CHUNK) => Array.from({ length: Math.ceil(xs.length / size) }, (_, i) => xs.slice(i * size, (i + 1) * size));

type MirrorRow = typeof externalEvents.$inferInsert;
const MIRROR_COLUMNS = [
  "uid",
  "recurrenceId",
  "status",
  "startAt",
  "endAt",
  "sequence",
  "externalUpdatedAt",
  "busy",
  "providerLink",
  "sessionId",
  "seenAt",
  "cancellationHeldAt",
] as const;
const snake = (k: string) => k.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);
/** ON CONFLICT DO UPDATE takes each column from the row that was proposed (PostgreSQL INSERT docs: EXCLUDED). */
const fromExcluded = Object.fromEntries(MIRROR_COLUMNS.map((k) => [k, sql.raw(`excluded.${snake(k)}`)]));

export type ApplyOptions = {
  snapshot: boolean;
  /**
   * With `snapshot`, when `events` is only the last part of the source's whole state (the earlier
   * parts applied in transactions of their own): the external ids of all of it that have no defect.
   */
  snapshotIds?: ReadonlySet<string>;
  now: Date;
  /** Called between slices of work, to let the event loop serve others (the worker passes setImmediate). */
  pause?: () => Promise<void>;
};

/**
 * Upserts each event into the source's mirror and applies its effect to the matched session.
 * `snapshot`: the events are the source's whole state (a full sync); mirror rows not in it are
 * dropped from the mirror, but no session is ever cancelled for being absent (README, Ingestion: a full resync merges).
 * An event that cannot be stored or matched as given is set aside with its reason; the rest applies.
 * A cancellation while the provider watches other calendars too is held, not applied: see
 * settleHeldCancellations.
 */
export async function applyExternalEvents(tx: Executor, source: SourceRow, events: ExternalEvent[], opts: ApplyOptions): Promise<ApplyStats> {
  const stats: ApplyStats = { seen: events.length, stale: 0, rescheduled: 0, cancelled: 0, held: 0, unchanged: 0, setAside: [] };
  const pause = opts.pause ?? (async () => {});
  const providerId = source.providerId;
  // Later duplicates of one externalId win within a batch only if newer.
  const byId = new Map<string, ExternalEvent>();
  let setAside = 0;
  let checked = 0;
  for (const e of events) {
    if (++checked % CHUNK === 0) await pause();
    const defect = eventDefect(e);
    if (defect) {
      if (++setAside <= MAX_SET_ASIDE_LISTED) stats.setAside.push({ externalId: setAsideRef(e.externalId), reason: defect });
      continue;
    }
    const prev = byId.get(e.externalId);
    if (!prev || !isStale(e, { sequence: prev.sequence, updatedAt: prev.updatedAt ? new Date(prev.updatedAt) : null, status: prev.status }))
      byId.set(e.externalId, e);
  }
  const incoming = [...byId.values()];

  // Lookups by key, through the primary key and the sessions' uid indexes.
  const stored = new Map<string, typeof externalEvents.$inferSelect>();
  for (const ids of chunks(incoming.map((e) => e.externalId))) {
    const rows = await tx
      .select()
      .from(externalEvents)
      .where(and(eq(externalEvents.sourceId, source.id), inArray(externalEvents.externalId, ids)));
    for (const r of rows) stored.set(r.externalId, r);
    await pause();
  }
  // Deletion stubs (Google's id-only cancelled events) carry no UID: use the one stored earlier.
  const uids = new Set<string>();
  const sessionIds = new Set<string>();
  for (const e of incoming) {
    if (e.uid) uids.add(e.uid);
    if (e.sessionId && /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(e.sessionId)) sessionIds.add(e.sessionId);
  }
  for (const r of stored.values()) {
    if (r.uid) uids.add(r.uid);
    if (r.sessionId) sessionIds.add(r.sessionId);
  }
  const candidates: SessionRow[] = [];
  for (const part of chunks([...uids])) {
    candidates.push(
      ...(await tx
        .select()
        .from(sessions)
        .where(and(eq(sessions.providerId, providerId), or(inArray(sessions.uid, part), inArray(sessions.externalUid, part))))),
    );
    await pause();
  }
  for (const part of chunks([...sessionIds])) {
    candidates.push(
      ...(await tx
        .select()
        .from(sessions)
        .where(and(eq(sessions.providerId, providerId), inArray(sessions.id, part)))),
    );
    await pause();
  }
  const byUid = new Map(candidates.map((s) => [s.uid, s]));
  const bySessionId = new Map(candidates.map((s) => [s.id, s]));
  const byExternal = new Map(
    candidates.filter((s) => s.externalUid).map((s) => [`${s.externalUid}|${s.externalRecurrenceId?.toISOString() ?? ""}`, s]),
  );

  const { providerLinks, watchesOthers } = await providerContext(tx, providerId, source.id);
  await pause();

  const rows: MirrorRow[] = [];
  let looked = 0;
  for (const e of incoming) {
    if (++looked % CHUNK === 0) await pause();
    const prev = stored.get(e.externalId) ?? null;
    if (isStale(e, prev ? { sequence: prev.sequence, updatedAt: prev.externalUpdatedAt, status: prev.status } : null)) {
      stats.stale++;
      continue;
    }
    // Match: explicit session id, our UID, an external instance we were told of, or what we matched before.
    const uid = e.uid ?? prev?.uid ?? undefined;
    const recurrenceId = e.recurrenceId ? new Date(e.recurrenceId) : (prev?.recurrenceId ?? null);
    const session =
      (e.sessionId ? bySessionId.get(e.sessionId) : undefined) ??
      (uid && !recurrenceId ? byUid.get(uid) : undefined) ??
      (uid ? byExternal.get(`${uid}|${recurrenceId?.toISOString() ?? ""}`) : undefined) ??
      (prev?.sessionId ? bySessionId.get(prev.sessionId) : undefined) ??
      null;

    const texts = e.texts.flatMap((t) => findLinksInText(t));
    const providerLink = session ? null : (texts.find((l) => providerLinks.some((p) => sameMeetingLink(l, p))) ?? null);
    const effect = effectOnSession(e, session);
    const hold = effect.kind === "cancel_session" && watchesOthers;
    rows.push({
      providerId,
      sourceId: source.id,
      externalId: e.externalId,
      uid: uid ?? null,
      recurrenceId,
      status: e.status,
      // A deletion stub keeps the times we last knew.
      startAt: e.start ? new Date(e.start) : (prev?.startAt ?? null),
      endAt: e.end ? new Date(e.end) : (prev?.endAt ?? null),
      sequence: e.sequence,
      externalUpdatedAt: e.updatedAt ? new Date(e.updatedAt) : (prev?.externalUpdatedAt ?? null),
      busy: e.busy && !e.allDay,
      providerLink,
      sessionId: session?.id ?? null,
      seenAt: opts.now,
      cancellationHeldAt: hold ? (prev?.cancellationHeldAt ?? opts.now) : null,
    });

    if (hold) {
      stats.held++;
    } else if (effect.kind === "cancel_session" && session) {
      const updated = await writeSessionChange(tx, session, { status: "cancelled", cancelledAt: opts.now }, opts.now);
      bySessionId.set(updated.id, updated);
      await recordAudit(tx, {
        providerId,
        principal: "system",
        action: "session.cancelled_externally",
        subjectId: session.id,
        at: opts.now,
        data: { sourceId: source.id },
      });
      stats.cancelled++;
    } else if (effect.kind === "reschedule_session" && session) {
      const times = resolveSessionTimes({ start: effect.start, end: effect.end });
      if (!times.ok) {
        stats.unchanged++;
        continue;
      }
      const updated = await writeSessionChange(tx, session, { startAt: times.start, endAt: times.end }, opts.now);
      bySessionId.set(updated.id, updated);
      await recordAudit(tx, {
        providerId,
        principal: "system",
        action: "session.rescheduled_externally",
        subjectId: session.id,
        at: opts.now,
        data: { sourceId: source.id },
      });
      stats.rescheduled++;
    } else {
      stats.unchanged++;
    }
  }

  for (const part of chunks(rows, WRITE_CHUNK)) {
    await tx
      .insert(externalEvents)
      .values(part)
      .onConflictDoUpdate({ target: [externalEvents.sourceId, externalEvents.externalId], set: fromExcluded });
    await pause();
  }

  if (opts.snapshot) {
    // Absent from a full state: gone from the mirror (no busy time), sessions untouched.
    const keep = opts.snapshotIds ?? new Set(incoming.map((e) => e.externalId));
    await pause();
    const present = await tx.select({ externalId: externalEvents.externalId }).from(externalEvents).where(eq(externalEvents.sourceId, source.id));
    await pause();
    const gone = present.map((r) => r.externalId).filter((id) => !keep.has(id));
    for (const part of chunks(gone)) {
      await tx.delete(externalEvents).where(and(eq(externalEvents.sourceId, source.id), inArray(externalEvents.externalId, part)));
      await pause();
    }
  }
  stats.setAside = listedSetAside(stats.setAside, setAside);
  return stats;
}

/** A delivery's set-aside events as it lists them: the first MAX_SET_ASIDE_LISTED, then how many more. */
function listedSetAside(first: SetAsideEvent[], total: number): SetAsideEvent[] {
  const listed = first.slice(0, MAX_SET_ASIDE_LISTED);
  if (total > listed.length) listed.push({ externalId: `(${total - listed.length} more)`, reason: "event_set_aside" });
  return listed;
}

/** The events of `events` that cannot be applied as given, listed as applyExternalEvents lists them. */
export function setAsideOf(events: readonly ExternalEvent[]): SetAsideEvent[] {
  const first: SetAsideEvent[] = [];
  let total = 0;
  for (const e of events) {
    const defect = eventDefect(e);
    if (defect && ++total <= MAX_SET_ASIDE_LISTED) first.push({ externalId: setAsideRef(e.externalId), reason: defect });
  }
  return listedSetAside(first, total);
}

/** Counts of two applications of one delivery's parts, added up; set-aside events listed once. */
export function addApplyStats(a: ApplyStats, b: ApplyStats): ApplyStats {
  return {
    seen: a.seen + b.seen,
    stale: a.stale + b.stale,
    rescheduled: a.rescheduled + b.rescheduled,
    cancelled: a.cancelled + b.cancelled,
    held: a.held + b.held,
    unchanged: a.unchanged + b.unchanged,
    setAside: [...a.setAside, ...b.setAside],
  };
}

/** Longest a held cancellation waits for the provider's other sources to have their pass. */
export const MAX_CANCELLATION_HOLD_MS = 15 * 60_000;

/**
 * Decides held cancellations once every other live source of the provider has synced since the
 * hold began (or the hold is MAX_CANCELLATION_HOLD_MS old): if another watched calendar holds the
 * same event, live, it moved there and the session stays; otherwise the session is cancelled.
 */
export async function settleHeldCancellations(db: Db, now: Date, providerId?: string): Promise<{ cancelled: number; moved: number }> {
  const result = { cancelled: 0, moved: 0 };
  const held = await db
    .select()
    .from(externalEvents)
    .where(and(isNotNull(externalEvents.cancellationHeldAt), providerId ? eq(externalEvents.providerId, providerId) : undefined))
    .limit(500);
  for (const row of held) {
    await withTransaction(db, async (tx) => {
      const others = await tx
        .select({ id: calendarSources.id, lastSyncedAt: calendarSources.lastSyncedAt })
        .from(calendarSources)
        .where(and(eq(calendarSources.providerId, row.providerId), isNull(calendarSources.deletedAt), ne(calendarSources.id, row.sourceId)));
      const heldAt = row.cancellationHeldAt!;
      const allSynced = others.every((o) => o.lastSyncedAt && o.lastSyncedAt >= heldAt);
      if (!allSynced && now.getTime() - heldAt.getTime() < MAX_CANCELLATION_HOLD_MS) return;
      // Claim the hold: another worker settling the same row finds it gone.
      const claimed = await tx
        .update(externalEvents)
        .set({ cancellationHeldAt: null })
        .where(
          and(eq(externalEvents.sourceId, row.sourceId), eq(externalEvents.externalId, row.externalId), isNotNull(externalEvents.cancellationHeldAt)),
        )
        .returning({ sessionId: externalEvents.sessionId });
      const sessionId = claimed[0]?.sessionId;
      if (!sessionId) return;
      const sameEvent = or(
        eq(externalEvents.sessionId, sessionId),
        row.uid
          ? and(
              eq(externalEvents.uid, row.uid),
              row.recurrenceId ? eq(externalEvents.recurrenceId, row.recurrenceId) : isNull(externalEvents.recurrenceId),
            )
          : undefined,
      );
      const elsewhere = await tx
        .select({ sourceId: externalEvents.sourceId })
        .from(externalEvents)
        .innerJoin(calendarSources, and(eq(calendarSources.id, externalEvents.sourceId), isNull(calendarSources.deletedAt)))
        .where(
          and(
            eq(externalEvents.providerId, row.providerId),
            ne(externalEvents.sourceId, row.sourceId),
            ne(externalEvents.status, "cancelled"),
            sameEvent,
          ),
        )
        .limit(1);
      if (elsewhere[0]) {
        await recordAudit(tx, {
          providerId: row.providerId,
          principal: "system",
          action: "session.moved_between_calendars",
          subjectId: sessionId,
          at: now,
          data: { from: row.sourceId, to: elsewhere[0].sourceId },
        });
        result.moved++;
        return;
      }
      const [session] = await tx.select().from(sessions).where(eq(sessions.id, sessionId)).for("update");
      if (!session || effectOnSession({ ...toEffectInput(row) }, session).kind !== "cancel_session") return;
      await writeSessionChange(tx, session, { status: "cancelled", cancelledAt: now }, now);
      await recordAudit(tx, {
        providerId: row.providerId,
        principal: "system",
        action: "session.cancelled_externally",
        subjectId: sessionId,
        at: now,
        data: { sourceId: row.sourceId },
      });
      result.cancelled++;
    });
  }
  return result;
}

const toEffectInput = (row: typeof externalEvents.$inferSelect): ExternalEvent => ({
  externalId: row.externalId,
  status: "cancelled",
  sequence: row.sequence,
  busy: false,
  texts: [],
});

/**
 * In one round trip: the links that make an external event "one of ours" (the provider's current
 * default link and sessions' own links), and whether the provider watches calendars other than
 * `sourceId` (then a cancellation is held, see settleHeldCancellations).
 */
async function providerContext(tx: Executor, providerId: string, sourceId: string): Promise<{ providerLinks: string[]; watchesOthers: boolean }> {
  const result = await tx.execute(sql`
    select
      (select ${telehealthLinks.url} from ${telehealthLinks}
        where ${telehealthLinks.providerId} = ${providerId}::uuid and ${telehealthLinks.retiredAt} is null and ${telehealthLinks.isDefault}) as link,
      (select coalesce(json_agg(distinct ${sessions.telehealthUrl}), '[]'::json)::text from ${sessions}
        where ${sessions.providerId} = ${providerId}::uuid and ${sessions.telehealthUrl} is not null) as own,
      exists (select 1 from ${calendarSources}
        where ${calendarSources.providerId} = ${providerId}::uuid and ${calendarSources.deletedAt} is null and ${calendarSources.id} <> ${sourceId}::uuid) as watches`);
  const [row] = executedRows<{ link: string | null; own: string; watches: boolean }>(result);
  return {
    providerLinks: [...(row?.link ? [row.link] : []), ...(JSON.parse(row?.own ?? "[]") as string[])],
    watchesOthers: row?.watches === true,
  };
}
