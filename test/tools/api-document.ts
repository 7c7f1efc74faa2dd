// The API document exactly as the app serves it, built without a database (serving the document
// touches none). Used to lint it (write-openapi.ts) and to generate the typed client's types
// (write-api-types.ts).
import openapiTS, { astToString, type OpenAPI3 } from "openapi-typescript";
import { createApp } from "../../src/app.js";
import { loadConfig } from "../../src/config.js";
import type { Database } from "../../src/db/client.js";
import type { AppDeps } from "../../src/http/env.js";
import { createMetrics } from "../../src/http/metrics.js";
import { createLogger } from "../../src/logger.js";
import { createRuntime } from "../../src/runtime.js";
import { fixedClock } from "../helpers/clock.js";

export async function buildApiDocument(publicBaseUrl = "https://calendar.clinic.invalid"): Promise<Record<string, unknown>> {
  const loaded = loadConfig({
    NODE_ENV: "test",
    PUBLIC_BASE_URL: publicBaseUrl,
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
  return (await res.json()) as Record<string, unknown>;
}

export const API_TYPES_FILE = "test/helpers/api-types.ts";

/** The TypeScript types of the document (openapi-typescript), as committed in API_TYPES_FILE. */
export async function renderApiTypes(): Promise<string> {
  // The server URL does not reach the types; a fixed one keeps the output independent of the environment.
  const doc = await buildApiDocument();
  const ast = await openapiTS(doc as unknown as OpenAPI3);
  const banner = [
    "// Generated from the API document by `npm run api:types` (openapi-typescript); do not edit.",
    "// test/tooling/api-types.test.ts fails when this file no longer matches the document.",
  ].join("\n");
  return `${banner}\n${astToString(ast)}`;
}
