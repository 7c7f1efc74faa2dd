// The ingestion worker: runs in every server process; all coordination lives in PostgreSQL
// (SKIP LOCKED claims, a transaction-scoped advisory lock per source, the inbox's unique keys).
// Several deliveries at once (WORKER_CONCURRENCY), never two of one source, providers in turn.
import { and, eq, isNull, lte, sql } from "drizzle-orm";
import { calendarSources } from "../db/schema.js";
import { withTransaction } from "../db/tx.js";
import { type ExternalEvent, eventDefect, setAsideRef } from "../domain/external-event.js";
import type { Metrics } from "../http/metrics.js";
import { CredentialsError, sourceWithCredentials } from "../services/calendar-connections.js";
import {
  type FailureSeverity,
  recordSourceFailure,
  type SourceRow,
  sourceSucceeded,
  sourcesWithExpiringChannels,
} from "../services/calendar-sources.js";
import type { ConnectionAdapters } from "../services/connection-adapters.js";
import type { ServiceDeps } from "../services/deps.js";
import { type ApplyStats, addApplyStats, applyExternalEvents, setAsideOf, settleHeldCancellations } from "../services/external-apply.js";
import {
  type ClaimCandidate,
  type ClaimedDelivery,
  claimDeliveries,
  completeDelivery,
  completeFollowing,
  deliveryStillPending,
  type FollowingPayload,
  loadDeliveryIcs,
  loadPayloadRun,
  recordDelivery,
  recordSetAside,
  retryDelivery,
} from "../services/inbox.js";
import { withoutMirrorEchoes } from "../services/mirror-echo.js";
import { completeCoveredPulls, waitingPullsOf } from "../services/pull-coalescing.js";
import { createConnectionAdapters, pullSource } from "./adapters/index.js";
import { createPushChannels, type PushChannels } from "./channels.js";
import { GoogleApiError } from "./google-client.js";
import { createGuardedFetch } from "./guarded-fetch.js";
import { GraphApiError } from "./microsoft-client.js";
import { fromApiError, PullError, type PullResult, parseIcsBounded } from "./pull.js";
import { yieldToLoop } from "./slices.js";

export type WorkerOptions = {
  fetchFn?: typeof fetch;
  /** How long a claim lasts before another worker may take the delivery again. */
  leaseMs?: number;
  idleMs?: number;
  /** Deliveries in hand at once; default config WORKER_CONCURRENCY. */
  concurrency?: number;
  /** Parse time for the deliveries following a claimed one, in all; default FOLLOWING_PARSE_MS. */
  followingParseMs?: number;
  metrics?: Metrics;
};

class LostClaim extends Error {}

/**
 * Time spent parsing the deliveries that follow a claimed one, in all: the run ends where it runs
 * out (a delivery's own time budget, INGEST_TIME_BUDGET_MS, is for a delivery claimed alone).
 */
const FOLLOWING_PARSE_MS = 1_000;

/** Events per transaction when a delivery carries more (see process): ~0.5 s of work on PGlite. */
const APPLY_PART = 1_000;

export class IngestWorker {
  private running = false;
  private loop: Promise<void> | undefined;
  private wake: (() => void) | undefined;
  private woken = false;
  private lastPollScan = 0;
  private lastRenewalScan = 0;
  private lastHoldScan = 0;
  private readonly channels: PushChannels;
  private readonly adapters: ConnectionAdapters;
  private readonly fetchFn: typeof fetch;
  private readonly leaseMs: number;
  private readonly idleMs: number;
  private readonly concurrency: number;
  /** Deliveries in hand, by id: at most one per source. */
  private readonly inFlight = new Map<number, { sourceId: string; providerId: string; done: Promise<void> }>();
  /** Round-robin across providers: when each was last served (a counter, not a time). */
  private readonly lastServed = new Map<string, number>();
  private served = 0;
  /** What this worker did; the exactly-once test sums these across processes. */
  readonly stats = { applied: 0, lostClaims: 0, failed: 0 };

