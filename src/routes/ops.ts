import { createRoute, z } from "@hono/zod-openapi";
import { RetryLaterError, UnauthorizedError } from "../errors.js";
import { createRouter, ProblemSchema } from "../http/openapi.js";
import { DATABASE_RETRY_AFTER_SECONDS, problemResponse } from "../http/problem.js";
import { hashSecret, safeEqual } from "../services/secrets.js";

const READY_TIMEOUT_MS = 900;

const healthz = createRoute({
  method: "get",
  path: "/healthz",
  tags: ["ops"],
  summary: "Liveness: the process answers",
  responses: { 200: { description: "Alive", content: { "application/json": { schema: z.object({ status: z.literal("ok") }) } } } },
});

const readyz = createRoute({
  method: "get",
  path: "/readyz",
  tags: ["ops"],
  summary: "Readiness: the database is reachable",
  responses: {
    200: { description: "Ready", content: { "application/json": { schema: z.object({ status: z.literal("ok") }) } } },
    503: { description: "Database unreachable", content: { "application/problem+json": { schema: ProblemSchema } } },
  },
});

const metrics = createRoute({
  method: "get",
  path: "/metrics",
  tags: ["ops"],
  summary: "Prometheus metrics (text exposition format); bearer METRICS_TOKEN or the admin token",
  security: [{ bearer: [] }],
  responses: {
    200: { description: "Metrics", content: { "text/plain": { schema: z.string() } } },
    401: { description: "No valid token", content: { "application/problem+json": { schema: ProblemSchema } } },
  },
});

export function opsRoutes() {
  return createRouter()
    .openapi(healthz, (c) => c.json({ status: "ok" as const }, 200))
    .openapi(readyz, async (c) => {
      // Answered within READY_TIMEOUT_MS whatever the database does: a probe must not hang.
      let timer: NodeJS.Timeout | undefined;
      const late = new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error("ping timed out")), READY_TIMEOUT_MS);
      });
      try {
        await Promise.race([c.var.deps.database.ping(), late]);
        return c.json({ status: "ok" as const }, 200);
      } catch {
        return problemResponse(
          c,
          new RetryLaterError("database_unavailable", "The database is not reachable.", DATABASE_RETRY_AFTER_SECONDS),
        ) as never;
      } finally {
        clearTimeout(timer);
      }
    })
    .openapi(metrics, async (c) => {
      const { config, adminTokenHash } = c.var.deps;
      const bearer = /^Bearer\s+(\S{1,512})$/i.exec(c.req.header("authorization") ?? "")?.[1];
      const hash = bearer === undefined ? "" : hashSecret(bearer);
      const allowed =
        bearer !== undefined &&
        (safeEqual(hash, adminTokenHash) || (config.metricsToken !== undefined && safeEqual(hash, hashSecret(config.metricsToken))));
      if (!allowed) throw new UnauthorizedError("/metrics needs METRICS_TOKEN (or the admin token) as a bearer token.");
      const registry = c.var.deps.metrics.registry;
      return c.text(await registry.metrics(), 200, { "content-type": registry.contentType });
    });
}
