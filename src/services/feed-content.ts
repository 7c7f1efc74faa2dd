// Serving a feed: no query on a warm request (the secret's feed is known in memory, see
// live-feeds.ts), one indexed query otherwise, a render only when the data version or the window
// changed. Bytes are cached per instance; correctness comes from the database (data_version).
import { createHash } from "node:crypto";
import { gzipSync } from "node:zlib";
import { and, eq, gt, isNull, lt, sql } from "drizzle-orm";
import type { Executor } from "../db/client.js";
import { clients, feeds, providers, sessions, telehealthLinks } from "../db/schema.js";
import { CANCELLED_LINGER_MS, type FeedBudget, feedBudgetReport, feedSummary, feedWindow, isShownInFeed } from "../domain/feed-policy.js";
import { DEFAULT_MAX_FEED_BYTES, type FeedEvent, fitFeedToSize } from "../ics/feed.js";
import type { ServiceDeps } from "./deps.js";
import type { LiveFeed, LiveFeeds } from "./live-feeds.js";
import { hashSecret } from "./secrets.js";

export const FEED_PRODID = "-//Telehealth Calendar//Feed 1.0//EN";
const DAY_MS = 24 * 3600_000;

export type FeedDocument = {
  feedId: string;
  /** UTF-8, encoded once per render: handing Node these bytes rather than the string measured ~40%
   *  more full 200s per second on a 1,000-session feed (npm run bench, part 2). */
  body: Buffer;
  etag: string;
  /** The gzip representation's tag: a different representation needs a different tag (RFC 9110 8.8.3). */
  gzipEtag: string;
  lastModified: Date;
  /** `lastModified` as an IMF-fixdate (RFC 9110 5.6.7), formatted once. */
  lastModifiedHttp: string;
  gzipped(): Buffer;
  /** What the size budget left out, and how to fix it. */
  budget: FeedBudget;
};

type CacheEntry = FeedDocument & { dataVersion: number; feedUpdatedAt: number; validUntil: number; size: number };

/** Rendered bodies per feed, bounded by total bytes; least recently used leaves first. */
export class FeedCache {
  private entries = new Map<string, CacheEntry>();
  private bytes = 0;
  constructor(private readonly maxBytes = 256 * 1024 * 1024) {}

  get(feedId: string, dataVersion: number, feedUpdatedAt: number, now: number): CacheEntry | undefined {
    const e = this.entries.get(feedId);
    if (!e) return undefined;
    if (e.dataVersion !== dataVersion || e.feedUpdatedAt !== feedUpdatedAt || now >= e.validUntil) return undefined;
    this.entries.delete(feedId);
    this.entries.set(feedId, e);
    return e;
  }

  set(e: CacheEntry): void {
    const old = this.entries.get(e.feedId);
    if (old) {
      this.bytes -= old.size;
      this.entries.delete(e.feedId);
    }
    this.entries.set(e.feedId, e);
    this.bytes += e.size;
    for (const [key, victim] of this.entries) {
      if (this.bytes <= this.maxBytes) break;
      this.entries.delete(key);
      this.bytes -= victim.size;
    }
  }
}

type FeedRow = typeof feeds.$inferSelect;
type ProviderRow = typeof providers.$inferSelect;

function prepareLiveFeedQuery(db: Executor) {
  return db
    .select({ feed: feeds, provider: providers })
    .from(feeds)
    .innerJoin(providers, eq(providers.id, feeds.providerId))
    .where(and(eq(feeds.secretHash, sql.placeholder("secretHash")), isNull(feeds.revokedAt)))
    .prepare("find_live_feed");
}

// Built once per database handle, not per request: drizzle's query building measured ~0.3 ms of
// CPU per call, more than half of a whole 304 (npm run bench, BENCHMARKS.md part 2).
const liveFeedQueries = new WeakMap<Executor, ReturnType<typeof prepareLiveFeedQuery>>();

