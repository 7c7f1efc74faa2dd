// Events read back from a calendar we write to (write-back): our own writes come back through push
// notifications and incremental sync, and must never count as the therapist's changes. An event
// whose etag is the one our last write got back is ours (RFC 9110 8.8.3: the etag names that
// representation). A deletion in our calendar is drift, not a cancellation: the session is written
// again (the therapist cancels sessions here, not there). Everything else (a move the therapist
// made) goes on to reconciliation, naming the session we wrote that event for: a platform whose
// change feed does not carry our extended property (Graph delta) is matched by the event id.
import { and, eq, inArray } from "drizzle-orm";
import type { Executor } from "../db/client.js";
import { mirroredEvents } from "../db/schema.js";
import type { ExternalEvent } from "../domain/external-event.js";
import type { SourceRow } from "./calendar-sources.js";
import { enqueueMirrorSessions } from "./mirror-outbox.js";

export async function withoutMirrorEchoes(tx: Executor, source: SourceRow, events: ExternalEvent[]): Promise<ExternalEvent[]> {
  const mirrorId = typeof source.settings.mirrorId === "string" ? source.settings.mirrorId : null;
  if (!mirrorId || events.length === 0) return events;
  const known = new Map<string, typeof mirroredEvents.$inferSelect>();
  const ids = [...new Set(events.map((e) => e.externalId))];
  for (let i = 0; i < ids.length; i += 500) {
    const rows = await tx
      .select()
      .from(mirroredEvents)
      .where(and(eq(mirroredEvents.mirrorId, mirrorId), inArray(mirroredEvents.remoteEventId, ids.slice(i, i + 500))));
    for (const r of rows) known.set(r.remoteEventId, r);
  }
  const rewrite: string[] = [];
  const kept = events.flatMap((e) => {
    const k = known.get(e.externalId);
    if (e.status === "cancelled") {
      if (k && !k.removed) rewrite.push(k.sessionId);
      return [];
    }
    if (k && !k.removed && e.etag !== undefined && e.etag === k.etag) return [];
    return k && !k.removed && e.sessionId === undefined ? [{ ...e, sessionId: k.sessionId }] : [e];
  });
  if (rewrite.length) {
    for (const id of rewrite) await tx.delete(mirroredEvents).where(and(eq(mirroredEvents.mirrorId, mirrorId), eq(mirroredEvents.sessionId, id)));
    await enqueueMirrorSessions(tx, mirrorId, rewrite);
  }
  return kept;
}
