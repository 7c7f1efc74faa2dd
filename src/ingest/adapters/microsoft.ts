// Outlook (Microsoft Graph) as an OAuth-connected source: consent on the Microsoft identity platform
// v2.0 (offline_access for a refresh token; bare scope names mean Graph) and the account's calendars
// (GET /me/calendars, api-reference/v1.0/api/user-list-calendars.md). The platform has no RFC 7009
// revocation endpoint: disconnecting drops our tokens.
import { z } from "zod";
import type { Config } from "../../config.js";
import { type ConnectionAdapter, GrantError, type RemoteCalendar } from "../../services/connection-adapters.js";
import { sendJson, trimBase } from "../http.js";
import { GraphApiError } from "../microsoft-client.js";
import { MICROSOFT_WRITE_SCOPE } from "../mirror-microsoft.js";
import { createOAuthClient } from "./oauth.js";

export const MICROSOFT_SCOPES = ["offline_access", "Calendars.Read"];
const MAX_PAGES = 10;

const CalendarsSchema = z.looseObject({
  "@odata.nextLink": z.string().optional(),
  value: z
    .array(z.looseObject({ id: z.string().min(1).max(2048), name: z.string().max(1024).nullish(), isDefaultCalendar: z.boolean().nullish() }))
    .max(1000),
});

export function createMicrosoftAdapter(config: Config, fetchFn: typeof fetch): ConnectionAdapter {
  const cfg = config.oauth.microsoft;
  const client = cfg ? createOAuthClient(cfg, fetchFn) : null;
  const need = () => {
    if (!client) throw new GrantError("failed", "not_configured");
    return client;
  };
  const base = trimBase(config.microsoftGraphBaseUrl);
  return {
    kind: "microsoft",
    label: "Outlook calendar",
    available: client !== null,
    canRevoke: false,
    // Write-back needs Calendars.ReadWrite (Graph permissions reference), asked only on opt-in.
    authorizationUrl: ({ writeBack, ...input }) =>
      need().authorizationUrl({ ...input, scope: [...MICROSOFT_SCOPES, ...(writeBack ? [MICROSOFT_WRITE_SCOPE] : [])].join(" ") }),
    exchangeCode: (input) => need().exchangeCode(input),
    refresh: (rt) => need().refresh(rt),
    revoke: async () => undefined,
    async listCalendars(accessToken) {
      const out: RemoteCalendar[] = [];
      let url: URL | undefined = new URL(`${base}/me/calendars`);
      for (let page = 0; page < MAX_PAGES && url; page++) {
        const body: z.output<typeof CalendarsSchema> = await sendJson({
          fetchFn,
          url,
          method: "GET",
          headers: new Headers({ authorization: `Bearer ${accessToken}`, accept: "application/json" }),
          body: undefined,
          schema: CalendarsSchema,
          fail: (kind, status, reason) => new GraphApiError(kind, status, reason),
          classify: (status) => ({ kind: status === 401 || status === 403 ? "auth" : status >= 500 ? "transient" : "bad_request" }),
        });
        for (const c of body.value) out.push({ id: c.id, name: c.name ?? "Calendar", primary: c.isDefaultCalendar === true });
        const next: string | undefined = body["@odata.nextLink"];
        // A paging link off the configured host would carry the bearer token elsewhere.
        url = next && new URL(next).origin === new URL(base).origin ? new URL(next) : undefined;
      }
      return out;
    },
    sourceSettings: (cal) => ({ calendarId: cal.id, apiBaseUrl: config.microsoftGraphBaseUrl }),
  };
}
