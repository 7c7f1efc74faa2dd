// Write-back: "Put my sessions in this calendar" per connected account. Turning it on creates a
// calendar of our own in that account, watches it as a source (so the therapist's moves reach
// reconciliation and our own writes are recognized), and arms the outbox for the provider's
// sessions; turning it off removes that calendar. Delivery is src/ingest/mirror-worker.ts.
import { randomUUID } from "node:crypto";
import { and, eq, gt, isNull, ne, sql } from "drizzle-orm";
import { z } from "zod";
import type { Executor } from "../db/client.js";
import {
  calendarConnections,
  calendarMirrors,
  calendarSources,
  clients,
  mirroredEvents,
  mirrorOutbox,
  sessions,
  telehealthLinks,
} from "../db/schema.js";
import { withTransaction } from "../db/tx.js";
import { DEFAULT_PAST_DAYS, feedSummary } from "../domain/feed-policy.js";
import { PRIVACY_LEVELS } from "../domain/value-lists.js";
import { AppError, ConflictError, NotFoundError, parseInput, UnprocessableError } from "../errors.js";
import { recordAudit } from "./audit.js";
import type { ProviderScope } from "./auth.js";
import { accessTokenForConnection, CredentialsError, sourceWithCredentials } from "./calendar-connections.js";
import { deleteCalendarSource, insertSourceAndRegister, type PushChannelRegistry } from "./calendar-sources.js";
import type { ConnectionAdapters } from "./connection-adapters.js";
import type { ServiceDeps } from "./deps.js";
import { enqueueMirrorSessions, outboxBacklog } from "./mirror-outbox.js";
import type { MirrorEventContent, MirrorPlatforms } from "./mirror-platforms.js";
import { loadProvider } from "./providers.js";

export const MIRROR_CALENDAR_NAME = "Telehealth sessions";
const DAY_MS = 24 * 3600_000;

export const EnableMirrorSchema = z.strictObject({
  privacy: z.enum(PRIVACY_LEVELS).default("minimal").describe("What the events say about the client; minimal names no one"),
  includeLink: z.boolean().default(true).describe("Put the session's video link and instructions in the event"),
});

export type MirrorRow = typeof calendarMirrors.$inferSelect;
export type MirrorWorld = { deps: ServiceDeps; adapters: ConnectionAdapters; platforms: MirrorPlatforms; channels: PushChannelRegistry };

export async function toMirrorView(db: Executor, m: MirrorRow) {
  return {
    id: m.id,
    connectionId: m.connectionId,
    kind: m.kind,
    enabled: m.disabledAt === null,
    privacy: m.privacy,
    includeLink: m.includeLink,
    status: m.status,
    lastPushAt: m.lastPushAt?.toISOString() ?? null,
    lastErrorCode: m.lastErrorCode,
    ...(await outboxBacklog(db, m.id)),
  };
}
export type MirrorView = Awaited<ReturnType<typeof toMirrorView>>;

export async function liveMirrorOf(db: Executor, connectionId: string): Promise<MirrorRow | null> {
  const [m] = await db
    .select()
    .from(calendarMirrors)
    .where(and(eq(calendarMirrors.connectionId, connectionId), isNull(calendarMirrors.disabledAt)));
  return m ?? null;
}

async function loadConnectionFor(db: Executor, providerId: string, connectionId: string) {
  const [c] = await db
    .select()
    .from(calendarConnections)
    .where(and(eq(calendarConnections.id, connectionId), eq(calendarConnections.providerId, providerId)));
  if (!c) throw new NotFoundError("calendar connection");
  return c;
}

export async function getMirror(deps: ServiceDeps, scope: ProviderScope, connectionId: string) {
  const { providerId } = scope;
  await loadConnectionFor(deps.db, providerId, connectionId);
  const m = await liveMirrorOf(deps.db, connectionId);
  if (!m) throw new NotFoundError("calendar mirror");
  return toMirrorView(deps.db, m);
}

const unavailable = (what: string) =>
  new AppError(502, "mirror_calendar_failed", "Bad gateway", `${what} did not answer. Nothing changed; try again in a moment.`);

async function tokenFor(world: MirrorWorld, connectionId: string, label: string): Promise<string> {
  try {
    return await accessTokenForConnection(world.deps, world.adapters, connectionId);
  } catch (err) {
    if (err instanceof CredentialsError && err.code !== "token_refresh_failed")
      throw new ConflictError("connection_needs_reconnect", `Reconnect your ${label} first.`);
    if (err instanceof CredentialsError) throw unavailable(label);
    throw err;
  }
}

