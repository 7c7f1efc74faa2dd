// Delivers the write-back outbox (src/services/mirror-outbox.ts) to each mirror's platform, and
// repairs drift (the owner deleted our calendar or an event, or edited one). Every write is
// idempotent (see src/ingest/mirror-google.ts and mirror-microsoft.ts), so a crash between the
// platform's write and the outbox update only repeats a write; it never makes a second event. Logs
// carry ids and codes only, never event content.
import { createHash } from "node:crypto";
import { and, eq, isNull, lte, or } from "drizzle-orm";
import { calendarConnections, calendarMirrors, mirroredEvents, providers } from "../db/schema.js";
import { withTransaction } from "../db/tx.js";
import { accessTokenForConnection, CredentialsError } from "../services/calendar-connections.js";
import { type MirrorRow, mirrorContentOf, sessionsToMirror } from "../services/calendar-mirrors.js";
import type { ConnectionAdapters } from "../services/connection-adapters.js";
import type { ServiceDeps } from "../services/deps.js";
import { claimOutbox, completeOutbox, enqueueMirrorSessions, failOutbox, type OutboxClaim, releaseOutbox } from "../services/mirror-outbox.js";
import { MirrorApiError, type MirrorPlatforms } from "../services/mirror-platforms.js";
import { createConnectionAdapters, createMirrorPlatforms } from "./adapters/index.js";
import { createGuardedFetch } from "./guarded-fetch.js";

const MAX_BACKOFF_MS = 15 * 60_000;
/** A paused mirror (grant revoked) looks again this often, in case the provider reconnected. */
const PAUSED_RETRY_MS = 5 * 60_000;
/** Drift repair runs per mirror at most this often. */
export const REPAIR_EVERY_MS = 6 * 3600_000;

export type MirrorWorkerStats = { written: number; removed: number; unchanged: number; retried: number; failed: number; repaired: number };

/** 2^attempts seconds, capped; never sooner than the platform's Retry-After (RFC 9110 10.2.3). */
export function retryDelayMs(attempts: number, retryAfterSeconds: number | undefined): number {
  const backoff = Math.min(MAX_BACKOFF_MS, 1000 * 2 ** Math.min(attempts, 20));
  return Math.max(backoff, (retryAfterSeconds ?? 0) * 1000);
}

const hashContent = (v: unknown) => createHash("sha256").update(JSON.stringify(v)).digest("base64url");

export class MirrorWorker {
  readonly stats: MirrorWorkerStats = { written: 0, removed: 0, unchanged: 0, retried: 0, failed: 0, repaired: 0 };
  private readonly adapters: ConnectionAdapters;
  private readonly platforms: MirrorPlatforms;
  private running = false;
  private loop: Promise<void> | undefined;
  private wake: (() => void) | undefined;
  private readonly idleMs: number;

  constructor(
    private readonly deps: ServiceDeps,
    opts: { fetchFn?: typeof fetch; platforms?: MirrorPlatforms; idleMs?: number } = {},
  ) {
    // Every outbound request goes through the guarded client, as the ingestion worker's do.
    const fetchFn = opts.fetchFn ?? createGuardedFetch({ allowance: deps.config.outboundAllowance, logger: deps.logger });
    this.adapters = createConnectionAdapters(deps.config, fetchFn);
    this.platforms = opts.platforms ?? createMirrorPlatforms(deps.config, fetchFn);
    this.idleMs = opts.idleMs ?? 250;
  }

  start(): void {
    if (this.running) return;
    this.running = true;
    this.loop = this.run();
  }

  async stop(): Promise<void> {
    this.running = false;
    this.wake?.();
    await this.loop;
  }

  nudge(): void {
    this.wake?.();
  }

