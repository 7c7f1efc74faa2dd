import { randomBytes } from "node:crypto";
import type { AddressInfo } from "node:net";
import { Writable } from "node:stream";
import { afterAll } from "vitest";
import { createApp } from "../../src/app.js";
import { type Config, loadConfig } from "../../src/config.js";
import type { Database } from "../../src/db/client.js";
import { createMetrics } from "../../src/http/metrics.js";
import { createHttpServer } from "../../src/http/node-server.js";
import { createLogger } from "../../src/logger.js";
import { createRuntime } from "../../src/runtime.js";
import { ensureAdminToken } from "../../src/services/auth.js";
import type { ServiceDeps } from "../../src/services/deps.js";
import { apiClient } from "./api-client.js";
import { fixedClock, type TestClock } from "./clock.js";
import { createTestDatabase } from "./db.js";

export type RequestOptions = { body?: unknown; token?: string | null; headers?: Record<string, string> };

export type TestApp = Awaited<ReturnType<typeof makeTestApp>>;

/** Captures every log line the app writes, so tests can prove what never reaches a log. */
export function captureLogs() {
  const lines: string[] = [];
  const stream = new Writable({
    write(chunk, _enc, cb) {
      lines.push(...String(chunk).split("\n").filter(Boolean));
      cb();
    },
  });
  return { lines, stream, text: () => lines.join("\n") };
}

export async function makeTestApp(opts: { clock?: TestClock; env?: Record<string, string>; database?: Database } = {}) {
  const clock = opts.clock ?? fixedClock();
  const database = opts.database ?? (await createTestDatabase());
  const adminToken = `admin-${randomBytes(16).toString("hex")}`;
  const loaded = loadConfig({
    NODE_ENV: "test",
    PUBLIC_BASE_URL: "https://cal.example.test",
    ADMIN_TOKEN: adminToken,
    LOG_LEVEL: "info",
    ...opts.env,
  });
  if (!loaded.ok) throw new Error(loaded.messages.join("; "));
  const config: Config = loaded.config;
  const logs = captureLogs();
  const logger = createLogger({ level: config.logLevel, destination: logs.stream });
  const metrics = createMetrics();
  const admin = await ensureAdminToken(database.db, config.adminToken);
  const runtime = createRuntime({ database, logger, config, clock });
  const deps = { config, database, clock, logger, metrics, adminTokenHash: admin.hash, runtime };
  const app = createApp(deps);
  const services: ServiceDeps = { db: database.db, clock, config, logger };
  await runtime.liveFeeds.start();
  afterAll(async () => {
    await runtime.liveFeeds.stop();
    if (!opts.database) await database.close();
  });

  /**
   * The same app behind the real node:http server main.ts runs (its fast paths included);
   * `appRequests` counts the requests that reached the app, i.e. that no fast path answered.
   */
  async function listen(): Promise<{ baseUrl: string; appRequests(): number; close(): Promise<void> }> {
    let reachedApp = 0;
    const server = createHttpServer(deps, {
      fetch: (req: Request, ...rest: unknown[]) => {
        reachedApp++;
        return (app.fetch as (req: Request, ...rest: unknown[]) => Response | Promise<Response>)(req, ...rest);
      },
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    const { port } = server.address() as AddressInfo;
    return {
      baseUrl: `http://127.0.0.1:${port}`,
      appRequests: () => reachedApp,
      close: () =>
        new Promise<void>((resolve) => {
          server.closeAllConnections();
          server.close(() => resolve());
        }),
    };
  }

  async function request(method: string, path: string, o: RequestOptions = {}): Promise<Response> {
    const headers: Record<string, string> = { ...o.headers };
    const token = o.token === undefined ? adminToken : o.token;
    if (token) headers.authorization = `Bearer ${token}`;
    let body: BodyInit | undefined;
    if (o.body !== undefined) {
      body = typeof o.body === "string" ? o.body : JSON.stringify(o.body);
      headers["content-type"] ??= "application/json";
    }
    return app.request(path, { method, headers, body });
  }

  /** The typed API client (see api-client.ts) as the admin; `apiAs(key)` as a provider key, or with no token. */
  const api = apiClient(app, adminToken);
  const apiAs = (token: string | null) => apiClient(app, token);

  return { app, deps, services, database, clock, config, adminToken, logs, request, listen, api, apiAs };
}

/** Reads JSON and fails with the body in the message when the status is not the expected one. */
export async function expectStatus<T = any>(res: Response, status: number): Promise<T> {
  const text = await res.clone().text();
  if (res.status !== status) throw new Error(`expected ${status}, got ${res.status}: ${text}`);
  return (text ? JSON.parse(text) : undefined) as T;
}