  constructor(
    private readonly deps: ServiceDeps,
    private readonly opts: WorkerOptions = {},
  ) {
    // Every outbound request goes through the guarded client (public addresses only, pinned).
    this.fetchFn = opts.fetchFn ?? createGuardedFetch({ allowance: deps.config.outboundAllowance, logger: deps.logger });
    this.leaseMs = opts.leaseMs ?? 120_000;
    this.idleMs = opts.idleMs ?? 500;
    this.concurrency = opts.concurrency ?? deps.config.workerConcurrency;
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

  /** SIGTERM: finish the deliveries in hand, claim no more. */
  async stop(): Promise<void> {
    this.running = false;
    this.nudge();
    await this.loop;
  }

  /** A webhook just recorded something: look now rather than after the idle sleep. */
  nudge(): void {
    if (this.wake) this.wake();
    else this.woken = true;
  }

  private async run(): Promise<void> {
    while (this.running) {
      try {
        await this.schedulePolls();
        await this.scheduleRenewals();
        await this.scheduleHeldCancellations();
        while (this.running && this.inFlight.size < this.concurrency) {
          // As many as there is room for, in one round trip.
          const claimed = await this.claim(this.concurrency - this.inFlight.size);
          if (claimed.length === 0) break;
          for (const d of claimed) this.begin(d);
        }
      } catch (err) {
        this.deps.logger.error({ err: { name: (err as Error).name, code: errorCode(err) } }, "worker iteration failed");
      }
      if (this.running) await this.sleep();
    }
    await Promise.all([...this.inFlight.values()].map((f) => f.done));
  }

  /** Until a delivery finishes, a nudge, or the idle time passes. */
  private sleep(): Promise<void> {
    if (this.woken) {
      this.woken = false;
      return Promise.resolve();
    }
    return new Promise<void>((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.wake = undefined;
        resolve();
      };
      const timer = setTimeout(done, this.idleMs);
      this.wake = done;
    });
  }

  private begin(d: ClaimedDelivery): void {
    const done = this.process(d)
      .catch((err: unknown) =>
        this.deps.logger.error({ deliveryId: d.id, err: { name: (err as Error).name, code: errorCode(err) } }, "delivery processing failed"),
      )
      .finally(() => {
        this.inFlight.delete(d.id);
        this.nudge();
      });
    this.inFlight.set(d.id, { sourceId: d.sourceId, providerId: d.providerId, done });
  }

  /** The next delivery, fairly: providers with fewer in hand first, then the one served longest ago. */
  private async claim(max: number): Promise<ClaimedDelivery[]> {
    const inHand = new Map<string, number>();
    for (const f of this.inFlight.values()) inHand.set(f.providerId, (inHand.get(f.providerId) ?? 0) + 1);
    const rank = (cs: ClaimCandidate[]) =>
      cs.sort(
        (a, b) =>
          (inHand.get(a.providerId) ?? 0) - (inHand.get(b.providerId) ?? 0) ||
          (this.lastServed.get(a.providerId) ?? 0) - (this.lastServed.get(b.providerId) ?? 0) ||
          a.availableAt.getTime() - b.availableAt.getTime() ||
          a.id - b.id,
      );
    const skipSources = [...new Set([...this.inFlight.values()].map((f) => f.sourceId))];
    const claimed = await claimDeliveries(this.deps.db, this.deps.clock.now(), this.leaseMs, { max, skipSources, rank });
    for (const d of claimed) this.lastServed.set(d.providerId, ++this.served);
    return claimed;
  }

  /** Processes every due delivery, one at a time, then settles held cancellations; for tests and tools. */
  async drain(max = 10_000): Promise<number> {
    let n = 0;
    while (n < max && (await this.runOnce())) n++;
    await settleHeldCancellations(this.deps.db, this.deps.clock.now());
    return n;
  }

  /** Claims and processes one delivery. False when none is due. */
  async runOnce(): Promise<boolean> {
    const [d] = await this.claim(1);
    if (!d) return false;
    await this.process(d);
    return true;
  }

