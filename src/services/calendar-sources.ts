import { randomUUID } from "node:crypto";
import { and, asc, eq, inArray, isNull, sql } from "drizzle-orm";
import { z } from "zod";
import type { Executor } from "../db/client.js";
import { calendarSources } from "../db/schema.js";
import { withTransaction } from "../db/tx.js";
import { checkSourceUrl } from "../domain/source-url.js";
import { CONNECTION_KINDS } from "../domain/value-lists.js";
import { AppError, ConflictError, NotFoundError, parseInput, UnprocessableError } from "../errors.js";
import { recordAudit } from "./audit.js";
import type { ProviderScope } from "./auth.js";
import type { ServiceDeps } from "./deps.js";
import { recordDelivery } from "./inbox.js";
import { announceFeedChange } from "./live-feeds.js";
import { loadProvider } from "./providers.js";
import { sealSecret } from "./secret-box.js";
import { newSecret } from "./secrets.js";

const Name = z.string().trim().min(1).max(100).optional();
const ApiBase = z
  .url({ protocol: /^https?$/ })
  .optional()
  .describe("Operator override of the API base URL (admin only)");

export const CreateSourceSchema = z.discriminatedUnion("kind", [
  z.strictObject({ kind: z.literal("ics_webhook"), name: Name }),
  z.strictObject({ kind: z.literal("ics_url"), name: Name, url: z.string().max(2048) }),
  z.strictObject({
    kind: z.literal("google"),
    name: Name,
    calendarId: z.string().min(1).max(1024),
    accessToken: z.string().min(1).max(4096),
    apiBaseUrl: ApiBase,
  }),
  z.strictObject({
    kind: z.literal("microsoft"),
    name: Name,
    accessToken: z.string().min(1).max(8192),
    userId: z.string().min(1).max(256).optional(),
    apiBaseUrl: ApiBase,
  }),
]);

export type SourceRow = typeof calendarSources.$inferSelect;

export function toSourceView(s: SourceRow) {
  return {
    id: s.id,
    providerId: s.providerId,
    kind: s.kind,
    name: (s.settings.name as string | undefined) ?? null,
    ...(s.kind === "ics_url" ? { url: s.settings.url as string } : {}),
    ...(typeof s.settings.connectionId === "string" ? { connectionId: s.settings.connectionId } : {}),
    status: s.status,
    lastSuccessAt: s.lastSyncedAt?.toISOString() ?? null,
    lastErrorCode: s.lastErrorCode,
    lastErrorAt: s.lastErrorAt?.toISOString() ?? null,
    createdAt: s.createdAt.toISOString(),
  };
}

export const webhookUrlFor = (base: string, kind: "ics" | "google" | "microsoft", id: string) => `${base}/webhooks/${kind}/${id}`;

/**
 * Push channels (Google watch channels, Graph subscriptions) are registered, renewed and released by
 * the ingestion layer; services only ask for it, so the arrows keep pointing one way.
 */
export type PushChannelRegistry = {
  register(source: SourceRow): Promise<void>;
  release(source: SourceRow): Promise<void>;
};

export async function createCalendarSource(deps: ServiceDeps, scope: ProviderScope, input: unknown, channels: PushChannelRegistry) {
  const { principal } = scope;
  const data = parseInput(CreateSourceSchema, input);
  if ((data.kind === "google" || data.kind === "microsoft") && principal.kind !== "admin") {
    // Providers connect these with OAuth consent; a pasted access token stays for operators' adapter tests.
    throw new UnprocessableError("use_calendar_connection", "Connect Google and Outlook calendars through calendar-connections (OAuth consent).", {
      field: "kind",
    });
  }
  const keys = deps.config.secretKeys;
  const base = deps.config.publicBaseUrl;
  let settings: Record<string, unknown> = { name: data.name };
  let secrets: Record<string, string> = {};
  let signingSecret: string | undefined;
  switch (data.kind) {
    case "ics_webhook":
      // Standard Webhooks: "whsec_" + base64 of the key (24+ bytes). Kept sealed: it computes HMACs.
      signingSecret = `whsec_${Buffer.from(newSecret("", 32), "base64url").toString("base64")}`;
      secrets = { signingSecret: sealSecret(keys, signingSecret, "signing_secret") };
      break;
    case "ics_url": {
      const checked = checkSourceUrl(data.url, { publicBaseUrl: base, allowance: deps.config.outboundAllowance });
      if (!checked.ok)
        throw new UnprocessableError(checked.code === "own_feed" ? "source_is_own_feed" : checked.code, checked.message, { field: "url" });
      settings = { ...settings, url: checked.url };
      break;
    }
    case "google":
      settings = { ...settings, calendarId: data.calendarId, apiBaseUrl: data.apiBaseUrl ?? deps.config.googleApiBaseUrl };
      secrets = { accessToken: sealSecret(keys, data.accessToken, "access_token") };
      break;
    case "microsoft":
      settings = { ...settings, userId: data.userId, apiBaseUrl: data.apiBaseUrl ?? deps.config.microsoftGraphBaseUrl };
      secrets = { accessToken: sealSecret(keys, data.accessToken, "access_token") };
      break;
  }
  const pasted = data.kind === "google" || data.kind === "microsoft" ? data.accessToken : undefined;
  const view = await insertSourceAndRegister(deps, scope, { kind: data.kind, settings, secrets }, channels, async (row) =>
    pasted ? { ...row, secrets: { ...row.secrets, accessToken: pasted } } : row,
  );
  return {
    ...view,
    ...(data.kind === "ics_webhook" ? { webhookUrl: webhookUrlFor(base, "ics", view.id), signingSecret } : {}),
  };
}

