import type { Config } from "../config.js";
import type { Database } from "../db/client.js";
import type { Clock } from "../domain/clock.js";
import type { Logger } from "../logger.js";
import type { Runtime } from "../runtime.js";
import type { ProviderScope } from "../services/auth.js";
import type { Principal, ServiceDeps } from "../services/deps.js";
import type { Metrics } from "./metrics.js";

export type AppDeps = {
  config: Config;
  database: Database;
  clock: Clock;
  logger: Logger;
  metrics: Metrics;
  /** Hash of the operator's admin token (README, Configuration: ADMIN_TOKEN). */
  adminTokenHash: string;
  runtime: Runtime;
};

/** The one typed Hono env of the app. */
export type AppEnv = {
  Variables: {
    requestId: string;
    deps: AppDeps;
    services: ServiceDeps;
    principal: Principal;
    /** The `{id}` of a `/providers/{id}/…` path, resolved against the caller (src/http/provider-scope.ts). */
    provider: ProviderScope;
    /** Set by a handler whose answer is an unauthenticated failure the status alone does not show. */
    authFailed: boolean;
  };
};
