// Write-back into Outlook (Microsoft Graph v1.0): a calendar of our own (POST/GET/DELETE
// /me/calendars), and its events (POST /me/calendars/{id}/events, PATCH and DELETE guarded by
// If-Match). Sources (microsoftgraph/microsoft-graph-docs-contrib, api-reference/v1.0): api/user-post-calendars.md,
// api/calendar-get.md, api/calendar-delete.md, api/calendar-post-events.md, api/calendar-list-events.md,
// api/event-update.md, api/event-delete.md, api/singlevaluelegacyextendedproperty-get.md, resources/event.md,
// resources/extended-properties-overview.md.
//
// Idempotence: Graph assigns event ids, so a lost answer cannot be retried with the same id as on
// Google. Each event carries the session id in a single-value extended property; when we do not know
// the event's id we look it up by that property ($filter) before creating. The create itself sends
// the session id as `transactionId` (resources/event.md: "A custom identifier specified by a client
// app for the server to avoid redundant POST operations in case of client retries"), so a retried
// POST answers the event made the first time; its content is then brought up to date.
// Graph's iCalUId is read-only, so the session's UID travels in a second extended property.
import { z } from "zod";
import {
  MirrorApiError,
  type MirrorEventContent,
  type MirrorPlatform,
  type RemoteEventRef,
  type RemoteMirrorEvent,
  SESSION_ID_PROPERTY,
  SESSION_UID_PROPERTY,
} from "../services/mirror-platforms.js";
import { mirrorCaller, toUtcIso, trimBase } from "./http.js";
import { classifyGraphError } from "./microsoft-client.js";

/** Graph permission to create calendars and write their events (permissions reference). */
export const MICROSOFT_WRITE_SCOPE = "Calendars.ReadWrite";
// extended-properties-overview.md: a custom property is named "{type} {guid} Name {name}"; the GUID is
// our property set's, fixed forever (changing it would orphan every event written before).
const PROPERTY_SET = "{5b0f3c8e-2d4a-4f61-9a7e-8c1d2e3f4a5b}";
export const GRAPH_SESSION_ID_PROPERTY = `String ${PROPERTY_SET} Name ${SESSION_ID_PROPERTY}`;
export const GRAPH_SESSION_UID_PROPERTY = `String ${PROPERTY_SET} Name ${SESSION_UID_PROPERTY}`;
const PAGE_SIZE = 100;
const MAX_LIST_PAGES = 50;

const CalendarSchema = z.looseObject({ id: z.string().min(1).max(2048) });
const CalendarsSchema = z.looseObject({ value: z.array(CalendarSchema).max(1000) });
const TimeSchema = z.looseObject({ dateTime: z.string().max(64), timeZone: z.string().max(128).optional() });
const EventSchema = z.looseObject({
  id: z.string().min(1).max(2048),
  "@odata.etag": z.string().max(512).optional(),
  subject: z.string().nullish(),
  start: TimeSchema.nullish(),
  end: TimeSchema.nullish(),
  isCancelled: z.boolean().nullish(),
  singleValueExtendedProperties: z
    .array(z.looseObject({ id: z.string(), value: z.string().nullish() }))
    .max(100)
    .nullish(),
});
type GraphEvent = z.output<typeof EventSchema>;
const EventsPageSchema = z.looseObject({ "@odata.nextLink": z.string().optional(), value: z.array(EventSchema).max(1000) });

/** OData string literal: single quotes doubled (OData ABNF, SQUOTE-in-string). */
const literal = (s: string) => `'${s.replace(/'/g, "''")}'`;
/** dateTimeTimeZone.dateTime is zone-less; we send UTC instants and say so in timeZone. */
const graphDateTime = (d: Date) => d.toISOString().replace(/Z$/, "");

