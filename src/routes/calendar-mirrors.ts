import { createRoute, z } from "@hono/zod-openapi";
import type { Context } from "hono";
import { CONNECTION_KINDS, PRIVACY_LEVELS, SOURCE_STATUSES } from "../domain/value-lists.js";
import { bearerSecurity, createRouter, IdParam, jsonBody, jsonResponse, problems } from "../http/openapi.js";
import { disableMirror, EnableMirrorSchema, enableMirror, getMirror, type MirrorWorld } from "../services/calendar-mirrors.js";

const tags = ["ingestion"];
const params = z.object({ id: IdParam, connectionId: IdParam });
const path = "/providers/{id}/calendar-connections/{connectionId}/mirror";

const MirrorSchema = z
  .object({
    id: z.uuid(),
    connectionId: z.uuid(),
    kind: z.enum(CONNECTION_KINDS),
    enabled: z.boolean(),
    privacy: z.enum(PRIVACY_LEVELS),
    includeLink: z.boolean(),
    status: z.enum(SOURCE_STATUSES),
    lastPushAt: z.string().nullable(),
    lastErrorCode: z.string().nullable(),
    pending: z.number().int().describe("Session changes not yet in the calendar"),
    stuck: z.number().int().describe("Changes that failed repeatedly or were given up on"),
  })
  .openapi("CalendarMirror");

const enable = createRoute({
  method: "put",
  path,
  tags,
  security: bearerSecurity,
  summary: "Put my sessions in this calendar: creates a calendar of our own in the connected account and keeps it equal to your sessions",
  request: { params, body: jsonBody(EnableMirrorSchema) },
  responses: {
    200: jsonResponse(MirrorSchema, "Already on"),
    201: jsonResponse(MirrorSchema, "Turned on"),
    ...problems(400, 409, 413, 415, 422, 502),
  },
});
const get = createRoute({
  method: "get",
  path,
  tags,
  security: bearerSecurity,
  summary: "Whether sessions are written to this account, the last push, and anything stuck",
  request: { params },
  responses: { 200: jsonResponse(MirrorSchema, "Mirror"), ...problems(422) },
});
const remove = createRoute({
  method: "delete",
  path,
  tags,
  security: bearerSecurity,
  summary: "Stop writing sessions to this account and remove the calendar we created there",
  request: { params },
  responses: { 204: { description: "Turned off" }, ...problems(422) },
});

const worldOf = (c: Context): MirrorWorld => {
  const rt = c.var.deps.runtime;
  return { deps: c.var.services, adapters: rt.adapters, platforms: rt.mirrorPlatforms, channels: rt.channels };
};

export function calendarMirrorRoutes() {
  return createRouter()
    .openapi(enable, async (c) => {
      const { connectionId } = c.req.valid("param");
      const { created, mirror } = await enableMirror(worldOf(c), c.var.provider, connectionId, c.req.valid("json"));
      return created ? c.json(mirror, 201) : c.json(mirror, 200);
    })
    .openapi(get, async (c) => {
      const { connectionId } = c.req.valid("param");
      return c.json(await getMirror(c.var.services, c.var.provider, connectionId), 200);
    })
    .openapi(remove, async (c) => {
      const { connectionId } = c.req.valid("param");
      await disableMirror(worldOf(c), c.var.provider, connectionId);
      return c.body(null, 204);
    });
}
