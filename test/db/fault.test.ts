// The database goes away under load and comes back: a throwaway PostgreSQL 15 cluster of this test's
// own (initdb on a free port in a temp dir; never the server on 5432), the app on a real HTTP server
// on 127.0.0.1 with a worker, a bounded load, the cluster stopped for 20 s. No request waits over
// 5 s, every 503 says when to retry, every acknowledged delivery is applied after the restart, and
// the app recovers without being restarted.
import { execFile } from "node:child_process";
import { randomUUID } from "node:crypto";
import { chownSync, existsSync, mkdtempSync, rmSync } from "node:fs";
import { type AddressInfo, createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { type ServerType, serve } from "@hono/node-server";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type Database, openDatabase } from "../../src/db/client.js";
import { migrate } from "../../src/db/migrate.js";
import { IngestWorker } from "../../src/ingest/worker.js";
import { nodeServerOptions } from "../../src/runtime.js";
import { makeTestApp, type TestApp } from "../helpers/app.js";
import { calendar, envelope, icsUtc, signedHeaders, vevent } from "../helpers/webhooks.js";

const run = promisify(execFile);
const BIN = "/usr/lib/postgresql/15/bin";
const OUTAGE_MS = 20_000;

/** As root, the cluster's commands run as the `postgres` user (initdb refuses root). */
const asPostgres = (cmd: string, args: string[]) =>
  process.getuid?.() === 0 ? run("runuser", ["-u", "postgres", "--", join(BIN, cmd), ...args]) : run(join(BIN, cmd), args);

async function freePort(): Promise<number> {
  const srv = createServer();
  await new Promise<void>((r) => srv.listen(0, "127.0.0.1", r));
  const { port } = srv.address() as AddressInfo;
  await new Promise((r) => srv.close(r));
  return port;
}

let dir = "";
let port = 0;
let database: Database | undefined;
let server: ServerType | undefined;
let worker: IngestWorker | undefined;
let t: TestApp;
let base = "";

const pgCtl = (action: "start" | "stop") =>
  action === "start"
    ? asPostgres("pg_ctl", [
        "start",
        "-w",
        "-D",
        join(dir, "data"),
        "-l",
        join(dir, "log"),
        "-o",
        `-p ${port} -k ${dir} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=40`,
      ])
    : asPostgres("pg_ctl", ["stop", "-w", "-m", "fast", "-D", join(dir, "data")]);

beforeAll(async () => {
  for (const cmd of ["initdb", "pg_ctl"]) {
    if (!existsSync(join(BIN, cmd))) throw new Error(`${join(BIN, cmd)} is missing: install it with "apt-get install -y postgresql-15"`);
  }
  dir = mkdtempSync(join(tmpdir(), "thc-fault-"));
  if (process.getuid?.() === 0) {
    const { stdout } = await run("id", ["-u", "postgres"]);
    const { stdout: gid } = await run("id", ["-g", "postgres"]);
    chownSync(dir, Number(stdout.trim()), Number(gid.trim()));
  }
  port = await freePort();
  await asPostgres("initdb", ["-D", join(dir, "data"), "-A", "trust", "-U", "postgres", "--no-sync", "-E", "UTF8"]);
  await pgCtl("start");
  database = await openDatabase({
    kind: "postgres",
    url: `postgres://postgres@127.0.0.1:${port}/postgres`,
    max: 10,
    connectTimeoutMs: 1_000,
    statementTimeoutMs: 5_000,
  });
  await migrate(database);
  t = await makeTestApp({ database, clock: { now: () => new Date(), set() {}, advance() {} } as never, env: { RATE_LIMIT_BURST: "100000" } });
  worker = new IngestWorker(t.services, { leaseMs: 3_000, idleMs: 200 });
  t.deps.runtime.worker = worker;
  worker.start();
  server = serve({ fetch: t.app.fetch, port: 0, hostname: "127.0.0.1", serverOptions: nodeServerOptions(t.config) });
  await new Promise<void>((r) => (server!.listening ? r() : server!.once("listening", () => r())));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}, 60_000);

afterAll(async () => {
  await worker?.stop();
  await new Promise((r) => (server ? server.close(r) : r(undefined)));
  await database?.close().catch(() => {});
  if (dir) {
    await pgCtl("stop").catch(() => {});
    rmSync(dir, { recursive: true, force: true });
  }
}, 30_000);

type Sample = { kind: string; status: number; ms: number; retryAfter: string | null; uid?: string };

