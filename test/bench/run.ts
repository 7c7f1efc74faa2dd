// `npm run bench [-- --quick] [-- --only=render,serve,ingest,memory,healthz]`: every part in one run, each
// beside its baseline, then a table on stdout and in BENCHMARKS.md. Asserts nothing about time.
// Servers listen on 127.0.0.1 only; databases are bench_*; all of it is removed at the end.
import { spawnSync } from "node:child_process";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import os from "node:os";
import { join } from "node:path";
import { ensurePostgres, ensureTools, fmt, type Goal, log, markdownTable, REPO, runCleanups, runCommand, type Tools } from "./harness.js";
import { benchHealthz, type HealthzResult } from "./healthz.js";
import { benchIngest, type IngestResult } from "./ingest.js";
import type { IngestScaleResult, LatencyRound } from "./ingest-scale.js";
import { benchMemory, type MemoryResult } from "./memory.js";
import type { RenderResult, RenderRow } from "./render.js";
import { benchServe, type ServeResult } from "./serve.js";
import { benchWriteBack, type WriteBackResult } from "./write-back.js";

const PARTS = ["render", "serve", "ingest", "memory", "writeback", "healthz"] as const;
type Part = (typeof PARTS)[number];

const argv = process.argv.slice(2);
const quick = argv.includes("--quick");
const onlyArg = argv.find((a) => a.startsWith("--only="));
const only = new Set<Part>(onlyArg ? (onlyArg.slice(7).split(",") as Part[]) : PARTS);
const BENCHMARKS = join(REPO, "BENCHMARKS.md");

type Results = {
  render?: RenderResult;
  serve?: ServeResult;
  ingest?: IngestResult;
  memory?: MemoryResult;
  writeback?: WriteBackResult;
  healthz?: HealthzResult;
  errors: Partial<Record<Part, string>>;
  skipped: Partial<Record<Part, string>>;
  seconds: Partial<Record<Part, number>>;
};

function machine(tools: Tools, pgVersion: string) {
  const nproc = spawnSync("nproc", { encoding: "utf8" }).stdout.trim() || String(os.availableParallelism());
  const memKb = Number(/MemTotal:\s+(\d+)/.exec(readFileSync("/proc/meminfo", "utf8"))?.[1] ?? 0);
  const cpu = /model name\s*:\s*(.+)/.exec(readFileSync("/proc/cpuinfo", "utf8"))?.[1]?.trim() ?? os.cpus()[0]?.model ?? "unknown";
  return {
    nproc,
    memory: `${(memKb / 1024 / 1024).toFixed(1)} GiB`,
    cpu,
    node: process.version,
    postgres: pgVersion,
    nginx: tools.versions.nginx ?? "",
    wrk: tools.versions.wrk ?? "",
    kernel: os.release(),
  };
}

const loadavg = () =>
  os
    .loadavg()
    .map((n) => n.toFixed(2))
    .join(", ");

async function runRender(): Promise<RenderResult> {
  // Its own process, with --expose-gc, so the orchestrator's heap and sockets stay out of it.
  const args = ["--expose-gc", "--import", "tsx", "test/bench/render.ts", ...(quick ? ["--quick"] : [])];
  const r = await runCommand(process.execPath, args, { timeoutMs: quick ? 90_000 : 600_000 });
  if (r.code !== 0) throw new Error(`render child failed (${r.code}):\n${r.stderr.slice(-3000)}`);
  return JSON.parse(r.stdout.trim().split("\n").pop()!) as RenderResult;
}

async function timed<T>(results: Results, part: Part, fn: () => Promise<T>): Promise<T | undefined> {
  if (!only.has(part)) return undefined;
  const t0 = performance.now();
  log(`== ${part}`);
  try {
    return await fn();
  } catch (err) {
    results.errors[part] = (err as Error).stack ?? String(err);
    log(`${part} FAILED: ${(err as Error).message}`);
    return undefined;
  } finally {
    results.seconds[part] = (performance.now() - t0) / 1000;
  }
}

// ---------------------------------------------------------------------------------------------
// Report

const x = (n: number) => `${fmt(n)}x`;
const ms = (n: number) => `${fmt(n, n < 1 ? 3 : 2)} ms`;

/**
 * A scale goal ("p50 and p99 within 1.5x from 1 to 10,000 providers"): every ratio (at scale over
 * the small case) must be at most `limit`; the note names the worst one.
 */
function withinGoal(part: string, goal: string, ratios: [string, number][], limit = 1.5): Goal {
  const worst = ratios.reduce((w, r) => (r[1] > w[1] || !Number.isFinite(r[1]) ? r : w));
  const met = ratios.every(([, r]) => Number.isFinite(r) && r <= limit);
  return {
    part,
    goal,
    measured: ratios.map(([label, r]) => `${label} ${x(r)}`).join(", "),
    met,
    ...(met ? {} : { note: Number.isFinite(worst[1]) ? `${worst[0]} over by ${x(worst[1] / limit)}` : `${worst[0]} not measured` }),
  };
}

