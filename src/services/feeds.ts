import { randomUUID } from "node:crypto";
import { and, asc, eq, isNull } from "drizzle-orm";
import { z } from "zod";
import type { Config } from "../config.js";
import { feeds } from "../db/schema.js";
import { withTransaction } from "../db/tx.js";
import { DEFAULT_FUTURE_DAYS, DEFAULT_PAST_DAYS } from "../domain/feed-policy.js";
import { PRIVACY_LEVELS } from "../domain/value-lists.js";
import { NotFoundError, parseInput, UnprocessableError } from "../errors.js";
import { recordAudit } from "./audit.js";
import type { ProviderScope } from "./auth.js";
import type { ServiceDeps } from "./deps.js";
import { type FeedCache, feedContentStatus } from "./feed-content.js";
import { announceFeedChange } from "./live-feeds.js";
import { loadProvider } from "./providers.js";
import { hashSecret, newSecret } from "./secrets.js";

export const CreateFeedSchema = z.strictObject({
  name: z.string().trim().min(1).max(100),
  privacy: z.enum(PRIVACY_LEVELS).default("minimal"),
  acknowledgePhi: z.boolean().optional(),
  includeLink: z.boolean().default(true),
  includeInPerson: z.boolean().default(true),
  pastDays: z.number().int().min(0).max(365).default(DEFAULT_PAST_DAYS),
  futureDays: z.number().int().min(1).max(730).default(DEFAULT_FUTURE_DAYS),
});

type FeedRow = typeof feeds.$inferSelect;

/** Feed secrets: 256 bits, base64url, so they survive in a URL path as they are. */
const newFeedSecret = () => newSecret("", 32);

export function feedUrls(config: Pick<Config, "publicBaseUrl">, secret: string, name: string) {
  const url = `${config.publicBaseUrl}/feeds/${secret}.ics`;
  const webcalUrl = url.replace(/^https?:\/\//, "webcal://");
  return {
    url,
    webcalUrl,
    // Undocumented deep link; the https form is the one reported to fill (webcal:// subscriptions were reported empty in public issue trackers).
    googleSubscribeUrl: `https://calendar.google.com/calendar/r?cid=${encodeURIComponent(url)}`,
    outlookSubscribeUrl: `https://outlook.live.com/calendar/0/addfromweb?url=${encodeURIComponent(url)}&name=${encodeURIComponent(name)}`,
  };
}

export function toFeedView(f: FeedRow) {
  return {
    id: f.id,
    providerId: f.providerId,
    name: f.name,
    privacy: f.privacy,
    includeLink: f.includeLink,
    includeInPerson: f.includeInPerson,
    pastDays: f.pastDays,
    futureDays: f.futureDays,
    createdAt: f.createdAt.toISOString(),
    revokedAt: f.revokedAt?.toISOString() ?? null,
    lastFetchedAt: f.lastFetchedAt?.toISOString() ?? null,
    fetchCount: f.fetchCount,
    lastFetchBySubscriber: {
      google: f.lastFetchByKind.google ?? null,
      microsoft: f.lastFetchByKind.microsoft ?? null,
      apple: f.lastFetchByKind.apple ?? null,
      other: f.lastFetchByKind.other ?? null,
    },
  };
}

export async function createFeed(deps: ServiceDeps, scope: ProviderScope, input: unknown) {
  const { principal, providerId } = scope;
  const data = parseInput(CreateFeedSchema, input);
  if (data.privacy === "full" && data.acknowledgePhi !== true) {
    throw new UnprocessableError(
      "phi_acknowledgement_required",
      "A feed with full client names puts health information in Google's, Microsoft's or Apple's cloud. Send acknowledgePhi: true to confirm you have a BAA with that vendor.",
      { field: "acknowledgePhi" },
    );
  }
  const secret = newFeedSecret();
  return withTransaction(deps.db, async (tx) => {
    await loadProvider(tx, providerId);
    const now = deps.clock.now();
    const { acknowledgePhi: _ack, ...settings } = data;
    const [row] = await tx
      .insert(feeds)
      .values({ id: randomUUID(), providerId, ...settings, secretHash: hashSecret(secret), createdAt: now, updatedAt: now })
      .returning();
    await recordAudit(tx, { providerId, principal, action: "feed.created", subjectId: row!.id, at: now, data: { privacy: data.privacy } });
    return { ...toFeedView(row!), ...feedUrls(deps.config, secret, data.name) };
  });
}

export async function listFeeds(deps: ServiceDeps, cache: FeedCache, scope: ProviderScope) {
  const { providerId } = scope;
  const provider = await loadProvider(deps.db, providerId);
  const rows = await deps.db
    .select()
    .from(feeds)
    .where(and(eq(feeds.providerId, providerId), isNull(feeds.revokedAt)))
    .orderBy(asc(feeds.createdAt), asc(feeds.id));
  // Each feed rendered as a subscriber would get it, so the answer says what the size budget left out.
  const items = [];
  for (const row of rows) items.push({ ...toFeedView(row), content: await feedContentStatus(deps, cache, row, provider) });
  return { items };
}

async function loadLiveFeed(deps: ServiceDeps, scope: ProviderScope, feedId: string) {
  const { providerId } = scope;
  const rows = await deps.db
    .select()
    .from(feeds)
    .where(and(eq(feeds.id, feedId), eq(feeds.providerId, providerId), isNull(feeds.revokedAt)));
  if (!rows[0]) throw new NotFoundError("feed");
  return rows[0];
}

/** A new secret; the old URL is dead from the moment this commits (its hash is gone). */
export async function rotateFeedSecret(deps: ServiceDeps, scope: ProviderScope, feedId: string) {
  const { principal, providerId } = scope;
  const feed = await loadLiveFeed(deps, scope, feedId);
  const secret = newFeedSecret();
  return withTransaction(deps.db, async (tx) => {
    const now = deps.clock.now();
    const [row] = await tx
      .update(feeds)
      .set({ secretHash: hashSecret(secret), updatedAt: now })
      .where(and(eq(feeds.id, feed.id), isNull(feeds.revokedAt)))
      .returning();
    if (!row) throw new NotFoundError("feed");
    await announceFeedChange(tx, providerId);
    await recordAudit(tx, { providerId, principal, action: "feed.rotated", subjectId: feed.id, at: now });
    return { ...toFeedView(row), ...feedUrls(deps.config, secret, row.name) };
  });
}

export async function revokeFeed(deps: ServiceDeps, scope: ProviderScope, feedId: string) {
  const { principal, providerId } = scope;
  const feed = await loadLiveFeed(deps, scope, feedId);
  await withTransaction(deps.db, async (tx) => {
    const now = deps.clock.now();
    await tx.update(feeds).set({ revokedAt: now, updatedAt: now }).where(eq(feeds.id, feed.id));
    await announceFeedChange(tx, providerId);
    await recordAudit(tx, { providerId, principal, action: "feed.revoked", subjectId: feed.id, at: now });
  });
}
