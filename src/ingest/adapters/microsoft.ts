// Outlook (Microsoft Graph) as an OAuth-connected source: consent on the Microsoft identity platform
// v2.0 (offline_access for a refresh token; bare scope names mean Graph) and the account's calendars
// (GET /me/calendars, api-reference/v1.0/api/user-list-calendars.md). The platform has no RFC 7009
// revocation endpoint: disconnecting drops our tokens. Pulls by calendarView delta
// (concepts/delta-query-events.md), subscriptions of about 3 days renewed by PATCH, and their change and
// lifecycle notifications (concepts/change-notifications-delivery-webhooks.md).
import { z } from "zod";
import type { Config } from "../../config.js";
import type { ExternalEvent } from "../../domain/external-event.js";
import { findUnsafeText } from "../../domain/safe-text.js";
import { type AppError, InvalidCharactersError, ValidationError } from "../../errors.js";
import { graphConfig, type SourceRow, savePushChannel, webhookUrlFor } from "../../services/calendar-sources.js";
import { type ConnectionAdapter, GrantError, type RemoteCalendar } from "../../services/connection-adapters.js";
import type { ServiceDeps } from "../../services/deps.js";
import { recordDelivery } from "../../services/inbox.js";
import { hashSecret, newSecret, safeEqual } from "../../services/secrets.js";
import { contentKey, type Intake, liveSourceOfKind, malformedJson, rejectDelivery } from "../../services/webhook-intake.js";
import { sendJson, trimBase } from "../http.js";
import {
  createGraphSubscription,
  deleteGraphSubscription,
  GraphApiError,
  GraphNotificationBatchSchema,
  GraphNotificationSchema,
  getGraphEvent,
  pullGraphDelta,
  renewGraphSubscription,
} from "../microsoft-client.js";
import { createMicrosoftMirrorPlatform, MICROSOFT_WRITE_SCOPE } from "../mirror-microsoft.js";
import { collect, fromApiError, PullError, type PullResult } from "../pull.js";
import { createOAuthClient } from "./oauth.js";
import type { ChannelContext, SourceAdapter } from "./types.js";

export const MICROSOFT_SCOPES = ["offline_access", "Calendars.Read"];
const MAX_PAGES = 10;

const CalendarsSchema = z.looseObject({
  "@odata.nextLink": z.string().optional(),
  value: z
    .array(z.looseObject({ id: z.string().min(1).max(2048), name: z.string().max(1024).nullish(), isDefaultCalendar: z.boolean().nullish() }))
    .max(1000),
});

export function createMicrosoftAdapter(config: Config, fetchFn: typeof fetch): ConnectionAdapter {
  const cfg = config.oauth.microsoft;
  const client = cfg ? createOAuthClient(cfg, fetchFn) : null;
  const need = () => {
    if (!client) throw new GrantError("failed", "not_configured");
    return client;
  };
  const base = trimBase(config.microsoftGraphBaseUrl);
  return {
    kind: "microsoft",
    label: "Outlook calendar",
    available: client !== null,
    canRevoke: false,
    // Write-back needs Calendars.ReadWrite (Graph permissions reference), asked only on opt-in.
    authorizationUrl: ({ writeBack, ...input }) =>
      need().authorizationUrl({ ...input, scope: [...MICROSOFT_SCOPES, ...(writeBack ? [MICROSOFT_WRITE_SCOPE] : [])].join(" ") }),
    exchangeCode: (input) => need().exchangeCode(input),
    refresh: (rt) => need().refresh(rt),
    revoke: async () => undefined,
    async listCalendars(accessToken) {
      const out: RemoteCalendar[] = [];
      let url: URL | undefined = new URL(`${base}/me/calendars`);
      for (let page = 0; page < MAX_PAGES && url; page++) {
        const body: z.output<typeof CalendarsSchema> = await sendJson({
          fetchFn,
          url,
          method: "GET",
          headers: new Headers({ authorization: `Bearer ${accessToken}`, accept: "application/json" }),
          body: undefined,
          schema: CalendarsSchema,
          fail: (kind, status, reason) => new GraphApiError(kind, status, reason),
          classify: (status) => ({ kind: status === 401 || status === 403 ? "auth" : status >= 500 ? "transient" : "bad_request" }),
        });
        for (const c of body.value) out.push({ id: c.id, name: c.name ?? "Calendar", primary: c.isDefaultCalendar === true });
        const next: string | undefined = body["@odata.nextLink"];
        // A paging link off the configured host would carry the bearer token elsewhere.
        url = next && new URL(next).origin === new URL(base).origin ? new URL(next) : undefined;
      }
      return out;
    },
    sourceSettings: (cal) => ({ calendarId: cal.id, apiBaseUrl: config.microsoftGraphBaseUrl }),
  };
}

