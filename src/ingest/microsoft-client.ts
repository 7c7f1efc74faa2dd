// Microsoft Graph v1.0 client for ingestion: calendarView delta, subscriptions, and the schemas of the
// notification bodies Graph POSTs to us. Sources (microsoftgraph/microsoft-graph-docs-contrib):
// concepts/delta-query-events.md, concepts/delta-query-overview.md, api-reference/v1.0/api/event-delta.md,
// concepts/change-notifications-delivery-webhooks.md, concepts/change-notifications-lifecycle-events.md,
// api-reference/v1.0/resources/changenotification.md.
import { z } from "zod";
import type { ExternalEvent } from "../domain/external-event.js";
import type { ExternalEventStatus } from "../domain/value-lists.js";
import { type ApiErrorKind, sendJson, toUtcIso, trimBase, zonedWallTimeToUtc } from "./http.js";

export type GraphConfig = {
  /** e.g. https://graph.microsoft.com/v1.0 (a local fake in tests). */
  baseUrl: string;
  accessToken: string;
  /** Default "me" (delegated token); an id or UPN addresses /users/{id} (application token). */
  userId?: string;
  /** One calendar of the user (GET /me/calendars); default: the user's default calendar. */
  calendarId?: string;
  /** Per-request timeout; default 30 s. */
  timeoutMs?: number;
};

export type GraphErrorKind = ApiErrorKind;

/** Status 0 means no HTTP answer. `code` is Graph's error.code. The message never holds tokens or event data. */
export class GraphApiError extends Error {
  constructor(
    readonly kind: GraphErrorKind,
    readonly status: number,
    readonly code?: string,
    readonly retryAfterSeconds?: number,
    options?: { cause?: unknown },
  ) {
    super(`Microsoft Graph API: ${kind} (HTTP ${status}${code ? `, ${code}` : ""})`, options);
    this.name = "GraphApiError";
  }
}

export type GraphDeltaOptions = {
  /** A stored @odata.deltaLink; when set, start/end are ignored (the window is frozen into the token). */
  deltaLink?: string;
  startDateTime: string;
  endDateTime: string;
  maxPageSize?: number;
};
export type GraphDeltaPage = { events: ExternalEvent[]; deltaLink?: string };

const MAX_TEXT_CHARS = 64 * 1024;

// --- Wire schemas (event resource, delta page) ------------------------------------------------------------

const GraphDateTimeTimeZone = z.looseObject({ dateTime: z.string(), timeZone: z.string().optional() });

const GraphEventSchema = z.looseObject({
  id: z.string().min(1).max(2048),
  "@odata.etag": z.string().max(512).optional(),
  "@removed": z.looseObject({ reason: z.string().optional() }).optional(),
  iCalUId: z.string().nullish(),
  type: z.string().nullish(),
  seriesMasterId: z.string().nullish(),
  originalStart: z.string().nullish(),
  isCancelled: z.boolean().nullish(),
  isAllDay: z.boolean().nullish(),
  showAs: z.string().nullish(),
  lastModifiedDateTime: z.string().nullish(),
  start: GraphDateTimeTimeZone.nullish(),
  end: GraphDateTimeTimeZone.nullish(),
  location: z.looseObject({ displayName: z.string().nullish() }).nullish(),
  locations: z.array(z.looseObject({ displayName: z.string().nullish() })).nullish(),
  onlineMeeting: z.looseObject({ joinUrl: z.string().nullish() }).nullish(),
  onlineMeetingUrl: z.string().nullish(),
  body: z.looseObject({ contentType: z.string().nullish(), content: z.string().nullish() }).nullish(),
});
export type GraphEvent = z.infer<typeof GraphEventSchema>;

const DeltaPageSchema = z.looseObject({
  "@odata.nextLink": z.string().optional(),
  "@odata.deltaLink": z.string().optional(),
  value: z.array(GraphEventSchema).max(10_000),
});

const SubscriptionSchema = z.looseObject({ id: z.string().min(1), expirationDateTime: z.string() });

// Graph errors: {"error": {"code", "message", "innerError": {...}}}.
const GraphErrorSchema = z.looseObject({ error: z.looseObject({ code: z.string().optional() }) });

