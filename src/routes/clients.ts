import { createRoute, z } from "@hono/zod-openapi";
import { INSURANCE_KINDS } from "../domain/value-lists.js";
import { bearerSecurity, createRouter, IdParam, jsonBody, jsonResponse, listOf, problems } from "../http/openapi.js";
import {
  addLocation,
  archiveLocation,
  CreateClientSchema,
  CreateLocationSchema,
  createClient,
  getClient,
  listClients,
  listLocations,
  UpdateClientSchema,
  updateClient,
} from "../services/clients.js";
import { PageQuerySchema } from "../services/pagination.js";

const ClientSchema = z
  .object({
    id: z.uuid(),
    providerId: z.uuid(),
    displayName: z.string(),
    insurance: z.enum(INSURANCE_KINDS),
    medicare: z.boolean(),
    createdAt: z.string(),
    updatedAt: z.string(),
  })
  .openapi("Client");

const LocationSchema = z
  .object({
    id: z.uuid(),
    clientId: z.uuid(),
    country: z.string(),
    state: z.string().nullable(),
    label: z.string().nullable(),
    from: z.string(),
    to: z.string().nullable(),
    createdAt: z.string(),
    archivedAt: z.string().nullable(),
  })
  .openapi("ClientLocation");

const providerParams = z.object({ id: IdParam });
const clientParams = z.object({ id: IdParam });
const tags = ["clients"];

const create = createRoute({
  method: "post",
  path: "/providers/{id}/clients",
  tags,
  summary: "Add a client",
  security: bearerSecurity,
  request: { params: providerParams, body: jsonBody(CreateClientSchema) },
  responses: { 201: jsonResponse(ClientSchema, "Created"), ...problems(400, 413, 415, 422) },
});
const list = createRoute({
  method: "get",
  path: "/providers/{id}/clients",
  tags,
  summary: "List clients",
  security: bearerSecurity,
  request: { params: providerParams, query: PageQuerySchema },
  responses: { 200: jsonResponse(listOf(ClientSchema), "A page of clients"), ...problems(422) },
});
const get = createRoute({
  method: "get",
  path: "/clients/{id}",
  tags,
  summary: "Read a client",
  security: bearerSecurity,
  request: { params: clientParams },
  responses: { 200: jsonResponse(ClientSchema, "The client"), ...problems(422) },
});
const patch = createRoute({
  method: "patch",
  path: "/clients/{id}",
  tags,
  summary: "Change a client",
  security: bearerSecurity,
  request: { params: clientParams, body: jsonBody(UpdateClientSchema) },
  responses: { 200: jsonResponse(ClientSchema, "Updated"), ...problems(400, 413, 415, 422) },
});
const addLoc = createRoute({
  method: "post",
  path: "/clients/{id}/locations",
  tags,
  summary: "Add a virtual session location",
  security: bearerSecurity,
  request: { params: clientParams, body: jsonBody(CreateLocationSchema) },
  responses: { 201: jsonResponse(LocationSchema, "Created"), ...problems(400, 413, 415, 422) },
});
const listLoc = createRoute({
  method: "get",
  path: "/clients/{id}/locations",
  tags,
  summary: "List virtual session locations",
  security: bearerSecurity,
  request: { params: clientParams, query: z.strictObject({ includeArchived: z.enum(["true", "false"]).optional() }) },
  responses: { 200: jsonResponse(z.object({ items: z.array(LocationSchema) }), "Locations"), ...problems(422) },
});
const archiveLoc = createRoute({
  method: "delete",
  path: "/clients/{id}/locations/{locationId}",
  tags,
  summary: "Archive a location (history keeps it)",
  security: bearerSecurity,
  request: { params: z.object({ id: IdParam, locationId: IdParam }) },
  responses: { 204: { description: "Archived" }, ...problems(422) },
});

export function clientRoutes() {
  return createRouter()
    .openapi(create, async (c) => c.json(await createClient(c.var.services, c.var.provider, c.req.valid("json")), 201))
    .openapi(list, async (c) => c.json(await listClients(c.var.services, c.var.provider, c.req.valid("query")), 200))
    .openapi(get, async (c) => c.json(await getClient(c.var.services, c.var.principal, c.req.valid("param").id), 200))
    .openapi(patch, async (c) => c.json(await updateClient(c.var.services, c.var.principal, c.req.valid("param").id, c.req.valid("json")), 200))
    .openapi(addLoc, async (c) => c.json(await addLocation(c.var.services, c.var.principal, c.req.valid("param").id, c.req.valid("json")), 201))
    .openapi(listLoc, async (c) =>
      c.json(
        await listLocations(c.var.services, c.var.principal, c.req.valid("param").id, {
          includeArchived: c.req.valid("query").includeArchived === "true",
        }),
        200,
      ),
    )
    .openapi(archiveLoc, async (c) => {
      const { id, locationId } = c.req.valid("param");
      await archiveLocation(c.var.services, c.var.principal, id, locationId);
      return c.body(null, 204);
    });
}
