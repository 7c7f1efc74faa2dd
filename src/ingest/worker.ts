// The ingestion worker: runs in every server process; all coordination lives in PostgreSQL
// (SKIP LOCKED claims, a transaction-scoped advisory lock per source, the inbox's unique keys).
import { and, eq, isNull, lte, sql } from "drizzle-orm";
import { calendarSources, providers } from "../db/schema.js";
import { withTransaction } from "../db/tx.js";
import type { Metrics } from "../http/metrics.js";
import { findLiveSource, recordSourceFailure, sourceSucceeded, sourcesWithExpiringChannels, type SourceRow } from "../services/calendar-sources.js";
import type { ServiceDeps } from "../services/deps.js";
import { applyExternalEvents } from "../services/external-apply.js";
import { claimDelivery, completeDelivery, recordDelivery, retryDelivery, type DeliveryRow } from "../services/inbox.js";
import { CredentialsError, sourceWithCredentials } from "../services/calendar-connections.js";
import type { ConnectionAdapters } from "../services/connection-adapters.js";
import { createConnectionAdapters } from "./adapters/index.js";
import { createPushChannels, type PushChannels } from "./channels.js";
import { GoogleApiError } from "./google-client.js";
import { GraphApiError } from "./microsoft-client.js";
import { fromApiError, parseIcsOrThrow, PullError, pullSource } from "./pull.js";

export type WorkerOptions = {
  fetchFn?: typeof fetch;
  /** How long a claim lasts before another worker may take the delivery again. */
  leaseMs?: number;
  idleMs?: number;
  metrics?: Metrics;
};

class LostClaim extends Error {}

export class IngestWorker {
  private running = false;
  private loop: Promise<void> | undefined;
  private wake: (() => void) | undefined;
  private lastPollScan = 0;
  private lastRenewalScan = 0;
  private readonly channels: PushChannels;
  private readonly adapters: ConnectionAdapters;
  private readonly fetchFn: typeof fetch;
  private readonly leaseMs: number;
  private readonly idleMs: number;
  /** What this worker did; the exactly-once test sums these across processes. */
  readonly stats = { applied: 0, lostClaims: 0, failed: 0 };

  constructor(
    private readonly deps: ServiceDeps,
    private readonly opts: WorkerOptions = {},
  ) {
    this.fetchFn = opts.fetchFn ?? fetch;
    this.leaseMs = opts.leaseMs ?? 120_000;
    this.idleMs = opts.idleMs ?? 500;
    this.channels = createPushChannels(deps, this.fetchFn);
    this.adapters = createConnectionAdapters(deps.config, this.fetchFn);
  }

  /** The source with a fresh access token (refreshed before expiry; or after `refused` got a 401). */
  private async credentials(source: SourceRow, refused?: string): Promise<SourceRow> {
    try {
      return await sourceWithCredentials(this.deps, this.adapters, source, refused);
    } catch (err) {
      if (err instanceof CredentialsError) throw new PullError(err.code, err.code === "token_refresh_failed" ? "retry" : "attention");
      throw err;
    }
  }

  start(): void {
    if (this.running) return;
    this.running = true;
    this.loop = this.run();
  }

  /** SIGTERM: finish the delivery in hand, claim no more. */
  async stop(): Promise<void> {
    this.running = false;
    this.wake?.();
    await this.loop;
  }

  /** A webhook just recorded something: look now rather than after the idle sleep. */
  nudge(): void {
    this.wake?.();
  }

