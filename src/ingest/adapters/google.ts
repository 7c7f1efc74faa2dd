// Google Calendar as an OAuth-connected source: consent (Google's web-server OAuth guide:
// access_type=offline for a refresh token, prompt=consent so a reconnect gets a new one) and the
// account's calendars (calendarList.list, paged, https://developers.google.com/calendar/api/v3/reference/calendarList/list).
import { z } from "zod";
import type { Config } from "../../config.js";
import { type ConnectionAdapter, GrantError, type RemoteCalendar } from "../../services/connection-adapters.js";
import { GoogleApiError } from "../google-client.js";
import { sendJson, trimBase } from "../http.js";
import { GOOGLE_WRITE_SCOPE } from "../mirror-google.js";
import { createOAuthClient } from "./oauth.js";

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