/** The live feed by its secret's hash, with its provider's data version: one indexed query. */
export async function findLiveFeed(db: Executor, secretHash: string): Promise<LiveFeed | null> {
  let query = liveFeedQueries.get(db);
  if (!query) {
    query = prepareLiveFeedQuery(db);
    liveFeedQueries.set(db, query);
  }
  const rows = await query.execute({ secretHash });
  return rows[0] ?? null;
}

/** What serving a feed keeps in process memory (src/runtime.ts makes one per process). */
export type FeedServing = { feedCache: FeedCache; liveFeeds: LiveFeeds };

/**
 * The document a secret opens, from memory alone: undefined when anything would need the database
 * (an unknown secret, a feed not looked up since the last change, a body to render).
 */
export function warmFeedDocument(serving: FeedServing, secret: string, nowMs: number): FeedDocument | undefined {
  const found = serving.liveFeeds.get(hashSecret(secret), nowMs);
  if (!found) return undefined;
  return serving.feedCache.get(found.feed.id, found.provider.dataVersion, found.feed.updatedAt.getTime(), nowMs);
}

export async function feedDocument(deps: ServiceDeps, serving: FeedServing, secret: string): Promise<FeedDocument | null> {
  const now = deps.clock.now();
  const secretHash = hashSecret(secret);
  let found: LiveFeed | null | undefined = serving.liveFeeds.get(secretHash, now.getTime());
  if (!found) {
    const mark = serving.liveFeeds.mark();
    found = await findLiveFeed(deps.db, secretHash);
    if (!found) return null;
    serving.liveFeeds.remember(secretHash, found, mark, now.getTime());
  }
  const hit = serving.feedCache.get(found.feed.id, found.provider.dataVersion, found.feed.updatedAt.getTime(), now.getTime());
  if (hit) return hit;
  const entry = await renderFeedEntry(deps.db, found.feed, found.provider, now);
  serving.feedCache.set(entry);
  return entry;
}

const maxDate = (dates: (Date | null | undefined)[]) => new Date(Math.max(0, ...dates.filter((d): d is Date => !!d).map((d) => d.getTime())));

/** A feed's content as a subscriber would get it now: the settings page and the feeds API show its budget. */
export async function feedContentStatus(deps: ServiceDeps, cache: FeedCache, feed: FeedRow, provider: ProviderRow): Promise<FeedBudget> {
  // The render a subscriber's next request would get: from the cache when it is still current.
  const now = deps.clock.now();
  const hit = cache.get(feed.id, provider.dataVersion, feed.updatedAt.getTime(), now.getTime());
  if (hit) return hit.budget;
  const entry = await renderFeedEntry(deps.db, feed, provider, now);
  cache.set(entry);
  return entry.budget;
}

