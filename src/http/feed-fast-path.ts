// GET|HEAD /feeds/{secret}.ics answered by node:http straight from memory when the feed is warm
// (its secret known to this process, its body rendered), ahead of Hono: the framework's middleware
// costs more than the whole answer. Anything else, and any feed request that would need the
// database (an unknown secret, a cold feed, a rate-limited address), falls through to the app,
// which answers it as it always has and leaves the feed warm for the next request.
import { randomUUID } from "node:crypto";
import type { IncomingMessage, RequestListener, ServerResponse } from "node:http";
import { subscriberKind } from "../domain/feed-policy.js";
import { FEED_FILE, feedAnswer } from "../routes/feeds-public.js";
import { warmFeedDocument } from "../services/feed-content.js";
import { addressBehindProxies, rateLimitKey } from "./client-address.js";
import type { AppDeps } from "./env.js";
import { REQUEST_ID } from "./middleware.js";

const PREFIX = "/feeds/";
/** The route pattern the app's access log and metrics name for these requests. */
export const FEED_ROUTE = "/feeds/:file";

export function withFeedFastPath(deps: AppDeps, app: RequestListener): RequestListener {
  const { runtime, config, clock, logger } = deps;
  const observe = requestObserver(deps);
  const logRequests = logger.isLevelEnabled("info");

  return (req: IncomingMessage, res: ServerResponse) => {
    const method = req.method;
    const url = req.url;
    if ((method !== "GET" && method !== "HEAD") || !url || !url.startsWith(PREFIX)) return app(req, res);
    const started = performance.now();
    const q = url.indexOf("?", PREFIX.length);
    const match = FEED_FILE.exec(q === -1 ? url.slice(PREFIX.length) : url.slice(PREFIX.length, q));
    if (!match) return app(req, res);
    const nowMs = clock.now().getTime();
    // A limited address gets its 429 from the app: the check comes before any answer.
    const address = addressBehindProxies(req.socket.remoteAddress, header(req, "x-forwarded-for"), config.trustedProxyHops);
    if (runtime.failureLimiter.retryAfter(rateLimitKey(address), nowMs) > 0) return app(req, res);
    const doc = warmFeedDocument(runtime, match[1]!, nowMs);
    if (!doc) return app(req, res);

    runtime.fetchRecorder.record(doc.feedId, subscriberKind(header(req, "user-agent")), nowMs);
    const answer = feedAnswer(doc, {
      ifNoneMatch: header(req, "if-none-match"),
      ifModifiedSince: header(req, "if-modified-since"),
      acceptEncoding: header(req, "accept-encoding"),
    });
    const incoming = header(req, "x-request-id");
    const requestId = incoming && REQUEST_ID.test(incoming) ? incoming : randomUUID();
    // One array for writeHead and no setHeader: node:http then takes its fast path.
    const headers = answer.flatHeaders.slice();
    headers.push("x-request-id", requestId);
    res.writeHead(answer.status, headers);
    if (answer.status === 304 || method === "HEAD") res.end();
    else res.end(answer.body);

    const durationMs = performance.now() - started;
    observe(method, answer.status, durationMs);
    if (logRequests) {
      logger.info({ msg: "request", requestId, method, route: FEED_ROUTE, status: answer.status, durationMs: Math.round(durationMs * 10) / 10 });
    }
  };
}

/** One value of a request header (node:http joins repeated ones; these are single-valued). */
function header(req: IncomingMessage, name: string): string | undefined {
  const v = req.headers[name];
  return Array.isArray(v) ? v.join(", ") : v;
}

/**
 * The app's request counter and duration histogram, fed in batches off the answer's path: answers
 * are tallied here per (method, status) and handed to prom-client (which hashes the label set on
 * every call) at most every 250 ms, and always before the metrics are read.
 */
function requestObserver(deps: AppDeps): (method: string, status: number, durationMs: number) => void {
  const { httpRequests, httpDuration, registry } = deps.metrics;
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
  return (method, status, durationMs) => {
    const key = `${method} ${status}`;
    let p = pending.get(key);
    if (!p) {
      p = { labels: { method, route: FEED_ROUTE, status: String(status) }, seconds: [] };
      pending.set(key, p);
    }
    p.seconds.push(durationMs / 1000);
    if (!timer) {
      timer = setTimeout(flush, 250);
      timer.unref();
    }
  };
}
