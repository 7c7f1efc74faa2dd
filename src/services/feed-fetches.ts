import { eq, sql } from "drizzle-orm";
import type { Db } from "../db/client.js";
import { feeds } from "../db/schema.js";
import type { SubscriberKind } from "../domain/feed-policy.js";
import type { Logger } from "../logger.js";

type Pending = { count: number; last: Date; byKind: Partial<Record<SubscriberKind, string>> };

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

  record(feedId: string, kind: SubscriberKind, at: Date): void {
    const p = this.pending.get(feedId) ?? { count: 0, last: at, byKind: {} };
    p.count += 1;
    if (at > p.last) p.last = at;
    p.byKind[kind] = at.toISOString();
    this.pending.set(feedId, p);
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
          lastFetchedAt: sql`greatest(${feeds.lastFetchedAt}, ${p.last.toISOString()}::timestamptz)`,
          lastFetchByKind: sql`${feeds.lastFetchByKind} || ${JSON.stringify(p.byKind)}::jsonb`,
        })
        .where(eq(feeds.id, feedId));
    }
  }
}
