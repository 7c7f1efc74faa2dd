// Parts 2 and 3: GET /feeds/{secret}.ics under wrk, beside nginx serving the same bytes as a static
// file, then the same warm request once the database also holds N more providers x 100 sessions.
import { chmodSync, mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { gunzipSync } from "node:zlib";
import postgres from "postgres";
import { boundedLoop, createBenchDatabase, httpRequest, log, type Mode, runWrk, sleep, type Tools, tempDir, type WrkResult } from "./harness.js";
import { measureRotationWindow, type RotationResult } from "./rotation.js";
import { insertSessions, seedProviderViaApi, seedScale } from "./seed.js";
import { startBareNode, startNginx, startServer } from "./servers.js";

/** Each target's run with the median requests/s of the rounds, and every round's requests/s. */
export type ServeRow = {
  scenario: string;
  ours: WrkResult;
  bare: WrkResult;
  nginx: WrkResult;
  ratio: number;
  rounds: { ours: number[]; bare: number[]; nginx: number[] };
};
/** Index and sequential scans the measured requests caused (full run only; see scanCounts). */
export type QueryCheck = { requests: number; feedIndexScans: number; sessionScans: number; providerScans: number };

export type ScaleRow = { scenario: string; single: WrkResult; scaled: WrkResult; p50Ratio: number; p99Ratio: number };

export type ServeResult = {
  sessions: number;
  bodyBytes: number;
  gzipBytes: number;
  seconds: number;
  /** wrk runs per target and scenario, alternating the targets; each figure is the median round. */
  rounds: number;
  serverCommand: string;
  nginxCommand: string;
  nginxConf: string;
  bareCommand: string;
  nginxNotModified: string;
  rows: ServeRow[];
  queryCheck: QueryCheck | null;
  /** GET /healthz on the same server: the same middleware, no database, a 15-byte body. */
  healthz: WrkResult;
  /** A second instance on the same database: how long it still answers a secret rotated on the first. */
  rotation: RotationResult & { secondServerCommand: string };
  scale: {
    providers: number;
    perProvider: number;
    totalSessions: number;
    loadSeconds: number;
    rows: ScaleRow[];
    manyFeeds: { feeds: number; warmupMs: number; wrk: WrkResult } | null;
  };
};

type Scans = Record<string, { idx: number; seq: number }>;

/**
 * PostgreSQL's per-table scan counters. A busy backend publishes its counts at most once a second and
 * an idle one within 10 s (PG 15 pgstat), so a reading is exact only after 10 s of quiet.
 */
async function scanCounts(sql: postgres.Sql): Promise<Scans> {
  await sleep(10_500);
  const rows = await sql<{ relname: string; idx: string | null; seq: string }[]>`
    select relname, idx_scan::text as idx, seq_scan::text as seq from pg_stat_user_tables where relname in ('feeds', 'sessions', 'providers')`;
  return Object.fromEntries(rows.map((r) => [r.relname, { idx: Number(r.idx ?? 0), seq: Number(r.seq) }]));
}

function expectStatus(what: string, status: number, expected: number): void {
  if (status !== expected) throw new Error(`${what}: expected ${expected}, got ${status}`);
}

export async function benchServe(mode: Mode, tools: Tools): Promise<ServeResult> {
  const seconds = mode.quick ? 2 : 10;
  const warmSeconds = mode.quick ? 2 : 5;
  const rounds = mode.quick ? 1 : 3;
  const sessions = 1000;
  const db = await createBenchDatabase("serve");
  const server = await startServer({ databaseUrl: db.url, worker: false, label: "serve" });
  const sql = postgres(db.url, { max: 2, onnotice: () => {} });
  try {
    log(`serve: seeding one provider with ${sessions} sessions (API + COPY)`);
    const seeded = await seedProviderViaApi(server);
    await insertSessions(sql, seeded.providerId, seeded.clientIds, sessions, Date.now());
    const url = server.baseUrl + seeded.feedPath;

    // What each scenario must answer, checked once before timing it.
    const full = await httpRequest(url);
    expectStatus("feed 200", full.status, 200);
    const events = full.body.toString("utf8").split("BEGIN:VEVENT").length - 1;
    if (events !== sessions) throw new Error(`feed has ${events} events, expected ${sessions}`);
    const etag = String(full.headers.etag);
    const gz = await httpRequest(url, { headers: { "accept-encoding": "gzip" } });
    expectStatus("feed gzip", gz.status, 200);
    if (gz.headers["content-encoding"] !== "gzip" || !gunzipSync(gz.body).equals(full.body)) throw new Error("gzip body is not the gzipped feed");
    expectStatus("feed 304", (await httpRequest(url, { headers: { "if-none-match": etag } })).status, 304);

    // nginx serves the very same bytes, at the same path, from a temp dir.
    const root = tempDir("www");
    chmodSync(root, 0o755); // nginx's worker drops root privileges (to nobody) and must read it
    mkdirSync(join(root, "feeds"), { recursive: true });
    writeFileSync(join(root, seeded.feedPath), full.body);
    writeFileSync(join(root, `${seeded.feedPath}.gz`), gz.body);
    const nginx = await startNginx(tools.nginx, root);
    const nginxUrl = `http://127.0.0.1:${nginx.port}${seeded.feedPath}`;
    const nFull = await httpRequest(nginxUrl);
    expectStatus("nginx 200", nFull.status, 200);
    if (!nFull.body.equals(full.body)) throw new Error("nginx body differs");
    const nginxEtag = String(nFull.headers.etag);
    const nGz = await httpRequest(nginxUrl, { headers: { "accept-encoding": "gzip" } });
    if (nGz.headers["content-encoding"] !== "gzip" || !nGz.body.equals(gz.body)) throw new Error("nginx gzip_static did not serve the .gz");
    expectStatus("nginx 304", (await httpRequest(nginxUrl, { headers: { "if-none-match": nginxEtag } })).status, 304);
    const bare = await startBareNode(
      { body: join(root, seeded.feedPath), gzip: join(root, `${seeded.feedPath}.gz`) },
      etag,
      String(full.headers["last-modified"]),
    );
    const bareUrl = `http://127.0.0.1:${bare.port}${seeded.feedPath}`;
    const bFull = await httpRequest(bareUrl);
    if (bFull.status !== 200 || !bFull.body.equals(full.body)) throw new Error("bare node body differs");
    expectStatus("bare node 304", (await httpRequest(bareUrl, { headers: { "if-none-match": etag } })).status, 304);

    const scenarios: { name: string; ours: Record<string, string>; nginx: Record<string, string> }[] = [
      { name: "(a) full 200", ours: {}, nginx: {} },
      { name: "(b) 304 If-None-Match", ours: { "If-None-Match": etag }, nginx: { "If-None-Match": nginxEtag } },
      { name: "(c) gzip 200", ours: { "Accept-Encoding": "gzip" }, nginx: { "Accept-Encoding": "gzip" } },
    ];
    log(`serve: wrk warm-up, then ${scenarios.length} scenarios x ${rounds} rounds x ${seconds}s x 3 targets`);
    // JIT and connection pools first: the first seconds of a fresh Node process run measurably
    // slower. Every scenario's path is warmed on every target.
    await runWrk(tools.wrk, url, { seconds: warmSeconds });
    for (const s of scenarios) {
      await runWrk(tools.wrk, url, { seconds: 1, headers: s.ours });
      await runWrk(tools.wrk, bareUrl, { seconds: 1, headers: s.ours });
      await runWrk(tools.wrk, nginxUrl, { seconds: 1, headers: s.nginx });
    }
    const rows: ServeRow[] = [];
    const single = new Map<string, WrkResult>();
    const scansBefore = mode.quick ? null : await scanCounts(sql);
    // Rounds alternate the three targets, so a slow spell of the machine falls on each of them
    // alike; each target's figure is its median round.
    const medianRun = (runs: WrkResult[]) => [...runs].sort((a, b) => a.rps - b.rps)[Math.floor(runs.length / 2)]!;
    let oursRequests = 0;
    for (const s of scenarios) {
      const runs: Record<"ours" | "bare" | "nginx", WrkResult[]> = { ours: [], bare: [], nginx: [] };
      for (let round = 0; round < rounds; round++) {
        runs.ours.push(await runWrk(tools.wrk, url, { seconds, headers: s.ours }));
        runs.bare.push(await runWrk(tools.wrk, bareUrl, { seconds, headers: s.ours }));
        runs.nginx.push(await runWrk(tools.wrk, nginxUrl, { seconds, headers: s.nginx }));
      }
      const ours = medianRun(runs.ours);
      const bareNode = medianRun(runs.bare);
      const ng = medianRun(runs.nginx);
      oursRequests += runs.ours.reduce((n, r) => n + r.requests, 0);
      const rps = (rs: WrkResult[]) => rs.map((r) => r.rps);
      rows.push({
        scenario: s.name,
        ours,
        bare: bareNode,
        nginx: ng,
        ratio: ours.rps / ng.rps,
        rounds: { ours: rps(runs.ours), bare: rps(runs.bare), nginx: rps(runs.nginx) },
      });
      single.set(s.name, ours);
      log(
        `serve ${s.name}: ours ${ours.rps.toFixed(0)} rps, bare node ${bareNode.rps.toFixed(0)} rps, nginx ${ng.rps.toFixed(0)} rps (medians of ${rounds})`,
      );
    }
    await nginx.stop();
    await bare.stop();
    const healthz = await runWrk(tools.wrk, `${server.baseUrl}/healthz`, { seconds });
    log(`serve: GET /healthz ${healthz.rps.toFixed(0)} rps`);
    let queryCheck: QueryCheck | null = null;
    if (scansBefore) {
      const after = await scanCounts(sql);
      const d = (t: string, k: "idx" | "seq") => (after[t]?.[k] ?? 0) - (scansBefore[t]?.[k] ?? 0);
      queryCheck = {
        requests: oursRequests,
        feedIndexScans: d("feeds", "idx"),
        sessionScans: d("sessions", "idx") + d("sessions", "seq"),
        providerScans: d("providers", "idx") + d("providers", "seq"),
      };
      log(`serve: ${queryCheck.requests} requests, ${queryCheck.feedIndexScans} feed index scans, ${queryCheck.sessionScans} session scans`);
    }

    const second = await startServer({
      databaseUrl: db.url,
      worker: false,
      label: "serve-b",
      extraEnv: {
        ADMIN_TOKEN: server.adminToken,
        // Every trial ends in 404s from this address (the old secret); they are the measurement,
        // not an attack, so this instance's unknown-secret limit is out of the way.
        RATE_LIMIT_BURST: "100000",
      },
    });
    let rotation: ServeResult["rotation"];
    try {
      const r = await measureRotationWindow(server, second, seeded.providerId, mode.quick ? 20 : 100);
      rotation = { ...r, secondServerCommand: second.command };
    } finally {
      await second.stop();
    }
    // The rotations notified every instance of this provider's change: warm the measured feed again.
    expectStatus("feed after rotations", (await httpRequest(url, { discardBody: true })).status, 200);

    // Part 3: the same warm request with many more providers in the database.
    const providers = mode.quick ? 1000 : 10_000;
    const perProvider = 100;
    log(`scale: loading ${providers} providers x ${perProvider} sessions (COPY)`);
    const t0 = performance.now();
    const { feedPaths } = await seedScale(sql, { templateProviderId: seeded.providerId, providers, perProvider, now: Date.now() });
    const loadSeconds = (performance.now() - t0) / 1000;
    const [{ count }] = (await sql<{ count: string }[]>`select count(*)::text as count from sessions`) as unknown as [{ count: string }];
    log(`scale: ${count} sessions loaded in ${loadSeconds.toFixed(1)} s`);
    expectStatus("feed after scale", (await httpRequest(url, { discardBody: true })).status, 200);
    const scaleRows: ScaleRow[] = [];
    for (const s of scenarios.slice(0, 2)) {
      const scaled = await runWrk(tools.wrk, url, { seconds, headers: s.ours });
      const before = single.get(s.name)!;
      scaleRows.push({ scenario: s.name, single: before, scaled, p50Ratio: scaled.p50Ms / before.p50Ms, p99Ratio: scaled.p99Ms / before.p99Ms });
      log(
        `scale ${s.name}: p50 ${before.p50Ms.toFixed(2)} -> ${scaled.p50Ms.toFixed(2)} ms, p99 ${before.p99Ms.toFixed(2)} -> ${scaled.p99Ms.toFixed(2)} ms`,
      );
    }

    // Extra: many different warm feeds, round robin (the network's real traffic shape).
    let manyFeeds: ServeResult["scale"]["manyFeeds"] = null;
    const k = Math.min(feedPaths.length, mode.quick ? 200 : 1000);
    const paths = feedPaths.slice(0, k);
    const warm = await boundedLoop(k, 8, 120_000, async (i) => {
      const r = await httpRequest(server.baseUrl + paths[i]!, { discardBody: true });
      expectStatus("scale feed", r.status, 200);
    });
    if (warm.failed) throw new Error(`warming ${k} feeds: ${warm.firstError}`);
    if (warm.done === k) {
      const dir = tempDir("wrk");
      const script = join(dir, "round-robin.lua");
      writeFileSync(
        script,
        `-- generated by test/bench/serve.ts: GET each of ${k} feed paths in turn\nlocal paths = {\n${paths.map((p) => `  "${p}",`).join("\n")}\n}\nlocal i = 0\nrequest = function()\n  i = i % #paths + 1\n  return wrk.format("GET", paths[i])\nend\n`,
      );
      const wrk = await runWrk(tools.wrk, server.baseUrl + "/", { seconds, script });
      manyFeeds = { feeds: k, warmupMs: warm.elapsedMs, wrk };
      log(`scale round robin over ${k} feeds: ${wrk.rps.toFixed(0)} rps, p50 ${wrk.p50Ms.toFixed(2)} ms`);
    }

    return {
      sessions,
      bodyBytes: full.body.length,
      gzipBytes: gz.body.length,
      seconds,
      rounds,
      serverCommand: server.command,
      nginxCommand: nginx.command,
      nginxConf: nginx.conf,
      bareCommand: bare.command,
      nginxNotModified: "If-None-Match with nginx's own ETag (etag on; nginx answers 304 natively)",
      rows,
      queryCheck,
      healthz,
      rotation,
      scale: { providers, perProvider, totalSessions: Number(count), loadSeconds, rows: scaleRows, manyFeeds },
    };
  } finally {
    await sql.end({ timeout: 5 });
    await server.stop();
    await db.drop();
  }
}