/** Turns write-back on for a connected account (idempotent: an enabled mirror answers as it is). */
export async function enableMirror(world: MirrorWorld, scope: ProviderScope, connectionId: string, input: unknown) {
  const { deps, adapters, platforms } = world;
  const { principal, providerId } = scope;
  const data = parseInput(EnableMirrorSchema, input);
  const provider = await loadProvider(deps.db, providerId);
  const conn = await loadConnectionFor(deps.db, providerId, connectionId);
  const label = adapters[conn.kind].label;
  const platform = platforms[conn.kind];
  if (!platform) throw new UnprocessableError("mirror_unsupported", `Sessions cannot be written to ${label} yet.`);
  const existing = await liveMirrorOf(deps.db, connectionId);
  if (existing) return { created: false, mirror: await toMirrorView(deps.db, existing) };
  if (conn.status !== "connected") throw new ConflictError("connection_needs_reconnect", `Reconnect your ${label} first.`);
  // The grant must include the write scope: asked for only when connecting with write-back.
  if (!platform.grantsWrite(conn.scope)) {
    throw new ConflictError(
      "consent_required",
      `Allow this server to manage its own calendar in your ${label}: reconnect this account with write-back (POST calendar-connections with {"kind", "connectionId", "writeBack": true}).`,
    );
  }
  const token = await tokenFor(world, conn.id, label);
  let remote: { id: string };
  try {
    remote = await platform.createCalendar(token, { name: MIRROR_CALENDAR_NAME, timeZone: provider.timezone });
  } catch (err) {
    deps.logger.warn({ connectionId, code: (err as Error).name }, "mirror calendar creation failed");
    throw unavailable(label);
  }
  const now = deps.clock.now();
  const id = randomUUID();
  const row = await withTransaction(deps.db, async (tx) => {
    const [m] = await tx
      .insert(calendarMirrors)
      .values({
        id,
        providerId,
        connectionId,
        kind: conn.kind,
        privacy: data.privacy,
        includeLink: data.includeLink,
        remoteCalendarId: remote.id,
        createdAt: now,
      })
      .onConflictDoNothing()
      .returning();
    if (!m) return null;
    await enqueueMirrorSessions(tx, m.id, await sessionsToMirror(tx, providerId, now));
    await recordAudit(tx, { providerId, principal, action: "calendar_mirror.enabled", subjectId: m.id, at: now, data: { kind: conn.kind } });
    return m;
  });
  if (!row) {
    // Another request enabled it meanwhile: ours is an orphan.
    await platform.deleteCalendar(token, remote.id).catch(() => {});
    return { created: false, mirror: await toMirrorView(deps.db, (await liveMirrorOf(deps.db, connectionId))!) };
  }
  // Watch our calendar like any picked calendar: the therapist's moves reach reconciliation.
  await insertSourceAndRegister(
    deps,
    scope,
    {
      kind: conn.kind,
      settings: {
        name: MIRROR_CALENDAR_NAME,
        connectionId,
        mirrorId: row.id,
        ...adapters[conn.kind].sourceSettings({ id: remote.id, name: MIRROR_CALENDAR_NAME, primary: false }),
      },
      secrets: {},
    },
    world.channels,
    (s) => sourceWithCredentials(deps, adapters, s),
  ).catch((err: unknown) => deps.logger.warn({ mirrorId: row.id, code: (err as Error).name }, "mirror calendar watch failed"));
  return { created: true, mirror: await toMirrorView(deps.db, row) };
}

/**
 * Turns write-back off: the outbox stops at once and the calendar we created is removed when the
 * grant still allows (a revoked grant leaves it; the owner can delete it).
 */