  private async process(d: ClaimedDelivery): Promise<void> {
    const { db, clock, logger, config } = this.deps;
    const log = { deliveryId: d.id, kind: d.kind };
    const source = d.source.deletedAt === null ? d.source : null;
    if (!source) {
      await withTransaction(db, (tx) => completeDelivery(tx, d.id, clock.now()));
      this.count(d, "source_gone");
      return;
    }
    if (d.kind === "renew_channel") return this.renewChannel(d, source);
    try {
      const now = clock.now();
      const timezone = d.timezone;
      // Pull notifications of this source already waiting are answered by this pull too: it reads
      // the calendar as it is now, after every change they announce (see pull-coalescing.ts).
      const covered = d.kind === "pull" || d.kind === "full_resync" ? await waitingPullsOf(db, source.id, d.id) : [];
      const limits = config.ingestLimits;
      // A pushed calendar, and the same source's pushes waiting behind it (applied with it below).
      const run = d.kind === "ics_payload" ? await loadPayloadRun(db, d, now) : null;
      const result: PullResult = run
        ? {
            kind: "events",
            events: await parseIcsBounded(run.ics ?? (await loadDeliveryIcs(db, d.id, yieldToLoop)), now, timezone, limits),
            snapshot: false,
          }
        : await this.pullWithToken(source, { full: d.kind === "full_resync", now, timezone, fetchFn: this.fetchFn, limits });
      if (result.kind === "events" && result.events.length > limits.maxEvents) throw new PullError("ics_too_many_events", "reject");
      const pulledFrom = source.syncToken;
      // A large delivery is applied in parts of APPLY_PART events, each in its own transaction, the
      // last one with the cursor and `done`: on PGlite a transaction holds the only connection, so
      // one over 20,000 events kept every other request from the database for seconds. Applying is
      // idempotent (a part applied twice finds its own rows and changes nothing), so a retry after
      // a crash between parts is safe; the delivery is done only when every part is.
      const events = result.kind === "events" ? result.events : [];
      let earlier: ApplyStats | undefined;
      let at = 0;
      for (; at + APPLY_PART < events.length; at += APPLY_PART) {
        const part = events.slice(at, at + APPLY_PART);
        const applied = await withTransaction(db, async (tx) => {
          if (!(await deliveryStillPending(tx, d.id))) throw new LostClaim();
          await tx.execute(sql`select pg_advisory_xact_lock(hashtext(${source.id}))`);
          const current = (await tx.select().from(calendarSources).where(eq(calendarSources.id, source.id)))[0]!;
          return applyExternalEvents(tx, current, await withoutMirrorEchoes(tx, current, part), { snapshot: false, now, pause: yieldToLoop });
        });
        earlier = earlier ? addApplyStats(earlier, applied) : applied;
        await yieldToLoop();
      }
      // The same source's payloads waiting behind this one are applied with it, in one transaction
      // (a burst of deliveries then costs one pass, not one each); see followingPayloads.
      const following = run && at === 0 ? await this.followingPayloads(run.following, now, timezone, APPLY_PART - events.length) : [];
      const lastPart = at > 0 ? events.slice(at) : events;
      const snapshotIds =
        earlier && result.kind === "events" && result.snapshot ? new Set(events.filter((e) => !eventDefect(e)).map((e) => e.externalId)) : undefined;
      let alongsideApplied = 0;
      const stats = await withTransaction(db, async (tx) => {
        // Applied and done commit together; a lost claim (another worker finished it) rolls back.
        // One source at a time across all processes, so cursors advance in order: the lock is
        // taken in the same statement.
        if (!(await completeDelivery(tx, d.id, clock.now(), source.id))) throw new LostClaim();
        await completeCoveredPulls(tx, covered, clock.now());
        const applying = await completeFollowing(
          tx,
          following.map((f) => f.id),
          clock.now(),
        );
        const alongside = following.slice(0, applying.length);
        const current = (await tx.select().from(calendarSources).where(eq(calendarSources.id, source.id)))[0]!;
        if (result.kind === "not_modified") {
          await tx.update(calendarSources).set(sourceSucceeded(now)).where(eq(calendarSources.id, source.id));
          return null;
        }
        // Our own writes to a write-back calendar, coming back: not external changes.
        const toApply = alongside.length ? [...lastPart, ...alongside.flatMap((f) => f.events)] : lastPart;
        const last = await applyExternalEvents(tx, current, await withoutMirrorEchoes(tx, current, toApply), {
          snapshot: result.snapshot,
          ...(snapshotIds ? { snapshotIds } : {}),
          now,
          pause: yieldToLoop,
        });
        const applied = earlier ? addApplyStats(earlier, last) : last;
        applied.setAside.unshift(...(result.setAside ?? []).map((e) => ({ externalId: setAsideRef(e.externalId), reason: e.reason })));
        applied.setAside.splice(50);
        // The new cursor is stored only now, after every page applied; and never over a newer one
        // that another worker stored while we were pulling. Set-aside events do not hold it back.
        const cursorMoved = current.syncToken !== pulledFrom && !result.snapshot;
        const poison = applied.setAside[0];
        await tx
          .update(calendarSources)
          .set({
            ...sourceSucceeded(now),
            ...(poison ? { lastErrorCode: poison.reason, lastErrorAt: now } : {}),
            ...(result.cursor !== undefined && !cursorMoved ? { syncToken: result.cursor } : {}),
            ...("etag" in result ? { etag: result.etag ?? null, lastModified: result.lastModified ?? null } : {}),
          })
          .where(eq(calendarSources.id, source.id));
        // Each delivery lists its own set-aside events.
        const ownSetAside = alongside.length ? setAsideOf(lastPart) : applied.setAside;
        await recordSetAside(tx, d.id, ownSetAside);
        for (const f of alongside) await recordSetAside(tx, f.id, setAsideOf(f.events));
        alongsideApplied = alongside.length;
        return applied;
      });
      this.stats.applied += 1 + alongsideApplied;
      for (let i = 0; i <= alongsideApplied; i++) this.count(d, "applied");
      const { setAside, ...counts } = stats ?? { setAside: [] };
      logger.info(
        {
          ...log,
          sourceKind: source.kind,
          ...(alongsideApplied ? { withFollowing: alongsideApplied } : {}),
          ...(stats ? { ...counts, setAside: setAside.length } : { notModified: true }),
        },
        "delivery applied",
      );
      if (stats?.held) await settleHeldCancellations(db, clock.now(), source.providerId);
    } catch (err) {
      if (err instanceof LostClaim) {
        this.stats.lostClaims++;
        this.count(d, "lost_claim");
        return;
      }
      const pe = err instanceof PullError ? err : new PullError("internal_error", "retry");
      if (!(err instanceof PullError)) logger.error({ ...log, err: { name: (err as Error).name, code: errorCode(err) } }, "delivery failed");
      await recordSourceFailure(db, source.id, pe.code, clock.now(), healthSeverity(pe));
      await retryDelivery(db, d, clock.now(), pe.code, {
        final: pe.disposition !== "retry",
        reject: pe.disposition === "reject",
        ...(pe.retryAfterSeconds !== undefined ? { retryAfterMs: pe.retryAfterSeconds * 1000 } : {}),
      });
      this.stats.failed++;
      this.count(d, pe.code);
      logger.warn({ ...log, sourceKind: source.kind, code: pe.code, disposition: pe.disposition }, "delivery not applied");
    }
  }

