// Write-back into Google Calendar (Calendar API v3): calendars.insert/get/delete for the secondary
// calendar we own, events.insert with a client-supplied id, events.update and events.delete guarded
// by If-Match. Sources: the Calendars and Events references (developers.google.com/calendar/api/v3/reference)
// and the errors guide (developers.google.com/calendar/api/guides/errors).
//
// Idempotence: the event id is derived from the session id (Events reference: ids use base32hex,
// "lowercase letters a-v and digits 0-9", 5-1024 characters; a UUID's hex digits are a subset). A
// retried insert after a lost answer gets 409 `duplicate` and becomes an update of that same event.
// The Events reference says `id` and `iCalUID` should not both be given at creation; we give the
// id, so the session's UID travels in the private extended properties beside its id.
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
import { classifyGoogleError } from "./google-client.js";
import { mirrorCaller, trimBase } from "./http.js";

/** Google's narrowest scope for calendars an app creates (and their events). */
export const GOOGLE_WRITE_SCOPE = "https://www.googleapis.com/auth/calendar.app.created";
const MAX_LIST_PAGES = 20;

const CalendarSchema = z.looseObject({ id: z.string().min(1).max(1024) });
const EventSchema = z.looseObject({
  id: z.string().min(1).max(1024),
  etag: z.string().max(256).optional(),
  status: z.string().optional(),
  extendedProperties: z.looseObject({ private: z.record(z.string(), z.string()).optional() }).optional(),
});
const EventsPageSchema = z.looseObject({ nextPageToken: z.string().optional(), items: z.array(EventSchema).max(2500).default([]) });

/** The event id Google stores for a session: its UUID's hex digits (all within base32hex). */
export const googleEventIdFor = (sessionId: string) => sessionId.replace(/-/g, "").toLowerCase();

export function createGoogleMirrorPlatform(baseUrl: string, fetchFn: typeof fetch): MirrorPlatform {
  const base = trimBase(baseUrl);
  const cal = (calendarId: string) => `${base}/calendars/${encodeURIComponent(calendarId)}`;

  const call = mirrorCaller(fetchFn, classifyGoogleError);

  const eventBody = (c: MirrorEventContent) => ({
    summary: c.summary,
    ...(c.description ? { description: c.description } : {}),
    ...(c.location ? { location: c.location } : {}),
    // Events reference: dateTime is RFC 3339 (an offset is required unless timeZone is given); we
    // send UTC and name the provider's zone, which Google uses for display and recurrence.
    start: { dateTime: c.start.toISOString(), timeZone: c.timeZone },
    end: { dateTime: c.end.toISOString(), timeZone: c.timeZone },
    status: "confirmed",
    transparency: "opaque",
    // No attendees: the client is never invited or named through the platform.
    extendedProperties: { private: { [SESSION_ID_PROPERTY]: c.sessionId, [SESSION_UID_PROPERTY]: c.uid } },
  });

  const isStatus = (err: unknown, ...statuses: number[]) => err instanceof MirrorApiError && statuses.includes(err.status);

  async function currentEtag(token: string, calendarId: string, eventId: string): Promise<string | null> {
    const ev = await call(token, "GET", `${cal(calendarId)}/events/${eventId}`, undefined, EventSchema);
    return ev.etag ?? null;
  }

  async function update(token: string, calendarId: string, eventId: string, content: MirrorEventContent, etag: string | null) {
    const url = `${cal(calendarId)}/events/${eventId}`;
    try {
      return await call(token, "PUT", url, eventBody(content), EventSchema, etag);
    } catch (err) {
      // 412 conditionNotMet: someone (the therapist) changed it since our write. The session is the
      // truth for what we mirror (moves of unconfirmed sessions were applied by ingestion first).
      if (!isStatus(err, 412)) throw err;
      return call(token, "PUT", url, eventBody(content), EventSchema, await currentEtag(token, calendarId, eventId));
    }
  }

  return {
    kind: "google",
    writeScope: GOOGLE_WRITE_SCOPE,
    grantsWrite: (scope) => (scope ?? "").split(" ").includes(GOOGLE_WRITE_SCOPE),
    async createCalendar(token, input) {
      const c = await call(token, "POST", `${base}/calendars`, { summary: input.name, timeZone: input.timeZone }, CalendarSchema);
      return { id: c.id };
    },
    async deleteCalendar(token, calendarId) {
      try {
        await call(token, "DELETE", cal(calendarId), undefined, null);
      } catch (err) {
        if (!isStatus(err, 404, 410)) throw err;
      }
    },
    async calendarExists(token, calendarId) {
      try {
        await call(token, "GET", cal(calendarId), undefined, CalendarSchema);
        return true;
      } catch (err) {
        if (isStatus(err, 404, 410)) return false;
        throw err;
      }
    },
    async upsertEvent(token, calendarId, content, known): Promise<RemoteEventRef> {
      const id = known?.remoteEventId ?? googleEventIdFor(content.sessionId);
      if (known) {
        const ev = await update(token, calendarId, id, content, known.etag);
        return { remoteEventId: ev.id, etag: ev.etag ?? null };
      }
      try {
        const ev = await call(token, "POST", `${cal(calendarId)}/events`, { id, ...eventBody(content) }, EventSchema);
        return { remoteEventId: ev.id, etag: ev.etag ?? null };
      } catch (err) {
        // 409 duplicate: written before (a lost answer, or deleted by the owner and kept as a
        // cancelled stub): update that event, which also restores a deleted one.
        if (!isStatus(err, 409)) throw err;
        const ev = await update(token, calendarId, id, content, await currentEtag(token, calendarId, id));
        return { remoteEventId: ev.id, etag: ev.etag ?? null };
      }
    },
    async removeEvent(token, calendarId, sessionId, known) {
      const url = `${cal(calendarId)}/events/${known?.remoteEventId ?? googleEventIdFor(sessionId)}`;
      try {
        await call(token, "DELETE", url, undefined, null, known?.etag ?? null);
      } catch (err) {
        if (isStatus(err, 404, 410)) return; // already gone
        if (!isStatus(err, 412)) throw err;
        await call(token, "DELETE", url, undefined, null);
      }
    },
    async listEvents(token, calendarId) {
      const out: RemoteMirrorEvent[] = [];
      let pageToken: string | undefined;
      for (let page = 0; page < MAX_LIST_PAGES; page++) {
        const url = new URL(`${cal(calendarId)}/events`);
        url.searchParams.set("showDeleted", "true");
        url.searchParams.set("maxResults", "2500");
        if (pageToken) url.searchParams.set("pageToken", pageToken);
        const body = await call(token, "GET", url.href, undefined, EventsPageSchema);
        for (const e of body.items) {
          out.push({
            remoteEventId: e.id,
            etag: e.etag ?? null,
            sessionId: e.extendedProperties?.private?.[SESSION_ID_PROPERTY] ?? null,
            cancelled: e.status === "cancelled",
          });
        }
        pageToken = body.nextPageToken || undefined;
        if (!pageToken) break;
      }
      return out;
    },
  };
}
