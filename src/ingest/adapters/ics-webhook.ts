// A calendar system that posts its changed events to us as ICS, signed per Standard Webhooks
// (https://www.standardwebhooks.com: webhook-id, webhook-timestamp, webhook-signature). Pushes carry
// their own events, so there is nothing to pull and no channel to keep.
import { createHmac, createSecretKey, type KeyObject } from "node:crypto";
import { z } from "zod";
import { findUnsafeText } from "../../domain/safe-text.js";
import { InvalidCharactersError, UnprocessableError, ValidationError } from "../../errors.js";
import type { ServiceDeps } from "../../services/deps.js";
import { recordIcsDelivery } from "../../services/inbox.js";
import type { IntakeSource, LiveFeeds } from "../../services/live-feeds.js";
import { openSecret, type SecretKey } from "../../services/secret-box.js";
import { safeEqual } from "../../services/secrets.js";
import { type Intake, liveSourceOfKind, malformedJson, rejectDelivery } from "../../services/webhook-intake.js";
import { yieldToLoop } from "../slices.js";
import type { SourceAdapter } from "./types.js";

export const MAX_WEBHOOK_ICS_CHARS = 2 * 1024 * 1024;
const MAX_VEVENTS = 20_000;

export const IcsEnvelopeSchema = z.strictObject({
  type: z.literal("calendar.changed"),
  timestamp: z.iso.datetime({ offset: true }),
  data: z.strictObject({ ics: z.string().min(1).max(MAX_WEBHOOK_ICS_CHARS) }),
});

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
 * the base64 after "whsec_" (`key`, from signingKey; null for a secret of no bytes), over `${webhook-id}.${webhook-timestamp}.${body}`; any of the
 * space-separated `v1,<base64>` signatures may match (key rotation); the timestamp within 5 minutes
 * of the wall clock. The HMAC is node:crypto's: the package hashes in JavaScript, which holds the
 * event loop ~100 ms for a 2 MiB body.
 */
export function verifyStandardWebhook(key: KeyObject | null, body: string, headers: Record<string, string>): boolean {
  const id = headers["webhook-id"] ?? "";
  const ts = headers["webhook-timestamp"] ?? "";
  const signatures = headers["webhook-signature"] ?? "";
  if (!id || !/^\d{1,12}$/.test(ts) || Math.abs(Math.floor(Date.now() / 1000) - Number(ts)) > TIMESTAMP_TOLERANCE_S) return false;
  if (!key) return false;
  const expected = createHmac("sha256", key).update(`${id}.${ts}.`).update(body).digest("base64");
  let match = false;
  for (const versioned of signatures.split(" ")) {
    const [version, signature] = versioned.split(",");
    // Every candidate is compared (no early exit), each in constant time.
    if (version === "v1" && signature !== undefined && safeEqual(signature, expected)) match = true;
  }
  return match;
}

/** The HMAC key a "whsec_" secret names; null when it holds no bytes. */
function hmacKey(secret: string): KeyObject | null {
  const raw = Buffer.from(secret.startsWith(SECRET_PREFIX) ? secret.slice(SECRET_PREFIX.length) : secret, "base64");
  return raw.length ? createSecretKey(raw) : null;
}

/** Opened signing keys at most, per set of sealing keys. */
const SIGNING_KEYS = 4_096;
const signingKeys = new WeakMap<readonly SecretKey[], Map<string, KeyObject | null>>();

/**
 * The HMAC key of a source's sealed signing secret, opened once per process: opening it
 * (AES-256-GCM) cost more CPU than the HMAC it keys, on every delivery. Held as node:crypto
 * KeyObjects, outside the JavaScript heap, by the sealed text, so a new or re-sealed secret is a new
 * entry; the least recently used goes when SIGNING_KEYS are held. A key outlives its source only
 * here: a deleted source's deliveries are refused before any key is looked for.
 */
function signingKey(keys: readonly SecretKey[], sealed: string): KeyObject | null {
  let opened = signingKeys.get(keys);
  if (!opened) {
    opened = new Map();
    signingKeys.set(keys, opened);
  }
  let key = opened.get(sealed);
  if (key === undefined) {
    key = hmacKey(openSecret(keys, sealed, "signing_secret"));
    if (opened.size >= SIGNING_KEYS) opened.delete(opened.keys().next().value!);
  } else {
    // Used: moved to the end of the map's order, so the least recently used goes first.
    opened.delete(sealed);
  }
  opened.set(sealed, key);
  return key;
}