export async function disableMirror(world: MirrorWorld, scope: ProviderScope, connectionId: string): Promise<void> {
  const { deps, platforms } = world;
  const { principal, providerId } = scope;
  const conn = await loadConnectionFor(deps.db, providerId, connectionId);
  const now = deps.clock.now();
  const m = await withTransaction(deps.db, async (tx) => {
    const [row] = await tx
      .update(calendarMirrors)
      .set({ disabledAt: now })
      .where(and(eq(calendarMirrors.connectionId, connectionId), isNull(calendarMirrors.disabledAt)))
      .returning();
    if (!row) throw new NotFoundError("calendar mirror");
    await tx.delete(mirrorOutbox).where(eq(mirrorOutbox.mirrorId, row.id));
    await tx.delete(mirroredEvents).where(eq(mirroredEvents.mirrorId, row.id));
    await recordAudit(tx, { providerId, principal, action: "calendar_mirror.disabled", subjectId: row.id, at: now });
    return row;
  });
  const [source] = await deps.db
    .select()
    .from(calendarSources)
    .where(and(isNull(calendarSources.deletedAt), sql`${calendarSources.settings}->>'mirrorId' = ${m.id}`));
  if (source) {
    await deleteCalendarSource(deps, scope, source.id, {
      register: async () => {},
      release: async (s) => world.channels.release(await sourceWithCredentials(deps, world.adapters, s)),
    }).catch((err: unknown) => deps.logger.warn({ mirrorId: m.id, code: (err as Error).name }, "mirror calendar watch stop failed"));
  }
  const platform = platforms[conn.kind];
  if (!platform || !m.remoteCalendarId) return;
  try {
    const token = await accessTokenForConnection(deps, world.adapters, connectionId);
    await platform.deleteCalendar(token, m.remoteCalendarId);
  } catch (err) {
    await deps.db.update(calendarMirrors).set({ lastErrorCode: "calendar_not_removed", lastErrorAt: now }).where(eq(calendarMirrors.id, m.id));
    deps.logger.warn({ mirrorId: m.id, code: err instanceof CredentialsError ? err.code : (err as Error).name }, "mirror calendar removal failed");
  }
}

/** Sessions a new (or re-created) mirror starts with: not cancelled, not ended before the feed window. */
export async function sessionsToMirror(tx: Executor, providerId: string, now: Date): Promise<string[]> {
  const rows = await tx
    .select({ id: sessions.id })
    .from(sessions)
    .where(
      and(
        eq(sessions.providerId, providerId),
        ne(sessions.status, "cancelled"),
        gt(sessions.endAt, new Date(now.getTime() - DEFAULT_PAST_DAYS * DAY_MS)),
      ),
    );
  return rows.map((r) => r.id);
}

/** One session as the mirror shows it (null: the session is gone); the same content rules as feeds. */
export async function mirrorContentOf(
  db: Executor,
  mirror: Pick<MirrorRow, "privacy" | "includeLink">,
  sessionId: string,
  timeZone: string,
): Promise<{ content: MirrorEventContent; cancelled: boolean } | null> {
  const [r] = await db
    .select({ s: sessions, clientName: clients.displayName, instructions: telehealthLinks.instructions })
    .from(sessions)
    .innerJoin(clients, eq(clients.id, sessions.clientId))
    .leftJoin(telehealthLinks, eq(telehealthLinks.id, sessions.telehealthLinkId))
    .where(eq(sessions.id, sessionId));
  if (!r) return null;
  const { s } = r;
  const url = mirror.includeLink && s.kind === "virtual" ? s.telehealthUrl : null;
  const description = url ? [`Join: ${url}`, r.instructions ?? ""].filter(Boolean).join("\n\n") : undefined;
  return {
    cancelled: s.status === "cancelled",
    content: {
      sessionId: s.id,
      uid: s.uid,
      summary: feedSummary(mirror.privacy, s.kind, r.clientName),
      ...(description ? { description } : {}),
      ...(url ? { location: url } : s.kind === "in_person" ? { location: "In person" } : {}),
      start: s.startAt,
      end: s.endAt,
      timeZone,
    },
  };
}

/** Per connected account: whether sessions are written there (and how it goes), or whether they can be. */
export async function listMirrorChoices(world: Pick<MirrorWorld, "deps" | "platforms">, scope: ProviderScope) {
  const { deps, platforms } = world;
  const { providerId } = scope;
  const conns = await deps.db
    .select()
    .from(calendarConnections)
    .where(and(eq(calendarConnections.providerId, providerId), ne(calendarConnections.status, "disconnected")))
    .orderBy(calendarConnections.createdAt);
  const out = [];
  for (const c of conns) {
    const platform = platforms[c.kind];
    const m = await liveMirrorOf(deps.db, c.id);
    out.push({
      connectionId: c.id,
      kind: c.kind,
      connectionStatus: c.status,
      supported: platform !== undefined,
      canWrite: platform?.grantsWrite(c.scope) === true,
      mirror: m ? await toMirrorView(deps.db, m) : null,
    });
  }
  return out;
}
export type MirrorChoice = Awaited<ReturnType<typeof listMirrorChoices>>[number];
