// Google Calendar as a source: consent (Google's web-server OAuth guide: access_type=offline for a
// refresh token, prompt=consent so a reconnect gets a new one), the account's calendars
// (calendarList.list, paged, https://developers.google.com/calendar/api/v3/reference/calendarList/list),
// pulls by sync token (Synchronize resources efficiently), watch channels (Push notifications guide:
// 7 days at most, no renew call, a new channel replaces the old) and their X-Goog-* push messages.
import { randomUUID } from "node:crypto";
import { z } from "zod";
import type { Config } from "../../config.js";
import { ValidationError } from "../../errors.js";
import { googleConfig, recordSourceFailure, type SourceRow, savePushChannel, webhookUrlFor } from "../../services/calendar-sources.js";
import { type ConnectionAdapter, GrantError, type RemoteCalendar } from "../../services/connection-adapters.js";
import type { ServiceDeps } from "../../services/deps.js";
import { recordDeliveryPrepared } from "../../services/intake-statements.js";
import { hashSecret, newSecret, safeEqual } from "../../services/secrets.js";
import { contentKey, type Intake, liveSourceOfKind, rejectDelivery } from "../../services/webhook-intake.js";
import { GoogleApiError, listGoogleEvents, stopGoogleChannel, watchGoogleEvents } from "../google-client.js";
import { sendJson, trimBase } from "../http.js";
import { createGoogleMirrorPlatform, GOOGLE_WRITE_SCOPE } from "../mirror-google.js";
import { collect, fromApiError, PullError, type PullResult } from "../pull.js";
import { createOAuthClient } from "./oauth.js";
import type { ChannelContext, SourceAdapter } from "./types.js";

// Read-only: the calendar list, and the events of the calendars picked from it.
export const GOOGLE_SCOPES = [
  "https://www.googleapis.com/auth/calendar.calendarlist.readonly",
  "https://www.googleapis.com/auth/calendar.events.readonly",
];
const MAX_PAGES = 10;

const CalendarListSchema = z.looseObject({
  nextPageToken: z.string().optional(),
  items: z
    .array(
      z.looseObject({
        id: z.string().min(1).max(1024),
        summary: z.string().max(1024).optional(),
        summaryOverride: z.string().max(1024).optional(),
        primary: z.boolean().optional(),
        deleted: z.boolean().optional(),
      }),
    )
    .max(250)
    .default([]),
});

export function createGoogleAdapter(config: Config, fetchFn: typeof fetch): ConnectionAdapter {
  const cfg = config.oauth.google;
  const client = cfg ? createOAuthClient(cfg, fetchFn) : null;
  const need = () => {
    if (!client) throw new GrantError("failed", "not_configured");
    return client;
  };
  return {
    kind: "google",
    label: "Google Calendar",
    available: client !== null,
    canRevoke: Boolean(cfg?.revocationUrl),
    authorizationUrl: ({ writeBack, ...input }) =>
      need().authorizationUrl({
        ...input,
        scope: [...GOOGLE_SCOPES, ...(writeBack ? [GOOGLE_WRITE_SCOPE] : [])].join(" "),
        // include_granted_scopes: an incremental consent keeps what was granted before (Google's web-server OAuth guide).
        extra: { access_type: "offline", prompt: "consent", ...(writeBack ? { include_granted_scopes: "true" } : {}) },
      }),
    exchangeCode: (input) => need().exchangeCode(input),
    refresh: (rt) => need().refresh(rt),
    revoke: (token) => need().revoke(token),
    async listCalendars(accessToken) {
      const out: RemoteCalendar[] = [];
      let pageToken: string | undefined;
      for (let page = 0; page < MAX_PAGES; page++) {
        const url = new URL(`${trimBase(config.googleApiBaseUrl)}/users/me/calendarList`);
        url.searchParams.set("maxResults", "250");
        url.searchParams.set("minAccessRole", "reader");
        if (pageToken) url.searchParams.set("pageToken", pageToken);
        const body = await sendJson({
          fetchFn,
          url,
          method: "GET",
          headers: new Headers({ authorization: `Bearer ${accessToken}`, accept: "application/json" }),
          body: undefined,
          schema: CalendarListSchema,
          fail: (kind, status, reason) => new GoogleApiError(kind, status, reason),
          classify: (status) => ({ kind: status === 401 || status === 403 ? "auth" : status >= 500 ? "transient" : "bad_request" }),
        });
        for (const c of body.items) if (!c.deleted) out.push({ id: c.id, name: c.summaryOverride ?? c.summary ?? c.id, primary: c.primary === true });
        pageToken = body.nextPageToken || undefined;
        if (!pageToken) break;
      }
      return out;
    },
    sourceSettings: (cal) => ({ calendarId: cal.id, apiBaseUrl: config.googleApiBaseUrl }),
  };
}

const DAY_MS = 86_400_000;