function renderSection(r: RenderResult, goals: Goal[]): string {
  const get = (n: number, name: string) => r.rows.find((row) => row.sessions === n && row.renderer === name);
  const ours = (n: number) => get(n, "ours: renderFeed")!;
  const rows = r.rows.map((row: RenderRow) => {
    const o = ours(row.sessions);
    return [
      row.sessions.toLocaleString("en-US"),
      row.renderer,
      ms(row.medianMs),
      ms(row.p90Ms),
      row.bytes.toLocaleString("en-US"),
      row === o ? "1x" : `${fmt(row.medianMs / o.medianMs)}x`,
    ];
  });
  const ratios = r.sizes.map((n) => {
    const o = ours(n);
    const ig = get(n, "ical-generator")!;
    const ics = get(n, "ics")!;
    const floor = get(n, "floor: build lines + join")!;
    return [n.toLocaleString("en-US"), x(ig.medianMs / o.medianMs), x(ics.medianMs / o.medianMs), x(o.medianMs / floor.medianMs)];
  });
  const at = (n: number) => r.sizes.includes(n);
  if (at(1000)) {
    const o = ours(1000);
    const speedup = get(1000, "ical-generator")!.medianMs / o.medianMs;
    const overFloor = o.medianMs / get(1000, "floor: build lines + join")!.medianMs;
    goals.push({
      part: "1 render",
      goal: "≥ 20x faster than ical-generator at 1,000 sessions",
      measured: x(speedup),
      met: speedup >= 20,
      ...(speedup < 20 ? { note: `short by ${x(20 / speedup)}` } : {}),
    });
    const worst = Math.max(...r.sizes.map((n) => ours(n).medianMs / get(n, "floor: build lines + join")!.medianMs));
    goals.push({
      part: "1 render",
      goal: "within 3x of the floor (bare join of the same unfolded lines)",
      measured: `${x(overFloor)} at 1,000; worst size ${x(worst)}`,
      met: overFloor <= 3,
      ...(overFloor > 3 ? { note: `over by ${x(overFloor / 3)}` } : {}),
    });
  }
  return [
    `### 1. Render (one process, median of ${r.runs} interleaved runs after warm-up)`,
    "",
    markdownTable(["sessions", "renderer", "median", "p90", "bytes", "time vs renderFeed"], rows),
    "",
    markdownTable(["sessions", "ical-generator / ours", "ics / ours", "ours / floor"], ratios),
    "",
    "Floor: the unfolded content lines renderFeed writes, built by plain concatenation from the same",
    "events (same date formatting; the per-provider constants pre-escaped outside the timed loop) and",
    "one `join`; checked byte-equal to renderFeed's output unfolded. \"reference: join of precomputed",
    'lines" is the join alone. ical-generator and ics are given the same events; neither writes',
    "CONFERENCE (hence fewer bytes), and ics writes its own DTSTAMP.",
    ...r.notes.map((n) => `Note: ${n}`),
  ].join("\n");
}

function wrkCells(w: { rps: number; p50Ms: number; p99Ms: number; bytesPerResponse: number; non2xx3xx: number; errors: number }) {
  return [
    fmt(w.rps, 0),
    `${fmt(w.p50Ms)} / ${fmt(w.p99Ms)}`,
    Math.round(w.bytesPerResponse).toLocaleString("en-US"),
    w.non2xx3xx || w.errors ? `${w.non2xx3xx}/${w.errors}` : "0",
  ];
}

