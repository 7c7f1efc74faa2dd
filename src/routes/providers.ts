import { createRoute, z } from "@hono/zod-openapi";
import { bearerSecurity, createRouter, IdParam, jsonBody, jsonResponse, problems } from "../http/openapi.js";
import { CreateProviderSchema, createProvider, getProvider, UpdateProviderSchema, updateProvider } from "../services/providers.js";

export const ProviderSchema = z
  .object({
    id: z.uuid(),
    name: z.string(),
    timezone: z.string(),
    licenses: z.array(z.object({ state: z.string(), via: z.string().optional(), verified: z.boolean().optional() })),
    credentialedStates: z.array(z.string()),
    createdAt: z.string(),
    updatedAt: z.string(),
  })
  .openapi("Provider");

const create = createRoute({
  method: "post",
  path: "/providers",
  tags: ["providers"],
  summary: "Create a provider (admin)",
  security: bearerSecurity,
  request: { body: jsonBody(CreateProviderSchema) },
  responses: { 201: jsonResponse(ProviderSchema, "Created"), ...problems(400, 413, 415, 422) },
});

const get = createRoute({
  method: "get",
  path: "/providers/{id}",
  tags: ["providers"],
  summary: "Read a provider",
  security: bearerSecurity,
  request: { params: z.object({ id: IdParam }) },
  responses: { 200: jsonResponse(ProviderSchema, "The provider"), ...problems(422) },
});

const patch = createRoute({
  method: "patch",
  path: "/providers/{id}",
  tags: ["providers"],
  summary: "Change a provider's name, time zone, licenses or credentialed states",
  description:
    "Network credentialing (`credentialedStates`) is set by the network (admin) only, and needs a verified full state license: a compact " +
    "privilege (`via`) never counts as credentialing. A provider may add licenses; they stay `verified: false` until the network verifies " +
    "them, and an unverified license never makes a session billable. A provider changing credentialing or `verified` gets 403 `admin_only`.",
  security: bearerSecurity,
  request: { params: z.object({ id: IdParam }), body: jsonBody(UpdateProviderSchema) },
  responses: { 200: jsonResponse(ProviderSchema, "Updated"), ...problems(400, 403, 413, 415, 422) },
});

export function providerRoutes() {
  return createRouter()
    .openapi(create, async (c) => c.json(await createProvider(c.var.services, c.var.principal, c.req.valid("json")), 201))
    .openapi(get, async (c) => c.json(await getProvider(c.var.services, c.var.provider), 200))
    .openapi(patch, async (c) => c.json(await updateProvider(c.var.services, c.var.provider, c.req.valid("json")), 200));
}