async function pullGoogle(source: SourceRow, { full, now, fetchFn }: { full: boolean; now: Date; fetchFn: typeof fetch }): Promise<PullResult> {
  const cfg = googleConfig(source);
  const run = async (syncToken: string | undefined) => {
    const pages = await collect(
      listGoogleEvents(cfg, fetchFn, syncToken ? { syncToken } : { timeMin: new Date(now.getTime() - 30 * DAY_MS).toISOString() }),
    );
    const token = pages.at(-1)?.nextSyncToken;
    if (!token) throw new PullError("upstream_no_sync_token", "retry");
    return {
      kind: "events" as const,
      events: pages.flatMap((p) => p.events),
      setAside: pages.flatMap((p) => p.setAside),
      snapshot: !syncToken,
      cursor: token,
    };
  };
  try {
    const incremental = !full && source.syncToken ? source.syncToken : undefined;
    try {
      return await run(incremental);
    } catch (err) {
      // 410: the token is gone; a full sync merges (Google Calendar API, Synchronize resources efficiently).
      if (incremental && err instanceof GoogleApiError && err.kind === "full_sync_required") return await run(undefined);
      throw err;
    }
  } catch (err) {
    if (err instanceof GoogleApiError) throw fromApiError(err);
    throw err;
  }
}

const GOOGLE_CHANNEL_SECONDS = 7 * 24 * 3600;

async function registerGoogle(ctx: ChannelContext, s: SourceRow): Promise<void> {
  const channelId = randomUUID();
  const channelToken = newSecret("", 32);
  // Saved before the watch call: Google's first message (`sync`) arrives before it answers.
  await savePushChannel(ctx.db, s.id, { channelId, secrets: { channelTokenHash: hashSecret(channelToken) }, settings: {} });
  const ch = await watchGoogleEvents(googleConfig(s), ctx.fetchFn, {
    channelId,
    address: webhookUrlFor(ctx.baseUrl, "google", s.id),
    token: channelToken,
    ttlSeconds: GOOGLE_CHANNEL_SECONDS,
  });
  await savePushChannel(ctx.db, s.id, { channelId, secrets: {}, settings: { resourceId: ch.resourceId, channelExpiration: ch.expiration } });
}

async function renewGoogle(ctx: ChannelContext, s: SourceRow): Promise<void> {
  const old = { channelId: s.channelId, resourceId: s.settings.resourceId };
  try {
    await registerGoogle(ctx, s);
  } catch (err) {
    // No new channel: keep the one that still runs, so its pushes verify and a retry stops it.
    // Only the old hash: `s` may hold an access token in clear, which is never written.
    if (old.channelId)
      await savePushChannel(ctx.db, s.id, {
        channelId: old.channelId,
        secrets: s.secrets.channelTokenHash ? { channelTokenHash: s.secrets.channelTokenHash } : {},
        settings: {},
      });
    throw err;
  }
  if (old.channelId && typeof old.resourceId === "string") {
    await stopGoogleChannel(googleConfig(s), ctx.fetchFn, { channelId: old.channelId, resourceId: old.resourceId }).catch(() => undefined);
  }
}

async function releaseGoogle(ctx: ChannelContext, s: SourceRow): Promise<void> {
  if (s.channelId && typeof s.settings.resourceId === "string")
    await stopGoogleChannel(googleConfig(s), ctx.fetchFn, { channelId: s.channelId, resourceId: s.settings.resourceId });
}

export const GoogleHeadersSchema = z.object({
  channelId: z.string().min(1).max(64),
  resourceId: z.string().min(1).max(1024),
  state: z.string().min(1).max(32),
  messageNumber: z.string().regex(/^\d{1,20}$/),
  token: z.string().max(256).optional(),
});

export type GoogleHeaders = { [K in keyof z.infer<typeof GoogleHeadersSchema>]?: string };

/**
 * Google push: headers only. Unknown channels are acknowledged and ignored (stopped channels still
 * post). The channel token is checked before the other headers are judged.
 */
export async function receiveGooglePush(deps: ServiceDeps, sourceId: string, raw: GoogleHeaders): Promise<Intake> {
  const source = await liveSourceOfKind(deps, sourceId, "google");
  if (!source || !raw.channelId || source.channelId !== raw.channelId) return { result: "ignored", reason: "unknown_channel" };
  if (raw.resourceId && source.settings.resourceId && source.settings.resourceId !== raw.resourceId)
    return { result: "ignored", reason: "unknown_resource" };
  // Only the token's hash is stored (it is only compared).
  if (!raw.token || raw.token.length > 256 || !source.secrets.channelTokenHash || !safeEqual(hashSecret(raw.token), source.secrets.channelTokenHash))
    return { result: "unauthorized" };
  const parsed = GoogleHeadersSchema.safeParse(raw);
  if (!parsed.success) {
    const key = `goog:${raw.channelId}:rejected:${contentKey(JSON.stringify(raw))}`;
    return rejectDelivery(deps, source, key, "pull", ValidationError.fromZod(parsed.error, "The X-Goog-* headers are malformed."));
  }
  const h = parsed.data;
  if (h.state === "sync") return { result: "ignored", reason: "sync" };
  if (h.state === "not_exists") {
    await recordSourceFailure(deps.db, source.id, "calendar_gone", deps.clock.now(), "permanent");
    return { result: "ignored", reason: "not_exists" };
  }
  const { recorded } = await recordDeliveryPrepared(deps.db, {
    providerId: source.providerId,
    sourceId: source.id,
    deliveryKey: `goog:${h.channelId}:${h.messageNumber}`,
    kind: "pull",
    at: deps.clock.now(),
  });
  return { result: "accepted", duplicate: !recorded };
}

export const googleSource: SourceAdapter = {
  kind: "google",
  pull: pullGoogle,
  channel: { register: registerGoogle, renew: renewGoogle, release: releaseGoogle },
  connect: createGoogleAdapter,
  writeBack: (config, fetchFn) => createGoogleMirrorPlatform(config.googleApiBaseUrl, fetchFn),
};