  private async run(): Promise<void> {
    while (this.running) {
      let n = 0;
      try {
        n = await this.drain(20);
        await this.repairDue();
      } catch (err) {
        this.deps.logger.error({ err: { name: (err as Error).name } }, "mirror worker iteration failed");
      }
      if (this.running && n === 0)
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, this.idleMs);
          this.wake = () => {
            clearTimeout(timer);
            resolve();
          };
        });
    }
  }

  /** Claims and delivers up to `limit` outbox rows; returns how many were handled. */
  async drain(limit = 50): Promise<number> {
    const claims = await claimOutbox(this.deps.db, this.deps.clock.now(), limit);
    // One row per (mirror, session) and a lease: rows of one claim batch never share a session.
    await Promise.all(claims.map((c) => this.deliver(c)));
    return claims.length;
  }

  private async deliver(claim: OutboxClaim): Promise<void> {
    const { db, clock, logger } = this.deps;
    const log = { mirrorId: claim.mirrorId, sessionId: claim.sessionId };
    const [mirror] = await db.select().from(calendarMirrors).where(eq(calendarMirrors.id, claim.mirrorId));
    if (!mirror || mirror.disabledAt || !mirror.remoteCalendarId) return completeOutbox(db, claim);
    const platform = this.platforms[mirror.kind];
    if (!platform) return failOutbox(db, claim, "mirror_unsupported", null);
    let token: string;
    try {
      token = await this.tokenFor(mirror);
    } catch (err) {
      if (err instanceof CredentialsError && err.code !== "token_refresh_failed") {
        await this.setStatus(mirror, "needs_reconnect", err.code);
        return releaseOutbox(db, claim, new Date(clock.now().getTime() + PAUSED_RETRY_MS));
      }
      return failOutbox(db, claim, "token_refresh_failed", new Date(clock.now().getTime() + retryDelayMs(claim.attempts, undefined)));
    }
    const [provider] = await db.select({ timezone: providers.timezone }).from(providers).where(eq(providers.id, mirror.providerId));
    const found = await mirrorContentOf(db, mirror, claim.sessionId, provider?.timezone ?? "UTC");
    const [known] = await db
      .select()
      .from(mirroredEvents)
      .where(and(eq(mirroredEvents.mirrorId, mirror.id), eq(mirroredEvents.sessionId, claim.sessionId)));
    const ref = known && !known.removed ? { remoteEventId: known.remoteEventId, etag: known.etag } : null;
    try {
      if (!found || found.cancelled) {
        // A cancelled session leaves the mirror; one never written needs nothing.
        if (known && !known.removed) {
          await platform.removeEvent(token, mirror.remoteCalendarId, claim.sessionId, ref);
          await db
            .update(mirroredEvents)
            .set({ removed: true, etag: null, pushedAt: clock.now() })
            .where(and(eq(mirroredEvents.mirrorId, mirror.id), eq(mirroredEvents.sessionId, claim.sessionId)));
          this.stats.removed++;
        } else this.stats.unchanged++;
      } else {
        const hash = hashContent(found.content);
        if (ref && known?.contentHash === hash) {
          this.stats.unchanged++;
        } else {
          const written = await platform.upsertEvent(token, mirror.remoteCalendarId, found.content, ref);
          const row = { remoteEventId: written.remoteEventId, etag: written.etag, contentHash: hash, removed: false, pushedAt: clock.now() };
          await db
            .insert(mirroredEvents)
            .values({ providerId: mirror.providerId, mirrorId: mirror.id, sessionId: claim.sessionId, ...row })
            .onConflictDoUpdate({ target: [mirroredEvents.mirrorId, mirroredEvents.sessionId], set: row });
          this.stats.written++;
        }
      }
      await completeOutbox(db, claim);
      await db
        .update(calendarMirrors)
        .set({ lastPushAt: clock.now(), status: "active", lastErrorCode: null })
        .where(eq(calendarMirrors.id, mirror.id));
    } catch (err) {
      const e = err instanceof MirrorApiError ? err : null;
      const code = e ? `${e.kind}${e.status ? `_${e.status}` : ""}` : "internal";
      logger.warn({ ...log, code, attempts: claim.attempts + 1 }, "mirror write failed");
      if (!e) {
        this.stats.failed++;
        return failOutbox(db, claim, code, new Date(clock.now().getTime() + retryDelayMs(claim.attempts, undefined)));
      }
      if (e.kind === "auth") {
        // A 401 with a token we believed fresh: renew it before the retry; a refused renewal means
        // the grant is gone, and the mirror waits for the provider to reconnect.
        try {
          await accessTokenForConnection(this.deps, this.adapters, mirror.connectionId, token);
        } catch (refused) {
          if (refused instanceof CredentialsError && refused.code !== "token_refresh_failed") {
            await this.setStatus(mirror, "needs_reconnect", refused.code);
            return releaseOutbox(db, claim, new Date(clock.now().getTime() + PAUSED_RETRY_MS));
          }
        }
      }
      if (e.kind === "not_found") await this.setStatus(mirror, "failing", "calendar_missing");
      const retry = ["rate_limited", "transient", "auth", "not_found"].includes(e.kind);
      if (retry) this.stats.retried++;
      else this.stats.failed++;
      return failOutbox(db, claim, code, retry ? new Date(clock.now().getTime() + retryDelayMs(claim.attempts, e.retryAfterSeconds)) : null);
    }
  }

  private async tokenFor(mirror: MirrorRow): Promise<string> {
    if (mirror.status === "needs_reconnect") {
      // Paused until the provider reconnects the account; then it resumes by itself.
      const [c] = await this.deps.db
        .select({ status: calendarConnections.status })
        .from(calendarConnections)
        .where(eq(calendarConnections.id, mirror.connectionId));
      if (c?.status !== "connected") throw new CredentialsError("grant_revoked");
    }
    return accessTokenForConnection(this.deps, this.adapters, mirror.connectionId);
  }

  private async setStatus(mirror: MirrorRow, status: MirrorRow["status"], code: string): Promise<void> {
    const now = this.deps.clock.now();
    await this.deps.db.update(calendarMirrors).set({ status, lastErrorCode: code, lastErrorAt: now }).where(eq(calendarMirrors.id, mirror.id));
  }

  /** Drift repair for every live mirror not repaired within REPAIR_EVERY_MS. */
  async repairDue(): Promise<number> {
    const due = new Date(this.deps.clock.now().getTime() - REPAIR_EVERY_MS);
    const rows = await this.deps.db
      .select()
      .from(calendarMirrors)
      .where(and(isNull(calendarMirrors.disabledAt), or(isNull(calendarMirrors.lastRepairAt), lte(calendarMirrors.lastRepairAt, due))))
      .limit(20);
    for (const m of rows) await this.repair(m.id);
    return rows.length;
  }

  /**
   * Compares a mirror with the sessions: a missing calendar is re-created (every session re-sent);
   * an event that was deleted, or edited since our last write (its etag moved), is written again.
   * Returns how many sessions were re-armed.
   */
  async repair(mirrorId: string): Promise<number> {
    const { db, clock, logger } = this.deps;
    const [mirror] = await db.select().from(calendarMirrors).where(eq(calendarMirrors.id, mirrorId));
    if (!mirror || mirror.disabledAt || !mirror.remoteCalendarId) return 0;
    const platform = this.platforms[mirror.kind];
    if (!platform) return 0;
    const now = clock.now();
    await db.update(calendarMirrors).set({ lastRepairAt: now }).where(eq(calendarMirrors.id, mirror.id));
    let token: string;
    try {
      token = await this.tokenFor(mirror);
    } catch (err) {
      if (err instanceof CredentialsError && err.code !== "token_refresh_failed") await this.setStatus(mirror, "needs_reconnect", err.code);
      return 0;
    }
    try {
      if (!(await platform.calendarExists(token, mirror.remoteCalendarId))) {
        const [provider] = await db.select({ timezone: providers.timezone }).from(providers).where(eq(providers.id, mirror.providerId));
        const created = await platform.createCalendar(token, { name: "Telehealth sessions", timeZone: provider?.timezone ?? "UTC" });
        const ids = await withTransaction(db, async (tx) => {
          await tx
            .update(calendarMirrors)
            .set({ remoteCalendarId: created.id, status: "active", lastErrorCode: null })
            .where(eq(calendarMirrors.id, mirror.id));
          await tx.delete(mirroredEvents).where(eq(mirroredEvents.mirrorId, mirror.id));
          const ids = await sessionsToMirror(tx, mirror.providerId, now);
          await enqueueMirrorSessions(tx, mirror.id, ids);
          return ids;
        });
        logger.info({ mirrorId: mirror.id, sessions: ids.length }, "mirror calendar re-created");
        this.stats.repaired += ids.length;
        return ids.length;
      }
      const remote = new Map((await platform.listEvents(token, mirror.remoteCalendarId)).map((e) => [e.remoteEventId, e]));
      const known = await db.select().from(mirroredEvents).where(eq(mirroredEvents.mirrorId, mirror.id));
      const drifted: string[] = [];
      for (const k of known) {
        if (k.removed) continue;
        const r = remote.get(k.remoteEventId);
        if (!r || r.cancelled || r.etag !== k.etag) drifted.push(k.sessionId);
      }
      // Sessions that should be there and never were written (e.g. given up on earlier).
      const written = new Set(known.map((k) => k.sessionId));
      for (const id of await sessionsToMirror(db, mirror.providerId, now)) if (!written.has(id)) drifted.push(id);
      if (drifted.length) {
        await withTransaction(db, async (tx) => {
          // Forget the stale etag and hash, so the write goes through as a create-or-update.
          for (const id of drifted) {
            await tx.delete(mirroredEvents).where(and(eq(mirroredEvents.mirrorId, mirror.id), eq(mirroredEvents.sessionId, id)));
          }
          await enqueueMirrorSessions(tx, mirror.id, drifted);
        });
        logger.info({ mirrorId: mirror.id, sessions: drifted.length }, "mirror drift repaired");
      }
      this.stats.repaired += drifted.length;
      return drifted.length;
    } catch (err) {
      logger.warn({ mirrorId: mirror.id, code: err instanceof MirrorApiError ? err.kind : "internal" }, "mirror repair failed");
      return 0;
    }
  }
}
