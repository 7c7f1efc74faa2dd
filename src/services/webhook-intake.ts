// Receiving notifications (SPEC 3.4, 6): verify, record once in the inbox, answer. Nothing is
// applied here; the worker does that. Every verdict is a discriminated result for the route.
import { createHash } from "node:crypto";
import { Webhook, WebhookVerificationError } from "standardwebhooks";
import { z } from "zod";
import { AppError, parseInput, UnprocessableError } from "../errors.js";
import { GraphNotificationBatchSchema } from "../ingest/microsoft-client.js";
import { findLiveSource, recordSourceFailure, type SourceRow } from "./calendar-sources.js";
import type { ServiceDeps } from "./deps.js";
import { recordDelivery } from "./inbox.js";
import { openSecret } from "./secret-box.js";
import { hashSecret, safeEqual } from "./secrets.js";

export const MAX_WEBHOOK_ICS_CHARS = 2 * 1024 * 1024;
const MAX_VEVENTS = 20_000;

export const IcsEnvelopeSchema = z.strictObject({
  type: z.literal("calendar.changed"),
  timestamp: z.iso.datetime({ offset: true }),
  data: z.strictObject({ ics: z.string().min(1).max(MAX_WEBHOOK_ICS_CHARS) }),
});

export type Intake =
  | { result: "accepted"; duplicate: boolean }
  | { result: "ignored"; reason: string }
  | { result: "unknown_source" }
  | { result: "unauthorized" };

const malformedJson = () => new AppError(400, "malformed_json", "Malformed JSON", "The body is not valid JSON.");

const isUuid = (s: string) => /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(s);

async function liveSourceOfKind(deps: ServiceDeps, sourceId: string, kind: SourceRow["kind"]): Promise<SourceRow | null> {
  if (!isUuid(sourceId)) return null;
  const s = await findLiveSource(deps.db, sourceId);
  return s && s.kind === kind ? s : null;
}

/** Standard Webhooks: `webhook-*` headers, or the `svix-*` aliases many senders use. */
export function standardWebhookHeaders(get: (name: string) => string | undefined): Record<string, string> {
  const pick = (n: string) => get(`webhook-${n}`) ?? get(`svix-${n}`) ?? "";
  return { "webhook-id": pick("id"), "webhook-timestamp": pick("timestamp"), "webhook-signature": pick("signature") };
}

export async function receiveIcsWebhook(deps: ServiceDeps, sourceId: string, rawBody: string, headers: Record<string, string>): Promise<Intake> {
  const source = await liveSourceOfKind(deps, sourceId, "ics_webhook");
  if (!source) return { result: "unknown_source" };
  let parsed: unknown;
  try {
    // The package checks the signature (any of several, for key rotation) and the 5-minute window
    // against the wall clock, then parses the body as JSON.
    parsed = new Webhook(openSecret(deps.config.secretKeys, source.secrets.signingSecret!, "signing_secret")).verify(rawBody, headers);
  } catch (err) {
    if (err instanceof WebhookVerificationError) return { result: "unauthorized" };
    // Verified, but JSON.parse refused it (malformed, or nested past the stack).
    throw malformedJson();
  }
  const ics = parseInput(IcsEnvelopeSchema, parsed).data.ics;
  if (!/^\uFEFF?\s*BEGIN:VCALENDAR/i.test(ics)) throw new UnprocessableError("ics_not_a_calendar", "data.ics must be an iCalendar object (BEGIN:VCALENDAR).");
  if ((ics.match(/^BEGIN:VEVENT/gim)?.length ?? 0) > MAX_VEVENTS) throw new UnprocessableError("ics_too_many_events", `At most ${MAX_VEVENTS} events per delivery.`);
  const { recorded } = await recordDelivery(deps.db, {
    providerId: source.providerId,
    sourceId: source.id,
    deliveryKey: `whk:${headers["webhook-id"]}`,
    kind: "ics_payload",
    payload: { ics },
    at: deps.clock.now(),
  });
  return { result: "accepted", duplicate: !recorded };
}

