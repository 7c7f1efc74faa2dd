import { createRoute, z } from "@hono/zod-openapi";
import { LINK_WRAPPERS } from "../domain/telehealth-link.js";
import { bearerSecurity, createRouter, IdParam, jsonBody, jsonResponse, problems } from "../http/openapi.js";
import {
  AddTelehealthLinkSchema,
  addTelehealthLink,
  deleteTelehealthLink,
  deleteTelehealthLinkById,
  getTelehealthLink,
  listTelehealthLinks,
  PutTelehealthLinkSchema,
  putTelehealthLink,
} from "../services/telehealth-links.js";

const LinkSchema = z
  .object({
    id: z.uuid(),
    url: z.string(),
    platform: z.string(),
    instructions: z.string().nullable(),
    baaSigned: z.boolean(),
    waitingRoomEnabled: z.boolean(),
    compliant: z.boolean(),
    isDefault: z.boolean(),
    warnings: z.array(z.string()),
    waitingRoomHelp: z.string().optional(),
    updatedAt: z.string(),
  })
  .openapi("TelehealthLink");

const SavedLinkSchema = LinkSchema.extend({
  unwrappedFrom: z.enum(LINK_WRAPPERS).optional().describe("The email program's wrapper taken off the link before it was checked"),
  upcomingSessionsUpdated: z.number().int().describe("Upcoming sessions that now use this link (their SEQUENCE rose)"),
}).openapi("SavedTelehealthLink");

const params = z.object({ id: IdParam });
const path = "/providers/{id}/telehealth-link";
const tags = ["telehealth link"];

const put = createRoute({
  method: "put",
  path,
  tags,
  summary: "Set the provider's default telehealth link; 422 with a code when the link is refused",
  description:
    "Saves the link of its platform (with that platform's BAA and waiting-room attestation) and makes it the default. Upcoming, " +
    "unconfirmed sessions that follow the default move to it (their SEQUENCE rises); past, cancelled and confirmed sessions keep theirs. " +
    "A link wrapped by Outlook Safe Links or google.com/url is unwrapped, then checked, and `unwrappedFrom` says so.",
  security: bearerSecurity,
  request: { params, body: jsonBody(PutTelehealthLinkSchema) },
  responses: { 200: jsonResponse(SavedLinkSchema, "The link's verdict"), ...problems(400, 409, 413, 415, 422) },
});
const get = createRoute({
  method: "get",
  path,
  tags,
  summary: "Read the default telehealth link",
  security: bearerSecurity,
  request: { params },
  responses: { 200: jsonResponse(LinkSchema, "The link"), ...problems(422) },
});
const del = createRoute({
  method: "delete",
  path,
  tags,
  summary: "Remove the default link (409 while upcoming virtual sessions use it)",
  security: bearerSecurity,
  request: { params },
  responses: { 204: { description: "Removed" }, ...problems(409, 422) },
});
const list = createRoute({
  method: "get",
  path: "/providers/{id}/telehealth-links",
  tags,
  summary: "The provider's attested platforms: one link per platform, one of them the default",
  security: bearerSecurity,
  request: { params },
  responses: { 200: jsonResponse(z.object({ items: z.array(LinkSchema) }), "The links"), ...problems(422) },
});
const add = createRoute({
  method: "post",
  path: "/providers/{id}/telehealth-links",
  tags,
  summary: "Add or replace one platform's link, with its own BAA and waiting-room attestation",
  description:
    "A session may use any compliant attested link (its own `telehealthUrl`). `isDefault: true` makes it the default; the first link always is.",
  security: bearerSecurity,
  request: { params, body: jsonBody(AddTelehealthLinkSchema) },
  responses: { 200: jsonResponse(SavedLinkSchema, "The link's verdict"), ...problems(400, 409, 413, 415, 422) },
});
const delOne = createRoute({
  method: "delete",
  path: "/providers/{id}/telehealth-links/{linkId}",
  tags,
  summary: "Remove one platform's link (409 while upcoming sessions use it)",
  security: bearerSecurity,
  request: { params: z.object({ id: IdParam, linkId: IdParam }) },
  responses: { 204: { description: "Removed" }, ...problems(409, 422) },
});

export function telehealthLinkRoutes() {
  return createRouter()
    .openapi(put, async (c) => c.json(await putTelehealthLink(c.var.services, c.var.provider, c.req.valid("json")), 200))
    .openapi(get, async (c) => c.json(await getTelehealthLink(c.var.services, c.var.provider), 200))
    .openapi(del, async (c) => {
      await deleteTelehealthLink(c.var.services, c.var.provider);
      return c.body(null, 204);
    })
    .openapi(list, async (c) => c.json(await listTelehealthLinks(c.var.services, c.var.provider), 200))
    .openapi(add, async (c) => c.json(await addTelehealthLink(c.var.services, c.var.provider, c.req.valid("json")), 200))
    .openapi(delOne, async (c) => {
      await deleteTelehealthLinkById(c.var.services, c.var.provider, c.req.valid("param").linkId);
      return c.body(null, 204);
    });
}
