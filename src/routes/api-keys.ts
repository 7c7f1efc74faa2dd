import { createRoute, z } from "@hono/zod-openapi";
import { bearerSecurity, createRouter, IdParam, jsonResponse, problems } from "../http/openapi.js";
import { codedError } from "../http/problem.js";
import { CreateApiKeySchema, createApiKey, listApiKeys, revokeApiKey } from "../services/api-keys.js";

const ApiKeySchema = z
  .object({ id: z.uuid(), prefix: z.string(), label: z.string().nullable(), createdAt: z.string(), revokedAt: z.string().nullable() })
  .openapi("ApiKey");

const params = z.object({ id: IdParam });

const create = createRoute({
  method: "post",
  path: "/providers/{id}/api-keys",
  tags: ["auth"],
  summary: "Issue a provider-scoped API key (admin); the token is shown only in this answer",
  security: bearerSecurity,
  request: {
    params,
    body: { required: false, content: { "application/json": { schema: CreateApiKeySchema } } },
  },
  responses: {
    201: jsonResponse(ApiKeySchema.extend({ token: z.string() }).openapi("ApiKeyWithToken"), "Created"),
    ...problems(413, 415, 422),
  },
});

const list = createRoute({
  method: "get",
  path: "/providers/{id}/api-keys",
  tags: ["auth"],
  summary: "List a provider's API keys (never the tokens)",
  security: bearerSecurity,
  request: { params },
  responses: { 200: jsonResponse(z.object({ items: z.array(ApiKeySchema) }), "Keys"), ...problems(422) },
});

const revoke = createRoute({
  method: "delete",
  path: "/providers/{id}/api-keys/{keyId}",
  tags: ["auth"],
  summary: "Revoke an API key",
  security: bearerSecurity,
  request: { params: z.object({ id: IdParam, keyId: IdParam }) },
  responses: { 204: { description: "Revoked" }, ...problems(422) },
});

export function apiKeyRoutes() {
  return createRouter()
    .openapi(create, async (c) => {
      // The body is optional here, so the JSON validator does not run; read it ourselves when sent.
      const text = await c.req.text();
      let body: unknown;
      try {
        body = text ? JSON.parse(text) : undefined;
      } catch {
        throw codedError("malformed_json", "The body is not valid JSON.");
      }
      return c.json(await createApiKey(c.var.services, c.var.provider, body), 201);
    })
    .openapi(list, async (c) => c.json({ items: await listApiKeys(c.var.services, c.var.provider) }, 200))
    .openapi(revoke, async (c) => {
      await revokeApiKey(c.var.services, c.var.provider, c.req.valid("param").keyId);
      return c.body(null, 204);
    });
}
