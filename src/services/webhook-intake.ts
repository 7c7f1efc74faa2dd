// Receiving notifications (README, Ingestion): verify, record once in the inbox, answer. Nothing is
// applied here; the worker does that. Every verdict is a discriminated result for the route.
import { createHash, createHmac } from "node:crypto";
import { z } from "zod";
import { withTransaction } from "../db/tx.js";
import { findUnsafeText } from "../domain/safe-text.js";
import { AppError, InvalidCharactersError, UnprocessableError, ValidationError } from "../errors.js";
import { GraphNotificationBatchSchema, GraphNotificationSchema } from "../ingest/microsoft-client.js";
import { yieldToLoop } from "../ingest/slices.js";
import { recordSourceFailure, type SourceRow } from "./calendar-sources.js";
import type { ServiceDeps } from "./deps.js";
import { type DeliveryKind, recordDelivery, recordIcsDelivery } from "./inbox.js";
import { findLiveSourcePrepared, recordDeliveryPrepared } from "./intake-statements.js";
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
  | { result: "unauthorized" }
  /** Verified, but malformed: recorded `rejected` on the source; the sender gets this problem. */
  | { result: "rejected"; error: AppError };

const malformedJson = () => new AppError(400, "malformed_json", "Malformed JSON", "The body is not valid JSON.");

const isUuid = (s: string) => /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(s);

async function liveSourceOfKind(deps: ServiceDeps, sourceId: string, kind: SourceRow["kind"]): Promise<SourceRow | null> {
  if (!isUuid(sourceId)) return null;
  const s = await findLiveSourcePrepared(deps.db, sourceId);
  return s && s.kind === kind ? s : null;
}

/** Records the refusal on the source (lastErrorCode) and in the inbox, in one transaction. */
async function reject(deps: ServiceDeps, source: SourceRow, deliveryKey: string, kind: DeliveryKind, error: AppError): Promise<Intake> {
  const at = deps.clock.now();
  await withTransaction(deps.db, async (tx) => {
    // A verified notification refused for good: the provider sees why on the source, not a silent drop.
    const { recorded } = await recordDelivery(tx, {
      providerId: source.providerId,
      sourceId: source.id,
      deliveryKey,
      kind,
      at,
      rejectedWith: error.code,
    });
    if (recorded) await recordSourceFailure(tx, source.id, error.code, at, "transient");
  });
  return { result: "rejected", error };
}

const sha256 = (s: string) => createHash("sha256").update(s).digest("hex");

/** Standard Webhooks: `webhook-*` headers, or the `svix-*` aliases many senders use. */
export function standardWebhookHeaders(get: (name: string) => string | undefined): Record<string, string> {
  const pick = (n: string) => get(`webhook-${n}`) ?? get(`svix-${n}`) ?? "";
  return { "webhook-id": pick("id"), "webhook-timestamp": pick("timestamp"), "webhook-signature": pick("signature") };
}

// The standardwebhooks package's tolerance: a timestamp more than 5 minutes off is refused.
const TIMESTAMP_TOLERANCE_S = 5 * 60;
const SECRET_PREFIX = "whsec_";

/**
 * Standard Webhooks verification, as the `standardwebhooks` package does it: HMAC-SHA256 keyed with
 * the base64 after "whsec_", over `${webhook-id}.${webhook-timestamp}.${body}`; any of the
 * space-separated `v1,<base64>` signatures may match (key rotation); the timestamp within 5 minutes
 * of the wall clock. The HMAC is node:crypto's: the package hashes in JavaScript, which holds the
 * event loop ~100 ms for a 2 MiB body.
 */
export function verifyStandardWebhook(secret: string, body: string, headers: Record<string, string>): boolean {
  const id = headers["webhook-id"] ?? "";
  const ts = headers["webhook-timestamp"] ?? "";
  const signatures = headers["webhook-signature"] ?? "";
  if (!id || !/^\d{1,12}$/.test(ts) || Math.abs(Math.floor(Date.now() / 1000) - Number(ts)) > TIMESTAMP_TOLERANCE_S) return false;
  const key = Buffer.from(secret.startsWith(SECRET_PREFIX) ? secret.slice(SECRET_PREFIX.length) : secret, "base64");
  if (key.length === 0) return false;
  const expected = createHmac("sha256", key).update(`${id}.${ts}.`).update(body).digest("base64");
  let match = false;
  for (const versioned of signatures.split(" ")) {
    const [version, signature] = versioned.split(",");
    // Every candidate is compared (no early exit), each in constant time.
    if (version === "v1" && signature !== undefined && safeEqual(signature, expected)) match = true;
  }
  return match;
}

