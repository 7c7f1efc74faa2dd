// Part 6: /healthz on PGlite while hostile and heavy deliveries are processed. One server process on
// the embedded database (worker on, the event loop shared by requests, PGlite and ingestion). /healthz
// is sampled over HTTP every 20 ms, first idle (the baseline), then while a 10 KB payload of 50
// FREQ=MINUTELY series and a 20,000-event calendar are processed and another provider's change
// arrives; the server's own event-loop delay (monitorEventLoopDelay, test/bench/loop-delay.ts) is
// read for each phase.
import { existsSync, readFileSync } from "node:fs";
import { Webhook } from "standardwebhooks";
import { httpRequest, log, type Mode, percentile, sleep } from "./harness.js";
import { signedIcsDelivery } from "./ingest.js";
import { apiJson, type ServerHandle, startServer } from "./servers.js";

export type LatencyStats = { samples: number; p50Ms: number; p99Ms: number; maxMs: number; failed: number };
export type LoopDelay = { p50Ms: number; p99Ms: number; maxMs: number; meanMs: number; count: number };
export type HealthzPhase = { seconds: number; healthz: LatencyStats; loop: LoopDelay };
export type HealthzResult = {
  idle: HealthzPhase;
  load: HealthzPhase;
  stormBytes: number;
  bigBytes: number;
  bigEvents: number;
  /** Time from POST to 202 of each heavy delivery. */
  ackMs: { storm: number; big: number; other: number };
  /** From its POST until the outcome was visible through the API; null: not within the deadline. */
  stormRejectedMs: number | null;
  stormCode: string | null;
  bigAppliedMs: number | null;
  otherAppliedMs: number | null;
  /** API reads during the load phase that did not answer 200 (a 503 past the request deadline). */
  apiFailures: number;
  serverCommand: string;
};

const DAY = 86_400_000;
const icsUtc = (ms: number) =>
  new Date(ms)
    .toISOString()
    .replace(/[-:]/g, "")
    .replace(/\.\d{3}/, "");
const calendar = (events: string[]) =>
  ["BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//Therapist's own calendar//EN", ...events, "END:VCALENDAR", ""].join("\r\n");

/** 50 series repeating every minute from yesterday, no end: 50 x 1,440 instances a day if expanded. */
export function minutelyStorm(): string {
  const start = Date.now() - DAY;
  return calendar(
    Array.from({ length: 50 }, (_, i) =>
      [
        "BEGIN:VEVENT",
        `UID:storm-${i}@attacker.example`,
        `DTSTAMP:${icsUtc(start)}`,
        `DTSTART:${icsUtc(start)}`,
        `DTEND:${icsUtc(start + 60_000)}`,
        "RRULE:FREQ=MINUTELY",
        "SEQUENCE:0",
        "END:VEVENT",
      ].join("\r\n"),
    ),
  );
}

/** `n` one-off half-hour events, an hour apart, from tomorrow on (20,000 of them just fit the 2 MiB webhook cap). */
export function bigCalendar(n: number): string {
  const first = Date.now() + DAY;
  const events: string[] = [];
  for (let i = 0; i < n; i++) {
    const s = first + i * 3600_000;
    events.push(`BEGIN:VEVENT\r\nUID:b${i}\r\nDTSTART:${icsUtc(s)}\r\nDTEND:${icsUtc(s + 1800_000)}\r\nEND:VEVENT`);
  }
  return calendar(events);
}

type Source = { id: string; signingSecret: string; providerId: string };

async function provider(server: ServerHandle, name: string): Promise<{ id: string }> {
  return apiJson(server, "POST", "/api/v1/providers", {
    name,
    timezone: "America/New_York",
    licenses: [{ state: "NY" }],
    credentialedStates: ["NY"],
  });
}

async function webhookSource(server: ServerHandle, providerId: string): Promise<Source> {
  const s = await apiJson<{ id: string; signingSecret: string }>(server, "POST", `/api/v1/providers/${providerId}/calendar-sources`, {
    kind: "ics_webhook",
  });
  return { ...s, providerId };
}