const DAY_MS = 86_400_000;
const MAX_REMOVED_LOOKUPS = 100;

async function pullMicrosoft(source: SourceRow, { full, now, fetchFn }: { full: boolean; now: Date; fetchFn: typeof fetch }): Promise<PullResult> {
  const cfg = graphConfig(source);
  const window = {
    startDateTime: new Date(now.getTime() - 30 * DAY_MS).toISOString(),
    endDateTime: new Date(now.getTime() + 365 * DAY_MS).toISOString(),
  };
  const run = async (deltaLink: string | undefined) => {
    const pages = await collect(pullGraphDelta(cfg, fetchFn, { ...window, ...(deltaLink ? { deltaLink } : {}) }));
    const link = pages.at(-1)?.deltaLink;
    if (!link) throw new PullError("upstream_no_delta_link", "retry");
    return { kind: "events" as const, events: await resolveRemoved(pages.flatMap((p) => p.events)), snapshot: !deltaLink, cursor: link };
  };
  // calendarView delta reports `@removed` both for deletions and for events moved out of the
  // window: ask Graph which (event-delta doc). A bounded number per pull; the rest count as deleted.
  const resolveRemoved = async (events: ExternalEvent[]) => {
    let lookups = 0;
    const out: ExternalEvent[] = [];
    for (const e of events) {
      const stub = e.status === "cancelled" && !e.start;
      if (stub && lookups < MAX_REMOVED_LOOKUPS) {
        lookups++;
        const current = await getGraphEvent(cfg, fetchFn, e.externalId);
        out.push(current ?? e);
      } else out.push(e);
    }
    return out;
  };
  try {
    const incremental = !full && source.syncToken ? source.syncToken : undefined;
    try {
      return await run(incremental);
    } catch (err) {
      if (incremental && err instanceof GraphApiError && err.kind === "full_sync_required") return await run(undefined);
      throw err;
    }
  } catch (err) {
    if (err instanceof GraphApiError) throw fromApiError(err);
    throw err;
  }
}

/** Graph allows at most 4,230 minutes for Outlook event subscriptions. */
const GRAPH_SUBSCRIPTION_MS = 4_200 * 60_000;

async function registerGraph(ctx: ChannelContext, s: SourceRow): Promise<void> {
  const clientState = newSecret("", 32);
  // The subscription id is known only after Graph answers; clientState must be stored before,
  // because Graph may notify as soon as the subscription exists.
  await savePushChannel(ctx.db, s.id, {
    channelId: s.channelId ?? `pending:${s.id}`,
    secrets: { clientStateHash: hashSecret(clientState) },
    settings: {},
  });
  const sub = await createGraphSubscription(graphConfig(s), ctx.fetchFn, {
    notificationUrl: webhookUrlFor(ctx.baseUrl, "microsoft", s.id),
    lifecycleNotificationUrl: webhookUrlFor(ctx.baseUrl, "microsoft", s.id),
    clientState,
    expirationDateTime: new Date(ctx.clock.now().getTime() + GRAPH_SUBSCRIPTION_MS).toISOString(),
    ...(s.settings.calendarId ? { resource: `me/calendars/${encodeURIComponent(String(s.settings.calendarId))}/events` } : {}),
  });
  await savePushChannel(ctx.db, s.id, { channelId: sub.id, secrets: {}, settings: { subscriptionExpiration: sub.expirationDateTime } });
}

async function renewGraph(ctx: ChannelContext, s: SourceRow): Promise<void> {
  try {
    if (!s.channelId || s.channelId.startsWith("pending:")) throw new GraphApiError("not_found", 404);
    const sub = await renewGraphSubscription(graphConfig(s), ctx.fetchFn, {
      id: s.channelId,
      expirationDateTime: new Date(ctx.clock.now().getTime() + GRAPH_SUBSCRIPTION_MS).toISOString(),
    });
    await savePushChannel(ctx.db, s.id, { channelId: sub.id, secrets: {}, settings: { subscriptionExpiration: sub.expirationDateTime } });
  } catch (err) {
    // Graph removed it (subscriptionRemoved, or it lapsed): make a new one.
    if (!(err instanceof GraphApiError && err.kind === "not_found")) throw err;
    await registerGraph(ctx, s);
  }
}

async function releaseGraph(ctx: ChannelContext, s: SourceRow): Promise<void> {
  if (s.channelId && !s.channelId.startsWith("pending:")) await deleteGraphSubscription(graphConfig(s), ctx.fetchFn, s.channelId);
}

