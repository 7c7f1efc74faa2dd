// Part 4: signed Standard Webhooks ICS deliveries. Intake alone (one server, wrk) in rounds beside
// the floor, a bare postgres.js loop inserting the same inbox row; then two server processes (a
// worker in each) on one PostgreSQL: acknowledged per second, applied per second, acknowledgement
// -> applied latency, and the workers' rate on a backlog.
import { randomBytes, randomUUID } from "node:crypto";
import { rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import postgres from "postgres";
import { Webhook } from "standardwebhooks";
import { openDatabase } from "../../src/db/client.js";
import { migrate } from "../../src/db/migrate.js";
import {
  boundedLoop,
  createBenchDatabase,
  httpRequest,
  type LoopResult,
  log,
  type Mode,
  median,
  percentile,
  runWrk,
  sleep,
  tempDir,
  type WrkResult,
} from "./harness.js";
import { benchIngestScale, type IngestScaleResult } from "./ingest-scale.js";
import { apiJson, type ServerHandle, startServer } from "./servers.js";

export type IngestSource = { id: string; secret: string; providerId: string; sessionUids: string[] };

const icsUtc = (ms: number) =>
  new Date(ms)
    .toISOString()
    .replace(/[-:]/g, "")
    .replace(/\.\d{3}/, "");
const DAY = 86_400_000;

/** `n` providers, each with a link, a client, `sessions` upcoming virtual sessions and an ics_webhook source. */
export async function seedSources(server: ServerHandle, n: number, sessions = 3): Promise<IngestSource[]> {
  const out: IngestSource[] = [];
  const base = Math.floor(Date.now() / DAY) * DAY + 7 * DAY;
  for (let p = 0; p < n; p++) {
    const provider = await apiJson<{ id: string }>(server, "POST", "/api/v1/providers", {
      name: `Dr Ingest ${p}`,
      timezone: "America/New_York",
      licenses: [{ state: "NY" }],
      credentialedStates: ["NY"],
    });
    await apiJson(server, "PUT", `/api/v1/providers/${provider.id}/telehealth-link`, {
      url: "https://zoom.us/j/1234567890",
      baaSigned: true,
      waitingRoomEnabled: true,
    });
    const client = await apiJson<{ id: string }>(server, "POST", `/api/v1/providers/${provider.id}/clients`, {
      displayName: `Client Ingest ${p}`,
      insurance: "in_network",
      medicare: false,
    });
    const uids: string[] = [];
    for (let s = 0; s < sessions; s++) {
      const session = await apiJson<{ uid: string }>(server, "POST", `/api/v1/providers/${provider.id}/sessions`, {
        clientId: client.id,
        start: new Date(base + s * DAY + 15 * 3600_000).toISOString(),
        durationMinutes: 50,
        kind: "virtual",
      });
      uids.push(session.uid);
    }
    const source = await apiJson<{ id: string; signingSecret: string }>(server, "POST", `/api/v1/providers/${provider.id}/calendar-sources`, {
      kind: "ics_webhook",
    });
    out.push({ id: source.id, secret: source.signingSecret, providerId: provider.id, sessionUids: uids });
  }
  return out;
}

/**
 * Delivery i: the therapist's calendar as its app would send it: one of our sessions moved (a new
 * SEQUENCE each time, so every delivery has work to apply) and two busy blocks of their own.
 */
export function deliveryIcs(source: IngestSource, i: number): string {
  const k = i + 1;
  const uid = source.sessionUids[i % source.sessionUids.length]!;
  const day = Math.floor(Date.now() / DAY) * DAY + (7 + (i % source.sessionUids.length)) * DAY;
  const start = day + (14 + (k % 4)) * 3600_000;
  const busy = (n: number) => {
    const b = day + (9 + n) * 3600_000;
    return [
      "BEGIN:VEVENT",
      `UID:busy-${n}-${i % 7}@therapist.example`,
      `DTSTAMP:${icsUtc(Date.now())}`,
      `DTSTART:${icsUtc(b)}`,
      `DTEND:${icsUtc(b + 1800_000)}`,
      "SUMMARY:Supervision",
      "END:VEVENT",
    ];
  };
  return [
    "BEGIN:VCALENDAR",
    "VERSION:2.0",
    "PRODID:-//Therapist's own calendar//EN",
    "BEGIN:VEVENT",
    `UID:${uid}`,
    `DTSTAMP:${icsUtc(Date.now())}`,
    `DTSTART:${icsUtc(start)}`,
    `DTEND:${icsUtc(start + 50 * 60_000)}`,
    `SEQUENCE:${k}`,
    "SUMMARY:Session",
    "END:VEVENT",
    ...busy(0),
    ...busy(1),
    "END:VCALENDAR",
    "",
  ].join("\r\n");
}

/** A delivery as a Standard Webhooks sender posts it: the envelope, signed by the `standardwebhooks` package. */
export function signedIcsDelivery(webhook: Webhook, msgId: string, ics: string): { headers: Record<string, string>; body: string } {
  const body = JSON.stringify({ type: "calendar.changed", timestamp: new Date().toISOString(), data: { ics } });
  const at = new Date();
  return {
    headers: {
      "content-type": "application/json",
      "webhook-id": msgId,
      "webhook-timestamp": String(Math.floor(at.getTime() / 1000)),
      "webhook-signature": webhook.sign(msgId, at, body),
    },
    body,
  };
}

/** The LIKE pattern of every delivery key a run tagged `tag` posts (`msg_<tag>_<i>`). */
function deliveryKeyLike(tag: string): string {
  return `whk:msg\\_${tag}\\_%`;
}

export type SendResult = { loop: LoopResult; acked: Map<string, number>; startedAt: number; lastAckAt: number; statusCounts: Record<string, number> };

/**
 * `count` deliveries, `concurrency` in flight, spread over the servers and sources; signed at send
 * time (the 5-minute window is checked against the wall clock). Keys carry `tag`.
 */
export async function sendDeliveries(
  servers: readonly ServerHandle[],
  sources: readonly IngestSource[],
  opts: { count: number; concurrency: number; deadlineMs: number; tag: string },
): Promise<SendResult> {
  const acked = new Map<string, number>();
  const statusCounts: Record<string, number> = {};
  const webhooks = sources.map((s) => new Webhook(s.secret));
  const startedAt = Date.now();
  let lastAckAt = startedAt;
  const loop = await boundedLoop(opts.count, opts.concurrency, opts.deadlineMs, async (i) => {
    const si = i % sources.length;
    const source = sources[si]!;
    const server = servers[i % servers.length]!;
    const msgId = `msg_${opts.tag}_${i}`;
    const { headers, body } = signedIcsDelivery(webhooks[si]!, msgId, deliveryIcs(source, Math.floor(i / sources.length)));
    const res = await httpRequest(`${server.baseUrl}/webhooks/ics/${source.id}`, {
      method: "POST",
      headers,
      body,
      discardBody: true,
    });
    statusCounts[res.status] = (statusCounts[res.status] ?? 0) + 1;
    if (res.status !== 202) throw new Error(`webhook answered ${res.status}`);
    lastAckAt = Date.now();
    acked.set(msgId, lastAckAt);
  });
  return { loop, acked, startedAt, lastAckAt, statusCounts };
}

export type ApplyWait = { done: number; failed: number; pending: number; lastProcessedAt: number; latenciesMs: number[]; timedOut: boolean };

/** Polls the inbox until every acknowledged delivery of `tag` is done or failed, or the deadline. */
export async function waitApplied(sql: postgres.Sql, tag: string, acked: Map<string, number>, deadlineMs: number): Promise<ApplyWait> {
  const like = deliveryKeyLike(tag);
  const stopAt = Date.now() + deadlineMs;
  let timedOut = false;
  for (;;) {
    const [row] = await sql<{ open: number }[]>`
      select count(*) filter (where state = 'pending')::int as open from deliveries where delivery_key like ${like}`;
    if (row!.open === 0) break;
    if (Date.now() > stopAt) {
      timedOut = true;
      break;
    }
    await sleep(250);
  }
  const rows = await sql<{ key: string; state: string; processed: Date | null }[]>`
    select delivery_key as key, state, processed_at as processed from deliveries where delivery_key like ${like}`;
  const latencies: number[] = [];
  let done = 0;
  let failed = 0;
  let pending = 0;
  let last = 0;
  for (const r of rows) {
    if (r.state === "done") done++;
    else if (r.state === "failed") failed++;
    else pending++;
    if (r.state === "done" && r.processed) {
      const t = r.processed.getTime();
      last = Math.max(last, t);
      const ack = acked.get(r.key.slice(4));
      if (ack !== undefined) latencies.push(t - ack);
    }
  }
  return { done, failed, pending, lastProcessedAt: last, latenciesMs: latencies, timedOut };
}

export type DrainResult = {
  deliveries: number;
  applied: number;
  failed: number;
  pending: number;
  seconds: number;
  perSecond: number;
  timedOut: boolean;
};

/**
 * The workers' own rate: `count` deliveries (the webhook's inbox rows and stored ICS, as intake
 * records them) written straight into the inbox, due only in the far future; then made due at once
 * with one UPDATE while both servers' workers run, and timed from that commit to the last
 * `processed_at`. Each delivery moves a session to a new SEQUENCE, as in the timed run.
 */
export async function drainBacklog(
  sql: postgres.Sql,
  sources: readonly IngestSource[],
  opts: { count: number; firstIndex: number; deadlineMs: number },
): Promise<DrainResult> {
  const tag = `drain${randomBytes(3).toString("hex")}`;
  const rows = Array.from({ length: opts.count }, (_, i) => {
    const source = sources[i % sources.length]!;
    return { p: source.providerId, s: source.id, k: `whk:msg_${tag}_${i}`, t: deliveryIcs(source, opts.firstIndex + Math.floor(i / sources.length)) };
  });
  for (let at = 0; at < rows.length; at += 1000) {
    const input = JSON.stringify(rows.slice(at, at + 1000));
    await sql`
      with input as (select * from json_to_recordset(${input}::text::json) as t(p uuid, s uuid, k text, t text)),
      recorded as (
        insert into deliveries (provider_id, source_id, delivery_key, kind, received_at, available_at)
        select p, s, k, 'ics_payload', now(), 'infinity' from input order by k
        returning id, delivery_key
      )
      insert into delivery_payload_parts (delivery_id, part, text)
      select recorded.id, 0, input.t from recorded join input on input.k = recorded.delivery_key`;
  }
  const like = deliveryKeyLike(tag);
  const startedAt = Date.now();
  await sql`update deliveries set available_at = now() where delivery_key like ${like} and state = 'pending'`;
  const acked = new Map(rows.map((r) => [r.k.slice(4), startedAt]));
  const wait = await waitApplied(sql, tag, acked, opts.deadlineMs);
  const seconds = (wait.lastProcessedAt - startedAt) / 1000;
  return {
    deliveries: opts.count,
    applied: wait.done,
    failed: wait.failed,
    pending: wait.pending,
    seconds,
    perSecond: wait.done / seconds,
    timedOut: wait.timedOut,
  };
}

export type FloorResult = { inserts: number; seconds: number; perSecond: number; command: string };

/**
 * The floor: the inbox row the webhook records (same table, same ICS, same conflict clause), the ICS
 * in the row's jsonb payload (one row, where the server writes the row and a payload part), inserted
 * by a bare postgres.js loop at the same concurrency into a fresh migrated database (no workers
 * there), with the server's pool size (10). Every connection opens and prepares in a warm-up first;
 * per second is over the rows' `received_at` (stamped just before each insert), first to last, as
 * for intake.
 */
export async function floorInserts(opts: { count: number; concurrency: number; deadlineMs: number; payloadIcs: string }): Promise<FloorResult> {
  const db = await createBenchDatabase("ingest_floor");
  const migrated = await openDatabase({ kind: "postgres", url: db.url, max: 1 });
  await migrate(migrated);
  await migrated.close();
  const sql = postgres(db.url, { max: 10, onnotice: () => {} });
  try {
    const providerId = randomUUID();
    const sourceId = randomUUID();
    const payload = JSON.stringify({ ics: opts.payloadIcs });
    const insert = (tag: string) => async (i: number) => {
      const now = new Date();
      await sql`
        insert into deliveries (provider_id, source_id, delivery_key, kind, payload, received_at, available_at)
        values (${providerId}, ${sourceId}, ${`whk:msg_${tag}_${i}`}, 'ics_payload', ${payload}::jsonb, ${now}, ${now})
        on conflict (source_id, delivery_key) do nothing
        returning id`;
    };
    await boundedLoop(200, opts.concurrency, opts.deadlineMs, insert("warm"));
    const tag = randomBytes(3).toString("hex");
    const loop = await boundedLoop(opts.count, opts.concurrency, opts.deadlineMs, insert(tag));
    if (loop.failed) throw new Error(`floor inserts failed: ${loop.firstError}`);
    const [span] = await sql<{ n: number; seconds: number }[]>`
      select count(*)::int as n, extract(epoch from max(received_at) - min(received_at))::float8 as seconds
      from deliveries where delivery_key like ${deliveryKeyLike(tag)}`;
    if (loop.stoppedByDeadline || span!.n !== opts.count) throw new Error(`floor: ${span!.n} of ${opts.count} inserted in ${opts.deadlineMs} ms`);
    return {
      inserts: span!.n,
      seconds: span!.seconds,
      perSecond: span!.n / span!.seconds,
      command: `postgres.js (max 10) x ${opts.concurrency} concurrent loops: insert into deliveries (...) values (...) on conflict (source_id, delivery_key) do nothing returning id`,
    };
  } finally {
    await sql.end({ timeout: 5 });
    await db.drop();
  }
}

export type IntakeRound = { floorPerSecond: number; ackPerSecond: number; p50Ms: number; p99Ms: number };

export type IntakeResult = {
  deliveries: number;
  concurrency: number;
  rounds: IntakeRound[];
  /** Medians over the rounds. */
  floorPerSecond: number;
  ackPerSecond: number;
  ratio: number;
  wrkCommand: string;
  floorCommand: string;
  serverCommand: string;
  /** Deliveries posted before the rounds, unmeasured. */
  warmup: number;
};

/** Relative to the repository, where wrk runs. */
const WEBHOOK_SCRIPT = "test/bench/webhook-post.lua";

/**
 * `count` deliveries posted once each by wrk (test/bench/webhook-post.lua), signed with the
 * `standardwebhooks` package just before, `connections` in flight. Stopped once the inbox holds
 * them all; per second is over their `received_at` (the server's clock, first to last).
 */
async function postWithWrk(
  wrkBin: string,
  server: ServerHandle,
  sources: readonly IngestSource[],
  sql: postgres.Sql,
  opts: { count: number; connections: number; firstIndex: number; deadlineMs: number },
): Promise<{ perSecond: number; wrk: WrkResult }> {
  const tag = `wrk${randomBytes(3).toString("hex")}`;
  const webhooks = sources.map((s) => new Webhook(s.secret));
  const lines = Array.from({ length: opts.count }, (_, i) => {
    const si = i % sources.length;
    const source = sources[si]!;
    const { headers, body } = signedIcsDelivery(
      webhooks[si]!,
      `msg_${tag}_${i}`,
      deliveryIcs(source, opts.firstIndex + Math.floor(i / sources.length)),
    );
    return [`/webhooks/ics/${source.id}`, headers["webhook-id"], headers["webhook-timestamp"], headers["webhook-signature"], body].join("\t");
  });
  const file = join(tempDir("deliveries"), "deliveries.tsv");
  writeFileSync(file, `${lines.join("\n")}\n`);
  const like = deliveryKeyLike(tag);
  // Counted from the newest row before the round, so polling reads only the round's rows.
  const [before] = await sql<{ id: string }[]>`select coalesce(max(id), 0)::int8 as id from deliveries`;
  const stop = new AbortController();
  const stopAt = Date.now() + opts.deadlineMs;
  const running = runWrk(wrkBin, server.baseUrl, {
    seconds: Math.ceil(opts.deadlineMs / 1000),
    threads: 1,
    connections: opts.connections,
    script: WEBHOOK_SCRIPT,
    env: { DELIVERIES: file },
    stop: stop.signal,
  });
  let finished = false;
  const settled = () => {
    finished = true;
  };
  running.then(settled, settled);
  let timedOut = false;
  let wrk: WrkResult;
  try {
    for (;;) {
      await sleep(100);
      const [row] = await sql<{ n: number }[]>`
        select count(*)::int as n from deliveries where id > ${before!.id} and delivery_key like ${like}`;
      if (row!.n >= opts.count || finished) break;
      if (Date.now() > stopAt) {
        timedOut = true;
        break;
      }
    }
  } finally {
    stop.abort();
    wrk = await running.finally(() => rmSync(file));
  }
  const [span] = await sql<{ n: number; seconds: number }[]>`
    select count(*)::int as n, extract(epoch from max(received_at) - min(received_at))::float8 as seconds
    from deliveries where id > ${before!.id} and delivery_key like ${like}`;
  if (wrk.non2xx3xx || wrk.errors || span!.n !== opts.count)
    throw new Error(
      `intake: ${span!.n} of ${opts.count} recorded${timedOut ? ` in ${opts.deadlineMs} ms` : ""}; wrk had ${wrk.requests} answers, ` +
        `${wrk.non2xx3xx} of them not 2xx or 3xx, and ${wrk.errors} socket errors or timeouts`,
    );
  return { perSecond: span!.n / span!.seconds, wrk };
}

/**
 * Intake beside the floor: one server process (the floor is one process) with its worker off (the
 * floor applies nothing), the deliveries signed before the timed run and posted by wrk (as for the
 * feeds), so signing and a Node HTTP client take less of the cores the server and PostgreSQL run
 * on. Rounds alternate floor and intake; the ratio is of the medians. What still differs is listed
 * in the report (run.ts), and all of it favours the floor.
 */
export async function benchIntake(mode: Mode, wrkBin: string, payloadIcs: string): Promise<IntakeResult> {
  const count = mode.quick ? 1_000 : 10_000;
  const concurrency = 16;
  const roundsWanted = mode.quick ? 1 : 3;
  const warmup = mode.quick ? 500 : 5_000;
  const db = await createBenchDatabase("ingest_intake");
  const server = await startServer({ databaseUrl: db.url, worker: false, label: "intake" });
  const sql = postgres(db.url, { max: 2, onnotice: () => {} });
  try {
    const sources = await seedSources(server, 8);
    // JIT, the prepared statement and the source memory, outside the measurement (as the feed
    // parts run wrk before they measure).
    await postWithWrk(wrkBin, server, sources, sql, {
      count: warmup,
      connections: concurrency,
      firstIndex: 1_000,
      deadlineMs: 60_000,
    });
    log(`ingest: intake alone, ${roundsWanted} round(s) beside the floor`);
    const rounds: IntakeRound[] = [];
    let wrkCommand = "";
    let floorCommand = "";
    for (let r = 0; r < roundsWanted; r++) {
      const floor = await floorInserts({ count, concurrency, deadlineMs: 60_000, payloadIcs });
      const posted = await postWithWrk(wrkBin, server, sources, sql, {
        count,
        connections: concurrency,
        firstIndex: 1_000 + r * count,
        deadlineMs: 60_000,
      });
      wrkCommand = posted.wrk.command;
      floorCommand = floor.command;
      rounds.push({ floorPerSecond: floor.perSecond, ackPerSecond: posted.perSecond, p50Ms: posted.wrk.p50Ms, p99Ms: posted.wrk.p99Ms });
      log(`ingest intake round ${r + 1}: floor ${floor.perSecond.toFixed(0)}/s, acknowledged ${posted.perSecond.toFixed(0)}/s`);
    }
    const floorPerSecond = median(rounds.map((r) => r.floorPerSecond));
    const ackPerSecond = median(rounds.map((r) => r.ackPerSecond));
    return {
      deliveries: count,
      concurrency,
      rounds,
      floorPerSecond,
      ackPerSecond,
      ratio: ackPerSecond / floorPerSecond,
      wrkCommand,
      floorCommand,
      serverCommand: server.command,
      warmup,
    };
  } finally {
    await sql.end({ timeout: 5 });
    await server.stop();
    await db.drop();
  }
}

export type IngestResult = {
  deliveries: number;
  sources: number;
  concurrency: number;
  servers: number;
  acked: number;
  ackPerSecond: number;
  applied: number;
  failed: number;
  pending: number;
  appliedPerSecond: number;
  drainAfterLastAckMs: number;
  latencyP50Ms: number;
  latencyP99Ms: number;
  statusCounts: Record<string, number>;
  ratio: number;
  serverCommand: string;
  timedOut: boolean;
  /** Intake alone beside the floor, in rounds (benchIntake): the goal's figure. */
  intake: IntakeResult;
  /** Latency with the few providers above, then with many more (ingest-scale.ts); null when it failed. */
  scale: IngestScaleResult | null;
  scaleError?: string;
  /** The workers' rate on a backlog made due at once (drainBacklog). */
  drain?: DrainResult;
};

export async function benchIngest(mode: Mode, wrkBin: string): Promise<IngestResult> {
  const count = mode.quick ? 400 : 10_000;
  const concurrency = 16;
  const nSources = 8;
  const sendDeadline = mode.quick ? 30_000 : 180_000;
  const applyDeadline = mode.quick ? 30_000 : 300_000;

  const sample = deliveryIcs({ id: "", secret: "", providerId: "", sessionUids: [`${randomBytes(16).toString("hex")}@telehealth-calendar`] }, 0);
  const intake = await benchIntake(mode, wrkBin, sample);

  const db = await createBenchDatabase("ingest");
  // One migrates first; the second then starts against the migrated database.
  const a = await startServer({ databaseUrl: db.url, worker: true, label: "ingest-a" });
  const b = await startServer({ databaseUrl: db.url, worker: true, label: "ingest-b" });
  const sql = postgres(db.url, { max: 2, onnotice: () => {} });
  try {
    const sources = await seedSources(a, nSources);
    // Warm both processes' webhook path (JIT, prepared statements) outside the measurement.
    const warm = await sendDeliveries([a, b], sources, { count: 64, concurrency: 8, deadlineMs: 20_000, tag: "warm" });
    await waitApplied(sql, "warm", warm.acked, 30_000);
    log(`ingest: ${count} signed deliveries, ${concurrency} in flight, 2 servers with a worker each`);
    const tag = `run${randomBytes(3).toString("hex")}`;
    const sent = await sendDeliveries([a, b], sources, { count, concurrency, deadlineMs: sendDeadline, tag });
    const ackSeconds = (sent.lastAckAt - sent.startedAt) / 1000;
    const applied = await waitApplied(sql, tag, sent.acked, applyDeadline);
    const applySeconds = (applied.lastProcessedAt - sent.startedAt) / 1000;
    const result: IngestResult = {
      deliveries: count,
      sources: nSources,
      concurrency,
      servers: 2,
      acked: sent.acked.size,
      ackPerSecond: sent.acked.size / ackSeconds,
      applied: applied.done,
      failed: applied.failed,
      pending: applied.pending,
      appliedPerSecond: applied.done / applySeconds,
      drainAfterLastAckMs: applied.lastProcessedAt - sent.lastAckAt,
      latencyP50Ms: percentile(applied.latenciesMs, 50),
      latencyP99Ms: percentile(applied.latenciesMs, 99),
      statusCounts: sent.statusCounts,
      ratio: sent.acked.size / ackSeconds / intake.floorPerSecond,
      serverCommand: a.command,
      timedOut: applied.timedOut || sent.loop.stoppedByDeadline,
      intake,
      scale: null,
    };
    log(`ingest: ack ${result.ackPerSecond.toFixed(0)}/s, applied ${result.appliedPerSecond.toFixed(0)}/s, p50 ${result.latencyP50Ms} ms`);
    // The workers alone: a backlog made due at once (after the timed run's SEQUENCEs, before the scale part's).
    const backlog = mode.quick ? 2_000 : 10_000;
    log(`ingest: a backlog of ${backlog} deliveries made due at once, 2 workers`);
    result.drain = await drainBacklog(sql, sources, { count: backlog, firstIndex: count, deadlineMs: applyDeadline });
    log(`ingest: backlog applied ${result.drain.perSecond.toFixed(0)}/s (${result.drain.applied} in ${result.drain.seconds.toFixed(1)} s)`);
    // Then the latency at scale, on the same servers and sources; its failure keeps the figures above.
    try {
      result.scale = await benchIngestScale(mode, [a, b], sources, sql);
    } catch (err) {
      result.scaleError = (err as Error).stack ?? String(err);
      log(`ingest scale FAILED: ${(err as Error).message}`);
    }
    return result;
  } finally {
    await sql.end({ timeout: 5 });
    await b.stop();
    await a.stop();
    await db.drop();
  }
}