/** Signed like a Standard Webhooks sender; answers the time to the response. */
async function post(server: ServerHandle, source: Source, ics: string, tag: string): Promise<number> {
  const { headers, body } = signedIcsDelivery(new Webhook(source.signingSecret), `msg_healthz_${tag}_${Date.now()}`, ics);
  const started = performance.now();
  const res = await httpRequest(`${server.baseUrl}/webhooks/ics/${source.id}`, {
    method: "POST",
    headers,
    body,
    timeoutMs: 60_000,
  });
  if (res.status !== 202) throw new Error(`${tag} delivery answered ${res.status}: ${res.body.toString("utf8").slice(0, 300)}`);
  return performance.now() - started;
}

/** GET /healthz every `everyMs` until `stop()` says so: each answer's time, failures counted. */
function sampleHealthz(server: ServerHandle, everyMs: number) {
  const times: number[] = [];
  let failed = 0;
  let running = true;
  const loop = (async () => {
    while (running) {
      const started = performance.now();
      try {
        const res = await httpRequest(`${server.baseUrl}/healthz`, { timeoutMs: 30_000 });
        if (res.status === 200) times.push(performance.now() - started);
        else failed++;
      } catch {
        failed++;
      }
      await sleep(everyMs);
    }
  })();
  return {
    async stop(): Promise<LatencyStats> {
      running = false;
      await loop;
      return { samples: times.length, p50Ms: percentile(times, 50), p99Ms: percentile(times, 99), maxMs: Math.max(...times), failed };
    },
  };
}

/** Asks the server for its event-loop histogram since the last read (and resets it). */
async function readLoopDelay(server: ServerHandle): Promise<LoopDelay> {
  const file = server.loopReport!;
  const before = existsSync(file) ? readFileSync(file, "utf8").trim().split("\n").filter(Boolean).length : 0;
  process.kill(server.pid, "SIGUSR2");
  const deadline = Date.now() + 10_000;
  for (;;) {
    const lines = existsSync(file) ? readFileSync(file, "utf8").trim().split("\n").filter(Boolean) : [];
    if (lines.length > before) return JSON.parse(lines.at(-1)!) as LoopDelay;
    if (Date.now() > deadline) throw new Error("no event-loop report from the server");
    await sleep(20);
  }
}

