// Write-back latency: from a session change's commit (the API's answer) to the Google or Microsoft
// Graph fake storing the event, through the outbox and the real delivery worker loop, on PGlite and
// on PostgreSQL. Baseline in the same run: the same event written straight to the fake by the
// platform client (no outbox), so the ratio is what the outbox and the worker add.
import { randomUUID } from "node:crypto";
import { eq } from "drizzle-orm";
import { createApp } from "../../src/app.js";
import { loadConfig } from "../../src/config.js";
import { type Database, openDatabase } from "../../src/db/client.js";
import { migrate } from "../../src/db/migrate.js";
import { calendarConnections, calendarMirrors } from "../../src/db/schema.js";
import { createMetrics } from "../../src/http/metrics.js";
import { createGoogleMirrorPlatform, GOOGLE_WRITE_SCOPE, googleEventIdFor } from "../../src/ingest/mirror-google.js";
import { createMicrosoftMirrorPlatform, MICROSOFT_WRITE_SCOPE } from "../../src/ingest/mirror-microsoft.js";
import { MirrorWorker } from "../../src/ingest/mirror-worker.js";
import { createLogger } from "../../src/logger.js";
import { createRuntime } from "../../src/runtime.js";
import { ensureAdminToken } from "../../src/services/auth.js";
import { sealSecret } from "../../src/services/secret-box.js";
import { FakeGoogleCalendar } from "../fakes/google-calendar.js";
import { FakeMicrosoftGraph } from "../fakes/microsoft-graph.js";
import { createBenchDatabase, log, percentile, sleep } from "./harness.js";

export type WriteBackRow = {
  platform: "google" | "microsoft";
  database: "pglite" | "postgres";
  changes: number;
  p50Ms: number;
  p95Ms: number;
  maxMs: number;
  baselineP95Ms: number;
};
export type WriteBackResult = { rows: WriteBackRow[] };

const TOKEN = "bench-access-token";
const clock = { now: () => new Date() };

/** The fake of one platform: where it listens, and when it last stored the session's event. */
async function startFake(platform: WriteBackRow["platform"]) {
  if (platform === "google") {
    const fake = new FakeGoogleCalendar({ accessToken: TOKEN, autoNotify: false });
    const { baseUrl } = await fake.start();
    return {
      env: { GOOGLE_API_BASE_URL: baseUrl, GOOGLE_OAUTH_CLIENT_ID: "bench", GOOGLE_OAUTH_CLIENT_SECRET: "bench" },
      scope: GOOGLE_WRITE_SCOPE,
      client: createGoogleMirrorPlatform(baseUrl, fetch),
      lastWriteOf: (sessionId: string) => fake.lastWriteAt.get(googleEventIdFor(sessionId)),
      stop: () => fake.stop(),
    };
  }
  const fake = new FakeMicrosoftGraph({ accessToken: TOKEN, autoNotify: false });
  const { baseUrl } = await fake.start();
  return {
    env: { MICROSOFT_GRAPH_BASE_URL: baseUrl, MICROSOFT_OAUTH_CLIENT_ID: "bench", MICROSOFT_OAUTH_CLIENT_SECRET: "bench" },
    scope: `offline_access Calendars.Read ${MICROSOFT_WRITE_SCOPE}`,
    client: createMicrosoftMirrorPlatform(baseUrl, fetch),
    // Graph assigns event ids: the session id is the event's transactionId.
    lastWriteOf: (sessionId: string) => fake.lastWriteOf(sessionId),
    stop: () => fake.stop(),
  };
}

