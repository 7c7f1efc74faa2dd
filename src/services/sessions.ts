import { randomBytes, randomUUID } from "node:crypto";
import { and, asc, eq, gt, isNull, lt, ne, or, sql } from "drizzle-orm";
import { z } from "zod";
import type { Executor } from "../db/client.js";
import { clients, confirmations, sessions } from "../db/schema.js";
import { withTransaction } from "../db/tx.js";
import { checkModality, resolveSessionTimes } from "../domain/sessions.js";
import { MODALITIES, SESSION_KINDS, SESSION_STATUSES } from "../domain/value-lists.js";
import { ConflictError, NotFoundError, parseInput, UnprocessableError } from "../errors.js";
import { recordAudit } from "./audit.js";
import type { ProviderScope } from "./auth.js";
import type { Principal, ServiceDeps } from "./deps.js";
import { decodeCursor, encodeCursor } from "./pagination.js";
import { bumpFeedVersion, loadProvider } from "./providers.js";
import { loadCurrentLinks, resolveBookingLink } from "./telehealth-links.js";

const Instant = z.iso.datetime({ offset: true }).describe("ISO 8601 with an offset or Z");

export const CreateSessionSchema = z.strictObject({
  clientId: z.uuid(),
  start: Instant,
  end: Instant.optional(),
  durationMinutes: z.number().int().optional(),
  kind: z.enum(SESSION_KINDS),
  modality: z.enum(MODALITIES).optional(),
  telehealthUrl: z.string().max(4096).optional().describe("This session's own link, on any platform you attested; default: your default link"),
  allowOverlap: z.boolean().optional().describe("Book even though another of your sessions overlaps this one"),
  externalEvent: z
    .strictObject({ uid: z.string().min(1).max(1024), originalStart: Instant.optional() })
    .optional()
    .describe("The event in the provider's own calendar this session stands for (one instance of a series by its original start)"),
});

export const UpdateSessionSchema = z.strictObject({
  start: Instant.optional(),
  end: Instant.optional(),
  durationMinutes: z.number().int().optional(),
  modality: z.enum(MODALITIES).optional(),
  telehealthUrl: z.string().max(4096).nullable().optional().describe("null: follow your default link again"),
  allowOverlap: z.boolean().optional().describe("Move even though another of your sessions overlaps the new time"),
});

export const ListSessionsQuerySchema = z.strictObject({
  from: Instant.optional(),
  to: Instant.optional(),
  status: z.enum(SESSION_STATUSES).optional(),
  limit: z.coerce.number().int().min(1).max(500).default(100),
  cursor: z.string().max(200).optional(),
});

export type SessionRow = typeof sessions.$inferSelect;
type ConfirmationRow = typeof confirmations.$inferSelect;
/** The session's own link, kept on the session since booking (docs/rules.md, "Telehealth links"). */
export const sessionLink = (s: Pick<SessionRow, "kind" | "telehealthUrl">) => (s.kind === "virtual" ? s.telehealthUrl : null);

export function toSessionView(s: SessionRow, confirmation: ConfirmationRow | null) {
  const url = sessionLink(s);
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
            country: confirmation.country,
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

/** UIDs are opaque, stable and never reused (docs/rules.md, "Sessions"): 128 random bits, never derived from data. */
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
  return toSessionView(s, s.status === "confirmed" ? await loadConfirmation(db, s.id) : null);
}

/**
 * One provider cannot hold two sessions at once: an overlap is refused unless the request says
 * `allowOverlap` (docs/rules.md, "Sessions"). Cancelled sessions free their time.
 */
async function assertNoOverlap(tx: Executor, providerId: string, times: { start: Date; end: Date }, allow: boolean | undefined, exceptId?: string) {
  if (allow) return;
  const clash = await tx
    .select({ id: sessions.id, startAt: sessions.startAt, endAt: sessions.endAt })
    .from(sessions)
    .where(
      and(
        eq(sessions.providerId, providerId),
        ne(sessions.status, "cancelled"),
        lt(sessions.startAt, times.end),
        gt(sessions.endAt, times.start),
        exceptId ? ne(sessions.id, exceptId) : undefined,
      ),
    )
    .orderBy(asc(sessions.startAt))
    .limit(10);
  if (clash.length > 0) {
    throw new ConflictError(
      "overlaps_session",
      `This overlaps ${clash.length === 1 ? "another of your sessions" : `${clash.length} of your sessions`} (from ${clash[0]!.startAt.toISOString()}). Pick another time, or send allowOverlap: true if that is intended.`,
      { sessions: clash.map((c) => ({ id: c.id, start: c.startAt.toISOString(), end: c.endAt.toISOString() })) },
    );
  }
}

