import { createRoute, z } from "@hono/zod-openapi";
import { bearerSecurity, createRouter, IdParam, jsonBody, jsonResponse, problems } from "../http/openapi.js";
import { deleteTelehealthLink, getTelehealthLink, PutTelehealthLinkSchema, putTelehealthLink } from "../services/telehealth-links.js";

const LinkSchema = z
  .object({
    url: z.string(),
    platform: z.string(),
    instructions: z.string().nullable(),
    baaSigned: z.boolean(),
    waitingRoomEnabled: z.boolean(),
    compliant: z.boolean(),
    warnings: z.array(z.string()),
    waitingRoomHelp: z.string().optional(),
    updatedAt: z.string(),
  })
  .openapi("TelehealthLink");

const params = z.object({ id: IdParam });
const path = "/providers/{id}/telehealth-link";

const put = createRoute({
  method: "put",
  path,
  tags: ["telehealth link"],
  summary: "Set the provider's default telehealth link; 422 with a code when the link is refused (SPEC 4.1)",
  security: bearerSecurity,
  request: { params, body: jsonBody(PutTelehealthLinkSchema) },
  responses: { 200: jsonResponse(LinkSchema, "The link's verdict"), ...problems(400, 409, 413, 415, 422) },
});
const get = createRoute({
  method: "get",
  path,
  tags: ["telehealth link"],
  summary: "Read the default telehealth link",
  security: bearerSecurity,
  request: { params },
  responses: { 200: jsonResponse(LinkSchema, "The link"), ...problems(422) },
});
const del = createRoute({
  method: "delete",
  path,
  tags: ["telehealth link"],
  summary: "Remove the default link (409 while upcoming virtual sessions use it)",
  security: bearerSecurity,
  request: { params },
  responses: { 204: { description: "Removed" }, ...problems(409, 422) },
});

export function telehealthLinkRoutes() {
  return createRouter()
    .openapi(put, async (c) => c.json(await putTelehealthLink(c.var.services, c.var.principal, c.req.valid("param").id, c.req.valid("json")), 200))
    .openapi(get, async (c) => c.json(await getTelehealthLink(c.var.services, c.var.principal, c.req.valid("param").id), 200))
    .openapi(del, async (c) => {
      await deleteTelehealthLink(c.var.services, c.var.principal, c.req.valid("param").id);
      return c.body(null, 204);
    });
}