export function createMicrosoftMirrorPlatform(baseUrl: string, fetchFn: typeof fetch): MirrorPlatform {
  const base = trimBase(baseUrl);
  const origin = new URL(base).origin;
  const cal = (calendarId: string) => `${base}/me/calendars/${encodeURIComponent(calendarId)}`;
  const eventUrl = (calendarId: string, eventId: string) => `${cal(calendarId)}/events/${encodeURIComponent(eventId)}`;

  // event-update.md / event-get.md: times come back in UTC when asked for (and by default).
  const call = mirrorCaller(
    fetchFn,
    classifyGraphError,
    (method): Record<string, string> => (method === "GET" ? { prefer: 'outlook.timezone="UTC"' } : {}),
  );

  const isStatus = (err: unknown, ...statuses: number[]) => err instanceof MirrorApiError && statuses.includes(err.status);
  const refOf = (ev: GraphEvent): RemoteEventRef => ({ remoteEventId: ev.id, etag: ev["@odata.etag"] ?? null });

  // Every field we own is sent on each write, so an update also clears what the session no longer shows.
  const eventBody = (c: MirrorEventContent) => ({
    subject: c.summary,
    body: { contentType: "text", content: c.description ?? "" },
    location: { displayName: c.location ?? "" },
    start: { dateTime: graphDateTime(c.start), timeZone: "UTC" },
    end: { dateTime: graphDateTime(c.end), timeZone: "UTC" },
    showAs: "busy",
    // No attendees: the client is never invited or named through the platform.
    singleValueExtendedProperties: [
      { id: GRAPH_SESSION_ID_PROPERTY, value: c.sessionId },
      { id: GRAPH_SESSION_UID_PROPERTY, value: c.uid },
    ],
  });

  const sameInstant = (t: z.output<typeof TimeSchema> | null | undefined, d: Date) => {
    if (!t) return false;
    try {
      const utc = !t.timeZone || /^(UTC|Coordinated Universal Time)$/i.test(t.timeZone);
      return utc && toUtcIso(/(Z|[+-]\d{2}:\d{2})$/.test(t.dateTime) ? t.dateTime : `${t.dateTime}Z`) === d.toISOString();
    } catch {
      return false;
    }
  };
  const matches = (ev: GraphEvent, c: MirrorEventContent) => ev.subject === c.summary && sameInstant(ev.start, c.start) && sameInstant(ev.end, c.end);

  /** PATCH guarded by If-Match; null when the event is gone (the owner deleted it). */
  async function update(token: string, calendarId: string, eventId: string, content: MirrorEventContent, etag: string | null) {
    const url = eventUrl(calendarId, eventId);
    try {
      return await call(token, "PATCH", url, eventBody(content), EventSchema, etag);
    } catch (err) {
      if (isStatus(err, 404)) return null;
      // 412: the owner changed it since our write. The session is the truth for what we mirror (a
      // move of an unconfirmed session was applied by ingestion before this write was armed).
      if (!isStatus(err, 412)) throw err;
      const current = await call(token, "GET", url, undefined, EventSchema).catch((e: unknown) => {
        if (isStatus(e, 404)) return null;
        throw e;
      });
      if (!current) return null;
      return call(token, "PATCH", url, eventBody(content), EventSchema, current["@odata.etag"] ?? null);
    }
  }

  /** The session's events in our calendar, by the extended property (normally none or one). */
  async function findBySession(token: string, calendarId: string, sessionId: string): Promise<GraphEvent[]> {
    const url = new URL(`${cal(calendarId)}/events`);
    url.searchParams.set(
      "$filter",
      `singleValueExtendedProperties/Any(ep: ep/id eq ${literal(GRAPH_SESSION_ID_PROPERTY)} and ep/value eq ${literal(sessionId)})`,
    );
    url.searchParams.set("$select", "id,subject,start,end");
    url.searchParams.set("$top", "10");
    return (await call(token, "GET", url, undefined, EventsPageSchema)).value;
  }

  async function deleteEvent(token: string, calendarId: string, eventId: string, etag: string | null) {
    const url = eventUrl(calendarId, eventId);
    try {
      await call(token, "DELETE", url, undefined, null, etag);
    } catch (err) {
      if (isStatus(err, 404)) return; // already gone
      if (!isStatus(err, 412)) throw err;
      await call(token, "DELETE", url, undefined, null);
    }
  }

  return {
    kind: "microsoft",
    writeScope: MICROSOFT_WRITE_SCOPE,
    // The token response may name Graph scopes in full and in other case: the v2.0 auth-code flow's
    // sample answers "scope": "https://graph.microsoft.com/mail.read" (entra-docs v2-oauth2-auth-code-flow.md).
    grantsWrite: (scope) =>
      (scope ?? "")
        .split(" ")
        .some((s) => s.replace(/^https:\/\/graph\.microsoft\.com\//i, "").toLowerCase() === MICROSOFT_WRITE_SCOPE.toLowerCase()),
    async createCalendar(token, input) {
      // Graph calendars have no time zone of their own: each event names its zone.
      try {
        return { id: (await call(token, "POST", `${base}/me/calendars`, { name: input.name }, CalendarSchema)).id };
      } catch (err) {
        // 409 ErrorFolderExists: ours from before (a create whose answer was lost, or a removal the
        // grant no longer allowed). Take it over rather than fail forever.
        if (!isStatus(err, 409)) throw err;
        const url = new URL(`${base}/me/calendars`);
        url.searchParams.set("$filter", `name eq ${literal(input.name)}`);
        const found = (await call(token, "GET", url, undefined, CalendarsSchema)).value[0];
        if (!found) throw err;
        return { id: found.id };
      }
    },
    async deleteCalendar(token, calendarId) {
      try {
        await call(token, "DELETE", cal(calendarId), undefined, null);
      } catch (err) {
        if (!isStatus(err, 404)) throw err;
      }
    },
    async calendarExists(token, calendarId) {
      try {
        await call(token, "GET", cal(calendarId), undefined, CalendarSchema);
        return true;
      } catch (err) {
        if (isStatus(err, 404)) return false;
        throw err;
      }
    },
    async upsertEvent(token, calendarId, content, known): Promise<RemoteEventRef> {
      if (known) {
        const ev = await update(token, calendarId, known.remoteEventId, content, known.etag);
        if (ev) return refOf(ev);
      }
      // Not known (a lost answer, a repair) or gone: find it by our property, else create it.
      const [found, ...extra] = await findBySession(token, calendarId, content.sessionId);
      for (const dup of extra) await deleteEvent(token, calendarId, dup.id, null);
      if (found) {
        const ev = await update(token, calendarId, found.id, content, found["@odata.etag"] ?? null);
        if (ev) return refOf(ev);
      }
      const created = await call(
        token,
        "POST",
        `${cal(calendarId)}/events`,
        { ...eventBody(content), transactionId: content.sessionId },
        EventSchema,
      );
      if (matches(created, content)) return refOf(created);
      // A retried POST answered the event of the first attempt, with that attempt's content.
      const ev = await update(token, calendarId, created.id, content, created["@odata.etag"] ?? null);
      if (!ev) throw new MirrorApiError("transient", 404, "ErrorItemNotFound");
      return refOf(ev);
    },
    async removeEvent(token, calendarId, sessionId, known) {
      if (known) return deleteEvent(token, calendarId, known.remoteEventId, known.etag);
      for (const ev of await findBySession(token, calendarId, sessionId)) await deleteEvent(token, calendarId, ev.id, null);
    },
    async listEvents(token, calendarId) {
      const out: RemoteMirrorEvent[] = [];
      let url: URL | undefined = new URL(`${cal(calendarId)}/events`);
      url.searchParams.set("$select", "id,isCancelled");
      url.searchParams.set("$expand", `singleValueExtendedProperties($filter=id eq ${literal(GRAPH_SESSION_ID_PROPERTY)})`);
      url.searchParams.set("$top", String(PAGE_SIZE));
      for (let page = 0; page < MAX_LIST_PAGES && url; page++) {
        const body: z.output<typeof EventsPageSchema> = await call(token, "GET", url, undefined, EventsPageSchema);
        for (const e of body.value) {
          out.push({
            remoteEventId: e.id,
            etag: e["@odata.etag"] ?? null,
            sessionId: e.singleValueExtendedProperties?.find((p) => p.id.toLowerCase() === GRAPH_SESSION_ID_PROPERTY.toLowerCase())?.value ?? null,
            cancelled: e.isCancelled === true,
          });
        }
        const next: string | undefined = body["@odata.nextLink"];
        // A paging link off the configured host would carry the bearer token elsewhere.
        if (next && new URL(next).origin !== origin) throw new MirrorApiError("invalid_response", 200, "linkOffOrigin");
        url = next ? new URL(next) : undefined;
      }
      return out;
    },
  };
}