/**
 * The three headers are present and plausible (an id, a v1 signature, a timestamp within the
 * window): what can be judged before a byte of the body is read.
 */
export function plausibleStandardWebhook(headers: Record<string, string>, nowMs: number): boolean {
  const ts = headers["webhook-timestamp"] ?? "";
  const id = headers["webhook-id"] ?? "";
  return (
    id.length > 0 &&
    id.length <= 256 &&
    /^\d{1,12}$/.test(ts) &&
    Math.abs(nowMs / 1000 - Number(ts)) <= TIMESTAMP_TOLERANCE_S &&
    /(^|\s)v1,\S+/.test(headers["webhook-signature"] ?? "")
  );
}

/**
 * Everything that can be checked before the body is read: the source exists and the headers are
 * plausible. An unsigned request is answered without reading a byte of its body.
 */
export async function precheckIcsWebhook(
  deps: ServiceDeps,
  sourceId: string,
  headers: Record<string, string>,
  known?: KnownSources,
): Promise<IntakeSource | Intake> {
  const source = await webhookSource(deps, sourceId, known);
  if (!source) return { result: "unknown_source" };
  return plausibleStandardWebhook(headers, Date.now()) ? source : { result: "unauthorized" };
}

/** Webhook sources this process knows (kept true by notifications, see live-feeds.ts). */
export type KnownSources = Pick<LiveFeeds, "source" | "rememberSource" | "mark">;

/** The live ics_webhook source a URL names: from `known` when it has it, else from the database. */
async function webhookSource(deps: ServiceDeps, sourceId: string, known: KnownSources | undefined): Promise<IntakeSource | null> {
  const nowMs = deps.clock.now().getTime();
  const cached = known?.source(sourceId, nowMs);
  if (cached) return cached.kind === "ics_webhook" ? cached : null;
  const mark = known?.mark();
  const source = await liveSourceOfKind(deps, sourceId, "ics_webhook");
  if (source && mark !== undefined) known?.rememberSource(source, mark, nowMs);
  return source;
}

export async function receiveIcsWebhook(deps: ServiceDeps, source: IntakeSource, rawBody: string, headers: Record<string, string>): Promise<Intake> {
  if (!verifyStandardWebhook(signingKey(deps.config.secretKeys, source.secrets.signingSecret!), rawBody, headers)) return { result: "unauthorized" };
  let parsed: unknown;
  try {
    parsed = rawBody === "" ? undefined : JSON.parse(rawBody);
  } catch {
    // Verified, but JSON.parse refused it (malformed, or nested past the stack).
    parsed = MALFORMED;
  }
  const key = `whk:${headers["webhook-id"]}`;
  if (parsed === MALFORMED || parsed === undefined) return rejectDelivery(deps, source, key, "ics_payload", malformedJson());
  const unsafeAt = findUnsafeText(parsed);
  if (unsafeAt !== undefined) return rejectDelivery(deps, source, key, "ics_payload", new InvalidCharactersError(unsafeAt));
  const envelope = IcsEnvelopeSchema.safeParse(parsed);
  if (!envelope.success) return rejectDelivery(deps, source, key, "ics_payload", ValidationError.fromZod(envelope.error));
  const ics = envelope.data.data.ics;
  if (!/^\uFEFF?\s*BEGIN:VCALENDAR/i.test(ics))
    return rejectDelivery(
      deps,
      source,
      key,
      "ics_payload",
      new UnprocessableError("ics_not_a_calendar", "data.ics must be an iCalendar object (BEGIN:VCALENDAR)."),
    );
  if ((ics.match(/^BEGIN:VEVENT/gim)?.length ?? 0) > MAX_VEVENTS)
    return rejectDelivery(
      deps,
      source,
      key,
      "ics_payload",
      new UnprocessableError("ics_too_many_events", `At most ${MAX_VEVENTS} events per delivery.`),
    );
  const { recorded } = await recordIcsDelivery(
    deps.db,
    { providerId: source.providerId, sourceId: source.id, deliveryKey: key, at: deps.clock.now() },
    ics,
    yieldToLoop,
  );
  return { result: "accepted", duplicate: !recorded };
}

const MALFORMED = Symbol("malformed");

export const icsWebhookSource: SourceAdapter = { kind: "ics_webhook", pull: async () => ({ kind: "events", events: [], snapshot: false }) };
