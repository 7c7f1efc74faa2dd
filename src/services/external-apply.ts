// SPEC 6: apply the current state of external events to our sessions, in the caller's transaction.
import { and, eq, inArray, isNotNull, notInArray, or } from "drizzle-orm";
import type { Executor } from "../db/client.js";
import { externalEvents, sessions } from "../db/schema.js";
import type { ExternalEvent } from "../domain/external-event.js";
import { effectOnSession, isStale } from "../domain/reconciliation.js";
import { resolveSessionTimes } from "../domain/sessions.js";
import { findLinksInText, sameMeetingLink } from "../domain/telehealth-link.js";
import { recordAudit } from "./audit.js";
import type { SourceRow } from "./calendar-sources.js";
import { writeSessionChange, type SessionRow } from "./sessions.js";
import { loadTelehealthLink } from "./telehealth-links.js";

export type ApplyStats = { seen: number; stale: number; rescheduled: number; cancelled: number; unchanged: number };

const CHUNK = 500;
const chunks = <T>(xs: T[]) => Array.from({ length: Math.ceil(xs.length / CHUNK) }, (_, i) => xs.slice(i * CHUNK, (i + 1) * CHUNK));

/**
 * Upserts each event into the source's mirror and applies its effect to the matched session.
 * `snapshot`: the events are the source's whole state (a full sync); mirror rows not in it are
 * dropped from the mirror, but no session is ever cancelled for being absent (SPEC 6: no mass-cancel).
 */
export async function applyExternalEvents(
  tx: Executor,
  source: SourceRow,
  events: ExternalEvent[],
  opts: { snapshot: boolean; now: Date },
): Promise<ApplyStats> {
  const stats: ApplyStats = { seen: events.length, stale: 0, rescheduled: 0, cancelled: 0, unchanged: 0 };
  const providerId = source.providerId;
  // Later duplicates of one externalId win within a batch only if newer; sort keeps it deterministic.
  const byId = new Map<string, ExternalEvent>();
  for (const e of events) {
    const prev = byId.get(e.externalId);
    if (!prev || !isStale(e, { sequence: prev.sequence, updatedAt: prev.updatedAt ? new Date(prev.updatedAt) : null, status: prev.status })) byId.set(e.externalId, e);
  }
  const incoming = [...byId.values()];

  const stored = new Map<string, typeof externalEvents.$inferSelect>();
  for (const ids of chunks(incoming.map((e) => e.externalId))) {
    const rows = await tx.select().from(externalEvents).where(and(eq(externalEvents.sourceId, source.id), inArray(externalEvents.externalId, ids)));
    for (const r of rows) stored.set(r.externalId, r);
  }

  // Deletion stubs (Google's id-only cancelled events) carry no UID: use the one stored earlier.
  const uids = [...new Set([...incoming.map((e) => e.uid), ...[...stored.values()].map((r) => r.uid)].filter((u): u is string => !!u))];
  const sessionIds = [
    ...new Set([
      ...incoming.map((e) => e.sessionId).filter((s): s is string => !!s && /^[0-9a-f-]{36}$/i.test(s)),
      ...[...stored.values()].map((r) => r.sessionId).filter((s): s is string => !!s),
    ]),
  ];
  const candidates: SessionRow[] = [];
  for (const part of chunks([...uids, ...sessionIds])) {
    const partUids = part.filter((x) => uids.includes(x));
    const partIds = part.filter((x) => sessionIds.includes(x));
    const conds = [
      partUids.length ? inArray(sessions.uid, partUids) : undefined,
      partUids.length ? inArray(sessions.externalUid, partUids) : undefined,
      partIds.length ? inArray(sessions.id, partIds) : undefined,
    ].filter((c) => c !== undefined);
    if (conds.length) candidates.push(...(await tx.select().from(sessions).where(and(eq(sessions.providerId, providerId), or(...conds)))));
  }
  const byUid = new Map(candidates.map((s) => [s.uid, s]));
  const bySessionId = new Map(candidates.map((s) => [s.id, s]));
  const byExternal = new Map(candidates.filter((s) => s.externalUid).map((s) => [`${s.externalUid}|${s.externalRecurrenceId?.toISOString() ?? ""}`, s]));

  const providerLinks = await providerLinksOf(tx, providerId);

  for (const e of incoming) {
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
    const values = {
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
    };
    await tx.insert(externalEvents).values(values).onConflictDoUpdate({ target: [externalEvents.sourceId, externalEvents.externalId], set: values });

    const effect = effectOnSession(e, session);
    if (effect.kind === "cancel_session" && session) {
      const updated = await writeSessionChange(tx, session, { status: "cancelled", cancelledAt: opts.now }, opts.now);
      bySessionId.set(updated.id, updated);
      await recordAudit(tx, { providerId, principal: "system", action: "session.cancelled_externally", subjectId: session.id, at: opts.now, data: { sourceId: source.id } });
      stats.cancelled++;
    } else if (effect.kind === "reschedule_session" && session) {
      const times = resolveSessionTimes({ start: effect.start, end: effect.end });
      if (!times.ok) {
        stats.unchanged++;
        continue;
      }
      const updated = await writeSessionChange(tx, session, { startAt: times.start, endAt: times.end }, opts.now);
      bySessionId.set(updated.id, updated);
      await recordAudit(tx, { providerId, principal: "system", action: "session.rescheduled_externally", subjectId: session.id, at: opts.now, data: { sourceId: source.id } });
      stats.rescheduled++;
    } else {
      stats.unchanged++;
    }
  }

  if (opts.snapshot) {
    const keep = incoming.map((e) => e.externalId);
    // Absent from a full state: gone from the mirror (no busy time), sessions untouched.
    if (keep.length === 0) await tx.delete(externalEvents).where(eq(externalEvents.sourceId, source.id));
    else if (keep.length <= 10_000) {
      await tx.delete(externalEvents).where(and(eq(externalEvents.sourceId, source.id), notInArray(externalEvents.externalId, keep)));
    }
  }
  return stats;
}

/** The links that make an external event "one of ours": the default link and sessions' own links. */
async function providerLinksOf(tx: Executor, providerId: string): Promise<string[]> {
  const link = await loadTelehealthLink(tx, providerId);
  const own = await tx
    .selectDistinct({ url: sessions.telehealthUrl })
    .from(sessions)
    .where(and(eq(sessions.providerId, providerId), isNotNull(sessions.telehealthUrl)));
  return [...(link ? [link.url] : []), ...own.map((r) => r.url!)];
}