export async function isMicrosoftSource(deps: ServiceDeps, sourceId: string): Promise<boolean> {
  return (await liveSourceOfKind(deps, sourceId, "microsoft")) !== null;
}

/**
 * Graph change and lifecycle notifications. Each item must name our subscription and carry our
 * clientState, checked before the item's shape is judged; the others are dropped (the batch still
 * gets its 202, as Graph requires). An item of ours that is malformed is recorded `rejected`.
 */
export async function receiveGraphNotifications(deps: ServiceDeps, sourceId: string, rawBody: string): Promise<Intake & { rejected?: number }> {
  const source = await liveSourceOfKind(deps, sourceId, "microsoft");
  if (!source) return { result: "unknown_source" };
  let body: unknown;
  try {
    body = JSON.parse(rawBody);
  } catch {
    throw malformedJson();
  }
  const items = body && typeof body === "object" && Array.isArray((body as { value?: unknown }).value) ? (body as { value: unknown[] }).value : null;
  if (!items || items.length === 0 || items.length > 1000) throw ValidationError.fromZod(GraphNotificationBatchSchema.safeParse(body).error!);
  const isOurs = (item: unknown): item is Record<string, unknown> => {
    if (!item || typeof item !== "object") return false;
    const { subscriptionId, clientState } = item as Record<string, unknown>;
    return (
      subscriptionId === source.channelId &&
      typeof clientState === "string" &&
      clientState.length <= 255 &&
      !!source.secrets.clientStateHash &&
      safeEqual(hashSecret(clientState), source.secrets.clientStateHash)
    );
  };
  let rejected = 0;
  let recordedAny = false;
  let refusal: AppError | undefined;
  const now = deps.clock.now();
  for (const raw of items) {
    if (!isOurs(raw)) {
      rejected++;
      continue;
    }
    const unsafeAt = findUnsafeText(raw);
    const parsed = GraphNotificationSchema.safeParse(raw);
    if (unsafeAt !== undefined || !parsed.success) {
      const error =
        unsafeAt !== undefined
          ? new InvalidCharactersError(unsafeAt)
          : ValidationError.fromZod(parsed.error!, "A notification of this subscription is malformed.");
      await rejectDelivery(deps, source, `graph:rejected:${contentKey(JSON.stringify(raw))}`, "pull", error);
      refusal ??= error;
      continue;
    }
    const item = parsed.data;
    // An item without a version (lifecycle events, deletions: no id, no etag) repeats byte for byte the
    // next time it happens; keyed by content alone, a second `missed` would be dropped as a duplicate.
    const versionless = item.lifecycleEvent !== undefined || !item.resourceData?.["@odata.etag"];
    const key = `graph:${contentKey(JSON.stringify(item))}${versionless ? `:${now.toISOString()}` : ""}`;
    if (item.lifecycleEvent === "reauthorizationRequired" || item.lifecycleEvent === "subscriptionRemoved") {
      // Renew (or re-create) the subscription from the worker; after a removal, also resync.
      const renew = await recordDelivery(deps.db, {
        providerId: source.providerId,
        sourceId: source.id,
        deliveryKey: key,
        kind: "renew_channel",
        at: now,
      });
      if (item.lifecycleEvent === "subscriptionRemoved") {
        await recordDelivery(deps.db, {
          providerId: source.providerId,
          sourceId: source.id,
          deliveryKey: `${key}:resync`,
          kind: "full_resync",
          at: now,
        });
      }
      recordedAny ||= renew.recorded;
      continue;
    }
    // `missed`: notifications were lost; only a full resync (merging, never mass-cancelling) is safe.
    const kind = item.lifecycleEvent === "missed" ? "full_resync" : "pull";
    const { recorded } = await recordDelivery(deps.db, { providerId: source.providerId, sourceId: source.id, deliveryKey: key, kind, at: now });
    recordedAny ||= recorded;
  }
  // Every item of ours was malformed: the sender hears why (nothing was accepted).
  if (refusal && !recordedAny) return { result: "rejected", error: refusal };
  return { result: "accepted", duplicate: !recordedAny, rejected };
}

export const microsoftSource: SourceAdapter = {
  kind: "microsoft",
  pull: pullMicrosoft,
  channel: { register: registerGraph, renew: renewGraph, release: releaseGraph },
  connect: createMicrosoftAdapter,
  writeBack: (config, fetchFn) => createMicrosoftMirrorPlatform(config.microsoftGraphBaseUrl, fetchFn),
};
