// Part 5: VmRSS of one server process (worker on) after start, after N feed requests and after M
// webhook deliveries are applied; the whole round twice, so growth between rounds shows a leak.
import { randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import postgres from "postgres";
import { boundedLoop, createBenchDatabase, httpRequest, log, type Mode, sleep } from "./harness.js";
import { seedSources, sendDeliveries, waitApplied } from "./ingest.js";
import { insertSessions, seedProviderViaApi } from "./seed.js";
import { startServer } from "./servers.js";

/**
 * rssMb: the lowest VmRSS over a quiet window; afterGcMb: VmRSS right after a forced full GC;
 * heapUsedMb / externalMb: the main isolate's process.memoryUsage() after that GC.
 */
export type MemorySample = {
  label: string;
  round: number;
  rssMb: number;
  afterGcMb: number;
  heapUsedMb: number;
  /** What V8 holds from the system for its heap (used or not): young-generation growth shows here, not in heapUsed. */
  heapTotalMb: number;
  externalMb: number;
};
export type MemoryResult = {
  feedRequests: number;
  deliveries: number;
  rounds: number;
  quietSeconds: number;
  samples: MemorySample[];
  /** Growth (after full GC) of the after-feeds and after-deliveries samples, round 1 to the last. */
  growthMb: { afterFeeds: number; afterDeliveries: number };
  /** Within the last round (after full GC): after-deliveries minus after-feeds. */
  lastRoundSpreadMb: number;
  failures: number;
  serverCommand: string;
};

export async function benchMemory(mode: Mode): Promise<MemoryResult> {
  // RSS right after a burst still holds garbage V8 has not collected yet, so each sample is taken
  // twice: the lowest RSS over a quiet window, then RSS right after a full GC (SIGUSR2, see
  // gc-on-signal.ts). Growth that survives a full GC is retained memory.
  const feedRequests = mode.quick ? 1000 : 20_000;
  const deliveries = mode.quick ? 200 : 10_000;
  const rounds = 2;
  const db = await createBenchDatabase("memory");
  const server = await startServer({ databaseUrl: db.url, worker: true, label: "memory", gcOnSignal: true });
  const sql = postgres(db.url, { max: 2, onnotice: () => {} });
  const quietSeconds = mode.quick ? 3 : 15;
  const sample = async (label: string, round: number): Promise<MemorySample> => {
    let min = Infinity;
    for (let i = 0; i < quietSeconds; i++) {
      await sleep(1000);
      min = Math.min(min, server.rssMb());
    }
    process.kill(server.pid, "SIGUSR2");
    await sleep(1000);
    process.kill(server.pid, "SIGUSR2");
    await sleep(1000);
    const lines = readFileSync(server.gcReport!, "utf8").trim().split("\n");
    const usage = JSON.parse(lines[lines.length - 1]!) as { heapUsed: number; heapTotal: number; external: number };
    const mb = (n: number) => n / 1024 / 1024;
    return {
      label,
      round,
      rssMb: min,
      afterGcMb: server.rssMb(),
      heapUsedMb: mb(usage.heapUsed),
      heapTotalMb: mb(usage.heapTotal),
      externalMb: mb(usage.external),
    };
  };
  try {
    const seeded = await seedProviderViaApi(server);
    await insertSessions(sql, seeded.providerId, seeded.clientIds, 1000, Date.now());
    const sources = await seedSources(server, 8);
    const url = server.baseUrl + seeded.feedPath;
    const first = await httpRequest(url, { discardBody: true });
    if (first.status !== 200) throw new Error(`feed answered ${first.status}`);
    const etag = String(first.headers.etag);
    const samples: MemorySample[] = [await sample("after start and setup", 0)];
    let failures = 0;
    for (let round = 1; round <= rounds; round++) {
      // The pollers' mix: full, conditional and gzip, a third each.
      log(`memory round ${round}: ${feedRequests} feed requests`);
      const feeds = await boundedLoop(feedRequests, 16, mode.quick ? 30_000 : 240_000, async (i) => {
        const headers: Record<string, string> = i % 3 === 1 ? { "if-none-match": etag } : i % 3 === 2 ? { "accept-encoding": "gzip" } : {};
        const r = await httpRequest(url, { headers, discardBody: true });
        if (r.status !== (i % 3 === 1 ? 304 : 200)) throw new Error(`feed answered ${r.status}`);
      });
      failures += feeds.failed;
      if (feeds.done < feedRequests) log(`memory: only ${feeds.done} feed requests within the time bound`);
      samples.push(await sample(`after ${feeds.done.toLocaleString("en-US")} feed requests`, round));

      log(`memory round ${round}: ${deliveries} deliveries`);
      const tag = `mem${round}${randomBytes(2).toString("hex")}`;
      const sent = await sendDeliveries([server], sources, { count: deliveries, concurrency: 16, deadlineMs: mode.quick ? 30_000 : 240_000, tag });
      const applied = await waitApplied(sql, tag, sent.acked, mode.quick ? 60_000 : 600_000);
      failures += sent.loop.failed + applied.failed + applied.pending;
      samples.push(await sample(`after ${applied.done.toLocaleString("en-US")} deliveries applied`, round));
    }
    const at = (round: number, i: 1 | 2) => samples[(round - 1) * 2 + i]!.afterGcMb;
    return {
      feedRequests,
      deliveries,
      rounds,
      quietSeconds,
      samples,
      growthMb: { afterFeeds: at(rounds, 1) - at(1, 1), afterDeliveries: at(rounds, 2) - at(1, 2) },
      lastRoundSpreadMb: at(rounds, 2) - at(rounds, 1),
      failures,
      serverCommand: server.command,
    };
  } finally {
    await sql.end({ timeout: 5 });
    await server.stop();
    await db.drop();
  }
}
