import { createRoute, z } from "@hono/zod-openapi";
import { CONNECTION_KINDS, CONNECTION_STATUSES, SOURCE_STATUSES } from "../domain/value-lists.js";
import { bearerSecurity, createRouter, IdParam, jsonBody, jsonResponse, problems } from "../http/openapi.js";
import {
  addConnectionCalendars,
  BeginConnectionSchema,
  beginConnection,
  connectionKinds,
  listConnectionCalendars,
  listConnections,
  PickCalendarsSchema,
} from "../services/calendar-connections.js";

const tags = ["ingestion"];
const params = z.object({ id: IdParam });
const connParams = z.object({ id: IdParam, connectionId: IdParam });

const ConnectionSchema = z
  .object({
    id: z.uuid(),
    providerId: z.uuid(),
    kind: z.enum(CONNECTION_KINDS),
    status: z.enum(CONNECTION_STATUSES),
    lastErrorCode: z.string().nullable(),
    createdAt: z.string(),
  })
  .openapi("CalendarConnection");
const RemoteCalendarSchema = z.object({ id: z.string(), name: z.string(), primary: z.boolean(), connected: z.boolean() }).openapi("RemoteCalendar");
const SourceSchema = z
  .object({ id: z.uuid(), kind: z.string(), name: z.string().nullable(), connectionId: z.uuid().optional(), status: z.enum(SOURCE_STATUSES) })
  .passthrough();

const begin = createRoute({
  method: "post",
  path: "/providers/{id}/calendar-connections",
  tags,
  security: bearerSecurity,
  summary: "Start connecting a Google or Outlook calendar: open authorizationUrl in a browser signed in to this provider's settings",
  request: { params, body: jsonBody(BeginConnectionSchema) },
  responses: { 201: jsonResponse(z.object({ authorizationUrl: z.string(), expiresAt: z.string() }), "Started"), ...problems(400, 413, 415, 422) },
});
const list = createRoute({
  method: "get",
  path: "/providers/{id}/calendar-connections",
  tags,
  security: bearerSecurity,
  summary: "Connected accounts, and which platforms this server can connect",
  request: { params },
  responses: {
    200: jsonResponse(
      z.object({
        kinds: z.array(z.object({ kind: z.enum(CONNECTION_KINDS), label: z.string(), available: z.boolean(), canRevoke: z.boolean() })),
        items: z.array(ConnectionSchema),
      }),
      "Connections",
    ),
    ...problems(422),
  },
});
const calendars = createRoute({
  method: "get",
  path: "/providers/{id}/calendar-connections/{connectionId}/calendars",
  tags,
  security: bearerSecurity,
  summary: "The connected account's calendars",
  request: { params: connParams },
  responses: {
    200: jsonResponse(z.object({ connection: ConnectionSchema, items: z.array(RemoteCalendarSchema) }), "Calendars"),
    ...problems(422, 502),
  },
});
const pick = createRoute({
  method: "post",
  path: "/providers/{id}/calendar-connections/{connectionId}/calendars",
  tags,
  security: bearerSecurity,
  summary: "Sync the picked calendars: each becomes a calendar source with its push channel",
  request: { params: connParams, body: jsonBody(PickCalendarsSchema) },
  responses: { 201: jsonResponse(z.object({ items: z.array(SourceSchema) }), "Sources created"), ...problems(400, 413, 415, 422, 502) },
});

export function calendarConnectionRoutes() {
  return createRouter()
    .openapi(begin, async (c) => c.json(await beginConnection(c.var.services, c.var.deps.runtime.adapters, c.var.provider, c.req.valid("json")), 201))
    .openapi(list, async (c) => {
      const { items } = await listConnections(c.var.services, c.var.provider);
      return c.json({ kinds: connectionKinds(c.var.deps.runtime.adapters), items }, 200);
    })
    .openapi(calendars, async (c) => {
      const { connectionId } = c.req.valid("param");
      return c.json(await listConnectionCalendars(c.var.services, c.var.deps.runtime.adapters, c.var.provider, connectionId), 200);
    })
    .openapi(pick, async (c) => {
      const { connectionId } = c.req.valid("param");
      const rt = c.var.deps.runtime;
      return c.json(await addConnectionCalendars(c.var.services, rt.adapters, rt.channels, c.var.provider, connectionId, c.req.valid("json")), 201);
    });
}
