// The typed API client the HTTP tests call the API through: openapi-fetch over the types generated
// from the API document (api-types.ts, `npm run api:types`), answered in-process by app.request()
// (no network). A route whose request or answer no longer fits the document fails typecheck where
// a test uses it; every answer is also checked against the document the app serves
// (api-contract.ts), so a field the route answers but the document lacks fails the call.
import createClient, { type Client, type Middleware } from "openapi-fetch";
import { type ApiDocument, responseMismatches } from "./api-contract.js";
import type { components, paths } from "./api-types.js";

export type ApiClient = Client<paths>;
export type ApiSchemas = components["schemas"];
export type Problem = ApiSchemas["Problem"];

type InProcessApp = { request: (req: Request) => Response | Promise<Response> };

const documents = new WeakMap<InProcessApp, Promise<ApiDocument>>();

function servedDocument(app: InProcessApp): Promise<ApiDocument> {
  let doc = documents.get(app);
  if (!doc) {
    doc = Promise.resolve(app.request(new Request("http://localhost/api/v1/openapi.json"))).then(async (res) => {
      if (res.status !== 200) throw new Error(`the API document answered ${res.status}`);
      return (await res.json()) as ApiDocument;
    });
    documents.set(app, doc);
  }
  return doc;
}

function contractCheck(app: InProcessApp): Middleware {
  return {
    async onResponse({ request, response, schemaPath }) {
      const mismatches = await responseMismatches(await servedDocument(app), request.method, schemaPath, response);
      if (mismatches.length) {
        const where = `${request.method} ${schemaPath} answered ${response.status}`;
        throw new Error(`${where}, which the API document does not describe:\n  ${mismatches.join("\n  ")}`);
      }
    },
  };
}

/** A client calling `app` with `token` as the bearer (none when null). */
export function apiClient(app: InProcessApp, token: string | null): ApiClient {
  const client = createClient<paths>({
    baseUrl: "http://localhost",
    fetch: (req) => Promise.resolve(app.request(req)),
    headers: token ? { authorization: `Bearer ${token}` } : {},
  });
  client.use(contractCheck(app));
  return client;
}

type Answer = { data?: unknown; error?: unknown; response: Response };

/** The answer's data when it has `status`; otherwise fails with the body in the message. */
export async function ok<A extends Answer>(call: A | Promise<A>, status = 200): Promise<NonNullable<A["data"]>> {
  const a = await call;
  if (a.response.status !== status) throw new Error(`expected ${status}, got ${a.response.status}: ${JSON.stringify(a.error ?? a.data)}`);
  return a.data as NonNullable<A["data"]>;
}

/**
 * The RFC 9457 problem of an answer that must have `status` (and `code`, when given). Extension
 * members (a confirmation's `decision`, an overlap's `sessions`) are untyped in the document.
 */
export async function problem<A extends Answer>(call: A | Promise<A>, status: number, code?: string): Promise<Problem & Record<string, any>> {
  const a = await call;
  if (a.response.status !== status) throw new Error(`expected ${status}, got ${a.response.status}: ${JSON.stringify(a.error ?? a.data)}`);
  const type = a.response.headers.get("content-type") ?? "";
  if (!type.startsWith("application/problem+json")) throw new Error(`expected application/problem+json, got ${type}`);
  const body = a.error as Problem;
  if (code !== undefined && body.code !== code) throw new Error(`expected code ${code}, got ${body.code}: ${JSON.stringify(body)}`);
  return body;
}

/** Path parameters, for the common single-id case: `t.api.GET("/api/v1/sessions/{id}", byId(s.id))`. */
export const byId = (id: string) => ({ params: { path: { id } } });

/** The JSON request body the document declares for `method path`. */
export type JsonBody<P extends keyof paths, M extends keyof paths[P]> = paths[P][M] extends {
  requestBody?: { content: { "application/json": infer B } };
}
  ? B
  : never;

type RawSender = { request: (method: string, path: string, o: { body?: unknown; token?: string | null }) => Promise<Response> };

/**
 * A call the typed client refuses to make (a body the document itself rejects), sent as raw JSON
 * through the test app and read like a client answer, for ok() and problem().
 */
export async function rawJson(t: RawSender, method: string, path: string, body: unknown, token?: string | null): Promise<Answer> {
  const response = await t.request(method, path, { body, token });
  const text = await response.text();
  const parsed = text ? JSON.parse(text) : undefined;
  return response.ok ? { data: parsed, response } : { error: parsed, response };
}
