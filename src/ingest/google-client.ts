// Google Calendar API v3 client for ingestion: events.list (full and incremental sync), events.watch and
// channels.stop. Sources: https://developers.google.com/calendar/api/guides/sync,
// https://developers.google.com/calendar/api/guides/errors, the Events and Channel resources, and the push
// guide (https://developers.google.com/calendar/api/guides/push). A push notification is only a hint:
// callers run listGoogleEvents with the stored sync token and keep the new one after the last page.
import { z } from "zod";
import type { ExternalEvent } from "../domain/external-event.js";
import type { ExternalEventStatus } from "../domain/value-lists.js";
import { type ApiErrorKind, sendJson, toUtcIso, trimBase, zonedWallTimeToUtc } from "./http.js";

export type { ApiErrorKind };

export type GoogleConfig = {
  /** e.g. https://www.googleapis.com/calendar/v3 (a local fake in tests). */
  baseUrl: string;
  accessToken: string;
  calendarId: string;
  /** Per-request timeout; default 30 s. */
  timeoutMs?: number;
};

export type GoogleErrorKind = ApiErrorKind;

/** Status 0 means no HTTP answer (network error, timeout). The message never holds tokens or event data. */
export class GoogleApiError extends Error {
  constructor(
    readonly kind: ApiErrorKind,
    readonly status: number,
    readonly reason?: string,
    readonly retryAfterSeconds?: number,
    options?: { cause?: unknown },
  ) {
    super(`Google Calendar API: ${kind} (HTTP ${status}${reason ? `, ${reason}` : ""})`, options);
    this.name = "GoogleApiError";
  }
}

export type GoogleListOptions = { syncToken?: string; timeMin?: string; maxResults?: number };
export type GoogleEventsPage = { events: ExternalEvent[]; setAside: Array<{ externalId: string; reason: string }>; nextSyncToken?: string };

/** A single text we keep for link detection; longer descriptions are cut (links sit near the top). */
const MAX_TEXT_CHARS = 64 * 1024;

// --- Wire schemas (Events resource). Loose: Google adds fields; we read only what we map. ---------------

const EventDateTime = z.looseObject({
  date: z.string().optional(),
  dateTime: z.string().optional(),
  timeZone: z.string().optional(),
});

const GoogleEventSchema = z.looseObject({
  id: z.string().min(1).max(1024), // Events resource: "5 to 1024 characters"
  etag: z.string().max(256).optional(),
  status: z.string().optional(),
  iCalUID: z.string().optional(),
  recurringEventId: z.string().optional(),
  originalStartTime: EventDateTime.optional(),
  start: EventDateTime.optional(),
  end: EventDateTime.optional(),
  sequence: z.number().int().optional(),
  updated: z.string().optional(),
  transparency: z.string().optional(),
  location: z.string().optional(),
  description: z.string().optional(),
  hangoutLink: z.string().optional(),
  conferenceData: z.looseObject({ entryPoints: z.array(z.looseObject({ uri: z.string().optional() })).optional() }).optional(),
  extendedProperties: z
    .looseObject({
      private: z.record(z.string(), z.string()).optional(),
      shared: z.record(z.string(), z.string()).optional(),
    })
    .optional(),
});
export type GoogleEvent = z.infer<typeof GoogleEventSchema>;

const EventsPageSchema = z.looseObject({
  timeZone: z.string().optional(),
  nextPageToken: z.string().optional(),
  nextSyncToken: z.string().optional(),
  // Items are read one by one (mapPage): one unreadable event is set aside, not the whole page.
  items: z.array(z.unknown()).max(2500).default([]), // maxResults is capped at 2500
});

const ChannelSchema = z.looseObject({
  id: z.string(),
  resourceId: z.string().min(1),
  resourceUri: z.string().optional(),
  // Channel resource: int64 milliseconds, serialised as a string (JSON int64 convention) or a number.
  expiration: z.union([z.string().regex(/^\d+$/), z.number().int()]).optional(),
});

// Errors guide: {"error": {"errors": [{"domain", "reason", "message"}], "code", "message"}}.
const GoogleErrorSchema = z.looseObject({
  error: z.looseObject({
    code: z.number().optional(),
    status: z.string().optional(),
    errors: z.array(z.looseObject({ reason: z.string().optional(), domain: z.string().optional() })).optional(),
  }),
});

// Errors guide: rate limits come as 403 usageLimits/{rate,userRate}LimitExceeded or 429;
// quotaExceeded ("Calendar usage limits exceeded") clears after hours, so it is backoff, not re-auth.
const RATE_LIMIT_REASONS = new Set(["rateLimitExceeded", "userRateLimitExceeded", "quotaExceeded"]);

// --- events.list ------------------------------------------------------------------------------------------