  private async run(): Promise<void> {
    while (this.running) {
      let worked = false;
      try {
        await this.schedulePolls();
        await this.scheduleRenewals();
        worked = await this.runOnce();
      } catch (err) {
        this.deps.logger.error({ err: { name: (err as Error).name, message: (err as Error).message } }, "worker iteration failed");
      }
      if (!worked && this.running) {
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, this.idleMs);
          this.wake = () => {
            clearTimeout(timer);
            resolve();
          };
        });
        this.wake = undefined;
      }
    }
  }

  /** Processes every due delivery; for tests and tools. */
  async drain(max = 10_000): Promise<number> {
    let n = 0;
    while (n < max && (await this.runOnce())) n++;
    return n;
  }

  /** Claims and processes one delivery. False when none is due. */
  async runOnce(): Promise<boolean> {
    const now = this.deps.clock.now();
    const d = await claimDelivery(this.deps.db, now, this.leaseMs);
    if (!d) return false;
    await this.process(d);
    return true;
  }

  private async process(d: DeliveryRow): Promise<void> {
    const { db, clock, logger } = this.deps;
    const log = { deliveryId: d.id, kind: d.kind };
    const source = await findLiveSource(db, d.sourceId);
    if (!source) {
      await withTransaction(db, (tx) => completeDelivery(tx, d.id, clock.now()));
      this.count(d, "source_gone");
      return;
    }
    const [provider] = await db.select({ timezone: providers.timezone }).from(providers).where(eq(providers.id, source.providerId));
    if (d.kind === "renew_channel") return this.renewChannel(d, source);
    try {
      const now = clock.now();
      const result =
        d.kind === "ics_payload"
          ? { kind: "events" as const, events: parseIcsOrThrow(String(d.payload?.ics ?? ""), now, provider?.timezone ?? "UTC"), snapshot: false }
          : await this.pullWithToken(source, { full: d.kind === "full_resync", now, timezone: provider?.timezone ?? "UTC", fetchFn: this.fetchFn });
      const pulledFrom = source.syncToken;
      const stats = await withTransaction(db, async (tx) => {
        // Applied and done commit together; a lost claim (another worker finished it) rolls back.
        if (!(await completeDelivery(tx, d.id, clock.now()))) throw new LostClaim();
        // One source at a time across all processes, so cursors advance in order.
        await tx.execute(sql`select pg_advisory_xact_lock(hashtext(${source.id}))`);
        const current = (await tx.select().from(calendarSources).where(eq(calendarSources.id, source.id)))[0]!;
        if (result.kind === "not_modified") {
          await tx.update(calendarSources).set(sourceSucceeded(now)).where(eq(calendarSources.id, source.id));
          return null;
        }
        const applied = await applyExternalEvents(tx, current, result.events, { snapshot: result.snapshot, now });
        // The new cursor is stored only now, after every page applied; and never over a newer one
        // that another worker stored while we were pulling.
        const cursorMoved = current.syncToken !== pulledFrom && !result.snapshot;
        await tx
          .update(calendarSources)
          .set({
            ...sourceSucceeded(now),
            ...(result.cursor !== undefined && !cursorMoved ? { syncToken: result.cursor } : {}),
            ...("etag" in result ? { etag: result.etag ?? null, lastModified: result.lastModified ?? null } : {}),
          })
          .where(eq(calendarSources.id, source.id));
        return applied;
      });
      this.stats.applied++;
      this.count(d, "applied");
      logger.info({ ...log, sourceKind: source.kind, ...(stats ?? { notModified: true }) }, "delivery applied");
    } catch (err) {
      if (err instanceof LostClaim) {
        this.stats.lostClaims++;
        this.count(d, "lost_claim");
        return;
      }
      const pe = err instanceof PullError ? err : new PullError("internal_error", "retry");
      if (!(err instanceof PullError)) logger.error({ ...log, err: { name: (err as Error).name, message: (err as Error).message } }, "delivery failed");
      await recordSourceFailure(db, source.id, pe.code, clock.now(), healthSeverity(pe));
      await retryDelivery(db, d, clock.now(), pe.code, {
        final: pe.disposition !== "retry",
        ...(pe.retryAfterSeconds !== undefined ? { retryAfterMs: pe.retryAfterSeconds * 1000 } : {}),
      });
      this.stats.failed++;
      this.count(d, pe.code);
      logger.warn({ ...log, sourceKind: source.kind, code: pe.code, disposition: pe.disposition }, "delivery not applied");
    }
  }

  /** A 401 on a pull: refresh once (unless another worker already did) and try once more. */
  private async pullWithToken(source: SourceRow, opts: Parameters<typeof pullSource>[1]) {
    const withToken = await this.credentials(source);
    try {
      return await pullSource(withToken, opts);
    } catch (err) {
      if (!(err instanceof PullError && err.code === "upstream_auth" && typeof source.settings.connectionId === "string")) throw err;
      return pullSource(await this.credentials(source, withToken.secrets.accessToken), opts);
    }
  }

  private async renewChannel(d: DeliveryRow, source: SourceRow): Promise<void> {
    const { db, clock, logger } = this.deps;
    try {
      await this.channels.renew(await this.credentials(source));
      await withTransaction(db, async (tx) => {
        await completeDelivery(tx, d.id, clock.now());
        await tx.update(calendarSources).set({ status: "active", consecutiveFailures: 0 }).where(eq(calendarSources.id, source.id));
      });
      this.count(d, "renewed");
      logger.info({ deliveryId: d.id, sourceKind: source.kind }, "push channel renewed");
    } catch (err) {
      const pe = err instanceof GoogleApiError || err instanceof GraphApiError ? fromApiError(err) : err instanceof PullError ? err : new PullError("renew_failed", "retry");
      await recordSourceFailure(db, source.id, `channel_${pe.code}`, clock.now(), healthSeverity(pe));
      await retryDelivery(db, d, clock.now(), pe.code, { final: pe.disposition !== "retry" });
      this.count(d, pe.code);
      logger.warn({ deliveryId: d.id, sourceKind: source.kind, code: pe.code }, "push channel renewal failed");
    }
  }

  /** Push channels that lapse within a day get a renewal delivery (one per channel expiry, across all instances). */
  async scheduleRenewals(): Promise<void> {
    const now = this.deps.clock.now();
    if (now.getTime() - this.lastRenewalScan < 600_000) return;
    this.lastRenewalScan = now.getTime();
    for (const s of await sourcesWithExpiringChannels(this.deps.db, new Date(now.getTime() + 24 * 3600_000))) {
      const expires = String(s.settings.channelExpiration ?? s.settings.subscriptionExpiration);
      await recordDelivery(this.deps.db, { providerId: s.providerId, sourceId: s.id, deliveryKey: `renew:${s.channelId}:${expires}`, kind: "renew_channel", at: now });
    }
  }

  /** ics_url sources are polled: due ones get a pull delivery (one per source and interval). */
  async schedulePolls(): Promise<void> {
    const now = this.deps.clock.now();
    if (now.getTime() - this.lastPollScan < 10_000) return;
    this.lastPollScan = now.getTime();
    const interval = this.deps.config.icsPollIntervalSeconds * 1000;
    await withTransaction(this.deps.db, async (tx) => {
      const due = await tx
        .select()
        .from(calendarSources)
        .where(and(eq(calendarSources.kind, "ics_url"), isNull(calendarSources.deletedAt), lte(calendarSources.nextPollAt, now)))
        .limit(100)
        .for("update", { skipLocked: true });
      for (const s of due) {
        await recordDelivery(tx, { providerId: s.providerId, sourceId: s.id, deliveryKey: `poll:${Math.floor(now.getTime() / interval)}`, kind: "pull", at: now });
        await tx.update(calendarSources).set({ nextPollAt: new Date(now.getTime() + interval) }).where(eq(calendarSources.id, s.id));
      }
    });
  }

  private count(d: DeliveryRow, result: string): void {
    this.opts.metrics?.deliveriesApplied.inc({ kind: d.kind, result });
  }
}

/** How a failed attempt weighs on the source's health: a lost grant needs the provider to reconnect. */
function healthSeverity(pe: PullError): "transient" | "permanent" | "reconnect" {
  if (pe.code === "upstream_auth" || pe.code === "grant_revoked") return "reconnect";
  return pe.disposition === "retry" ? "transient" : "permanent";
}
