// The only file that touches `process`: config -> database -> migrate -> app -> serve -> workers.
import type { AddressInfo } from "node:net";
import { createApp } from "./app.js";
import { loadConfig } from "./config.js";
import { openDatabase } from "./db/client.js";
import { prepareDataDir } from "./db/data-dir.js";
import { isPostgresClosedSocketWrite } from "./db/driver-race.js";
import { migrate } from "./db/migrate.js";
import { systemClock } from "./domain/clock.js";
import { createMetrics } from "./http/metrics.js";
import { createHttpServer } from "./http/node-server.js";
import { MirrorWorker } from "./ingest/mirror-worker.js";
import { IngestWorker } from "./ingest/worker.js";
import { createLogger } from "./logger.js";
import { createRuntime } from "./runtime.js";
import { withDevelopmentSecretKey } from "./secret-key-file.js";
import { ensureAdminToken } from "./services/auth.js";

async function main(): Promise<void> {
  const loaded = loadConfig(process.env);
  if (!loaded.ok) {
    // Name every bad key and the rule it broke; never echo a value (it may be a secret).
    process.stderr.write(`Invalid configuration:\n${loaded.messages.map((m) => `  ${m}`).join("\n")}\n`);
    process.exit(1);
  }
  const { config, generatedAt } = withDevelopmentSecretKey(loaded.config);
  const logger = createLogger({ level: config.logLevel });
  process.on("uncaughtException", (err) => {
    if (isPostgresClosedSocketWrite(err)) {
      logger.warn({ code: "postgres_closed_socket_write" }, "database connection closed under a pending write (ignored)");
      return;
    }
    logger.fatal({ err: { name: err.name } }, "uncaught exception");
    process.exit(1);
  });
  if (generatedAt) logger.warn({ file: generatedAt }, "no SECRETS_KEY: generated a development key; set SECRETS_KEY in production");

  const say = (line: string) => process.stdout.write(`${line}\n`);
  if (!config.databaseUrl) {
    // Files the embedded database creates from now on are the server user's alone (0600/0700).
    process.umask(0o077);
    prepareDataDir(config.dataDir);
    say(`Opening the embedded database in ${config.dataDir} ...`);
  } else {
    say("Connecting to PostgreSQL ...");
  }
  const database = await openDatabase(
    config.databaseUrl
      ? {
          kind: "postgres",
          url: config.databaseUrl,
          max: config.db.poolMax,
          connectTimeoutMs: config.db.connectTimeoutMs,
          statementTimeoutMs: config.db.statementTimeoutMs,
        }
      : { kind: "pglite", dataDir: config.dataDir },
  );
  say("Applying migrations ...");
  await migrate(database);
  // PGlite's file system layer sets its own modes (0666), past the umask: tighten what it made.
  if (!config.databaseUrl) prepareDataDir(config.dataDir);

  const admin = await ensureAdminToken(database.db, config.adminToken);
  const metrics = createMetrics({ defaultMetrics: true });
  const runtime = createRuntime({ database, logger, config, clock: systemClock });
  const deps = { config, database, clock: systemClock, logger, metrics, adminTokenHash: admin.hash, runtime };
  const app = createApp(deps);
  runtime.fetchRecorder.start();
  runtime.retention.start();
  await runtime.liveFeeds.start();
  const worker = config.workerEnabled
    ? new IngestWorker({ db: database.db, clock: systemClock, config, logger }, { metrics, fetchFn: runtime.fetchFn })
    : undefined;
  if (worker) {
    runtime.worker = worker;
    worker.start();
  }
  // Write-back delivery runs beside ingestion, in its own loop (src/ingest/mirror-worker.ts).
  const mirrorWorker = config.workerEnabled
    ? new MirrorWorker({ db: database.db, clock: systemClock, config, logger }, { fetchFn: runtime.fetchFn })
    : undefined;
  mirrorWorker?.start();

  say(`Starting the server on ${config.host}:${config.port} ...`);
  const server = createHttpServer(deps, app);
  server.listen(config.port, config.host, () => {
    const port = (server.address() as AddressInfo).port;
    logger.info({ host: config.host, port, database: database.kind }, "listening");
    say(startBanner({ baseUrl: config.publicBaseUrl, host: config.host, port, database: database.kind, adminToken: admin.generated }));
  });

  let stopping = false;
  const shutdown = (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, "draining");
    // Stop accepting; in-flight requests finish; then the database closes.
    server.close(async () => {
      await worker?.stop();
      await mirrorWorker?.stop();
      await runtime.fetchRecorder.stop();
      runtime.retention.stop();
      await runtime.liveFeeds.stop();
      await database.close();
      if (!config.databaseUrl) prepareDataDir(config.dataDir);
      logger.info("stopped");
      process.exit(0);
    });
    if ("closeIdleConnections" in server) (server as { closeIdleConnections(): void }).closeIdleConnections();
    setTimeout(() => {
      logger.error("drain timed out");
      process.exit(1);
    }, 25_000).unref();
  };
  process.on("SIGTERM", () => shutdown("SIGTERM"));
  process.on("SIGINT", () => shutdown("SIGINT"));
}

/** What a person starting the server needs: where it is, where to sign in, how to get a provider key. */
function startBanner(o: { baseUrl: string; host: string; port: number; database: string; adminToken?: string }): string {
  const lines = [
    `Telehealth calendar server on ${o.baseUrl} (listening on ${o.host}:${o.port}, ${o.database})`,
    `Settings pages: ${o.baseUrl}/settings`,
    "  Sign in there with the admin token to create providers and their API keys (a provider key signs a provider in).",
    `  Or: POST ${o.baseUrl}/api/v1/providers, then POST /api/v1/providers/{id}/api-keys, with Authorization: Bearer <admin token>.`,
  ];
  if (o.adminToken) {
    // Printed to the terminal once, on the first start; only its hash is stored. Not a log line.
    lines.push("", "Admin token (shown once, store it now):", `  ${o.adminToken}`, "Use it as: Authorization: Bearer <token>", "");
  }
  return lines.join("\n");
}

main().catch((err: unknown) => {
  process.stderr.write(`Start-up failed: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
