import { and, asc, eq, gt, isNull, lt, or, sql } from "drizzle-orm";
import { randomBytes, randomUUID } from "node:crypto";
import { z } from "zod";
import type { Executor } from "../db/client.js";
import { clients, confirmations, sessions } from "../db/schema.js";
import { withTransaction } from "../db/tx.js";
import { checkModality, effectiveLink, resolveSessionTimes } from "../domain/sessions.js";
import { ConflictError, NotFoundError, parseInput, UnprocessableError } from "../errors.js";
import { recordAudit } from "./audit.js";
import { assertProviderScope } from "./auth.js";
import type { Principal, ServiceDeps } from "./deps.js";
import { decodeCursor, encodeCursor } from "./pagination.js";
import { bumpFeedVersion, loadProvider } from "./providers.js";
import { checkSessionLink, loadTelehealthLink } from "./telehealth-links.js";

const Instant = z.iso.datetime({ offset: true }).describe("ISO 8601 with an offset or Z");

export const CreateSessionSchema = z.strictObject({
  clientId: z.uuid(),
  start: Instant,
  end: Instant.optional(),
  durationMinutes: z.number().int().optional(),
  kind: z.enum(["virtual", "in_person"]),
  modality: z.enum(["video", "audio_only"]).optional(),
  telehealthUrl: z.string().max(4096).optional(),
  externalEvent: z
    .strictObject({ uid: z.string().min(1).max(1024), originalStart: Instant.optional() })
    .optional()
    .describe("The event in the provider's own calendar this session stands for (one instance of a series by its original start)"),
});

export const UpdateSessionSchema = z.strictObject({
  start: Instant.optional(),
  end: Instant.optional(),
  durationMinutes: z.number().int().optional(),
  modality: z.enum(["video", "audio_only"]).optional(),
  telehealthUrl: z.string().max(4096).nullable().optional(),
});

export const ListSessionsQuerySchema = z.strictObject({
  from: Instant.optional(),
  to: Instant.optional(),
  status: z.enum(["scheduled", "cancelled", "confirmed"]).optional(),
  limit: z.coerce.number().int().min(1).max(500).default(100),
  cursor: z.string().max(200).optional(),
});

export type SessionRow = typeof sessions.$inferSelect;
type ConfirmationRow = typeof confirmations.$inferSelect;
type LinkRow = NonNullable<Awaited<ReturnType<typeof loadTelehealthLink>>>;

export function toSessionView(s: SessionRow, link: LinkRow | null, confirmation: ConfirmationRow | null) {
  const url = effectiveLink(s, link, confirmation?.linkUsed);
  return {
    id: s.id,
    uid: s.uid,
    sequence: s.sequence,
    providerId: s.providerId,
    clientId: s.clientId,
    start: s.startAt.toISOString(),
    end: s.endAt.toISOString(),
    kind: s.kind,
    modality: s.modality,
    status: s.status,
    ...(url ? { telehealthUrl: url } : {}),
    ...(s.externalUid
      ? { externalEvent: { uid: s.externalUid, ...(s.externalRecurrenceId ? { originalStart: s.externalRecurrenceId.toISOString() } : {}) } }
      : {}),
    ...(confirmation
      ? {
          confirmation: {
            outcome: confirmation.outcome,
            row: confirmation.row,
            billing: confirmation.billing,
            state: confirmation.state,
            clientLocationId: confirmation.clientLocationId,
            linkUsed: confirmation.linkUsed,
            confirmedAt: confirmation.confirmedAt.toISOString(),
            confirmedBy: confirmation.confirmedBy,
          },
        }
      : {}),
  };
}
export type SessionView = ReturnType<typeof toSessionView>;

/** UIDs are opaque, stable and never reused (SPEC 4.2): 128 random bits, never derived from data. */
function newUid(): string {
  return `${randomBytes(16).toString("hex")}@telehealth-calendar`;
}

/** A domain rule's refusal becomes a 422 with the rule's own code. */
function rule<R extends { ok: true } | { ok: false; code: string; message: string }>(r: R): Extract<R, { ok: true }> {
  if (r.ok) return r as Extract<R, { ok: true }>;
  const refusal = r as { code: string; message: string };
  throw new UnprocessableError(refusal.code, refusal.message);
}

export async function loadSession(db: Executor, principal: Principal, sessionId: string, opts: { forUpdate?: boolean } = {}) {
  const q = db.select().from(sessions).where(eq(sessions.id, sessionId));
  const rows = opts.forUpdate ? await q.for("update") : await q;
  const s = rows[0];
  if (!s || (principal.kind === "provider" && principal.providerId !== s.providerId)) throw new NotFoundError("session");
  return s;
}

