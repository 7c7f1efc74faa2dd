// The only file that touches `process`: config -> database -> migrate -> app -> serve -> workers.
import { serve } from "@hono/node-server";
import { mkdirSync } from "node:fs";
import { createApp } from "./app.js";
import { loadConfig } from "./config.js";
import { openDatabase } from "./db/client.js";
import { migrate } from "./db/migrate.js";
import { systemClock } from "./domain/clock.js";
import { createMetrics } from "./http/metrics.js";
import { IngestWorker } from "./ingest/worker.js";
import { createLogger } from "./logger.js";
import { ensureAdminToken } from "./services/auth.js";
import { createRuntime, nodeServerOptions } from "./runtime.js";
import { withDevelopmentSecretKey } from "./secret-key-file.js";

async function main(): Promise<void> {
  const loaded = loadConfig(process.env);
  if (!loaded.ok) {
    // Name every bad key and the rule it broke; never echo a value (it may be a secret).
    process.stderr.write(`Invalid configuration:\n${loaded.messages.map((m) => `  ${m}`).join("\n")}\n`);
    process.exit(1);
  }
  const { config, generatedAt } = withDevelopmentSecretKey(loaded.config);
  const logger = createLogger({ level: config.logLevel });
  if (generatedAt) logger.warn({ file: generatedAt }, "no SECRETS_KEY: generated a development key; set SECRETS_KEY in production");

  if (!config.databaseUrl) mkdirSync(config.dataDir, { recursive: true });
  const database = await openDatabase(
    config.databaseUrl
      ? { kind: "postgres", url: config.databaseUrl, max: config.db.poolMax, connectTimeoutMs: config.db.connectTimeoutMs, statementTimeoutMs: config.db.statementTimeoutMs }
      : { kind: "pglite", dataDir: config.dataDir },
  );
  await migrate(database);

  const admin = await ensureAdminToken(database.db, config.adminToken);
  const metrics = createMetrics({ defaultMetrics: true });
  const runtime = createRuntime({ database, logger, config, clock: systemClock });
  const app = createApp({ config, database, clock: systemClock, logger, metrics, adminTokenHash: admin.hash, runtime });
  runtime.fetchRecorder.start();
  runtime.retention.start();
  const worker = config.workerEnabled
    ? new IngestWorker({ db: database.db, clock: systemClock, config, logger }, { metrics, fetchFn: runtime.fetchFn })
    : undefined;
  if (worker) {
    runtime.worker = worker;
    worker.start();
  }

  const server = serve({ fetch: app.fetch, port: config.port, hostname: "0.0.0.0", serverOptions: nodeServerOptions(config) }, (info) => {
    logger.info({ port: info.port, database: database.kind }, "listening");
    process.stdout.write(`Telehealth calendar server on ${config.publicBaseUrl} (port ${info.port}, ${database.kind})\n`);
    if (admin.generated) {
      // Printed to the terminal once, on the first start; only its hash is stored. Not a log line.
      process.stdout.write(
        `\nAdmin token (shown once, store it now):\n  ${admin.generated}\nUse it as: Authorization: Bearer <token>\n\n`,
      );
    }
  });

  let stopping = false;
  const shutdown = (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, "draining");
    // Stop accepting; in-flight requests finish; then the database closes.
    server.close(async () => {
      await worker?.stop();
      await runtime.fetchRecorder.stop();
      runtime.retention.stop();
      await database.close();
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

main().catch((err: unknown) => {
  process.stderr.write(`Start-up failed: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
