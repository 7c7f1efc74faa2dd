// Push channels: Google watch channels (7 days at most, no renew call: a new channel replaces the
// old) and Graph subscriptions (about 3 days, renewed by PATCH). Registered after a source is
// created, renewed before they lapse, released when the source goes.
import { randomUUID } from "node:crypto";
import type { Executor } from "../db/client.js";
import { googleConfig, graphConfig, type PushChannelRegistry, type SourceRow, savePushChannel, webhookUrlFor } from "../services/calendar-sources.js";
import type { ServiceDeps } from "../services/deps.js";
import { recordDelivery } from "../services/inbox.js";
import { hashSecret, newSecret } from "../services/secrets.js";
import { stopGoogleChannel, watchGoogleEvents } from "./google-client.js";
import { refuseUnguarded } from "./guarded-fetch.js";
import { createGraphSubscription, deleteGraphSubscription, GraphApiError, renewGraphSubscription } from "./microsoft-client.js";

const GOOGLE_CHANNEL_SECONDS = 7 * 24 * 3600;
/** Graph allows at most 4,230 minutes for Outlook event subscriptions. */
const GRAPH_SUBSCRIPTION_MS = 4_200 * 60_000;

export type PushChannels = PushChannelRegistry & {
  /** Replaces (Google) or extends (Graph) the channel, then queues a pull for anything missed meanwhile. */
  renew(source: SourceRow): Promise<void>;
};

/** `fetchFn` is the process's guarded client (src/ingest/guarded-fetch.ts). */
export function createPushChannels(deps: Pick<ServiceDeps, "db" | "clock" | "config">, outbound: typeof fetch): PushChannels {
  const fetchFn = refuseUnguarded(outbound);
  const base = deps.config.publicBaseUrl;

  async function registerGoogle(db: Executor, s: SourceRow): Promise<void> {
    const channelId = randomUUID();
    const channelToken = newSecret("", 32);
    // Saved before the watch call: Google's first message (`sync`) arrives before it answers.
    await savePushChannel(db, s.id, { channelId, secrets: { channelTokenHash: hashSecret(channelToken) }, settings: {} });
    const ch = await watchGoogleEvents(googleConfig(s), fetchFn, {
      channelId,
      address: webhookUrlFor(base, "google", s.id),
      token: channelToken,
      ttlSeconds: GOOGLE_CHANNEL_SECONDS,
    });
    await savePushChannel(db, s.id, { channelId, secrets: {}, settings: { resourceId: ch.resourceId, channelExpiration: ch.expiration } });
  }

  async function registerGraph(db: Executor, s: SourceRow): Promise<void> {
    const clientState = newSecret("", 32);
    // The subscription id is known only after Graph answers; clientState must be stored before,
    // because Graph may notify as soon as the subscription exists.
    await savePushChannel(db, s.id, {
      channelId: s.channelId ?? `pending:${s.id}`,
      secrets: { clientStateHash: hashSecret(clientState) },
      settings: {},
    });
    const sub = await createGraphSubscription(graphConfig(s), fetchFn, {
      notificationUrl: webhookUrlFor(base, "microsoft", s.id),
      lifecycleNotificationUrl: webhookUrlFor(base, "microsoft", s.id),
      clientState,
      expirationDateTime: new Date(deps.clock.now().getTime() + GRAPH_SUBSCRIPTION_MS).toISOString(),
      ...(s.settings.calendarId ? { resource: `me/calendars/${encodeURIComponent(String(s.settings.calendarId))}/events` } : {}),
    });
    await savePushChannel(db, s.id, { channelId: sub.id, secrets: {}, settings: { subscriptionExpiration: sub.expirationDateTime } });
  }

  const registry: PushChannels = {
    async register(s) {
      if (s.kind === "google") await registerGoogle(deps.db, s);
      else if (s.kind === "microsoft") await registerGraph(deps.db, s);
    },

    async renew(s) {
      const now = deps.clock.now();
      if (s.kind === "google") {
        const old = { channelId: s.channelId, resourceId: s.settings.resourceId };
        try {
          await registerGoogle(deps.db, s);
        } catch (err) {
          // No new channel: keep the one that still runs, so its pushes verify and a retry stops it.
          // Only the old hash: `s` may hold an access token in clear, which is never written.
          if (old.channelId)
            await savePushChannel(deps.db, s.id, {
              channelId: old.channelId,
              secrets: s.secrets.channelTokenHash ? { channelTokenHash: s.secrets.channelTokenHash } : {},
              settings: {},
            });
          throw err;
        }
        if (old.channelId && typeof old.resourceId === "string") {
          await stopGoogleChannel(googleConfig(s), fetchFn, { channelId: old.channelId, resourceId: old.resourceId }).catch(() => undefined);
        }
      } else if (s.kind === "microsoft") {
        try {
          if (!s.channelId || s.channelId.startsWith("pending:")) throw new GraphApiError("not_found", 404);
          const sub = await renewGraphSubscription(graphConfig(s), fetchFn, {
            id: s.channelId,
            expirationDateTime: new Date(now.getTime() + GRAPH_SUBSCRIPTION_MS).toISOString(),
          });
          await savePushChannel(deps.db, s.id, { channelId: sub.id, secrets: {}, settings: { subscriptionExpiration: sub.expirationDateTime } });
        } catch (err) {
          // Graph removed it (subscriptionRemoved, or it lapsed): make a new one.
          if (!(err instanceof GraphApiError && err.kind === "not_found")) throw err;
          await registerGraph(deps.db, s);
        }
      }
      // Whatever was notified on the old channel while we switched is picked up by one pull.
      await recordDelivery(deps.db, { providerId: s.providerId, sourceId: s.id, deliveryKey: `renewed:${now.toISOString()}`, kind: "pull", at: now });
    },

    async release(s) {
      if (s.kind === "google" && s.channelId && typeof s.settings.resourceId === "string") {
        await stopGoogleChannel(googleConfig(s), fetchFn, { channelId: s.channelId, resourceId: s.settings.resourceId });
      } else if (s.kind === "microsoft" && s.channelId && !s.channelId.startsWith("pending:")) {
        await deleteGraphSubscription(graphConfig(s), fetchFn, s.channelId);
      }
    },
  };
  return registry;
}