// delta-query-overview.md "Token duration": an expired token answers a 40X with codes such as
// syncStateNotFound; microsoft-graph-docs #2350 shows calendarView delta answering 410 "SyncStateNotFound";
// errors.md lists resyncRequired. Compared case-insensitively because both casings occur.
const RESYNC_CODES = new Set(["syncstatenotfound", "syncstateinvalid", "resyncrequired"]);

// --- calendarView delta -----------------------------------------------------------------------------------

/**
 * One delta round: follows @odata.nextLink until @odata.deltaLink, which only the last page carries.
 *
 * `@removed` items (any reason) are yielded as cancelled id-only stubs. event-delta.md: within a calendarView
 * round, `@removed` with reason `deleted` covers both events deleted in the window AND events outside the
 * window that were added, updated or deleted; delta-query-overview.md: `changed` means deleted but
 * restorable. So a stub means "gone from this view", not certainly "deleted": a caller that must tell the
 * two apart can ask getGraphEvent(id) (null = really deleted).
 */
export async function* pullGraphDelta(cfg: GraphConfig, fetchFn: typeof fetch, opts: GraphDeltaOptions): AsyncGenerator<GraphDeltaPage> {
  let url: URL;
  if (opts.deltaLink !== undefined) {
    url = sameOriginLink(cfg, opts.deltaLink);
  } else {
    url = new URL(`${userBase(cfg)}/calendarView/delta`);
    url.searchParams.set("startDateTime", opts.startDateTime);
    url.searchParams.set("endDateTime", opts.endDateTime);
  }
  const seen = new Set<string>();
  for (;;) {
    if (seen.has(url.href)) throw new GraphApiError("invalid_response", 200, "nextLinkRepeated");
    seen.add(url.href);
    const page = await graphRequest(cfg, fetchFn, "GET", url, undefined, DeltaPageSchema, opts.maxPageSize);
    const events = mapPage(page.value);
    const next = page["@odata.nextLink"];
    if (next === undefined) {
      const deltaLink = page["@odata.deltaLink"];
      if (deltaLink !== undefined) sameOriginLink(cfg, deltaLink); // refuse to store a link off our host
      yield deltaLink === undefined ? { events } : { events, deltaLink };
      return;
    }
    yield { events };
    url = sameOriginLink(cfg, next);
  }
}

/** GET /me/events/{id}: the event now, or null when Graph no longer has it (404). */
export async function getGraphEvent(cfg: GraphConfig, fetchFn: typeof fetch, id: string): Promise<ExternalEvent | null> {
  const url = new URL(`${userBase(cfg)}/events/${encodeURIComponent(id)}`);
  try {
    const event = await graphRequest(cfg, fetchFn, "GET", url, undefined, GraphEventSchema);
    return mapPage([event])[0] ?? null;
  } catch (err) {
    if (err instanceof GraphApiError && err.kind === "not_found") return null;
    throw err;
  }
}

function mapPage(items: GraphEvent[]): ExternalEvent[] {
  try {
    return items.map(mapGraphEvent);
  } catch (err) {
    if (err instanceof RangeError) throw new GraphApiError("invalid_response", 200, err.message);
    throw err;
  }
}

/** event resource -> ExternalEvent (throws RangeError on an unreadable date or unknown zone). */
export function mapGraphEvent(e: GraphEvent): ExternalEvent {
  if (e["@removed"]) return { externalId: e.id, status: "cancelled", sequence: 0, busy: false, texts: [] };
  const status: ExternalEventStatus = e.isCancelled ? "cancelled" : e.showAs === "tentative" ? "tentative" : "confirmed";
  const out: ExternalEvent = {
    externalId: e.id,
    status,
    sequence: 0, // Graph exposes no SEQUENCE; lastModifiedDateTime/changeKey are its staleness guards
    busy: status !== "cancelled" && e.showAs !== "free",
    texts: [],
  };
  if (e.iCalUId) out.uid = uidFromICalUId(e.iCalUId);
  // The event's version tag: write-back knows its own writes by it (If-Match takes the same value).
  if (e["@odata.etag"]) out.etag = e["@odata.etag"];
  // event resource: originalStart is the occurrence's slot in its series (the RECURRENCE-ID equivalent).
  if ((e.type === "occurrence" || e.type === "exception") && e.originalStart) out.recurrenceId = toUtcIso(e.originalStart);
  if (e.start && e.end) {
    out.start = graphTimeToUtc(e.start);
    out.end = graphTimeToUtc(e.end);
    out.allDay = e.isAllDay === true;
  }
  if (e.lastModifiedDateTime) out.updatedAt = toUtcIso(e.lastModifiedDateTime);
  const texts: (string | null | undefined)[] = [
    e.location?.displayName,
    ...(e.locations ?? []).map((l) => l.displayName),
    e.onlineMeeting?.joinUrl,
    e.onlineMeetingUrl,
  ];
  const content = e.body?.content;
  if (content) texts.push(...(e.body?.contentType?.toLowerCase() === "html" ? htmlTexts(content) : [content]));
  out.texts = [...new Set(texts.filter((t): t is string => typeof t === "string" && t.trim() !== ""))].map(capText);
  return out;
}

