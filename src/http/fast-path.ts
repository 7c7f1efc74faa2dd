// What the answers node:http gives ahead of Hono (feed-fast-path.ts, webhook-fast-path.ts) share
// with the app's own: the request id, the access log line and the request metrics.
import type { IncomingMessage } from "node:http";
import type { AppDeps } from "./env.js";
import { logRequest, requestIdFrom } from "./middleware.js";

/** One value of a request header (node:http joins repeated ones; these are single-valued). */
export function header(req: IncomingMessage, name: string): string | undefined {
  const v = req.headers[name];
  return Array.isArray(v) ? v.join(", ") : v;
}

/** The caller's X-Request-ID when it is well-formed, else a new one (as the app's requestContext). */
export const requestIdOf = (req: IncomingMessage): string => requestIdFrom(header(req, "x-request-id"));

/** Records one answered request in the metrics and, at info, the access log (the route pattern only). */
export type RequestObserver = (method: string, route: string, status: number, durationMs: number, requestId: string) => void;

/**
 * The app's request counter, duration histogram and access log line for answers made ahead of it.
 * Answers are tallied per (method, route, status) and handed to prom-client (which hashes the label
 * set on every call) at most every 250 ms, and always before the metrics are read.
 */
export function requestObserver(deps: AppDeps): RequestObserver {
  const { httpRequests, httpDuration, registry } = deps.metrics;
  const { logger } = deps;
  // Checked once, not per answer: the info line is skipped without building it when info is off.
  const logRequests = logger.isLevelEnabled("info");
  const pending = new Map<string, { labels: { method: string; route: string; status: string }; seconds: number[] }>();
  let timer: NodeJS.Timeout | undefined;
  const flush = () => {
    timer = undefined;
    for (const { labels, seconds } of pending.values()) {
      if (seconds.length === 0) continue;
      httpRequests.inc(labels, seconds.length);
      for (const s of seconds) httpDuration.observe(labels, s);
      seconds.length = 0;
    }
  };
  const collect = registry.metrics.bind(registry);
  registry.metrics = () => {
    flush();
    return collect();
  };
  return (method, route, status, durationMs, requestId) => {
    const key = `${method} ${route} ${status}`;
    let p = pending.get(key);
    if (!p) {
      p = { labels: { method, route, status: String(status) }, seconds: [] };
      pending.set(key, p);
    }
    p.seconds.push(durationMs / 1000);
    if (!timer) {
      timer = setTimeout(flush, 250);
      timer.unref();
    }
    if (status >= 500 || logRequests) logRequest(logger, requestId, method, route, status, durationMs);
  };
}
