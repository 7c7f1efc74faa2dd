// POST /webhooks/ics/{sourceId} answered by node:http ahead of Hono when nothing about the request
// needs the app: the source is known to this process (see LiveFeeds.source), the address is not
// limited, the Standard Webhooks headers are plausible and the body declares a length within the
// limit that the body budget can hold. The body is then read, verified, checked and recorded by the
// same functions the app's route calls, and answered as the app answers (status, problem, headers,
// access log, metrics, failure limiter, request deadline). Anything else falls through to the app
// before a byte of the body is read. Hono's Request, Response and body streams cost more CPU than
// the rest of an acknowledgement (BENCHMARKS.md).
import type { IncomingMessage, RequestListener, ServerResponse } from "node:http";
import type { AppError } from "../errors.js";
import { plausibleStandardWebhook, receiveIcsWebhook, standardWebhookHeaders } from "../ingest/adapters/ics-webhook.js";
import { intakeAnswer } from "../routes/webhooks.js";
import type { ServiceDeps } from "../services/deps.js";
import type { IntakeSource } from "../services/live-feeds.js";
import { contentLength, readDeclaredBody, WEBHOOK_BODY_LIMIT } from "./body.js";
import { addressBehindProxies, rateLimitKey } from "./client-address.js";
import type { AppDeps } from "./env.js";
import { header, type RequestObserver, requestIdOf } from "./fast-path.js";
import { notAnsweredInTime } from "./middleware.js";
import { problemBody, problemHeaders, reportFailure } from "./problem.js";

const PREFIX = "/webhooks/ics/";
/** The route pattern the app's access log and metrics name for these requests. */
export const ICS_WEBHOOK_ROUTE = "/webhooks/ics/:sourceId";
const SOURCE_ID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

export function withIcsWebhookFastPath(deps: AppDeps, observe: RequestObserver, app: RequestListener): RequestListener {
  const { runtime, config, clock, logger } = deps;
  const services: ServiceDeps = { db: deps.database.db, clock, config, logger };

  return (req: IncomingMessage, res: ServerResponse) => {
    const url = req.url;
    if (req.method !== "POST" || !url || !url.startsWith(PREFIX)) return app(req, res);
    const sourceId = url.slice(PREFIX.length);
    if (!SOURCE_ID.test(sourceId)) return app(req, res);
    const started = performance.now();
    const nowMs = clock.now().getTime();
    const source = runtime.liveFeeds.source(sourceId, nowMs);
    if (source?.kind !== "ics_webhook") return app(req, res);
    const limitKey = rateLimitKey(addressBehindProxies(req.socket.remoteAddress, header(req, "x-forwarded-for"), config.trustedProxyHops));
    if (runtime.failureLimiter.retryAfter(limitKey, nowMs) > 0) return app(req, res);
    const headers = standardWebhookHeaders((n) => header(req, n));
    if (!plausibleStandardWebhook(headers, Date.now())) return app(req, res);
    let length: number | undefined;
    try {
      length = contentLength(header(req, "content-length"));
    } catch {
      return app(req, res);
    }
    if (length === undefined || length > WEBHOOK_BODY_LIMIT || req.headers["transfer-encoding"] !== undefined) return app(req, res);
    if (!runtime.bodyBudget.take(length)) return app(req, res);

    const requestId = requestIdOf(req);
    let answered = false;
    const send = (status: number, flat: string[], body: string) => {
      if (answered) return;
      answered = true;
      clearTimeout(deadline);
      flat.push("content-length", String(Buffer.byteLength(body)), "x-request-id", requestId);
      res.writeHead(status, flat);
      res.end(body);
      observe("POST", ICS_WEBHOOK_ROUTE, status, performance.now() - started, requestId);
    };
    const sendProblem = (err: AppError) => {
      const flat = Object.entries(problemHeaders(err)).flat();
      // A body left unread (too slow, cut short) leaves nothing worth keeping the connection for.
      if (!req.complete) flat.push("connection", "close");
      send(err.status, flat, JSON.stringify(problemBody(err, requestId)));
    };
    const deadline = setTimeout(() => sendProblem(reportFailure(logger, requestId, notAnsweredInTime())), config.http.requestDeadlineMs);

    void receive(services, source, req, res, length, headers, config.http.bodyTimeoutMs)
      .then(
        (intake) => {
          const a = intakeAnswer(intake, 202);
          if (a.error) {
            if (intake.result === "unauthorized") runtime.failureLimiter.recordFailure(limitKey, clock.now().getTime());
            return sendProblem(a.error);
          }
          if (intake.result === "accepted") runtime.worker?.nudge();
          send(a.status, ["content-type", "application/json"], JSON.stringify(a.json));
        },
        (err: unknown) => sendProblem(reportFailure(logger, requestId, err)),
      )
      // Nothing above is expected to throw; if it did, the process must not go down for it.
      .catch((err: unknown) => sendProblem(reportFailure(logger, requestId, err)))
      .finally(() => runtime.bodyBudget.give(length));
  };
}

async function receive(
  services: ServiceDeps,
  source: IntakeSource,
  req: IncomingMessage,
  res: ServerResponse,
  length: number,
  headers: Record<string, string>,
  timeoutMs: number,
) {
  const raw = await readDeclaredBody(req, res, length, timeoutMs);
  return receiveIcsWebhook(services, source, raw, headers);
}
