// Writes the API document exactly as the app serves it, for linting (see .ci/run):
//   npx tsx test/tools/write-openapi.ts out.json
// Serving the document touches no database, so none is opened.
import { writeFileSync } from "node:fs";
import { createApp } from "../../src/app.js";
import { loadConfig } from "../../src/config.js";
import type { Database } from "../../src/db/client.js";
import type { AppDeps } from "../../src/http/env.js";
import { createMetrics } from "../../src/http/metrics.js";
import { createLogger } from "../../src/logger.js";
import { createRuntime } from "../../src/runtime.js";
import { fixedClock } from "../helpers/clock.js";

const out = process.argv[2];
if (!out) throw new Error("usage: write-openapi.ts OUT.json");
const loaded = loadConfig({
  NODE_ENV: "test",
  PUBLIC_BASE_URL: process.env.PUBLIC_BASE_URL ?? "https://calendar.clinic.invalid",
  ADMIN_TOKEN: "document-only-token-not-used-for-anything",
  LOG_LEVEL: "silent",
});
if (!loaded.ok) throw new Error(loaded.messages.join("; "));
const config = loaded.config;
const logger = createLogger({ level: "silent" });
const clock = fixedClock();
const database = { db: undefined } as unknown as Database;
const runtime = createRuntime({ database, logger, config, clock });
const deps: AppDeps = { config, database, clock, logger, metrics: createMetrics(), adminTokenHash: "", runtime };
const res = await createApp(deps).request("/api/v1/openapi.json");
if (res.status !== 200) throw new Error(`the document answered ${res.status}`);
writeFileSync(out, JSON.stringify(await res.json(), null, 2) + "\n");
