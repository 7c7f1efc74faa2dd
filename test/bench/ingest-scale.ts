// Part 4 at scale: the latency of the ingestion path (a webhook's acknowledgement, then the
// acknowledgement -> applied time) at a moderate steady load, first with the few providers part 4
// seeded, then, on the same server processes and the same sources, after N more providers with
// their calendar sources, sessions, past deliveries and external events were bulk-loaded.
import { randomBytes } from "node:crypto";
import type postgres from "postgres";
import { Webhook } from "standardwebhooks";
import { httpRequest, log, type Mode, percentile, sleep } from "./harness.js";
import { deliveryIcs, type IngestSource, signedIcsDelivery } from "./ingest.js";
import { type IngestScaleCounts, seedIngestScale, settleDatabase } from "./seed.js";
import type { ServerHandle } from "./servers.js";

export type LatencyRound = {
  /** Providers in the database during the round. */
  providers: number;
  deliveries: number;
  acked: number;
  applied: number;
  /** Acknowledged, then failed or rejected by the worker. */
  failed: number;
  /** Acknowledged, not finished within the wait. */
  notApplied: number;
  seconds: number;
  /** Deliveries applied per second over the round (the load, not a capacity). */
  appliedPerSecond: number;
  ackP50Ms: number;
  ackP99Ms: number;
  appliedP50Ms: number;
  appliedP99Ms: number;
  statusCounts: Record<string, number>;
  timedOut: boolean;
};

export type IngestScaleResult = {
  inFlight: number;
  sources: number;
  servers: number;
  perRound: number;
  warmup: number;
  small: LatencyRound;
  scaled: LatencyRound;
  load: IngestScaleCounts & { seconds: number; pastDeliveriesPerSource: number; sessionsPerProvider: number };
  ratios: { ackP50: number; ackP99: number; appliedP50: number; appliedP99: number };
  /** Wall time of this measurement (both rounds, their warm-ups, the load and the settling). */
  seconds: number;
};

type Finished = { state: string; processedAt: Date | null };

/**
 * Watches the inbox for the deliveries the senders wait on: one indexed query (the unique
 * (source_id, delivery_key) index) every `everyMs` for all of them, whatever the database holds, so
 * the watching costs the same in both rounds.
 */
function inboxWatcher(sql: postgres.Sql, sourceIds: readonly string[], everyMs = 10) {
  const waiting = new Map<string, (f: Finished) => void>();
  let running = true;
  const loop = (async () => {
    while (running) {
      if (waiting.size) {
        const keys = [...waiting.keys()];
        const rows = await sql<{ key: string; state: string; processed: Date | null }[]>`
          select delivery_key as key, state, processed_at as processed from deliveries
          where source_id = any(${sql.array([...sourceIds])}::uuid[]) and delivery_key = any(${sql.array(keys)}::text[]) and state <> 'pending'`;
        for (const r of rows) {
          waiting.get(r.key)?.({ state: r.state, processedAt: r.processed });
          waiting.delete(r.key);
        }
      }
      await sleep(everyMs);
    }
  })();
  return {
    /** The delivery's final state, or null after `timeoutMs`. */
    wait(key: string, timeoutMs: number): Promise<Finished | null> {
      return new Promise((resolve) => {
        const timer = setTimeout(() => {
          waiting.delete(key);
          resolve(null);
        }, timeoutMs);
        waiting.set(key, (f) => {
          clearTimeout(timer);
          resolve(f);
        });
      });
    },
    async stop(): Promise<void> {
      running = false;
      await loop;
    },
  };
}

/**
 * `count` signed deliveries, one sender per source, each with one delivery in flight: POST it
 * (alternating between the servers), then wait until the worker has applied it before sending the
 * source's next. So at most `sources.length` deliveries are unapplied at any time and none queues
 * behind another of its source: what is timed is the path, not a backlog. `seq` gives each source's
 * next SEQUENCE (RFC 5545 3.8.7.4), so every delivery moves a session and has work to apply.
 */
