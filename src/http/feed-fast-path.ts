// GET|HEAD /feeds/{secret}.ics answered by node:http straight from memory when the feed is warm
// (its secret known to this process, its body rendered), ahead of Hono: the framework's middleware
// costs more than the whole answer. Anything else, and any feed request that would need the
// database (an unknown secret, a cold feed, a rate-limited address), falls through to the app,
// which answers it as it always has and leaves the feed warm for the next request.
import type { IncomingMessage, RequestListener, ServerResponse } from "node:http";
import { subscriberKind } from "../domain/feed-policy.js";
import { FEED_FILE, feedAnswer } from "../routes/feeds-public.js";
import { warmFeedDocument } from "../services/feed-content.js";
import { addressBehindProxies, rateLimitKey } from "./client-address.js";
import type { AppDeps } from "./env.js";
import { header, type RequestObserver, requestIdOf } from "./fast-path.js";

const PREFIX = "/feeds/";
/** The route pattern the app's access log and metrics name for these requests. */
export const FEED_ROUTE = "/feeds/:file";

export function withFeedFastPath(deps: AppDeps, observe: RequestObserver, app: RequestListener): RequestListener {
  const { runtime, config, clock } = deps;

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
    const requestId = requestIdOf(req);
    // One array for writeHead and no setHeader: node:http then takes its fast path.
    const headers = answer.flatHeaders.slice();
    headers.push("x-request-id", requestId);
    res.writeHead(answer.status, headers);
    if (answer.status === 304 || method === "HEAD") res.end();
    else res.end(answer.body);

    observe(method, FEED_ROUTE, answer.status, performance.now() - started, requestId);
  };
}