describe("PostgreSQL stopped for 20 s under load", () => {
  it("answers fast 503s with Retry-After, loses nothing acknowledged, and recovers without a restart", async () => {
    const auth = { authorization: `Bearer ${t.adminToken}`, "content-type": "application/json" };
    const created = await fetch(`${base}/api/v1/providers`, {
      method: "POST",
      headers: auth,
      body: JSON.stringify({ name: "Dr Fault", timezone: "UTC", licenses: [{ state: "NY" }], credentialedStates: ["NY"] }),
    });
    expect(created.status, await created.clone().text()).toBe(201);
    const provider = (await created.json()) as { id: string };
    const src = await fetch(`${base}/api/v1/providers/${provider.id}/calendar-sources`, {
      method: "POST",
      headers: auth,
      body: JSON.stringify({ kind: "ics_webhook" }),
    });
    expect(src.status, await src.clone().text()).toBe(201);
    const source = (await src.json()) as { id: string; signingSecret: string };

    const samples: Sample[] = [];
    const timed = async (kind: string, send: () => Promise<Response>, uid?: string) => {
      const started = performance.now();
      try {
        const res = await send();
        await res.arrayBuffer();
        samples.push({ kind, status: res.status, ms: performance.now() - started, retryAfter: res.headers.get("retry-after"), uid });
      } catch {
        samples.push({ kind, status: 0, ms: performance.now() - started, retryAfter: null, uid });
      }
    };
    const webhook = () => {
      const uid = `fault-${randomUUID()}@elsewhere`;
      const start = new Date(Date.now() + 86_400_000 * (1 + Math.random() * 30));
      const body = envelope(
        calendar(
          vevent({
            UID: uid,
            DTSTAMP: icsUtc(new Date().toISOString()),
            DTSTART: icsUtc(start.toISOString()),
            DTEND: icsUtc(new Date(start.getTime() + 3_000_000).toISOString()),
            SEQUENCE: 0,
            SUMMARY: "Busy",
          }),
        ),
      );
      return timed(
        "webhook",
        () =>
          fetch(`${base}/webhooks/ics/${source.id}`, {
            method: "POST",
            headers: signedHeaders(source.signingSecret, body),
            body,
            signal: AbortSignal.timeout(15_000),
          }),
        uid,
      );
    };
    const api = () => timed("api", () => fetch(`${base}/api/v1/providers/${provider.id}`, { headers: auth, signal: AbortSignal.timeout(15_000) }));
    const ready = () => timed("readyz", () => fetch(`${base}/readyz`, { signal: AbortSignal.timeout(15_000) }));

    // Four clients, each a request every ~100 ms; bounded by the phases below.
    let loading = true;
    const clients = Array.from({ length: 4 }, async (_, i) => {
      while (loading) {
        await [webhook, api, ready, webhook][i]!();
        await new Promise((r) => setTimeout(r, 100));
      }
    });
    const phase = (ms: number) => new Promise((r) => setTimeout(r, ms));

    await phase(3_000);
    const stoppedAt = samples.length;
    await pgCtl("stop");
    await phase(OUTAGE_MS);
    const outage = samples.slice(stoppedAt);
    await pgCtl("start");
    // Recovered: the same app (no restart) answers an authenticated read with 200 again.
    const restarted = performance.now();
    let recoveredMs = -1;
    while (performance.now() - restarted < 20_000) {
      const res = await fetch(`${base}/api/v1/providers/${provider.id}`, { headers: auth });
      if (res.status === 200) {
        recoveredMs = performance.now() - restarted;
        break;
      }
      await phase(200);
    }
    await phase(2_000);
    loading = false;
    await Promise.all(clients);

    const slowest = Math.max(...samples.map((s) => s.ms));
    const outage503 = outage.filter((s) => s.status === 503);
    console.info(
      `fault: ${samples.length} requests, ${outage.length} during the outage (${outage503.length} 503), slowest ${Math.round(slowest)} ms, ` +
        `slowest /readyz ${Math.round(Math.max(...samples.filter((s) => s.kind === "readyz").map((s) => s.ms)))} ms, recovered ${Math.round(recoveredMs)} ms after the restart`,
    );
    expect(recoveredMs).toBeGreaterThanOrEqual(0);
    expect(samples.filter((s) => s.status === 0 || s.status === 500)).toEqual([]);
    expect(slowest).toBeLessThan(5_000);
    expect(Math.max(...samples.filter((s) => s.kind === "readyz").map((s) => s.ms))).toBeLessThan(1_000);
    expect(outage503.length).toBeGreaterThan(20);
    for (const s of samples.filter((x) => x.status === 503)) expect(s.retryAfter, `${s.kind} 503 without Retry-After`).toMatch(/^\d+$/);
    expect(new Set(samples.map((s) => s.status))).toEqual(new Set([200, 202, 503]));

    // Every delivery acknowledged with 202 is applied after the restart.
    const acknowledged = samples.filter((s) => s.kind === "webhook" && s.status === 202).map((s) => s.uid!);
    expect(acknowledged.length).toBeGreaterThan(20);
    const deadline = performance.now() + 30_000;
    let missing = acknowledged;
    while (performance.now() < deadline) {
      const rows = await t.database.db.query.externalEvents.findMany({ where: (e, { eq }) => eq(e.sourceId, source.id), columns: { uid: true } });
      const applied = new Set(rows.map((r) => r.uid));
      missing = acknowledged.filter((uid) => !applied.has(uid));
      if (missing.length === 0) break;
      await phase(500);
    }
    expect(missing).toEqual([]);
  }, 90_000);
});