  /**
   * The source's ics_payload deliveries waiting behind the claimed one (loadPayloadRun), parsed, to
   * be applied with it: as a pull reads a calendar as it is now, the newest version of each event
   * wins (an event changed twice in the burst is applied once, as its last version). The run stops
   * before the first delivery that cannot be parsed within what is left of FOLLOWING_PARSE_MS (it is
   * then claimed on its own, with the whole time budget, and applied or refused as usual), or that
   * would take the events past `room`.
   */
  private async followingPayloads(
    waiting: FollowingPayload[],
    now: Date,
    timezone: string,
    room: number,
  ): Promise<{ id: number; events: ExternalEvent[] }[]> {
    const out: { id: number; events: ExternalEvent[] }[] = [];
    const until = performance.now() + (this.opts.followingParseMs ?? FOLLOWING_PARSE_MS);
    for (const f of waiting) {
      const left = until - performance.now();
      if (left <= 0) break;
      let events: ExternalEvent[];
      try {
        events = await parseIcsBounded(f.ics, now, timezone, { ...this.deps.config.ingestLimits, timeBudgetMs: left });
      } catch {
        break;
      }
      if (events.length > room) break;
      room -= events.length;
      out.push({ id: f.id, events });
    }
    return out;
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

  private async renewChannel(d: ClaimedDelivery, source: SourceRow): Promise<void> {
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
      const pe =
        err instanceof GoogleApiError || err instanceof GraphApiError
          ? fromApiError(err)
          : err instanceof PullError
            ? err
            : new PullError("renew_failed", "retry");
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
      await recordDelivery(this.deps.db, {
        providerId: s.providerId,
        sourceId: s.id,
        deliveryKey: `renew:${s.channelId}:${expires}`,
        kind: "renew_channel",
        at: now,
      });
    }
  }

  /** Held cancellations whose hold ran out are decided even when nothing else arrives. */
  async scheduleHeldCancellations(): Promise<void> {
    const now = this.deps.clock.now();
    if (now.getTime() - this.lastHoldScan < 30_000) return;
    this.lastHoldScan = now.getTime();
    await settleHeldCancellations(this.deps.db, now);
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
        await recordDelivery(tx, {
          providerId: s.providerId,
          sourceId: s.id,
          deliveryKey: `poll:${Math.floor(now.getTime() / interval)}`,
          kind: "pull",
          at: now,
        });
        await tx
          .update(calendarSources)
          .set({ nextPollAt: new Date(now.getTime() + interval) })
          .where(eq(calendarSources.id, s.id));
      }
    });
  }

  private count(d: ClaimedDelivery, result: string): void {
    this.opts.metrics?.deliveriesApplied.inc({ kind: d.kind, result });
  }
}

/** A database or driver error's SQLSTATE-like code, never its message (which may quote parameters). */
function errorCode(err: unknown): string | undefined {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === "string" ? code : undefined;
}

/** How a failed attempt weighs on the source's health: a lost grant needs the provider to reconnect. */
function healthSeverity(pe: PullError): FailureSeverity {
  if (pe.code === "upstream_auth" || pe.code === "grant_revoked") return "reconnect";
  return pe.disposition === "retry" ? "transient" : "permanent";
}