/**
 * Pages through events.list. Full sync when no syncToken (optionally bounded by timeMin); incremental
 * with one. Each page is yielded as it arrives; nextSyncToken appears only with the last page (sync guide),
 * so a failure on a later page throws and leaves the caller without a token to store.
 */
export async function* listGoogleEvents(cfg: GoogleConfig, fetchFn: typeof fetch, opts: GoogleListOptions = {}): AsyncGenerator<GoogleEventsPage> {
  if (opts.syncToken !== undefined && opts.timeMin !== undefined) {
    // Sync guide: a syncToken excludes timeMin etc.; Google answers 400 "Sync token cannot be used with
    // other request restrictions" (Google Calendar API, "Synchronize resources efficiently"). A caller bug, so fail before any request.
    throw new TypeError("listGoogleEvents: syncToken cannot be combined with timeMin");
  }
  let pageToken: string | undefined;
  do {
    const url = new URL(`${trimBase(cfg.baseUrl)}/calendars/${encodeURIComponent(cfg.calendarId)}/events`);
    // singleEvents and showDeleted stay identical between full and incremental sync (sync guide).
    url.searchParams.set("singleEvents", "true");
    url.searchParams.set("showDeleted", "true");
    url.searchParams.set("maxResults", String(opts.maxResults ?? 250));
    if (opts.syncToken !== undefined) url.searchParams.set("syncToken", opts.syncToken);
    else if (opts.timeMin !== undefined) url.searchParams.set("timeMin", opts.timeMin);
    if (pageToken !== undefined) url.searchParams.set("pageToken", pageToken);

    const page = await googleRequest(cfg, fetchFn, "GET", url, undefined, EventsPageSchema);
    const { events, setAside } = mapPage(page.items, page.timeZone);
    const last = page.nextPageToken === undefined || page.nextPageToken === "";
    yield last && page.nextSyncToken ? { events, setAside, nextSyncToken: page.nextSyncToken } : { events, setAside };
    if (!last && page.nextPageToken === pageToken) throw new GoogleApiError("invalid_response", 200, "pageTokenRepeated");
    pageToken = last ? undefined : page.nextPageToken;
  } while (pageToken !== undefined);
}

/** Each item on its own: one that does not read as an event is set aside with why, the rest map. */
function mapPage(items: unknown[], timeZone: string | undefined): Pick<GoogleEventsPage, "events" | "setAside"> {
  const events: ExternalEvent[] = [];
  const setAside: GoogleEventsPage["setAside"] = [];
  for (const item of items) {
    const id = (item as { id?: unknown } | null)?.id;
    const parsed = GoogleEventSchema.safeParse(item);
    if (!parsed.success) {
      setAside.push({ externalId: typeof id === "string" ? id : "", reason: "event_unreadable" });
      continue;
    }
    try {
      events.push(mapGoogleEvent(parsed.data, timeZone));
    } catch (err) {
      if (!(err instanceof RangeError)) throw err;
      setAside.push({ externalId: parsed.data.id, reason: "event_times_invalid" });
    }
  }
  return { events, setAside };
}

/**
 * Events resource -> ExternalEvent (throws RangeError on an unreadable date). `calendarTimeZone` is the
 * list's `timeZone`, used for all-day dates without their own zone.
 */
export function mapGoogleEvent(e: GoogleEvent, calendarTimeZone?: string): ExternalEvent {
  const status = googleStatus(e.status);
  const out: ExternalEvent = {
    externalId: e.id,
    status,
    sequence: e.sequence ?? 0,
    // A cancelled item is no busy time; otherwise Events resource: "transparent" = does not block time.
    busy: status !== "cancelled" && e.transparency !== "transparent",
    texts: [],
  };
  if (e.iCalUID) out.uid = e.iCalUID;
  if (e.etag) out.etag = e.etag;
  // Events resource: originalStartTime identifies the instance in its series even if it was moved.
  if (e.recurringEventId && e.originalStartTime) {
    out.recurrenceId = eventTimeToUtc(e.originalStartTime, calendarTimeZone);
  }
  if (e.start && e.end) {
    out.start = eventTimeToUtc(e.start, calendarTimeZone);
    out.end = eventTimeToUtc(e.end, calendarTimeZone);
    out.allDay = e.start.date !== undefined && e.start.dateTime === undefined;
  }
  if (e.updated) out.updatedAt = toUtcIso(e.updated);
  const sessionId = e.extendedProperties?.private?.telehealthSessionId ?? e.extendedProperties?.shared?.telehealthSessionId;
  if (sessionId) out.sessionId = sessionId;
  const texts = [e.location, e.description, e.hangoutLink, ...(e.conferenceData?.entryPoints ?? []).map((p) => p.uri)];
  out.texts = texts.filter((t): t is string => typeof t === "string" && t.trim() !== "").map(capText);
  return out;
}

function googleStatus(s: string | undefined): ExternalEventStatus {
  if (s === "cancelled" || s === "tentative") return s;
  return "confirmed"; // Events resource: status defaults to confirmed
}