function serveSection(s: ServeResult, goals: Goal[]): string {
  const rows = s.rows.map((r) => {
    const o = wrkCells(r.ours);
    const b = wrkCells(r.bare);
    const n = wrkCells(r.nginx);
    return [
      r.scenario,
      o[0]!,
      b[0]!,
      n[0]!,
      x(r.ratio),
      x(r.ours.rps / r.bare.rps),
      x(r.bare.rps / r.nginx.rps),
      o[1]!,
      b[1]!,
      n[1]!,
      o[2]!,
      `${o[3]} / ${b[3]} / ${n[3]}`,
    ];
  });
  for (const r of s.rows.filter((row) => !row.scenario.startsWith("(c)"))) {
    // Full 200s are mostly copying 537 KB, where Node is nearest nginx; a 304 is all overhead.
    const goal = r.scenario.startsWith("(a)") ? 0.6 : 0.5;
    goals.push({
      part: "2 serve",
      goal: `${r.scenario}: ≥ ${goal} of nginx's requests/s`,
      measured: x(r.ratio),
      met: r.ratio >= goal,
      ...(r.ratio < goal ? { note: `short by ${x(goal / r.ratio)}` } : {}),
    });
  }
  const rot = s.rotation;
  goals.push({
    part: "2 serve",
    goal: "a secret rotated on one instance is a 404 on another within 100 ms",
    measured: `p50 ${fmt(rot.p50Ms)} ms, p99 ${fmt(rot.p99Ms)} ms, max ${fmt(rot.maxMs)} ms over ${rot.trials} rotations`,
    met: rot.maxMs <= 100,
  });
  const c = s.rows.find((row) => row.scenario.startsWith("(c)"));
  if (c) goals.push({ part: "2 serve", goal: "(c) gzip: reported beside nginx gzip_static (no goal)", measured: x(c.ratio), met: null });
  const scaleRows = s.scale.rows.map((r) => [
    r.scenario,
    `${fmt(r.single.p50Ms)} ms`,
    `${fmt(r.scaled.p50Ms)} ms`,
    x(r.p50Ratio),
    `${fmt(r.single.p99Ms)} ms`,
    `${fmt(r.scaled.p99Ms)} ms`,
    x(r.p99Ratio),
    fmt(r.single.rps, 0),
    fmt(r.scaled.rps, 0),
  ]);
  for (const r of s.scale.rows) {
    goals.push(
      withinGoal("3 scale", `${r.scenario}: p50 and p99 within 1.5x of the single-provider case`, [
        ["p50", r.p50Ratio],
        ["p99", r.p99Ratio],
      ]),
    );
  }
  const many = s.scale.manyFeeds;
  return [
    `### 2. Serving: \`wrk -t2 -c16 -d${s.seconds}s\` on GET /feeds/{secret}.ics, ${s.sessions.toLocaleString("en-US")} sessions, PostgreSQL, median of ${s.rounds} round${s.rounds === 1 ? "" : "s"}`,
    "",
    `Body ${s.bodyBytes.toLocaleString("en-US")} bytes (gzip ${s.gzipBytes.toLocaleString("en-US")}). nginx serves the same bytes from a file at the same path`,
    `(gzip_static for (c); 304 by ${s.nginxNotModified}).`,
    "",
    markdownTable(
      [
        "scenario",
        "ours req/s",
        "bare node req/s",
        "nginx req/s",
        "ours / nginx",
        "ours / bare node",
        "bare node / nginx",
        "ours p50 / p99 ms",
        "bare node p50 / p99 ms",
        "nginx p50 / p99 ms",
        "bytes/response",
        "errors (ours / bare / nginx)",
      ],
      rows,
    ),
    "",
    '"bare node" is a reference, not a goal: plain node:http answering the same bytes from memory with the same',
    "validators (test/bench/bare-node.ts), no framework and no database. ours / bare node is what our stack costs;",
    "bare node / nginx is what Node itself costs.",
    `Each target ran ${s.rounds} time${s.rounds === 1 ? "" : "s"} per scenario, the three targets in turn; the table shows each target's median run. Every round, req/s:`,
    "",
    markdownTable(
      ["scenario", "ours", "bare node", "nginx"],
      s.rows.map((r) => [r.scenario, ...[r.rounds.ours, r.rounds.bare, r.rounds.nginx].map((xs) => xs.map((v) => fmt(v, 0)).join(", "))]),
    ),
    "",
    `Reference on the same server: GET /healthz (same middleware, no database, 15-byte JSON) ${fmt(s.healthz.rps, 0)} req/s, p50 ${fmt(s.healthz.p50Ms)} ms: the ceiling of our HTTP stack on this machine before any feed work.`,
    "",
    `Rotation window: a second instance on the same database (\`${rot.secondServerCommand.replace(/PORT=\d+/, "PORT=…")}\`) was asked for a warm feed's secret (HEAD, back to back) while the first rotated it, ${rot.trials} times. From the first instance's answer to the rotation to the second's first 404, arrival times here (an upper bound, one round trip to the second included): p50 ${fmt(rot.p50Ms)} ms, p99 ${fmt(rot.p99Ms)} ms, max ${fmt(rot.maxMs)} ms; distribution (ms, sorted): ${[
      ...rot.windowsMs,
    ]
      .sort((p, q) => p - q)
      .map((w) => fmt(w))
      .join(
        ", ",
      )}. Requests sent to the second instance after the rotation was acknowledged and still answered 200: ${rot.staleAnswers} (in ${rot.trialsWithStale} of ${rot.trials} rotations).`,
    "",
    s.queryCheck
      ? `Warm path check (PostgreSQL's scan counters over the ${s.queryCheck.requests.toLocaleString("en-US")} requests of ours above): ${s.queryCheck.feedIndexScans.toLocaleString("en-US")} index scans of feeds (${fmt(s.queryCheck.feedIndexScans / s.queryCheck.requests)} per request; the fetch counter's batched UPDATE adds one per 5 s), ${s.queryCheck.providerScans.toLocaleString("en-US")} scans of providers, ${s.queryCheck.sessionScans.toLocaleString("en-US")} of sessions (0: nothing was rendered).`
      : "",
    "",
    `### 3. Scale: the same warm request with ${s.scale.providers.toLocaleString("en-US")} more providers x ${s.scale.perProvider} sessions in the database`,
    "",
    `${s.scale.totalSessions.toLocaleString("en-US")} sessions in all, loaded with COPY in ${fmt(s.scale.loadSeconds, 1)} s, then VACUUM ANALYZE and CHECKPOINT; same server process, same feed.`,
    quick ? "**--quick scales this down to 1,000 providers (100,000 sessions); the full run holds 10,000 (1,000,000).**" : "",
    "",
    markdownTable(
      ["scenario", "p50 single", "p50 at scale", "p50 ratio", "p99 single", "p99 at scale", "p99 ratio", "req/s single", "req/s at scale"],
      scaleRows,
    ),
    "",
    many
      ? `Round robin over ${many.feeds.toLocaleString("en-US")} different warm 100-session feeds (wrk Lua script): ${fmt(many.wrk.rps, 0)} req/s, p50 ${fmt(many.wrk.p50Ms)} ms, p99 ${fmt(many.wrk.p99Ms)} ms, ${Math.round(many.wrk.bytesPerResponse).toLocaleString("en-US")} bytes/response (first renders of all of them: ${fmt(many.warmupMs / 1000, 1)} s at 8 in flight).`
      : "",
  ].join("\n");
}

