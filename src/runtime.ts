// Per-process state that outlives a request, composed here (like app.ts) from the layers below it.
// Made in main.ts (or a test), passed in through AppDeps, stopped on SIGTERM.
import type { ServerOptions } from "node:http";
import type { Config } from "./config.js";
import type { Database } from "./db/client.js";
import type { Clock } from "./domain/clock.js";
import { BodyBudget } from "./http/body.js";
import { FailureLimiter } from "./http/rate-limit.js";
import { createConnectionAdapters, createMirrorPlatforms } from "./ingest/adapters/index.js";
import { createPushChannels, type PushChannels } from "./ingest/channels.js";
import { createGuardedFetch } from "./ingest/guarded-fetch.js";
import { yieldToLoop } from "./ingest/slices.js";
import type { Logger } from "./logger.js";
import type { ConnectionAdapters } from "./services/connection-adapters.js";
import { FeedCache } from "./services/feed-content.js";
import { FeedFetchRecorder } from "./services/feed-fetches.js";
import { purgeDeliveryPayloads } from "./services/inbox.js";
import { LiveFeeds } from "./services/live-feeds.js";
import type { MirrorPlatforms } from "./services/mirror-platforms.js";

export type Runtime = {
  /** Clears finished deliveries' payloads after the configured retention (started by main.ts). */
  retention: { start(): void; stop(): void; runOnce(): Promise<number> };
  feedCache: FeedCache;
  /** Which feed a secret opens, kept by LISTEN/NOTIFY (started by main.ts). */
  liveFeeds: LiveFeeds;
  fetchRecorder: FeedFetchRecorder;
  channels: PushChannels;
  /** The one client for outbound HTTP (no SSRF); the ingestion worker uses it too. */
  fetchFn: typeof fetch;
  /** Request bodies held in memory at once, across requests. */
  bodyBudget: BodyBudget;
  /** Unauthenticated failures per client address. */
  failureLimiter: FailureLimiter;
  /** OAuth-connected platforms (Google, Microsoft), registered in src/ingest/adapters/index.ts. */
  adapters: ConnectionAdapters;
  /** Platforms write-back can write to (registered with the source adapters, src/ingest/adapters/index.ts). */
  mirrorPlatforms: MirrorPlatforms;
  /** The ingestion worker of this process, when it runs one (nudged by webhooks). */
  worker?: { nudge(): void };
};

export function createRuntime(deps: { database: Database; logger: Logger; config: Config; clock: Clock; fetchFn?: typeof fetch }): Runtime {
  const fetchFn = deps.fetchFn ?? createGuardedFetch({ allowance: deps.config.outboundAllowance, logger: deps.logger });
  return {
    feedCache: new FeedCache(),
    liveFeeds: new LiveFeeds(deps.database),
    fetchRecorder: new FeedFetchRecorder(deps.database.db, deps.logger),
    channels: createPushChannels({ db: deps.database.db, clock: deps.clock, config: deps.config }, fetchFn),
    fetchFn,
    adapters: createConnectionAdapters(deps.config, fetchFn),
    mirrorPlatforms: createMirrorPlatforms(deps.config, fetchFn),
    retention: createRetention(deps),
    bodyBudget: new BodyBudget(deps.config.http.bodyBufferMaxBytes),
    failureLimiter: new FailureLimiter(deps.config.rateLimit),
  };
}

const RETENTION_EVERY_MS = 10 * 60_000;

function createRetention(deps: { database: Database; logger: Logger; config: Config; clock: Clock }): Runtime["retention"] {
  let timer: NodeJS.Timeout | undefined;
  const runOnce = async () => {
    const before = new Date(deps.clock.now().getTime() - deps.config.deliveryPayloadRetentionHours * 3600_000);
    let total = 0;
    for (let n = -1; n !== 0 && total < 100_000; total += n) {
      // Each batch is one short statement; on PGlite each runs on the event loop, so requests get a turn between them.
      if (n > 0) await yieldToLoop();
      n = await purgeDeliveryPayloads(deps.database.db, before);
    }
    return total;
  };
  return {
    runOnce,
    start() {
      timer ??= setInterval(() => {
        runOnce().then(
          (purged) => purged > 0 && deps.logger.info({ purged }, "delivery payloads purged"),
          (err: unknown) => deps.logger.warn({ err }, "payload purge failed"),
        );
      }, RETENTION_EVERY_MS);
      timer.unref();
    },
    stop() {
      clearInterval(timer);
      timer = undefined;
    },
  };
}

/**
 * Node's own limits for the listening socket: headers must arrive within headersTimeout and the
 * whole request within requestTimeout (Node answers 408 and closes). The body has its own, shorter
 * deadline in readBody, answered with a problem.
 */
export function nodeServerOptions(config: Config): ServerOptions {
  return {
    requestTimeout: config.http.requestTimeoutMs,
    headersTimeout: Math.min(config.http.headersTimeoutMs, config.http.requestTimeoutMs),
  };
}
