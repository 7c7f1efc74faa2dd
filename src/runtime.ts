import type { Database } from "../db/client.js";
import type { Logger } from "../logger.js";
import { FeedCache } from "./feed-content.js";
import { FeedFetchRecorder } from "./feed-fetches.js";

/** Per-process state that outlives a request: made in main.ts (or a test), passed in, stopped on SIGTERM. */
export type Runtime = {
  feedCache: FeedCache;
  fetchRecorder: FeedFetchRecorder;
  /** The ingestion worker of this process, when it runs one (nudged by webhooks). */
  worker?: { nudge(): void };
};

export function createRuntime(database: Database, logger: Logger): Runtime {
  return { feedCache: new FeedCache(), fetchRecorder: new FeedFetchRecorder(database.db, logger) };
}