function ingestSection(r: IngestResult, goals: Goal[]): string {
  const it = r.intake;
  goals.push({
    part: "4 ingest",
    goal: "acknowledged/s ≥ 0.5 of the bare insert floor (intake alone, one server, median of the rounds)",
    measured: x(it.ratio),
    met: it.ratio >= 0.5,
    ...(it.ratio < 0.5 ? { note: `short by ${x(0.5 / it.ratio)}` } : {}),
  });
  if (r.drain) {
    const ok = r.drain.perSecond >= 1000 && r.drain.applied === r.drain.deliveries;
    goals.push({
      part: "4 ingest",
      goal: "≥ 1,000 applied deliveries/s on PostgreSQL with two workers (a backlog made due at once)",
      measured: `${fmt(r.drain.perSecond, 0)}/s (${r.drain.applied.toLocaleString("en-US")} of ${r.drain.deliveries.toLocaleString("en-US")})`,
      met: ok,
      ...(ok ? {} : { note: r.drain.perSecond < 1000 ? `short by ${x(1000 / r.drain.perSecond)}` : "not all applied" }),
    });
  }
  return [
    `### 4. Ingestion: intake beside the floor, ${it.deliveries.toLocaleString("en-US")} deliveries a round, ${it.concurrency} in flight`,
    "",
    "One server process (the floor is one process) with WORKER_ENABLED=false (the floor applies nothing). The",
    "deliveries are signed with the `standardwebhooks` package before each timed round and posted in order by wrk",
    "(`test/bench/webhook-post.lua`), as the feeds are, so the sender's signing and a Node HTTP client take less of the",
    "two cores the server and PostgreSQL run on. Both rates are rows over their `received_at`, first to last (the",
    "server stamps it as it takes a delivery; the floor just before each insert). The floor's connections open and",
    `prepare in a warm-up; the server is warmed by ${it.warmup.toLocaleString("en-US")} deliveries. Every delivery of a round is recorded and`,
    "answered 2xx. Rounds alternate floor and intake; the goal is the ratio of the medians.",
    "",
    "What still differs, all of it in the floor's favour: the floor writes one row with the ICS in its jsonb payload,",
    "where the server writes the row and a payload part; each floor round has a fresh database, while the intake rounds",
    "share one that grows; the bench counts the round's rows every 100 ms during intake only; each intake round follows",
    "a floor round's DROP DATABASE (a checkpoint); the floor's rows belong to one source, intake's to 8; and after the",
    "last delivery is sent, connections still open post it again (fewer duplicates than connections) until wrk stops.",
    "",
    markdownTable(
      ["round", "floor: bare inserts/s", "acknowledged/s", "ratio", "acknowledgement p50 / p99 (wrk)"],
      [
        ...it.rounds.map((round, i) => [
          String(i + 1),
          fmt(round.floorPerSecond, 0),
          fmt(round.ackPerSecond, 0),
          x(round.ackPerSecond / round.floorPerSecond),
          `${fmt(round.p50Ms, 2)} / ${fmt(round.p99Ms, 2)} ms`,
        ]),
        ["median", fmt(it.floorPerSecond, 0), fmt(it.ackPerSecond, 0), `**${x(it.ratio)}** (ratio of the medians)`, ""],
      ],
    ),
    "",
    `#### End to end: ${r.deliveries.toLocaleString("en-US")} deliveries, ${r.concurrency} in flight, ${r.servers} server processes (a worker each), ${r.sources} sources`,
    "",
    "Signed at send time by a Node client in the bench process; the workers apply on the same two cores.",
    "",
    markdownTable(
      ["measure", "value"],
      [
        ["acknowledged (202) per second", fmt(r.ackPerSecond, 0)],
        ["acknowledged / the floor's median above", x(r.ratio)],
        ["applied per second (first POST to last applied; bounded by the acknowledgements)", fmt(r.appliedPerSecond, 0)],
        ...(r.drain
          ? [
              [
                `applied per second, the workers alone: a backlog of ${r.drain.deliveries.toLocaleString("en-US")} made due at once (applied / failed / pending)`,
                `${fmt(r.drain.perSecond, 0)} (${r.drain.applied} / ${r.drain.failed} / ${r.drain.pending} in ${fmt(r.drain.seconds, 1)} s)`,
              ],
            ]
          : []),
        ["acknowledgement -> applied p50 / p99", `${fmt(r.latencyP50Ms, 0)} / ${fmt(r.latencyP99Ms, 0)} ms`],
        ["last applied after last acknowledgement", `${fmt(r.drainAfterLastAckMs / 1000, 1)} s`],
        ["acknowledged / applied / failed / still pending", `${r.acked} / ${r.applied} / ${r.failed} / ${r.pending}`],
        [
          "HTTP statuses",
          Object.entries(r.statusCounts)
            .map(([k, v]) => `${k}: ${v}`)
            .join(", "),
        ],
      ],
    ),
    "",
    "Applied = `deliveries.state = 'done'`; its time is `processed_at`, stamped by the worker in the transaction that applies it.",
    "Each delivery moves one existing session (a new SEQUENCE each time) and carries two busy blocks.",
    r.timedOut ? "**The time bound stopped this part before every delivery was sent or applied.**" : "",
    "",
    r.scale ? ingestScaleSection(r.scale, goals) : "",
    r.scaleError ? `#### Ingestion at scale: FAILED\n\n\`\`\`\n${r.scaleError.slice(0, 2000)}\n\`\`\`` : "",
  ].join("\n");
}

