// Per-process state that outlives a request, composed here (like app.ts) from the layers below it.
// Made in main.ts (or a test), passed in through AppDeps, stopped on SIGTERM.
import type { Database } from "./db/client.js";
import type { Clock } from "./domain/clock.js";
import type { Config } from "./config.js";
import { createPushChannels, type PushChannels } from "./ingest/channels.js";
import { createGuardedFetch } from "./ingest/guarded-fetch.js";
import type { Logger } from "./logger.js";
import { FeedCache } from "./services/feed-content.js";
import { FeedFetchRecorder } from "./services/feed-fetches.js";

export type Runtime = {
  feedCache: FeedCache;
  fetchRecorder: FeedFetchRecorder;
  channels: PushChannels;
  /** The one client for outbound HTTP (no SSRF); the ingestion worker uses it too. */
  fetchFn: typeof fetch;
  /** The ingestion worker of this process, when it runs one (nudged by webhooks). */
  worker?: { nudge(): void };
};

export function createRuntime(deps: { database: Database; logger: Logger; config: Config; clock: Clock; fetchFn?: typeof fetch }): Runtime {
  const fetchFn = deps.fetchFn ?? createGuardedFetch({ allowance: deps.config.outboundAllowance, logger: deps.logger });
  return {
    feedCache: new FeedCache(),
    fetchRecorder: new FeedFetchRecorder(deps.database.db, deps.logger),
    channels: createPushChannels({ db: deps.database.db, clock: deps.clock, config: deps.config }, fetchFn),
    fetchFn,
  };
}