/**
 * Inserts a source with its initial sync, then registers its push channel after the commit: Google
 * and Graph call our webhook (sync message, validation handshake) before they answer, and it must
 * find the source. `withCredentials` gives the row with a usable access token, in memory only.
 */
export async function insertSourceAndRegister(
  deps: ServiceDeps,
  scope: ProviderScope,
  source: { kind: SourceRow["kind"]; settings: Record<string, unknown>; secrets: Record<string, string> },
  channels: PushChannelRegistry,
  withCredentials: (row: SourceRow) => Promise<SourceRow>,
) {
  const { principal, providerId } = scope;
  const id = randomUUID();
  const now = deps.clock.now();
  const { kind } = source;
  const row = await withTransaction(deps.db, async (tx) => {
    await loadProvider(tx, providerId);
    // Each source costs pulls, channels and worker time: capped per provider (MAX_SOURCES_PER_PROVIDER).
    // The lock makes two concurrent creations count one after the other.
    await tx.execute(sql`select pg_advisory_xact_lock(hashtext(${`sources:${providerId}`}))`);
    const [live] = await tx
      .select({ n: sql<number>`count(*)::int` })
      .from(calendarSources)
      .where(and(eq(calendarSources.providerId, providerId), isNull(calendarSources.deletedAt)));
    if ((live?.n ?? 0) >= deps.config.maxSourcesPerProvider) {
      throw new ConflictError(
        "source_limit_reached",
        `A provider may have at most ${deps.config.maxSourcesPerProvider} calendar sources; delete one first.`,
      );
    }
    const [inserted] = await tx
      .insert(calendarSources)
      .values({
        id,
        providerId,
        kind,
        settings: source.settings,
        secrets: source.secrets,
        createdAt: now,
        nextPollAt: kind === "ics_url" ? now : null,
      })
      .returning();
    // Pull sources start with a full sync; the worker takes it from the inbox.
    if (kind !== "ics_webhook") {
      await recordDelivery(tx, { providerId, sourceId: id, deliveryKey: "initial-sync", kind: "full_resync", at: now });
    }
    await recordAudit(tx, { providerId, principal, action: "calendar_source.created", subjectId: id, at: now, data: { kind } });
    return inserted!;
  });
  if (kind === "google" || kind === "microsoft") {
    try {
      await channels.register(await withCredentials(row));
    } catch (err) {
      await deps.db.update(calendarSources).set({ deletedAt: deps.clock.now() }).where(eq(calendarSources.id, id));
      deps.logger.warn({ sourceId: id, kind, error: (err as Error).name }, "calendar source setup failed");
      throw new AppError(
        502,
        "source_setup_failed",
        "Bad gateway",
        "The calendar provider refused to set up change notifications; check the access token and calendar.",
      );
    }
  }
  return toSourceView(row);
}

export function googleConfig(s: SourceRow) {
  return { baseUrl: String(s.settings.apiBaseUrl), accessToken: s.secrets.accessToken!, calendarId: String(s.settings.calendarId) };
}

export function graphConfig(s: SourceRow) {
  return {
    baseUrl: String(s.settings.apiBaseUrl),
    accessToken: s.secrets.accessToken!,
    ...(s.settings.userId ? { userId: String(s.settings.userId) } : {}),
    ...(s.settings.calendarId ? { calendarId: String(s.settings.calendarId) } : {}),
  };
}