function ingestScaleSection(sc: IngestScaleResult, goals: Goal[]): string {
  const { small, scaled, ratios, load } = sc;
  goals.push(
    withinGoal("4 ingest scale", "ack p50/p99 within 1.5x of the few-provider case", [
      ["p50", ratios.ackP50],
      ["p99", ratios.ackP99],
    ]),
  );
  goals.push(
    withinGoal("4 ingest scale", "applied p50/p99 within 1.5x of the few-provider case", [
      ["p50", ratios.appliedP50],
      ["p99", ratios.appliedP99],
    ]),
  );
  const n = (v: number) => v.toLocaleString("en-US");
  const latency = (v: number) => `${fmt(v, v < 10 ? 2 : 1)} ms`;
  const round = (rd: LatencyRound) =>
    `${n(rd.acked)} / ${n(rd.applied)} / ${n(rd.failed)} / ${n(rd.notApplied)} (HTTP ${Object.entries(rd.statusCounts)
      .map(([k, v]) => `${k}: ${v}`)
      .join(", ")})`;
  return [
    `#### Ingestion at scale: the same servers and sources with ${n(load.providers)} more providers in the database`,
    "",
    `${n(sc.perRound)} signed deliveries per round, ${sc.inFlight} in flight: one sender per source, each POSTing its next delivery (to the ${sc.servers} servers in turn)`,
    "only once the worker has applied its previous one, so nothing queues and the figures are latencies, not a backlog.",
    `Each round follows VACUUM ANALYZE, CHECKPOINT and ${sc.warmup} unmeasured deliveries. Between them, ${n(load.providers)} providers were loaded with COPY in ${fmt(load.seconds, 1)} s,`,
    `each with a link, a client, ${load.sessionsPerProvider} sessions, an ics_webhook source (a placeholder sealed secret: a row, never used),`,
    `${load.pastDeliveriesPerSource} done deliveries over the last 30 days (${n(load.payloadParts)} still holding their payload, inside the default 168 h payload retention) and`,
    `${load.sessionsPerProvider + 2} external_events (one per session, two busy blocks): ${n(load.sessions)} sessions, ${n(load.deliveries)} deliveries, ${n(load.externalEvents)} external events in all.`,
    quick ? "**--quick scales this down to 1,000 providers; the full run loads 10,000.**" : "",
    "",
    markdownTable(
      ["measure", "p50 few", "p50 at scale", "p50 ratio", "p99 few", "p99 at scale", "p99 ratio"],
      [
        [
          "acknowledgement (POST -> 202, client side)",
          latency(small.ackP50Ms),
          latency(scaled.ackP50Ms),
          x(ratios.ackP50),
          latency(small.ackP99Ms),
          latency(scaled.ackP99Ms),
          x(ratios.ackP99),
        ],
        [
          "acknowledgement -> applied (`processed_at`)",
          latency(small.appliedP50Ms),
          latency(scaled.appliedP50Ms),
          x(ratios.appliedP50),
          latency(small.appliedP99Ms),
          latency(scaled.appliedP99Ms),
          x(ratios.appliedP99),
        ],
      ],
    ),
    "",
    markdownTable(
      ["round", "providers", "acknowledged / applied / failed / not applied in 30 s", "applied per second (the load)", "seconds"],
      [
        ["few providers", n(small.providers), round(small), fmt(small.appliedPerSecond, 0), fmt(small.seconds, 1)],
        ["at scale", n(scaled.providers), round(scaled), fmt(scaled.appliedPerSecond, 0), fmt(scaled.seconds, 1)],
      ],
    ),
    "",
    `This measurement took ${fmt(sc.seconds, 0)} s of the ingest part.`,
    small.timedOut || scaled.timedOut ? "**The time bound stopped a round before every delivery was sent.**" : "",
  ].join("\n");
}