async function one(platform: WriteBackRow["platform"], kind: WriteBackRow["database"], changes: number): Promise<WriteBackRow> {
  const fake = await startFake(platform);
  let database: Database;
  if (kind === "postgres") database = await openDatabase({ kind: "postgres", url: (await createBenchDatabase("writeback")).url, max: 5 });
  else database = await openDatabase({ kind: "pglite" });
  try {
    await migrate(database);
    const adminToken = `admin-${randomUUID()}`;
    const loaded = loadConfig({
      NODE_ENV: "test",
      PUBLIC_BASE_URL: "https://cal.example.test",
      ADMIN_TOKEN: adminToken,
      LOG_LEVEL: "silent",
      INGEST_ALLOW_PRIVATE_HOSTS: "127.0.0.1",
      ...fake.env,
    });
    if (!loaded.ok) throw new Error(loaded.messages.join("; "));
    const config = loaded.config;
    const logger = createLogger({ level: "silent" });
    const admin = await ensureAdminToken(database.db, config.adminToken);
    const runtime = createRuntime({ database, logger, config, clock });
    const app = createApp({ config, database, clock, logger, metrics: createMetrics(), adminTokenHash: admin.hash, runtime });
    const call = async (method: string, path: string, body?: unknown) => {
      const res = await app.request(path, {
        method,
        headers: { authorization: `Bearer ${adminToken}`, "content-type": "application/json" },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
      if (res.status >= 300) throw new Error(`${method} ${path}: ${res.status} ${await res.text()}`);
      return res.status === 204 ? null : ((await res.json()) as Record<string, string>);
    };
    const provider = (await call("POST", "/api/v1/providers", {
      name: "Bench",
      timezone: "America/New_York",
      licenses: [{ state: "NY" }],
      credentialedStates: ["NY"],
    }))!;
    await call("PUT", `/api/v1/providers/${provider.id}/telehealth-link`, {
      url: "https://zoom.us/j/1234567890",
      baaSigned: true,
      waitingRoomEnabled: true,
    });
    const client = (await call("POST", `/api/v1/providers/${provider.id}/clients`, {
      displayName: "Bench Client",
      insurance: "self_pay",
      medicare: false,
    }))!;
    // A connected account with the write scope (the OAuth flow itself is not what is measured).
    const connectionId = randomUUID();
    await database.db.insert(calendarConnections).values({
      id: connectionId,
      providerId: provider.id!,
      kind: platform,
      accessToken: sealSecret(config.secretKeys, TOKEN, "access_token"),
      accessTokenExpiresAt: new Date(Date.now() + 24 * 3600_000),
      refreshToken: sealSecret(config.secretKeys, "bench-refresh", "refresh_token"),
      scope: fake.scope,
    });
    const mirror = (await call("PUT", `/api/v1/providers/${provider.id}/calendar-connections/${connectionId}/mirror`, {}))!;
    const worker = new MirrorWorker({ db: database.db, clock, config, logger }, { idleMs: 100 });
    worker.start();
    const latencies: number[] = [];
    const day = 24 * 3600_000;
    for (let i = 0; i < changes; i++) {
      const start = new Date(Date.UTC(2030, 0, 1) + i * day).toISOString();
      const s = (await call("POST", `/api/v1/providers/${provider.id}/sessions`, {
        clientId: client.id,
        start,
        kind: "virtual",
        allowOverlap: true,
      }))!;
      const committed = performance.now();
      const deadline = committed + 30_000;
      while (!((fake.lastWriteOf(s.id!) ?? 0) > committed) && performance.now() < deadline) await sleep(2);
      latencies.push((fake.lastWriteOf(s.id!) ?? Number.NaN) - committed);
      await sleep(20 + (i % 7) * 10); // changes arrive spread out, as people make them
    }
    await worker.stop();
    // Baseline: the same write straight through the platform client.
    const direct = fake.client;
    const [row] = await database.db.select().from(calendarMirrors).where(eq(calendarMirrors.id, mirror.id!));
    const remote = row!.remoteCalendarId!;
    const base: number[] = [];
    for (let i = 0; i < changes; i++) {
      const t0 = performance.now();
      await direct.upsertEvent(
        TOKEN,
        remote,
        {
          sessionId: randomUUID(),
          uid: "u",
          summary: "Telehealth session",
          start: new Date(),
          end: new Date(Date.now() + 3600_000),
          timeZone: "America/New_York",
        },
        null,
      );
      base.push(performance.now() - t0);
    }
    const ok = latencies.filter(Number.isFinite);
    return {
      platform,
      database: kind,
      changes: ok.length,
      p50Ms: percentile(ok, 50),
      p95Ms: percentile(ok, 95),
      maxMs: Math.max(...ok),
      baselineP95Ms: percentile(base, 95),
    };
  } finally {
    await database.close();
    await fake.stop();
  }
}

export async function benchWriteBack(opts: { quick: boolean }): Promise<WriteBackResult> {
  const changes = opts.quick ? 30 : 200;
  const rows: WriteBackRow[] = [];
  for (const platform of ["google", "microsoft"] as const) {
    for (const kind of ["pglite", "postgres"] as const) {
      log(`write-back: ${changes} session changes to ${platform} on ${kind}`);
      rows.push(await one(platform, kind, changes));
    }
  }
  return { rows };
}

// `npx tsx test/bench/write-back.ts [--quick]`: this part alone, JSON on stdout.
if (process.argv[1]?.endsWith("write-back.ts")) {
  benchWriteBack({ quick: process.argv.includes("--quick") }).then(
    (r) => {
      process.stdout.write(`${JSON.stringify(r)}\n`);
      process.exit(0);
    },
    (err: unknown) => {
      process.stderr.write(`${(err as Error).stack}\n`);
      process.exit(1);
    },
  );
}