/** `root`: another checkout to run the server from (a before/after comparison); default this one. */
export async function benchHealthz(mode: Mode, opts: { root?: string } = {}): Promise<HealthzResult> {
  // The payloads are the same in both modes (they are the point); --quick shortens the idle baseline.
  const idleSeconds = mode.quick ? 5 : 15;
  const bigEvents = 20_000;
  const server = await startServer({
    databaseUrl: null,
    worker: true,
    label: "healthz",
    loopDelay: true,
    ...(opts.root ? { root: opts.root } : {}),
    // BENCH_NODE_ARGS: extra node flags for this server while investigating (e.g. --cpu-prof).
    ...(process.env.BENCH_NODE_ARGS ? { nodeArgs: process.env.BENCH_NODE_ARGS.split(" ") } : {}),
  });
  try {
    const storm = await webhookSource(server, (await provider(server, "Dr Storm")).id);
    const big = await webhookSource(server, (await provider(server, "Dr Big")).id);
    const other = await provider(server, "Dr Other");
    await apiJson(server, "PUT", `/api/v1/providers/${other.id}/telehealth-link`, {
      url: "https://zoom.us/j/1234567890",
      baaSigned: true,
      waitingRoomEnabled: true,
    });
    const client = await apiJson<{ id: string }>(server, "POST", `/api/v1/providers/${other.id}/clients`, {
      displayName: "Client Other",
      insurance: "in_network",
      medicare: false,
    });
    const sessionStart = Math.floor(Date.now() / DAY) * DAY + 2 * DAY + 15 * 3600_000;
    const session = await apiJson<{ id: string; uid: string }>(server, "POST", `/api/v1/providers/${other.id}/sessions`, {
      clientId: client.id,
      start: new Date(sessionStart).toISOString(),
      durationMinutes: 50,
      kind: "virtual",
    });
    const otherSource = await webhookSource(server, other.id);
    const stormIcs = minutelyStorm();
    const bigIcs = bigCalendar(bigEvents);

    // Baseline: the same server, the same sampling, nothing to ingest.
    await sleep(1000);
    await readLoopDelay(server);
    const idleStarted = performance.now();
    const idleSampler = sampleHealthz(server, 20);
    await sleep(idleSeconds * 1000);
    const idleHealthz = await idleSampler.stop();
    const idle: HealthzPhase = { seconds: (performance.now() - idleStarted) / 1000, healthz: idleHealthz, loop: await readLoopDelay(server) };
    log(`healthz idle: p50 ${idleHealthz.p50Ms.toFixed(1)} ms, p99 ${idleHealthz.p99Ms.toFixed(1)} ms, loop max ${idle.loop.maxMs.toFixed(1)} ms`);

    // Under load: both heavy deliveries, then (300 ms later) another provider's change.
    const loadStarted = performance.now();
    const sampler = sampleHealthz(server, 20);
    const stormPosted = performance.now();
    const stormAck = await post(server, storm, stormIcs, "storm");
    const bigPosted = performance.now();
    const bigAck = await post(server, big, bigIcs, "big");
    await sleep(300);
    const moveTo = sessionStart + DAY;
    const move = calendar([
      [
        "BEGIN:VEVENT",
        `UID:${session.uid}`,
        `DTSTAMP:${icsUtc(Date.now())}`,
        `DTSTART:${icsUtc(moveTo)}`,
        `DTEND:${icsUtc(moveTo + 50 * 60_000)}`,
        "SEQUENCE:1",
        "END:VEVENT",
      ].join("\r\n"),
    ]);
    const otherPosted = performance.now();
    const otherAck = await post(server, otherSource, move, "other");

    let stormRejectedMs: number | null = null;
    let stormCode: string | null = null;
    let bigAppliedMs: number | null = null;
    let otherAppliedMs: number | null = null;
    // API reads that fail (a 503 past the request deadline) count as "not yet", and are counted.
    let apiFailures = 0;
    const read = async <T>(path: string): Promise<T | null> => {
      try {
        return await apiJson<T>(server, "GET", path);
      } catch {
        apiFailures++;
        return null;
      }
    };
    const sourceOf = async (s: Source) =>
      (
        await read<{ items: Array<{ id: string; lastErrorCode: string | null; lastSuccessAt: string | null }> }>(
          `/api/v1/providers/${s.providerId}/calendar-sources`,
        )
      )?.items.find((x) => x.id === s.id);
    const deadline = performance.now() + 120_000;
    while (performance.now() < deadline && (stormRejectedMs === null || bigAppliedMs === null || otherAppliedMs === null)) {
      // Each outcome is timed when the read that saw it answered (an upper bound, within one poll).
      if (stormRejectedMs === null) {
        const s = await sourceOf(storm);
        if (s?.lastErrorCode) [stormRejectedMs, stormCode] = [performance.now() - stormPosted, s.lastErrorCode];
      }
      if (bigAppliedMs === null && (await sourceOf(big))?.lastSuccessAt) bigAppliedMs = performance.now() - bigPosted;
      if (otherAppliedMs === null) {
        const s = await read<{ start: string }>(`/api/v1/sessions/${session.id}`);
        if (s && new Date(s.start).getTime() === moveTo) otherAppliedMs = performance.now() - otherPosted;
      }
      await sleep(100);
    }
    const loadHealthz = await sampler.stop();
    const load: HealthzPhase = { seconds: (performance.now() - loadStarted) / 1000, healthz: loadHealthz, loop: await readLoopDelay(server) };
    log(
      `healthz under ingestion: p50 ${loadHealthz.p50Ms.toFixed(1)} ms, p99 ${loadHealthz.p99Ms.toFixed(1)} ms, max ${loadHealthz.maxMs.toFixed(1)} ms, loop max ${load.loop.maxMs.toFixed(1)} ms; ` +
        `storm ${stormCode} after ${stormRejectedMs?.toFixed(0)} ms, big applied after ${bigAppliedMs?.toFixed(0)} ms, other after ${otherAppliedMs?.toFixed(0)} ms; ${apiFailures} API reads failed`,
    );
    return {
      idle,
      load,
      stormBytes: Buffer.byteLength(stormIcs),
      bigBytes: Buffer.byteLength(bigIcs),
      bigEvents,
      ackMs: { storm: stormAck, big: bigAck, other: otherAck },
      stormRejectedMs,
      stormCode,
      bigAppliedMs,
      otherAppliedMs,
      apiFailures,
      serverCommand: server.command,
    };
  } finally {
    await server.stop();
  }
}