function memorySection(m: MemoryResult, goals: Goal[]): string {
  // Both readings of "the two later samples of a repeated run": the same sample from one round to
  // the next, and after-deliveries against after-feeds within the repeated (last) round.
  const growth = Math.max(m.growthMb.afterFeeds, m.growthMb.afterDeliveries, m.lastRoundSpreadMb);
  goals.push({
    part: "5 memory",
    goal: "≤ 20 MB RSS growth between the later samples of a repeated run",
    measured: `after a full GC, round ${m.rounds} vs 1: ${fmt(m.growthMb.afterFeeds, 1)} MB after feeds, ${fmt(m.growthMb.afterDeliveries, 1)} MB after deliveries; within round ${m.rounds}: ${fmt(m.lastRoundSpreadMb, 1)} MB`,
    met: growth <= 20,
    ...(growth > 20 ? { note: `over by ${fmt(growth - 20, 1)} MB${quick ? " (smoke run: too few requests for a steady state)" : ""}` } : {}),
  });
  return [
    `### 5. Memory: VmRSS of one server process (worker on); ${m.rounds} rounds of ${m.feedRequests.toLocaleString("en-US")} feed requests (200, 304, gzip in turn) then ${m.deliveries.toLocaleString("en-US")} deliveries`,
    "",
    markdownTable(
      [
        "round",
        "sample",
        "RSS, lowest over the quiet window",
        "RSS after a full GC",
        "V8 heap used after GC",
        "V8 heap committed after GC",
        "external (Buffers) after GC",
      ],
      m.samples.map((s) => [
        String(s.round),
        s.label,
        `${fmt(s.rssMb, 1)} MB`,
        `${fmt(s.afterGcMb, 1)} MB`,
        `${fmt(s.heapUsedMb, 1)} MB`,
        `${fmt(s.heapTotalMb, 1)} MB`,
        `${fmt(s.externalMb, 1)} MB`,
      ]),
    ),
    "",
    `VmRSS from /proc/<pid>/status. Each sample: the lowest reading over ${m.quietSeconds} quiet seconds after the step, then the reading after`,
    "a forced full GC (the memory server runs with --expose-gc and test/bench/gc-on-signal.ts; SIGUSR2 calls gc()).",
    "Without the GC the figure mostly says when V8 last collected; growth that survives a full GC is retained memory,",
    "so the goal is checked on the second column.",
    "",
    `After a full GC: round ${m.rounds} minus round 1, after feeds ${fmt(m.growthMb.afterFeeds, 1)} MB and after deliveries ${fmt(m.growthMb.afterDeliveries, 1)} MB; within round ${m.rounds}, after deliveries minus after feeds ${fmt(m.lastRoundSpreadMb, 1)} MB. The goal is checked on all three. Failed requests: ${m.failures}.`,
  ].join("\n");
}

function writeBackSection(r: WriteBackResult, goals: Goal[]): string {
  for (const row of r.rows) {
    goals.push({
      part: `6 write-back (${row.platform}, ${row.database})`,
      goal: "p95 from commit to the fake's write < 2 s",
      measured: `${fmt(row.p95Ms, 0)} ms (${x(row.p95Ms / row.baselineP95Ms)} of a direct write)`,
      met: row.p95Ms < 2000,
    });
  }
  return [
    "### 6. Write-back: a session created through the API until the Google or Graph fake stores its event (outbox + delivery worker)",
    "",
    markdownTable(
      ["platform", "database", "changes", "p50", "p95", "max", "baseline: direct platform write p95", "p95 / baseline"],
      r.rows.map((row) => [
        row.platform,
        row.database,
        String(row.changes),
        `${fmt(row.p50Ms, 0)} ms`,
        `${fmt(row.p95Ms, 0)} ms`,
        `${fmt(row.maxMs, 0)} ms`,
        `${fmt(row.baselineP95Ms, 0)} ms`,
        x(row.p95Ms / row.baselineP95Ms),
      ]),
    ),
    "",
    "Commit = the API's 201; write = the fake's handler storing the event. The worker polls every 100 ms when idle.",
  ].join("\n");
}

function healthzSection(h: HealthzResult, goals: Goal[]): string {
  const p99 = h.load.healthz.p99Ms;
  goals.push({
    part: "7 healthz",
    goal: "/healthz p99 < 200 ms on PGlite while the 50 x MINUTELY and 20,000-event deliveries are processed",
    measured: `${fmt(p99, 1)} ms (${x(p99 / h.idle.healthz.p99Ms)} of idle p99)`,
    met: p99 < 200,
    ...(p99 >= 200 ? { note: `over by ${fmt(p99 - 200, 0)} ms` } : {}),
  });
  const outcomesMet = h.stormCode !== null && h.bigAppliedMs !== null && h.otherAppliedMs !== null;
  goals.push({
    part: "7 healthz",
    goal: "both end (rejected / applied); another provider's change applies within 5 s meanwhile",
    measured: `storm ${h.stormCode ?? "not finished"}; 20,000 applied ${h.bigAppliedMs === null ? "not within 120 s" : `after ${fmt(h.bigAppliedMs / 1000, 1)} s`}; other ${h.otherAppliedMs === null ? "not applied" : `after ${fmt(h.otherAppliedMs / 1000, 2)} s`}`,
    met: outcomesMet && h.otherAppliedMs! < 5000,
  });
  const row = (label: string, ph: HealthzResult["idle"]) => [
    label,
    fmt(ph.seconds, 1),
    String(ph.healthz.samples),
    `${fmt(ph.healthz.p50Ms)} / ${fmt(ph.healthz.p99Ms)} / ${fmt(ph.healthz.maxMs)}`,
    `${fmt(ph.loop.p50Ms)} / ${fmt(ph.loop.p99Ms)} / ${fmt(ph.loop.maxMs)}`,
    String(ph.healthz.failed),
  ];
  const ratio = (a: number, b: number) => x(a / b);
  return [
    "### 7. /healthz on PGlite while hostile and heavy deliveries are processed",
    "",
    `One server process on the embedded database (PGlite in a temp DATA_DIR, worker on). /healthz sampled over HTTP every 20 ms, first idle (the baseline), then while a ${h.stormBytes.toLocaleString("en-US")}-byte payload of 50 FREQ=MINUTELY series and a ${h.bigEvents.toLocaleString("en-US")}-event calendar (${h.bigBytes.toLocaleString("en-US")} bytes) are processed and, 300 ms later, another provider moves a session. Event-loop delay: the server's own monitorEventLoopDelay histogram (10 ms resolution; test/bench/loop-delay.ts), read per phase.`,
    "",
    markdownTable(
      ["phase", "seconds", "/healthz samples", "/healthz p50 / p99 / max ms", "event-loop delay p50 / p99 / max ms", "failed"],
      [row("idle (baseline)", h.idle), row("under ingestion", h.load)],
    ),
    "",
    markdownTable(
      ["measure", "value"],
      [
        [
          "/healthz p50 / p99 / max, under ingestion vs idle",
          `${ratio(h.load.healthz.p50Ms, h.idle.healthz.p50Ms)} / ${ratio(h.load.healthz.p99Ms, h.idle.healthz.p99Ms)} / ${ratio(h.load.healthz.maxMs, h.idle.healthz.maxMs)}`,
        ],
        ["event-loop delay max, under ingestion vs idle", ratio(h.load.loop.maxMs, h.idle.loop.maxMs)],
        ["202 after (50 x MINUTELY / 20,000 events / other)", `${fmt(h.ackMs.storm, 0)} / ${fmt(h.ackMs.big, 0)} / ${fmt(h.ackMs.other, 0)} ms`],
        [
          "50 x MINUTELY: outcome, after its POST",
          h.stormCode === null ? "not finished" : `rejected (${h.stormCode}) after ${fmt(h.stormRejectedMs! / 1000, 2)} s`,
        ],
        ["20,000 events: applied, after its POST", h.bigAppliedMs === null ? "not within 120 s" : `${fmt(h.bigAppliedMs / 1000, 1)} s`],
        ["other provider's change: applied, after its POST", h.otherAppliedMs === null ? "not applied" : `${fmt(h.otherAppliedMs / 1000, 2)} s`],
        ["API reads during the load phase that failed (a 503 past the request deadline)", String(h.apiFailures)],
      ],
    ),
    "",
    "Outcomes are read through the API every 100 ms (the source's lastErrorCode / lastSuccessAt, the session's start), so each time is an upper bound within one poll.",
  ].join("\n");
}