export const GoogleHeadersSchema = z.object({
  channelId: z.string().min(1).max(64),
  resourceId: z.string().min(1).max(1024),
  state: z.string().min(1).max(32),
  messageNumber: z.string().regex(/^\d{1,20}$/),
  token: z.string().max(256).optional(),
});

/** Google push: headers only. Unknown channels are acknowledged and ignored (stopped channels still post). */
export async function receiveGooglePush(deps: ServiceDeps, sourceId: string, h: z.infer<typeof GoogleHeadersSchema>): Promise<Intake> {
  const source = await liveSourceOfKind(deps, sourceId, "google");
  if (!source || source.channelId !== h.channelId) return { result: "ignored", reason: "unknown_channel" };
  if (source.settings.resourceId && source.settings.resourceId !== h.resourceId) return { result: "ignored", reason: "unknown_resource" };
  // Only the token's hash is stored (it is only compared).
  if (!h.token || !source.secrets.channelTokenHash || !safeEqual(hashSecret(h.token), source.secrets.channelTokenHash)) return { result: "unauthorized" };
  if (h.state === "sync") return { result: "ignored", reason: "sync" };
  if (h.state === "not_exists") {
    await recordSourceFailure(deps.db, source.id, "calendar_gone", deps.clock.now(), "permanent");
    return { result: "ignored", reason: "not_exists" };
  }
  const { recorded } = await recordDelivery(deps.db, {
    providerId: source.providerId,
    sourceId: source.id,
    deliveryKey: `goog:${h.channelId}:${h.messageNumber}`,
    kind: "pull",
    at: deps.clock.now(),
  });
  return { result: "accepted", duplicate: !recorded };
}

export async function isMicrosoftSource(deps: ServiceDeps, sourceId: string): Promise<boolean> {
  return (await liveSourceOfKind(deps, sourceId, "microsoft")) !== null;
}

/**
 * Graph change and lifecycle notifications. Each item must name our subscription and carry our
 * clientState; the others are dropped silently (the batch still gets its 202, as Graph requires).
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
  const batch = { data: parseInput(GraphNotificationBatchSchema, body) };
  let rejected = 0;
  let recordedAny = false;
  const now = deps.clock.now();
  for (const item of batch.data.value) {
    const ours = item.subscriptionId === source.channelId && typeof item.clientState === "string" && !!source.secrets.clientStateHash && safeEqual(hashSecret(item.clientState), source.secrets.clientStateHash);
    if (!ours) {
      rejected++;
      continue;
    }
    // An item without a version (lifecycle events, deletions: no id, no etag) repeats byte for byte the
    // next time it happens; keyed by content alone, a second `missed` would be dropped as a duplicate.
    const versionless = item.lifecycleEvent !== undefined || !item.resourceData?.["@odata.etag"];
    const key = `graph:${createHash("sha256").update(JSON.stringify(item)).digest("hex")}${versionless ? `:${now.toISOString()}` : ""}`;
    if (item.lifecycleEvent === "reauthorizationRequired" || item.lifecycleEvent === "subscriptionRemoved") {
      // Renew (or re-create) the subscription from the worker; after a removal, also resync.
      const renew = await recordDelivery(deps.db, { providerId: source.providerId, sourceId: source.id, deliveryKey: key, kind: "renew_channel", at: now });
      if (item.lifecycleEvent === "subscriptionRemoved") {
        await recordDelivery(deps.db, { providerId: source.providerId, sourceId: source.id, deliveryKey: `${key}:resync`, kind: "full_resync", at: now });
      }
      recordedAny ||= renew.recorded;
      continue;
    }
    // `missed`: notifications were lost; only a full resync (merging, never mass-cancelling) is safe.
    const kind = item.lifecycleEvent === "missed" ? "full_resync" : "pull";
    const { recorded } = await recordDelivery(deps.db, { providerId: source.providerId, sourceId: source.id, deliveryKey: key, kind, at: now });
    recordedAny ||= recorded;
  }
  return { result: "accepted", duplicate: !recordedAny, rejected };
}