/** `{dateTime}` carries an offset (RFC 3339); `{date}` is all-day, midnight in the event's or calendar's zone. */
function eventTimeToUtc(t: z.infer<typeof EventDateTime>, calendarTimeZone?: string): string {
  const zone = t.timeZone ?? calendarTimeZone ?? "UTC";
  if (t.dateTime !== undefined) {
    return HAS_OFFSET.test(t.dateTime) ? toUtcIso(t.dateTime) : zonedWallTimeToUtc(t.dateTime, zone);
  }
  if (t.date !== undefined && /^\d{4}-\d{2}-\d{2}$/.test(t.date)) return zonedWallTimeToUtc(`${t.date}T00:00:00`, zone);
  throw new RangeError("badEventDateTime");
}

// --- events.watch / channels.stop -------------------------------------------------------------------------

export type GoogleWatchOptions = { channelId: string; address: string; token?: string; ttlSeconds?: number };
export type GoogleChannel = { resourceId: string; resourceUri?: string; expiration?: string };

/** POST .../events/watch (push guide). `expiration` is returned as a UTC ISO instant. */
export async function watchGoogleEvents(cfg: GoogleConfig, fetchFn: typeof fetch, opts: GoogleWatchOptions): Promise<GoogleChannel> {
  const url = new URL(`${trimBase(cfg.baseUrl)}/calendars/${encodeURIComponent(cfg.calendarId)}/events/watch`);
  const body: Record<string, unknown> = { id: opts.channelId, type: "web_hook", address: opts.address };
  if (opts.token !== undefined) body.token = opts.token;
  // Channel request body: params.ttl is the time-to-live in seconds, as a string.
  if (opts.ttlSeconds !== undefined) body.params = { ttl: String(Math.floor(opts.ttlSeconds)) };
  const ch = await googleRequest(cfg, fetchFn, "POST", url, body, ChannelSchema);
  const out: GoogleChannel = { resourceId: ch.resourceId };
  if (ch.resourceUri) out.resourceUri = ch.resourceUri;
  if (ch.expiration !== undefined) out.expiration = new Date(Number(ch.expiration)).toISOString();
  return out;
}

/**
 * POST {base}/channels/stop. `stopped: false` when Google no longer knows the channel (404): stopping is
 * idempotent for us, and a stale channel must not block cleanup.
 */
export async function stopGoogleChannel(
  cfg: GoogleConfig,
  fetchFn: typeof fetch,
  opts: { channelId: string; resourceId: string },
): Promise<{ stopped: boolean }> {
  const url = new URL(`${trimBase(cfg.baseUrl)}/channels/stop`);
  try {
    await googleRequest(cfg, fetchFn, "POST", url, { id: opts.channelId, resourceId: opts.resourceId }, null);
    return { stopped: true };
  } catch (err) {
    if (err instanceof GoogleApiError && err.kind === "not_found") return { stopped: false };
    throw err;
  }
}

// --- HTTP -------------------------------------------------------------------------------------------------

function googleRequest<S extends z.ZodType>(
  cfg: GoogleConfig,
  fetchFn: typeof fetch,
  method: "GET" | "POST",
  url: URL,
  body: unknown,
  schema: S | null,
): Promise<z.output<S>> {
  return sendJson({
    fetchFn,
    url,
    method,
    headers: new Headers({ authorization: `Bearer ${cfg.accessToken}`, accept: "application/json" }),
    body,
    timeoutMs: cfg.timeoutMs,
    schema,
    fail: (kind, status, reason, retryAfter, cause) => new GoogleApiError(kind, status, reason, retryAfter, { cause }),
    classify: classifyGoogleError,
  });
}

/** A Google error answer as a kind and the first `reason` of its body (errors guide). */
export function classifyGoogleError(status: number, errorBody: unknown): { kind: ApiErrorKind; reason?: string } {
  const parsed = GoogleErrorSchema.safeParse(errorBody);
  const reason = parsed.success ? parsed.data.error.errors?.[0]?.reason : undefined;
  return { kind: classifyGoogle(status, reason), reason };
}

function classifyGoogle(status: number, reason: string | undefined): ApiErrorKind {
  if (status === 410) return "full_sync_required"; // sync guide: "410 Gone" -> wipe and full sync
  if (status === 429) return "rate_limited";
  if (status === 403 && reason !== undefined && RATE_LIMIT_REASONS.has(reason)) return "rate_limited";
  if (status === 401 || status === 403) return "auth";
  if (status === 404) return "not_found";
  if (status === 408 || status >= 500) return "transient";
  return "bad_request";
}

const HAS_OFFSET = /(Z|[+-]\d{2}:?\d{2})$/i;

function capText(t: string): string {
  return t.length > MAX_TEXT_CHARS ? t.slice(0, MAX_TEXT_CHARS) : t;
}