function buildReport(
  res: Results,
  info: ReturnType<typeof machine>,
  meta: { started: Date; totalSeconds: number; loadStart: string; loadEnd: string; command: string; installed: string[] },
): string {
  const goals: Goal[] = [];
  const sections: string[] = [];
  if (res.render) sections.push(renderSection(res.render, goals));
  if (res.serve) sections.push(serveSection(res.serve, goals));
  if (res.ingest) sections.push(ingestSection(res.ingest, goals));
  if (res.memory) sections.push(memorySection(res.memory, goals));
  if (res.writeback) sections.push(writeBackSection(res.writeback, goals));
  if (res.healthz) sections.push(healthzSection(res.healthz, goals));
  for (const [part, why] of Object.entries(res.skipped)) sections.push(`### ${part}: skipped\n\n${why}`);
  for (const [part, err] of Object.entries(res.errors)) sections.push(`### ${part}: FAILED\n\n\`\`\`\n${err.slice(0, 2000)}\n\`\`\``);

  const commands: string[] = [`- \`${meta.command}\` (${quick ? "smoke run" : "full run"}; ${fmt(meta.totalSeconds, 0)} s)`];
  if (res.render) commands.push(`- render: \`node --expose-gc --import tsx test/bench/render.ts${quick ? " --quick" : ""}\``);
  if (res.serve) {
    commands.push(`- server: \`${res.serve.serverCommand}\``);
    commands.push(`- nginx: \`${res.serve.nginxCommand}\` with the generated config below`);
    commands.push(`- bare node: \`${res.serve.bareCommand}\` (wrk lines as for ours, on its port)`);
    for (const r of res.serve.rows) commands.push(`- \`${r.ours.command}\`\n- \`${r.nginx.command}\``);
    commands.push(`- \`${res.serve.healthz.command}\``);
    if (res.serve.scale.manyFeeds) commands.push(`- \`${res.serve.scale.manyFeeds.wrk.command}\``);
  }
  if (res.ingest) {
    commands.push(
      `- ingestion, intake alone: \`${res.ingest.intake.serverCommand}\`, posted by \`DELIVERIES=<the signed deliveries, one a line> ${res.ingest.intake.wrkCommand}\` (stopped with SIGINT once every delivery is recorded)`,
    );
    commands.push(`- ingestion floor: ${res.ingest.intake.floorCommand}`);
    commands.push(`- ingestion servers, end to end (two, same database): \`${res.ingest.serverCommand}\``);
    if (res.ingest.scale)
      commands.push(
        "- ingestion at scale: the same two servers; load: COPY into providers, telehealth_platform_links, clients, sessions, calendar_sources, deliveries, external_events, then insert into delivery_payload_parts (...) select ... from deliveries; vacuum analyze; checkpoint",
      );
  }
  if (res.memory) commands.push(`- memory server: \`${res.memory.serverCommand}\``);
  if (res.healthz) commands.push(`- healthz server (PGlite): \`${res.healthz.serverCommand}\``);

  const mode = quick ? "quick" : "full";
  return [
    `<!-- bench:${mode}:begin -->`,
    `## ${quick ? "Quick (smoke) run" : "Full run"}: ${meta.started.toISOString().replace(/\.\d+Z$/, "Z")}`,
    "",
    `Machine: nproc ${info.nproc}, ${info.memory} RAM, ${info.cpu}, Linux ${info.kernel}; Node ${info.node}, PostgreSQL ${info.postgres}, ${info.nginx ? `nginx ${info.nginx}` : "nginx"}, ${info.wrk}.`,
    `Load average (1, 5, 15 min) at start: ${meta.loadStart}; at end: ${meta.loadEnd}. Everything (wrk, nginx, the server, PostgreSQL) shares these ${info.nproc} cores.`,
    meta.installed.length ? `Installed from Debian by this run: ${meta.installed.join(", ")}.` : "",
    `Parts: ${Object.entries(res.seconds)
      .map(([p, s]) => `${p} ${fmt(s!, 0)} s`)
      .join(", ")}.`,
    "",
    "### Goals",
    "",
    markdownTable(
      ["part", "goal", "measured", "met", "note"],
      goals.map((g) => [g.part, g.goal, g.measured, g.met === null ? "-" : g.met ? "yes" : "**no**", g.note ?? ""]),
    ),
    "",
    sections.join("\n\n"),
    "",
    "### Commands",
    "",
    commands.join("\n"),
    ...(res.serve ? ["", "<details><summary>nginx.conf</summary>", "", "```nginx", res.serve.nginxConf.trim(), "```", "", "</details>"] : []),
    `<!-- bench:${mode}:end -->`,
  ]
    .filter((line, i, all) => !(line === "" && all[i - 1] === ""))
    .join("\n");
}

