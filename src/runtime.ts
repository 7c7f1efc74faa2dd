// Per-process state that outlives a request, composed here (like app.ts) from the layers below it.
// Made in main.ts (or a test), passed in through AppDeps, stopped on SIGTERM.
import type { Database } from "./db/client.js";
import type { Clock } from "./domain/clock.js";
import type { Config } from "./config.js";
import { createConnectionAdapters } from "./ingest/adapters/index.js";
import { createPushChannels, type PushChannels } from "./ingest/channels.js";
import type { ConnectionAdapters } from "./services/connection-adapters.js";
import type { Logger } from "./logger.js";
import { FeedCache } from "./services/feed-content.js";
import { FeedFetchRecorder } from "./services/feed-fetches.js";

export type Runtime = {
  feedCache: FeedCache;
  fetchRecorder: FeedFetchRecorder;
  channels: PushChannels;
  /** OAuth-connected platforms (Google, Microsoft), registered in src/ingest/adapters/index.ts. */
  adapters: ConnectionAdapters;
  /** The ingestion worker of this process, when it runs one (nudged by webhooks). */
  worker?: { nudge(): void };
};

export function createRuntime(deps: { database: Database; logger: Logger; config: Config; clock: Clock; fetchFn?: typeof fetch }): Runtime {
  return {
    feedCache: new FeedCache(),
    fetchRecorder: new FeedFetchRecorder(deps.database.db, deps.logger),
    channels: createPushChannels({ db: deps.database.db, clock: deps.clock, config: deps.config }, deps.fetchFn),
    adapters: createConnectionAdapters(deps.config, deps.fetchFn),
  };
}