async function latencyRound(
  servers: readonly ServerHandle[],
  sources: readonly IngestSource[],
  sql: postgres.Sql,
  opts: { count: number; tag: string; seq: number[]; deadlineMs: number; providers: number },
): Promise<LatencyRound> {
  const webhooks = sources.map((s) => new Webhook(s.secret));
  const watcher = inboxWatcher(
    sql,
    sources.map((s) => s.id),
  );
  const ackMs: number[] = [];
  const appliedMs: number[] = [];
  const statusCounts: Record<string, number> = {};
  let sent = 0;
  let failed = 0;
  let notApplied = 0;
  let timedOut = false;
  const started = performance.now();
  const stopAt = started + opts.deadlineMs;
  const sender = async (si: number) => {
    const source = sources[si]!;
    for (let n = 0; si + n * sources.length < opts.count; n++) {
      if (performance.now() > stopAt) {
        timedOut = true;
        return;
      }
      const msgId = `msg_${opts.tag}_${si}_${n}`;
      const { headers, body } = signedIcsDelivery(webhooks[si]!, msgId, deliveryIcs(source, opts.seq[si]!++));
      const server = servers[(si + n) % servers.length]!;
      sent++;
      const t0 = performance.now();
      const res = await httpRequest(`${server.baseUrl}/webhooks/ics/${source.id}`, { method: "POST", headers, body, discardBody: true }).catch(
        () => null,
      );
      const took = performance.now() - t0;
      const ackAt = Date.now();
      const status = res ? String(res.status) : "connection error";
      statusCounts[status] = (statusCounts[status] ?? 0) + 1;
      if (res?.status !== 202) continue;
      ackMs.push(took);
      const done = await watcher.wait(`whk:${msgId}`, 30_000);
      if (!done) {
        // Its source would queue behind it from here on: this sender stops.
        notApplied++;
        return;
      }
      if (done.state === "done" && done.processedAt) appliedMs.push(done.processedAt.getTime() - ackAt);
      else failed++;
    }
  };
  try {
    await Promise.all(sources.map((_, si) => sender(si)));
  } finally {
    await watcher.stop();
  }
  const seconds = (performance.now() - started) / 1000;
  return {
    providers: opts.providers,
    deliveries: sent,
    acked: ackMs.length,
    applied: appliedMs.length,
    failed,
    notApplied,
    seconds,
    appliedPerSecond: appliedMs.length / seconds,
    ackP50Ms: percentile(ackMs, 50),
    ackP99Ms: percentile(ackMs, 99),
    appliedP50Ms: percentile(appliedMs, 50),
    appliedP99Ms: percentile(appliedMs, 99),
    statusCounts,
    timedOut,
  };
}

/**
 * Runs after part 4's throughput measurement, on its servers, sources and database (the inbox
 * drained). Each round is preceded by the same warm-up deliveries and by VACUUM ANALYZE and
 * CHECKPOINT, so both start from a settled database.
 */
export async function benchIngestScale(
  mode: Mode,
  servers: readonly ServerHandle[],
  sources: readonly IngestSource[],
  sql: postgres.Sql,
): Promise<IngestScaleResult> {
  const t0 = performance.now();
  const providers = mode.quick ? 1000 : 10_000;
  const perRound = mode.quick ? 300 : 1000;
  const warmup = 10 * sources.length;
  const deadlineMs = mode.quick ? 60_000 : 300_000;
  const pastDeliveriesPerSource = 20;
  const sessionsPerProvider = 3;
  // Above every SEQUENCE part 4 sent, so each delivery is newer than what its source last applied.
  const seq = sources.map(() => 1_000_000);
  const count = async () => {
    const [row] = await sql<{ n: number }[]>`select count(*)::int as n from providers`;
    return row!.n;
  };
  const round = async (label: string) => {
    await settleDatabase(sql);
    const n = await count();
    await latencyRound(servers, sources, sql, { count: warmup, tag: `${label}warm${randomBytes(2).toString("hex")}`, seq, deadlineMs, providers: n });
    log(`ingest scale: ${perRound} deliveries with ${n.toLocaleString("en-US")} providers, ${sources.length} in flight`);
    const r = await latencyRound(servers, sources, sql, {
      count: perRound,
      tag: `${label}${randomBytes(3).toString("hex")}`,
      seq,
      deadlineMs,
      providers: n,
    });
    log(
      `ingest scale, ${n} providers: ack p50/p99 ${r.ackP50Ms.toFixed(1)}/${r.ackP99Ms.toFixed(1)} ms, applied p50/p99 ${r.appliedP50Ms.toFixed(0)}/${r.appliedP99Ms.toFixed(0)} ms`,
    );
    return r;
  };

  const small = await round("small");
  log(`ingest scale: loading ${providers} providers with an ics_webhook source each (COPY)`);
  const l0 = performance.now();
  const loaded = await seedIngestScale(sql, {
    templateProviderId: sources[0]!.providerId,
    providers,
    now: Date.now(),
    payloadIcs: deliveryIcs(sources[0]!, 0),
    sessionsPerProvider,
    pastDeliveries: pastDeliveriesPerSource,
  });
  const loadSeconds = (performance.now() - l0) / 1000;
  log(`ingest scale: loaded in ${loadSeconds.toFixed(1)} s`);
  const scaled = await round("scaled");
  return {
    inFlight: sources.length,
    sources: sources.length,
    servers: servers.length,
    perRound,
    warmup,
    small,
    scaled,
    load: { ...loaded, seconds: loadSeconds, pastDeliveriesPerSource, sessionsPerProvider },
    ratios: {
      ackP50: scaled.ackP50Ms / small.ackP50Ms,
      ackP99: scaled.ackP99Ms / small.ackP99Ms,
      appliedP50: scaled.appliedP50Ms / small.appliedP50Ms,
      appliedP99: scaled.appliedP99Ms / small.appliedP99Ms,
    },
    seconds: (performance.now() - t0) / 1000,
  };
}