export async function listCalendarSources(deps: ServiceDeps, scope: ProviderScope) {
  const { providerId } = scope;
  await loadProvider(deps.db, providerId);
  const rows = await deps.db
    .select()
    .from(calendarSources)
    .where(and(eq(calendarSources.providerId, providerId), isNull(calendarSources.deletedAt)))
    .orderBy(asc(calendarSources.createdAt));
  return { items: rows.map(toSourceView) };
}

/** A live source by id, for the webhook routes and the worker. */
export async function findLiveSource(db: Executor, sourceId: string): Promise<SourceRow | null> {
  const rows = await db
    .select()
    .from(calendarSources)
    .where(and(eq(calendarSources.id, sourceId), isNull(calendarSources.deletedAt)));
  return rows[0] ?? null;
}

export async function deleteCalendarSource(
  deps: ServiceDeps,
  scope: ProviderScope,
  sourceId: string,
  channels: PushChannelRegistry,
): Promise<SourceRow> {
  const { principal, providerId } = scope;
  const deleted = await withTransaction(deps.db, async (tx) => {
    const s = await findLiveSource(tx, sourceId);
    if (!s || s.providerId !== providerId) throw new NotFoundError("calendar source");
    const now = deps.clock.now();
    // Soft delete: its webhooks stop verifying at once; what it contributed stays as history.
    await tx.update(calendarSources).set({ deletedAt: now }).where(eq(calendarSources.id, sourceId));
    // Every instance forgets what it knew of the provider's sources (live-feeds.ts).
    await announceFeedChange(tx, providerId);
    await recordAudit(tx, { providerId, principal, action: "calendar_source.deleted", subjectId: sourceId, at: now });
    return s;
  });
  // Best effort: a channel we fail to stop expires by itself, and its messages no longer verify.
  await channels.release(deleted).catch((err: unknown) => deps.logger.warn({ sourceId, error: (err as Error).name }, "push channel release failed"));
  return deleted;
}

/** A new push channel for a source (creation or renewal): its id, secret and expiry, in one write. */
export async function savePushChannel(
  db: Executor,
  sourceId: string,
  channel: { channelId: string; secrets: Record<string, string>; settings: Record<string, unknown> },
): Promise<void> {
  const [s] = await db.select().from(calendarSources).where(eq(calendarSources.id, sourceId));
  if (!s) return;
  await db
    .update(calendarSources)
    .set({ channelId: channel.channelId, secrets: { ...s.secrets, ...channel.secrets }, settings: { ...s.settings, ...channel.settings } })
    .where(eq(calendarSources.id, sourceId));
}

/** Google and Graph sources whose push channel expires before `before` (or never got one). */
export async function sourcesWithExpiringChannels(db: Executor, before: Date): Promise<SourceRow[]> {
  const rows = await db
    .select()
    .from(calendarSources)
    .where(and(isNull(calendarSources.deletedAt), inArray(calendarSources.kind, CONNECTION_KINDS)));
  return rows.filter((s) => {
    const expires = s.settings.channelExpiration ?? s.settings.subscriptionExpiration;
    return typeof expires === "string" && new Date(expires) < before;
  });
}

/** transient: retrying may pass; permanent: it cannot; reconnect: the grant is gone. */
export type FailureSeverity = "transient" | "permanent" | "reconnect";

/** Consecutive failed attempts after which a source that keeps retrying shows as failing. */
export const FAILING_AFTER_ATTEMPTS = 5;

/**
 * Records a failed attempt on the source's health. `needs_reconnect` when the grant is gone (only the
 * provider can fix it); `failing` at once for a failure that retrying cannot fix, or after
 * FAILING_AFTER_ATTEMPTS in a row of one that might pass.
 */
export async function recordSourceFailure(db: Executor, sourceId: string, code: string, at: Date, severity: FailureSeverity): Promise<void> {
  const failures = sql`${calendarSources.consecutiveFailures} + 1`;
  const status =
    severity === "reconnect"
      ? sql`'needs_reconnect'`
      : severity === "permanent"
        ? sql`case when ${calendarSources.status} = 'needs_reconnect' then ${calendarSources.status} else 'failing' end`
        : sql`case when ${calendarSources.status} = 'active' and ${failures} >= ${FAILING_AFTER_ATTEMPTS} then 'failing' else ${calendarSources.status} end`;
  await db
    .update(calendarSources)
    .set({ status: status as never, lastErrorCode: code, lastErrorAt: at, consecutiveFailures: failures as never })
    .where(eq(calendarSources.id, sourceId));
}

/** The columns a successful pull or renewal writes: healthy again, failures forgotten. */
export const sourceSucceeded = (at: Date) => ({ status: "active" as const, lastSyncedAt: at, consecutiveFailures: 0 });
