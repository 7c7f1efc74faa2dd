import { createRoute, z } from "@hono/zod-openapi";
import { SOURCE_KINDS, SOURCE_STATUSES } from "../domain/value-lists.js";
import { bearerSecurity, createRouter, IdParam, jsonBody, jsonResponse, problems } from "../http/openapi.js";
import { disconnectCalendarSource } from "../services/calendar-connections.js";
import { CreateSourceSchema, createCalendarSource, listCalendarSources } from "../services/calendar-sources.js";
import { listReconciliationItems } from "../services/reconciliation.js";
import { DecisionSchema } from "./sessions.js";

const SourceSchema = z
  .object({
    id: z.uuid(),
    providerId: z.uuid(),
    kind: z.enum(SOURCE_KINDS),
    name: z.string().nullable(),
    url: z.string().optional(),
    connectionId: z.uuid().optional(),
    status: z.enum(SOURCE_STATUSES),
    lastSuccessAt: z.string().nullable(),
    lastErrorCode: z.string().nullable(),
    lastErrorAt: z.string().nullable(),
    createdAt: z.string(),
  })
  .openapi("CalendarSource");

const ItemSchema = z
  .object({
    kind: z.string(),
    sessionId: z.string().optional(),
    start: z.string().optional(),
    end: z.string().optional(),
    title: z.string(),
    action: z.string(),
    detail: z.string().optional(),
    decision: DecisionSchema.optional(),
  })
  .openapi("ReconciliationItem");

const tags = ["ingestion"];
const params = z.object({ id: IdParam });

const create = createRoute({
  method: "post",
  path: "/providers/{id}/calendar-sources",
  tags,
  security: bearerSecurity,
  summary:
    "Add an ICS source (an ics_webhook's signing secret appears only in this answer); google/microsoft with a pasted access token are operator-only, for adapter tests: providers use calendar-connections",
  request: { params, body: jsonBody(CreateSourceSchema) },
  responses: {
    201: jsonResponse(SourceSchema.extend({ webhookUrl: z.string().optional(), signingSecret: z.string().optional() }), "Created"),
    ...problems(400, 409, 413, 415, 422, 502),
  },
});
const list = createRoute({
  method: "get",
  path: "/providers/{id}/calendar-sources",
  tags,
  security: bearerSecurity,
  summary: "List connected calendars",
  request: { params },
  responses: { 200: jsonResponse(z.object({ items: z.array(SourceSchema) }), "Sources"), ...problems(422) },
});
const del = createRoute({
  method: "delete",
  path: "/providers/{id}/calendar-sources/{sourceId}",
  tags,
  security: bearerSecurity,
  summary: "Disconnect a calendar",
  request: { params: z.object({ id: IdParam, sourceId: IdParam }) },
  responses: { 204: { description: "Deleted" }, ...problems(422) },
});
const reconciliation = createRoute({
  method: "get",
  path: "/providers/{id}/reconciliation",
  tags,
  security: bearerSecurity,
  summary: "Open items: sessions needing a client location or not confirmable, external changes, unlinked sessions, busy overlaps",
  request: { params },
  responses: { 200: jsonResponse(z.object({ items: z.array(ItemSchema) }), "Open items"), ...problems(422) },
});

export function calendarSourceRoutes() {
  return createRouter()
    .openapi(create, async (c) =>
      c.json(await createCalendarSource(c.var.services, c.var.provider, c.req.valid("json"), c.var.deps.runtime.channels), 201),
    )
    .openapi(list, async (c) => c.json(await listCalendarSources(c.var.services, c.var.provider), 200))
    .openapi(del, async (c) => {
      const { sourceId } = c.req.valid("param");
      await disconnectCalendarSource(c.var.services, c.var.deps.runtime.adapters, c.var.deps.runtime.channels, c.var.provider, sourceId);
      return c.body(null, 204);
    })
    .openapi(reconciliation, async (c) => c.json(await listReconciliationItems(c.var.services, c.var.provider), 200));
}
