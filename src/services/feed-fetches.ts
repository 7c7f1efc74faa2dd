import { eq, sql } from "drizzle-orm";
import type { Db } from "../db/client.js";
import { feeds } from "../db/schema.js";
import type { SubscriberKind } from "../domain/feed-policy.js";
import type { Logger } from "../logger.js";

type Pending = { count: number; last: number; byKind: Partial<Record<SubscriberKind, number>> };

/**
 * Counts feed fetches in memory and writes them in batches, so a feed answer never waits on a
 * database write. A crash loses at most one interval of counters; they are statistics, not data.
 */
export class FeedFetchRecorder {
  private pending = new Map<string, Pending>();
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly db: Db,
    private readonly logger: Logger,
    private readonly intervalMs = 5_000,
  ) {}

  /** On every feed answer, so it only counts: dates are formatted when the batch is written. */
  record(feedId: string, kind: SubscriberKind, atMs: number): void {
    let p = this.pending.get(feedId);
    if (!p) {
      p = { count: 0, last: atMs, byKind: {} };
      this.pending.set(feedId, p);
    }
    p.count += 1;
    if (atMs > p.last) p.last = atMs;
    p.byKind[kind] = atMs;
  }

  start(): void {
    this.timer ??= setInterval(() => {
      this.flush().catch((err: unknown) => this.logger.warn({ err: { message: (err as Error).message } }, "feed fetch flush failed"));
    }, this.intervalMs);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    await this.flush();
  }

  async flush(): Promise<void> {
    const batch = this.pending;
    this.pending = new Map();
    for (const [feedId, p] of batch) {
      await this.db
        .update(feeds)
        .set({
          fetchCount: sql`${feeds.fetchCount} + ${p.count}`,
          lastFetchedAt: sql`greatest(${feeds.lastFetchedAt}, ${new Date(p.last).toISOString()}::timestamptz)`,
          lastFetchByKind: sql`${feeds.lastFetchByKind} || ${JSON.stringify(byKindIso(p.byKind))}::jsonb`,
        })
        .where(eq(feeds.id, feedId));
    }
  }
}

const byKindIso = (byKind: Pending["byKind"]) => Object.fromEntries(Object.entries(byKind).map(([k, ms]) => [k, new Date(ms).toISOString()]));