const HEADER = `# Benchmarks

Produced by \`npm run bench\` (scripts in \`test/bench/\`). Every figure is a ratio against a baseline
measured in the same run on the same machine. \`npm run bench -- --quick\` is a smoke run with
fewer sizes, fewer requests and shorter wrk runs; it writes its own section and never replaces the
full run's. Text outside the \`bench:*\` markers is written by hand and kept across runs.
`;

/** Replaces this mode's block, keeping everything else (hand-written analysis, the other mode). */
function writeBenchmarks(block: string): void {
  const mode = quick ? "quick" : "full";
  let text = existsSync(BENCHMARKS) ? readFileSync(BENCHMARKS, "utf8") : HEADER;
  const re = new RegExp(`<!-- bench:${mode}:begin -->[\\s\\S]*?<!-- bench:${mode}:end -->`);
  if (re.test(text)) text = text.replace(re, () => block);
  else if (!quick && text.includes("<!-- bench:quick:begin -->"))
    text = text.replace("<!-- bench:quick:begin -->", `${block}\n\n<!-- bench:quick:begin -->`);
  else text = `${text.trimEnd()}\n\n${block}\n`;
  writeFileSync(BENCHMARKS, text);
}

async function main(): Promise<number> {
  const started = new Date();
  const t0 = performance.now();
  const loadStart = loadavg();
  const results: Results = { errors: {}, skipped: {}, seconds: {} };
  const tools = await ensureTools();
  const pgVersion = await ensurePostgres();
  const info = machine(tools, pgVersion);
  log(`${quick ? "quick" : "full"} run; nproc ${info.nproc}, load ${loadStart}`);
  if (os.loadavg()[0]! > Number(info.nproc) * 0.5) log(`warning: the machine is busy (load ${loadStart}); figures will be noisy`);

  results.render = await timed(results, "render", runRender);
  results.serve = await timed(results, "serve", () => benchServe({ quick }, tools));
  if (only.has("ingest") && !(existsSync(join(REPO, "src/ingest/worker.ts")) && existsSync(join(REPO, "src/routes/webhooks.ts")))) {
    results.skipped.ingest = "src/ingest/worker.ts or src/routes/webhooks.ts is missing.";
    only.delete("ingest");
  }
  results.ingest = await timed(results, "ingest", () => benchIngest({ quick }, tools.wrk));
  results.memory = await timed(results, "memory", () => benchMemory({ quick }));
  results.writeback = await timed(results, "writeback", () => benchWriteBack({ quick }));
  results.healthz = await timed(results, "healthz", () => benchHealthz({ quick }));

  const command = `npm run bench${argv.length ? ` -- ${argv.join(" ")}` : ""}`;
  const report = buildReport(results, info, {
    started,
    totalSeconds: (performance.now() - t0) / 1000,
    loadStart,
    loadEnd: loadavg(),
    command,
    installed: tools.installed,
  });
  process.stdout.write(`\n${report}\n`);
  if (only.size === PARTS.length || Object.keys(results.skipped).length) writeBenchmarks(report);
  else log("--only: BENCHMARKS.md left as it is");
  log(`done in ${fmt((performance.now() - t0) / 1000, 0)} s`);
  return Object.keys(results.errors).length ? 1 : 0;
}

let interrupted = false;
for (const sig of ["SIGINT", "SIGTERM"] as const) {
  process.on(sig, () => {
    if (interrupted) return;
    interrupted = true;
    log(`${sig}: cleaning up`);
    void runCleanups().finally(() => process.exit(130));
  });
}

main()
  .then(async (code) => {
    await runCleanups();
    process.exit(code);
  })
  .catch(async (err: unknown) => {
    log(`bench failed: ${(err as Error).stack ?? String(err)}`);
    await runCleanups();
    process.exit(1);
  });
