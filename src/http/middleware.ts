import { randomUUID } from "node:crypto";
import type { MiddlewareHandler } from "hono";
import { routePath } from "hono/route";
import { findUnsafeText, mayHoldUnsafeText } from "../domain/safe-text.js";
import { InvalidCharactersError, RetryLaterError, UnauthorizedError } from "../errors.js";
import type { Logger } from "../logger.js";
import { resolvePrincipal } from "../services/auth.js";
import { bufferBody } from "./body.js";
import type { AppDeps, AppEnv } from "./env.js";
import { codedError } from "./problem.js";

const REQUEST_ID = /^[A-Za-z0-9._-]{1,64}$/;

/** The caller's X-Request-ID when it is well-formed, else a new one. */
export const requestIdFrom = (incoming: string | undefined): string => (incoming && REQUEST_ID.test(incoming) ? incoming : randomUUID());

export function requestContext(deps: AppDeps): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    const requestId = requestIdFrom(c.req.header("x-request-id"));
    c.set("requestId", requestId);
    c.set("deps", deps);
    c.set("services", { db: deps.database.db, clock: deps.clock, config: deps.config, logger: deps.logger });
    await next();
    c.header("x-request-id", requestId);
  };
}

/**
 * One wide log line per request. It names the matched route PATTERN, never the raw path: feed
 * secrets and webhook source ids live in paths. No headers, no query string, no body.
 */
export function accessLog(deps: AppDeps): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    const started = performance.now();
    await next();
    const route = c.finalized || c.res ? routePathOf(c) : "unmatched";
    const durationMs = performance.now() - started;
    const status = c.res.status;
    const labels = { method: c.req.method, route, status: String(status) };
    deps.metrics.httpRequests.inc(labels);
    deps.metrics.httpDuration.observe(labels, durationMs / 1000);
    logRequest(deps.logger, c.get("requestId"), c.req.method, route, status, durationMs);
  };
}

/** The access log line: an error for a 5xx, else info. */
export function logRequest(logger: Logger, requestId: string, method: string, route: string, status: number, durationMs: number): void {
  logger[status >= 500 ? "error" : "info"]({ msg: "request", requestId, method, route, status, durationMs: Math.round(durationMs * 10) / 10 });
}

function routePathOf(c: Parameters<MiddlewareHandler<AppEnv>>[0]): string {
  const path = routePath(c, -1);
  // A wildcard match (middleware only) means no route handled it.
  return !path || path === "*" || path === "/*" ? "unmatched" : path;
}

export function bearerAuth(deps: AppDeps): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    const header = c.req.header("authorization") ?? "";
    const match = /^Bearer\s+(\S{1,512})$/i.exec(header);
    if (!match) throw new UnauthorizedError();
    const principal = await resolvePrincipal(deps.database.db, deps.adminTokenHash, match[1]!);
    if (!principal) throw new UnauthorizedError("The bearer token is not valid.");
    c.set("principal", principal);
    await next();
  };
}

/** Bodies over the limit get 413 (RFC 9110 15.5.14) before any parsing (Content-Length first, then as they stream). */
export function limitBody(maxBytes: number): MiddlewareHandler<AppEnv> {
  return bufferBody((c) => ({ maxBytes, timeoutMs: c.var.deps.config.http.bodyTimeoutMs, budget: c.var.deps.runtime.bodyBudget }));
}

const JSON_TYPE = /^application\/([\w.-]+\+)?json$/i;

/**
 * A write that declares a body type must declare JSON; anything else is 415, not a confusing 422.
 * (A write with no Content-Type, e.g. `POST .../cancel`, has no body to judge.)
 */
export function requireJson(): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    if (c.req.method === "POST" || c.req.method === "PUT" || c.req.method === "PATCH") {
      const contentType = c.req.header("content-type");
      const mediaType = (contentType ?? "").split(";")[0]!.trim();
      if (contentType !== undefined && mediaType !== "" && !JSON_TYPE.test(mediaType)) {
        throw codedError("unsupported_media_type", "Send the body as application/json.");
      }
    }
    await next();
  };
}

/**
 * A JSON body with NUL or a lone surrogate in any string is a 422 here, before validation and long
 * before PostgreSQL (which would refuse it with an error carrying the value).
 */
export function refuseUnsafeText(): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    const mediaType = (c.req.header("content-type") ?? "").split(";")[0]!.trim();
    if ((c.req.method === "POST" || c.req.method === "PUT" || c.req.method === "PATCH") && JSON_TYPE.test(mediaType)) {
      const raw = await c.req.text();
      if (mayHoldUnsafeText(raw)) {
        let parsed: unknown;
        try {
          parsed = JSON.parse(raw);
        } catch {
          throw codedError("malformed_json", "The body is not valid JSON.");
        }
        const path = findUnsafeText(parsed);
        if (path !== undefined) throw new InvalidCharactersError(path);
      }
    }
    await next();
  };
}

/** What a request still unanswered at its deadline gets. */
export const notAnsweredInTime = () => new RetryLaterError("service_unavailable", "The server could not answer in time; retry shortly.", 5);

/**
 * A request still unanswered after `ms` (a hung database, an exhausted pool) gets 503 with
 * Retry-After instead of holding the client; `exempt` names routes that wait on other servers.
 */
export function requestDeadline(ms: number, exempt: (method: string, path: string) => boolean): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    if (exempt(c.req.method, c.req.path)) return next();
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(notAnsweredInTime()), ms);
    });
    try {
      await Promise.race([next(), deadline]);
    } finally {
      clearTimeout(timer);
    }
  };
}