async function renderFeedEntry(db: Executor, feed: FeedRow, provider: ProviderRow, now: Date): Promise<CacheEntry> {
  const window = feedWindow(now, feed.pastDays, feed.futureDays);
  const pastMs = feed.pastDays * DAY_MS;
  const futureMs = feed.futureDays * DAY_MS;
  const [rows, [bounds]] = await Promise.all([
    db
      .select({ s: sessions, clientName: clients.displayName, instructions: telehealthLinks.instructions })
      .from(sessions)
      .innerJoin(clients, eq(clients.id, sessions.clientId))
      // The instructions of the link version the session was booked with: they never change under it.
      .leftJoin(telehealthLinks, eq(telehealthLinks.id, sessions.telehealthLinkId))
      .where(and(eq(sessions.providerId, provider.id), gt(sessions.endAt, window.from), lt(sessions.startAt, window.to))),
    // When the window last let a session go (it changes the body by time alone), and when it will
    // next take one in (the cached body is valid until then).
    db
      .select({
        lastLeftEnd: sql<string | null>`max(${sessions.endAt}) filter (where ${sessions.endAt} <= ${window.from.toISOString()})`,
        nextEnters: sql<string | null>`min(${sessions.startAt}) filter (where ${sessions.startAt} >= ${window.to.toISOString()})`,
      })
      .from(sessions)
      .where(eq(sessions.providerId, provider.id)),
  ]);
  const shown = rows.filter((r) => isShownInFeed(r.s, window, now) && (feed.includeInPerson || r.s.kind === "virtual"));

  const events: FeedEvent[] = shown.map(({ s, clientName, instructions }) => {
    const url = feed.includeLink && s.kind === "virtual" ? s.telehealthUrl : null;
    return {
      uid: s.uid,
      sequence: s.sequence,
      start: s.startAt,
      end: s.endAt,
      // No METHOD in our feeds, so DTSTAMP may be the data's own time: same data, same bytes. Every
      // calendar-visible change (link, client name, time, status) moves updatedAt and SEQUENCE together.
      stamp: s.updatedAt,
      lastModified: s.updatedAt,
      status: s.status === "cancelled" ? "CANCELLED" : "CONFIRMED",
      summary: feedSummary(feed.privacy, s.kind, clientName),
      ...(url
        ? {
            virtual: {
              url,
              ...(instructions ? { instructions } : {}),
              modality: s.modality,
              googleMeet: /^https:\/\/meet\.google\.com\//.test(url),
            },
          }
        : s.kind === "in_person"
          ? { location: "In person" }
          : {}),
    };
  });
  const fitted = fitFeedToSize({ name: feed.name, timezone: provider.timezone, prodId: FEED_PRODID }, events, { now });
  const startOf = new Map(events.map((e) => [e.uid, e.start.getTime()]));
  const firstOmitted = fitted.droppedFuture.length ? Math.min(...fitted.droppedFuture.map((u) => startOf.get(u)!)) : null;
  const budget = feedBudgetReport({
    bytes: fitted.bytes,
    maxBytes: DEFAULT_MAX_FEED_BYTES,
    events: fitted.kept,
    omittedPast: fitted.droppedPast.length,
    omittedUpcoming: fitted.droppedFuture.length,
    firstOmittedUpcomingStart: firstOmitted === null ? null : new Date(firstOmitted),
    now,
    futureDays: feed.futureDays,
    includeLink: feed.includeLink,
  });

  // Last-Modified from the data: the newest change to anything shown, or the moment the window last
  // let a session go (a body can change by time alone).
  const leaveTimes = shown.map(({ s }) =>
    s.status === "cancelled" && s.cancelledAt ? s.cancelledAt.getTime() + CANCELLED_LINGER_MS : s.endAt.getTime() + pastMs,
  );
  const enteredTimes = shown.map(({ s }) => s.startAt.getTime() - futureMs).filter((t) => t <= now.getTime());
  const lastLeftAt = bounds?.lastLeftEnd ? new Date(new Date(bounds.lastLeftEnd).getTime() + pastMs) : null;
  const expiredCancellations = rows
    .filter((r) => r.s.status === "cancelled" && r.s.cancelledAt && !isShownInFeed(r.s, window, now))
    .map((r) => new Date(r.s.cancelledAt!.getTime() + CANCELLED_LINGER_MS));
  const lastModified = maxDate([
    ...expiredCancellations,
    provider.updatedAt,
    feed.createdAt,
    lastLeftAt,
    enteredTimes.length ? new Date(Math.max(...enteredTimes)) : null,
    ...shown.map((r) => r.s.updatedAt),
  ]);
  const nextEnters = bounds?.nextEnters ? new Date(bounds.nextEnters).getTime() - futureMs : Infinity;
  const validUntil = Math.min(nextEnters, ...leaveTimes);

  const body = Buffer.from(fitted.ics, "utf8");
  const etag = `"${createHash("sha256").update(body).digest("base64url").slice(0, 32)}"`;
  let gz: Buffer | undefined;
  return {
    feedId: feed.id,
    body,
    etag,
    gzipEtag: etag.replace(/"$/, '-gz"'),
    lastModified,
    lastModifiedHttp: lastModified.toUTCString(),
    gzipped: () => (gz ??= gzipSync(body)),
    budget,
    dataVersion: provider.dataVersion,
    feedUpdatedAt: feed.updatedAt.getTime(),
    validUntil,
    // The body's bytes; the gzip copy, made on demand, is about a tenth of it.
    size: Math.ceil(fitted.bytes * 1.1),
  };
}