async function loadConfirmation(db: Executor, sessionId: string) {
  const rows = await db.select().from(confirmations).where(eq(confirmations.sessionId, sessionId));
  return rows[0] ?? null;
}

export async function sessionView(db: Executor, s: SessionRow): Promise<SessionView> {
  return toSessionView(s, await loadTelehealthLink(db, s.providerId), s.status === "confirmed" ? await loadConfirmation(db, s.id) : null);
}

export async function createSession(deps: ServiceDeps, principal: Principal, providerId: string, input: unknown) {
  assertProviderScope(principal, providerId);
  const data = parseInput(CreateSessionSchema, input);
  return withTransaction(deps.db, async (tx) => {
    await loadProvider(tx, providerId);
    const clientRows = await tx.select().from(clients).where(and(eq(clients.id, data.clientId), eq(clients.providerId, providerId)));
    const client = clientRows[0];
    // Another provider's client is reported exactly like a missing one.
    if (!client) throw new UnprocessableError("unknown_client", "No such client for this provider.", { field: "clientId" });
    const times = rule(resolveSessionTimes({ start: new Date(data.start), end: data.end ? new Date(data.end) : undefined, durationMinutes: data.durationMinutes }));
    const modality = rule(checkModality(data.kind, data.modality, client, deps.config.policy)).modality;
    const link = await loadTelehealthLink(tx, providerId);
    let ownUrl: string | null = null;
    if (data.kind === "virtual") {
      if (data.telehealthUrl !== undefined) ownUrl = checkSessionLink(data.telehealthUrl, link);
      else if (!link?.compliant) {
        throw new UnprocessableError(
          "no_compliant_link",
          "A virtual session needs a compliant telehealth link: set your default link with a signed BAA and the waiting room on.",
        );
      }
    } else if (data.telehealthUrl !== undefined) {
      throw new UnprocessableError("link_for_in_person", "An in-person session has no telehealth link.", { field: "telehealthUrl" });
    }
    const now = deps.clock.now();
    if (data.externalEvent) {
      const taken = await tx
        .select({ id: sessions.id })
        .from(sessions)
        .where(
          and(
            eq(sessions.providerId, providerId),
            eq(sessions.externalUid, data.externalEvent.uid),
            data.externalEvent.originalStart
              ? eq(sessions.externalRecurrenceId, new Date(data.externalEvent.originalStart))
              : isNull(sessions.externalRecurrenceId),
          ),
        );
      if (taken[0]) throw new ConflictError("external_event_taken", "Another session already stands for that calendar event.", { sessionId: taken[0].id });
    }
    const [row] = await tx
      .insert(sessions)
      .values({
        id: randomUUID(),
        providerId,
        clientId: client.id,
        uid: newUid(),
        sequence: 0,
        startAt: times.start,
        endAt: times.end,
        kind: data.kind,
        modality,
        status: "scheduled",
        telehealthUrl: ownUrl,
        externalUid: data.externalEvent?.uid ?? null,
        externalRecurrenceId: data.externalEvent?.originalStart ? new Date(data.externalEvent.originalStart) : null,
        createdAt: now,
        updatedAt: now,
      })
      .returning();
    await bumpFeedVersion(tx, providerId);
    await recordAudit(tx, { providerId, principal, action: "session.created", subjectId: row!.id, at: now });
    return toSessionView(row!, link, null);
  });
}

export async function listSessions(deps: ServiceDeps, principal: Principal, providerId: string, query: unknown) {
  assertProviderScope(principal, providerId);
  const q = parseInput(ListSessionsQuerySchema, query);
  await loadProvider(deps.db, providerId);
  const after = q.cursor ? decodeCursor(q.cursor) : null;
  const rows = await deps.db
    .select({ s: sessions, c: confirmations })
    .from(sessions)
    .leftJoin(confirmations, eq(confirmations.sessionId, sessions.id))
    .where(
      and(
        eq(sessions.providerId, providerId),
        q.from ? gt(sessions.endAt, new Date(q.from)) : undefined,
        q.to ? lt(sessions.startAt, new Date(q.to)) : undefined,
        q.status ? eq(sessions.status, q.status) : undefined,
        after ? or(gt(sessions.startAt, after.at), and(eq(sessions.startAt, after.at), gt(sessions.id, after.id))) : undefined,
      ),
    )
    .orderBy(asc(sessions.startAt), asc(sessions.id))
    .limit(q.limit + 1);
  const link = await loadTelehealthLink(deps.db, providerId);
  const page = rows.slice(0, q.limit);
  const last = page.at(-1)?.s;
  return {
    items: page.map((r) => toSessionView(r.s, link, r.c)),
    ...(rows.length > q.limit && last ? { nextCursor: encodeCursor(last.startAt, last.id) } : {}),
  };
}