// [MS-OXOCAL] 2.2.1.27 PidLidGlobalObjectId: class id, 4 instance-date bytes, 16 bytes of time and
// reserved, a little-endian size, then the data; a foreign UID is kept as "vCal-Uid" 01 00 00 00 <UID> 00.
const VCAL_GOID = /^040000008200E00074C5B7101A82E008[0-9A-F]{40}([0-9A-F]{8})7643616C2D55696401000000((?:[0-9A-F]{2})*)$/i;

/**
 * Graph's iCalUId is the hex GlobalObjectId, so an event imported from another system's invitation (ours)
 * shows its RFC 5545 UID wrapped (stackoverflow.com/questions/36985390). Unwrapped, it matches the UID we
 * published; any other value is the event's own UID and is kept as is.
 */
export function uidFromICalUId(iCalUId: string): string {
  const m = VCAL_GOID.exec(iCalUId);
  if (!m) return iCalUId;
  const data = Buffer.from(m[2]!, "hex");
  if (Buffer.from(m[1]!, "hex").readUInt32LE(0) !== data.length + 12 || data.length < 2 || data.at(-1) !== 0) return iCalUId;
  try {
    return new TextDecoder("utf-8", { fatal: true }).decode(data.subarray(0, -1));
  } catch {
    return iCalUId;
  }
}

/**
 * {dateTime, timeZone}: a zone-less local time ("2016-12-09T20:30:00.0000000", 7 fractional digits) in
 * `timeZone`. We ask for UTC (Prefer: outlook.timezone="UTC"; event-delta.md: UTC also when absent); an IANA
 * zone is converted; a Windows zone name is refused (RangeError) rather than guessed.
 */
function graphTimeToUtc(t: z.infer<typeof GraphDateTimeTimeZone>): string {
  if (/(Z|[+-]\d{2}:\d{2})$/.test(t.dateTime)) return toUtcIso(t.dateTime);
  const wall = t.dateTime.replace(/(\.\d{3})\d+$/, "$1");
  const zone = !t.timeZone || /^(UTC|Coordinated Universal Time)$/i.test(t.timeZone) ? "UTC" : t.timeZone;
  return zonedWallTimeToUtc(wall, zone);
}

/**
 * An HTML body as texts: the href/src URLs first (a Teams body hides the join URL behind "Join the
 * meeting now"), then the visible text with tags stripped and common entities decoded.
 */