export async function createSession(deps: ServiceDeps, scope: ProviderScope, input: unknown) {
  const { principal, providerId } = scope;
  const data = parseInput(CreateSessionSchema, input);
  return withTransaction(deps.db, async (tx) => {
    await loadProvider(tx, providerId);
    const clientRows = await tx
      .select()
      .from(clients)
      .where(and(eq(clients.id, data.clientId), eq(clients.providerId, providerId)));
    const client = clientRows[0];
    // Another provider's client is reported exactly like a missing one.
    if (!client) throw new UnprocessableError("unknown_client", "No such client for this provider.", { field: "clientId" });
    const times = rule(
      resolveSessionTimes({ start: new Date(data.start), end: data.end ? new Date(data.end) : undefined, durationMinutes: data.durationMinutes }),
    );
    const modality = rule(checkModality(data.kind, data.modality, client, deps.config.policy)).modality;
    // The link is resolved now and kept on the session (docs/rules.md, "Telehealth links").
    let link: ReturnType<typeof resolveBookingLink> | null = null;
    if (data.kind === "virtual") link = resolveBookingLink(data.telehealthUrl, await loadCurrentLinks(tx, providerId));
    else if (data.telehealthUrl !== undefined) {
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
      if (taken[0])
        throw new ConflictError("external_event_taken", "Another session already stands for that calendar event.", { sessionId: taken[0].id });
    }
    await assertNoOverlap(tx, providerId, times, data.allowOverlap);
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
        telehealthUrl: link?.url ?? null,
        telehealthLinkId: link?.linkId ?? null,
        linkFollowsDefault: link?.followsDefault ?? false,
        externalUid: data.externalEvent?.uid ?? null,
        externalRecurrenceId: data.externalEvent?.originalStart ? new Date(data.externalEvent.originalStart) : null,
        createdAt: now,
        updatedAt: now,
      })
      .returning();
    await bumpFeedVersion(tx, providerId, [row!.id]);
    await recordAudit(tx, { providerId, principal, action: "session.created", subjectId: row!.id, at: now });
    return toSessionView(row!, null);
  });
}

export async function listSessions(deps: ServiceDeps, scope: ProviderScope, query: unknown) {
  const { providerId } = scope;
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
  const page = rows.slice(0, q.limit);
  const last = page.at(-1)?.s;
  return {
    items: page.map((r) => toSessionView(r.s, r.c)),
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
    let link = { telehealthUrl: s.telehealthUrl, telehealthLinkId: s.telehealthLinkId, linkFollowsDefault: s.linkFollowsDefault };
    if (data.telehealthUrl !== undefined) {
      if (s.kind !== "virtual") throw new UnprocessableError("link_for_in_person", "An in-person session has no telehealth link.");
      const r = resolveBookingLink(data.telehealthUrl ?? undefined, await loadCurrentLinks(tx, s.providerId));
      link = { telehealthUrl: r.url, telehealthLinkId: r.linkId, linkFollowsDefault: r.followsDefault };
    }
    const moved = times.start.getTime() !== s.startAt.getTime() || times.end.getTime() !== s.endAt.getTime();
    const changed = moved || modality !== s.modality || link.telehealthUrl !== s.telehealthUrl || link.telehealthLinkId !== s.telehealthLinkId;
    if (!changed && link.linkFollowsDefault === s.linkFollowsDefault) return sessionView(tx, s);
    if (moved) await assertNoOverlap(tx, s.providerId, times, data.allowOverlap, s.id);
    const now = deps.clock.now();
    const updated = changed
      ? await writeSessionChange(tx, s, { startAt: times.start, endAt: times.end, modality, ...link }, now)
      : (await tx.update(sessions).set({ linkFollowsDefault: link.linkFollowsDefault }).where(eq(sessions.id, s.id)).returning())[0]!;
    await recordAudit(tx, { providerId: s.providerId, principal, action: "session.updated", subjectId: s.id, at: now });
    return sessionView(tx, updated);
  });
}

/** The one place a session's calendar-visible fields change: SEQUENCE and the feed version move with it. */
export async function writeSessionChange(
  tx: Executor,
  s: SessionRow,
  change: Partial<
    Pick<SessionRow, "startAt" | "endAt" | "modality" | "telehealthUrl" | "telehealthLinkId" | "linkFollowsDefault" | "status" | "cancelledAt">
  >,
  now: Date,
): Promise<SessionRow> {
  const [row] = await tx
    .update(sessions)
    .set({ ...change, sequence: sql`${sessions.sequence} + 1`, updatedAt: now })
    .where(eq(sessions.id, s.id))
    .returning();
  await bumpFeedVersion(tx, s.providerId, [s.id]);
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