/**
 * Everything that can be checked before the body is read: the source exists and the three headers
 * are present and plausible (a v1 signature, a timestamp within the window). An unsigned request is
 * answered without reading a byte of its body.
 */
export async function precheckIcsWebhook(deps: ServiceDeps, sourceId: string, headers: Record<string, string>): Promise<SourceRow | Intake> {
  const source = await liveSourceOfKind(deps, sourceId, "ics_webhook");
  if (!source) return { result: "unknown_source" };
  const ts = headers["webhook-timestamp"] ?? "";
  const id = headers["webhook-id"] ?? "";
  const plausible =
    id.length > 0 &&
    id.length <= 256 &&
    /^\d{1,12}$/.test(ts) &&
    Math.abs(Date.now() / 1000 - Number(ts)) <= TIMESTAMP_TOLERANCE_S &&
    /(^|\s)v1,\S+/.test(headers["webhook-signature"] ?? "");
  return plausible ? source : { result: "unauthorized" };
}

export async function receiveIcsWebhook(deps: ServiceDeps, source: SourceRow, rawBody: string, headers: Record<string, string>): Promise<Intake> {
  if (!verifyStandardWebhook(openSecret(deps.config.secretKeys, source.secrets.signingSecret!, "signing_secret"), rawBody, headers))
    return { result: "unauthorized" };
  let parsed: unknown;
  try {
    parsed = rawBody === "" ? undefined : JSON.parse(rawBody);
  } catch {
    // Verified, but JSON.parse refused it (malformed, or nested past the stack).
    parsed = MALFORMED;
  }
  const key = `whk:${headers["webhook-id"]}`;
  if (parsed === MALFORMED || parsed === undefined) return reject(deps, source, key, "ics_payload", malformedJson());
  const unsafeAt = findUnsafeText(parsed);
  if (unsafeAt !== undefined) return reject(deps, source, key, "ics_payload", new InvalidCharactersError(unsafeAt));
  const envelope = IcsEnvelopeSchema.safeParse(parsed);
  if (!envelope.success) return reject(deps, source, key, "ics_payload", ValidationError.fromZod(envelope.error));
  const ics = envelope.data.data.ics;
  if (!/^\uFEFF?\s*BEGIN:VCALENDAR/i.test(ics))
    return reject(
      deps,
      source,
      key,
      "ics_payload",
      new UnprocessableError("ics_not_a_calendar", "data.ics must be an iCalendar object (BEGIN:VCALENDAR)."),
    );
  if ((ics.match(/^BEGIN:VEVENT/gim)?.length ?? 0) > MAX_VEVENTS)
    return reject(deps, source, key, "ics_payload", new UnprocessableError("ics_too_many_events", `At most ${MAX_VEVENTS} events per delivery.`));
  const { recorded } = await recordIcsDelivery(
    deps.db,
    { providerId: source.providerId, sourceId: source.id, deliveryKey: key, at: deps.clock.now() },
    ics,
    yieldToLoop,
  );
  return { result: "accepted", duplicate: !recorded };
}

const MALFORMED = Symbol("malformed");

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
    const key = `goog:${raw.channelId}:rejected:${sha256(JSON.stringify(raw))}`;
    return reject(deps, source, key, "pull", ValidationError.fromZod(parsed.error, "The X-Goog-* headers are malformed."));
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
      await reject(deps, source, `graph:rejected:${sha256(JSON.stringify(raw))}`, "pull", error);
      refusal ??= error;
      continue;
    }
    const item = parsed.data;
    // An item without a version (lifecycle events, deletions: no id, no etag) repeats byte for byte the
    // next time it happens; keyed by content alone, a second `missed` would be dropped as a duplicate.
    const versionless = item.lifecycleEvent !== undefined || !item.resourceData?.["@odata.etag"];
    const key = `graph:${createHash("sha256").update(JSON.stringify(item)).digest("hex")}${versionless ? `:${now.toISOString()}` : ""}`;
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