export async function getSession(deps: ServiceDeps, principal: Principal, sessionId: string) {
  return sessionView(deps.db, await loadSession(deps.db, principal, sessionId));
}

function assertChangeable(s: SessionRow): void {
  if (s.status === "cancelled") throw new ConflictError("session_cancelled", "The session is cancelled.");
  if (s.status === "confirmed") throw new ConflictError("session_confirmed", "A confirmed session cannot change.");
}

/** PATCH: reschedule, change modality or the session's own link. Any calendar-visible change bumps SEQUENCE. */
export async function updateSession(deps: ServiceDeps, principal: Principal, sessionId: string, input: unknown) {
  const data = parseInput(UpdateSessionSchema, input);
  return withTransaction(deps.db, async (tx) => {
    const s = await loadSession(tx, principal, sessionId, { forUpdate: true });
    assertChangeable(s);
    const start = data.start ? new Date(data.start) : s.startAt;
    const keepLength = data.end === undefined && data.durationMinutes === undefined;
    const times = rule(
      resolveSessionTimes({
        start,
        end: data.end ? new Date(data.end) : keepLength ? new Date(start.getTime() + (s.endAt.getTime() - s.startAt.getTime())) : undefined,
        durationMinutes: data.durationMinutes,
      }),
    );
    let modality = s.modality;
    if (data.modality !== undefined) {
      const client = (await tx.select().from(clients).where(eq(clients.id, s.clientId)))[0]!;
      modality = rule(checkModality(s.kind, data.modality, client, deps.config.policy)).modality;
    }
    let telehealthUrl = s.telehealthUrl;
    if (data.telehealthUrl !== undefined) {
      if (s.kind !== "virtual") throw new UnprocessableError("link_for_in_person", "An in-person session has no telehealth link.");
      const link = await loadTelehealthLink(tx, s.providerId);
      telehealthUrl = data.telehealthUrl === null ? null : checkSessionLink(data.telehealthUrl, link);
      if (telehealthUrl === null && !link?.compliant) {
        throw new UnprocessableError("no_compliant_link", "Without its own link the session needs a compliant default link.");
      }
    }
    const changed =
      times.start.getTime() !== s.startAt.getTime() ||
      times.end.getTime() !== s.endAt.getTime() ||
      modality !== s.modality ||
      telehealthUrl !== s.telehealthUrl;
    if (!changed) return sessionView(tx, s);
    const now = deps.clock.now();
    const updated = await writeSessionChange(tx, s, { startAt: times.start, endAt: times.end, modality, telehealthUrl }, now);
    await recordAudit(tx, { providerId: s.providerId, principal, action: "session.updated", subjectId: s.id, at: now });
    return sessionView(tx, updated);
  });
}

/** The one place a session's calendar-visible fields change: SEQUENCE and the feed version move with it. */
export async function writeSessionChange(
  tx: Executor,
  s: SessionRow,
  change: Partial<Pick<SessionRow, "startAt" | "endAt" | "modality" | "telehealthUrl" | "status" | "cancelledAt">>,
  now: Date,
): Promise<SessionRow> {
  const [row] = await tx
    .update(sessions)
    .set({ ...change, sequence: sql`${sessions.sequence} + 1`, updatedAt: now })
    .where(eq(sessions.id, s.id))
    .returning();
  await bumpFeedVersion(tx, s.providerId);
  return row!;
}

/** Idempotent: cancelling a cancelled session answers it as it is. */
export async function cancelSession(deps: ServiceDeps, principal: Principal, sessionId: string) {
  return withTransaction(deps.db, async (tx) => {
    const s = await loadSession(tx, principal, sessionId, { forUpdate: true });
    if (s.status === "cancelled") return sessionView(tx, s);
    assertChangeable(s);
    const now = deps.clock.now();
    const updated = await writeSessionChange(tx, s, { status: "cancelled", cancelledAt: now }, now);
    await recordAudit(tx, { providerId: s.providerId, principal, action: "session.cancelled", subjectId: s.id, at: now });
    return sessionView(tx, updated);
  });
}