export function htmlTexts(html: string): string[] {
  const urls = [...html.matchAll(/\b(?:href|src)\s*=\s*(?:"([^"]*)"|'([^']*)')/gi)].map((m) => decodeEntities(m[1] ?? m[2] ?? ""));
  const text = decodeEntities(
    html
      .replace(/<(script|style)\b[\s\S]*?<\/\1\s*>/gi, " ")
      .replace(/<br\s*\/?>|<\/(p|div|li|tr)>/gi, "\n")
      .replace(/<[^>]*>/g, " "),
  )
    .replace(/[ \t\f\v\u00a0]+/g, " ")
    .replace(/\s*\n\s*/g, "\n")
    .trim();
  return [...urls.filter((u) => /^https?:/i.test(u)), text];
}

function decodeEntities(s: string): string {
  return s.replace(/&(#x[0-9a-f]+|#\d+|amp|lt|gt|quot|apos|nbsp);/gi, (_, ent: string) => {
    const e = ent.toLowerCase();
    if (e.startsWith("#x")) return safeCodePoint(parseInt(e.slice(2), 16));
    if (e.startsWith("#")) return safeCodePoint(parseInt(e.slice(1), 10));
    return ({ amp: "&", lt: "<", gt: ">", quot: '"', apos: "'", nbsp: " " } as Record<string, string>)[e] ?? "";
  });
}

function safeCodePoint(n: number): string {
  return Number.isInteger(n) && n > 0 && n <= 0x10ffff ? String.fromCodePoint(n) : "";
}

// --- Subscriptions ----------------------------------------------------------------------------------------

export type GraphSubscriptionOptions = {
  notificationUrl: string;
  lifecycleNotificationUrl?: string;
  /** Compared per notification item; max 255 characters (changenotification.md). */
  clientState: string;
  /** Outlook events: at most 4,230 minutes ahead (subscription lifetime table). */
  expirationDateTime: string;
  resource?: string;
};
export type GraphSubscription = { id: string; expirationDateTime: string };

/**
 * POST /subscriptions. Graph validates notificationUrl (and lifecycleNotificationUrl) by POSTing
 * ?validationToken=... before answering, so our webhook must already be reachable.
 */
export async function createGraphSubscription(cfg: GraphConfig, fetchFn: typeof fetch, opts: GraphSubscriptionOptions): Promise<GraphSubscription> {
  const body: Record<string, string> = {
    changeType: "created,updated,deleted",
    notificationUrl: opts.notificationUrl,
    resource: opts.resource ?? "me/events",
    expirationDateTime: opts.expirationDateTime,
    clientState: opts.clientState,
  };
  if (opts.lifecycleNotificationUrl !== undefined) body.lifecycleNotificationUrl = opts.lifecycleNotificationUrl;
  const sub = await graphRequest(cfg, fetchFn, "POST", new URL(`${trimBase(cfg.baseUrl)}/subscriptions`), body, SubscriptionSchema);
  return { id: sub.id, expirationDateTime: toUtcIsoOrRaw(sub.expirationDateTime) };
}

/** PATCH /subscriptions/{id}: renews and reauthorizes (lifecycle-events.md, reauthorizationRequired). */
export async function renewGraphSubscription(
  cfg: GraphConfig,
  fetchFn: typeof fetch,
  opts: { id: string; expirationDateTime: string },
): Promise<GraphSubscription> {
  const url = new URL(`${trimBase(cfg.baseUrl)}/subscriptions/${encodeURIComponent(opts.id)}`);
  const sub = await graphRequest(cfg, fetchFn, "PATCH", url, { expirationDateTime: opts.expirationDateTime }, SubscriptionSchema);
  return { id: sub.id, expirationDateTime: toUtcIsoOrRaw(sub.expirationDateTime) };
}

/** DELETE /subscriptions/{id}; `deleted: false` when Graph no longer has it. */
export async function deleteGraphSubscription(cfg: GraphConfig, fetchFn: typeof fetch, id: string): Promise<{ deleted: boolean }> {
  const url = new URL(`${trimBase(cfg.baseUrl)}/subscriptions/${encodeURIComponent(id)}`);
  try {
    await graphRequest(cfg, fetchFn, "DELETE", url, undefined, null);
    return { deleted: true };
  } catch (err) {
    if (err instanceof GraphApiError && err.kind === "not_found") return { deleted: false };
    throw err;
  }
}

// --- Inbound webhook bodies (third-party: loose objects, bounded) -----------------------------------------

const ResourceDataSchema = z.looseObject({
  "@odata.type": z.string().max(256).optional(),
  "@odata.id": z.string().max(2048).optional(),
  "@odata.etag": z.string().max(512).optional(),
  id: z.string().max(2048).optional(),
});

/**
 * One changeNotification (changenotification.md). Change notifications carry changeType + resource;
 * lifecycle notifications (lifecycle-events.md) carry lifecycleEvent and no resource. Unknown changeType or
 * lifecycleEvent values are kept as strings so a new Microsoft value does not reject the whole batch.
 */
export const GraphNotificationSchema = z
  .looseObject({
    id: z.string().max(2048).optional(),
    subscriptionId: z.string().min(1).max(128),
    subscriptionExpirationDateTime: z.string().max(64).optional(),
    clientState: z.string().max(255).nullish(),
    changeType: z.string().max(64).optional(),
    resource: z.string().max(2048).optional(),
    resourceData: ResourceDataSchema.nullish(),
    tenantId: z.string().max(128).nullish(),
    lifecycleEvent: z.string().max(64).optional(),
  })
  .refine((n) => n.lifecycleEvent !== undefined || (n.changeType !== undefined && n.resource !== undefined), {
    message: "a notification needs changeType and resource, or lifecycleEvent",
  });
export type GraphNotification = z.infer<typeof GraphNotificationSchema>;

/** changeNotificationCollection: one POST may batch items of several subscriptions. */
export const GraphNotificationBatchSchema = z.looseObject({
  value: z.array(GraphNotificationSchema).min(1).max(1000),
  validationTokens: z.array(z.string().max(16_384)).max(100).optional(), // rich notifications only
});
export type GraphNotificationBatch = z.infer<typeof GraphNotificationBatchSchema>;

// --- HTTP -------------------------------------------------------------------------------------------------

function graphRequest<S extends z.ZodType>(
  cfg: GraphConfig,
  fetchFn: typeof fetch,
  method: "GET" | "POST" | "PATCH" | "DELETE",
  url: URL,
  body: unknown,
  schema: S | null,
  maxPageSize?: number,
): Promise<z.output<S>> {
  const headers = new Headers({ authorization: `Bearer ${cfg.accessToken}`, accept: "application/json" });
  // event-delta.md request headers: Prefer odata.maxpagesize={x}; Prefer {time zone}, UTC assumed if absent.
  if (maxPageSize !== undefined) headers.append("prefer", `odata.maxpagesize=${Math.floor(maxPageSize)}`);
  if (method === "GET") headers.append("prefer", 'outlook.timezone="UTC"');
  return sendJson({
    fetchFn,
    url,
    method,
    headers,
    body,
    timeoutMs: cfg.timeoutMs,
    schema,
    fail: (kind, status, code, retryAfter, cause) => new GraphApiError(kind, status, code, retryAfter, { cause }),
    classify: classifyGraphError,
  });
}

/** A Graph error answer as a failure kind, with Graph's error.code as the reason. */
export function classifyGraphError(status: number, errorBody: unknown): { kind: GraphErrorKind; reason?: string } {
  const parsed = GraphErrorSchema.safeParse(errorBody);
  const code = parsed.success ? parsed.data.error.code : undefined;
  return { kind: classifyGraph(status, code), reason: code };
}

function classifyGraph(status: number, code: string | undefined): GraphErrorKind {
  // delta-query-overview.md "Synchronization reset": 410 means restart with a full synchronization.
  if (status === 410 || (code !== undefined && RESYNC_CODES.has(code.toLowerCase()))) return "full_sync_required";
  if (status === 429) return "rate_limited"; // throttling: honour Retry-After
  if (status === 401 || status === 403) return "auth";
  if (status === 404) return "not_found";
  if (status === 408 || status >= 500) return "transient";
  return "bad_request";
}

/** nextLink/deltaLink are absolute URLs from the response; never send our token to another origin. */
function sameOriginLink(cfg: GraphConfig, link: string): URL {
  let url: URL;
  try {
    url = new URL(link);
  } catch {
    throw new GraphApiError("invalid_response", 200, "badLink");
  }
  if (url.origin !== new URL(cfg.baseUrl).origin) throw new GraphApiError("invalid_response", 200, "linkOffOrigin");
  return url;
}

function userBase(cfg: GraphConfig): string {
  const user = cfg.userId === undefined || cfg.userId === "me" ? "me" : `users/${encodeURIComponent(cfg.userId)}`;
  // calendar-get.md / event-delta.md: /me/calendars/{id}/calendarView/delta and .../events/{id}.
  const calendar = cfg.calendarId === undefined ? "" : `/calendars/${encodeURIComponent(cfg.calendarId)}`;
  return `${trimBase(cfg.baseUrl)}/${user}${calendar}`;
}

function toUtcIsoOrRaw(s: string): string {
  try {
    return toUtcIso(s);
  } catch {
    return s;
  }
}

function capText(t: string): string {
  return t.length > MAX_TEXT_CHARS ? t.slice(0, MAX_TEXT_CHARS) : t;
}
