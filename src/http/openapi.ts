import { OpenAPIHono, z } from "@hono/zod-openapi";
import { ValidationError } from "../errors.js";
import type { AppEnv } from "./env.js";

/** Every router shares this hook: a zod failure is a 422 problem listing the failing fields. */
export function createRouter() {
  return new OpenAPIHono<AppEnv>({
    defaultHook: (result) => {
      if (!result.success) throw ValidationError.fromZod(result.error);
    },
  });
}

export const ProblemSchema = z
  .object({
    type: z.string(),
    title: z.string(),
    status: z.number().int(),
    detail: z.string(),
    code: z.string().openapi({ description: "Stable machine-readable error code" }),
    requestId: z.string().optional(),
    errors: z.array(z.object({ path: z.string(), message: z.string(), code: z.string().optional() })).optional(),
  })
  .catchall(z.unknown())
  .openapi("Problem");

const STATUS_TEXT: Record<number, string> = {
  400: "Malformed request",
  401: "Missing or wrong bearer token",
  403: "Only the network (admin) may make this change",
  404: "Not found (or not yours)",
  409: "Conflict with the current state",
  413: "Body too large",
  415: "Body is not JSON",
  422: "Invalid input",
  429: "Too many failed attempts from this address; retry after the Retry-After seconds",
  500: "Unexpected error (logged on our side)",
  503: "Unavailable (database unreachable or server busy); retry later",
};

function problemResponseObject(status: number) {
  return { description: STATUS_TEXT[status] ?? "Error", content: { "application/problem+json": { schema: ProblemSchema } } };
}

/** OpenAPI responses for the problem statuses a route can answer. */
export function problems(...statuses: number[]) {
  return Object.fromEntries([401, 404, ...statuses].map((s) => [s, problemResponseObject(s)]));
}

export function jsonBody<T extends z.ZodType>(schema: T, description?: string) {
  return { required: true, description, content: { "application/json": { schema } } } as const;
}

export function jsonResponse<T extends z.ZodType>(schema: T, description: string) {
  return { description, content: { "application/json": { schema } } } as const;
}

export const bearerSecurity = [{ bearer: [] as string[] }];

export const IdParam = z.uuid().openapi({ param: { in: "path" } });

export function listOf<T extends z.ZodType>(item: T) {
  return z.object({ items: z.array(item), nextCursor: z.string().optional() });
}

/** The one rule for which requests need a bearer token: the API, except its own document. */
export const API_PREFIX = "/api/v1";
export const API_DOCUMENT_PATH = `${API_PREFIX}/openapi.json`;
export function requiresBearer(path: string): boolean {
  return path.startsWith(`${API_PREFIX}/`) && path !== API_DOCUMENT_PATH;
}

const API_INFO = {
  title: "Telehealth calendar API",
  version: "1.0.0",
  description: "Providers, telehealth links, sessions, confirmation, ICS feeds and calendar ingestion.",
  license: { name: "Proprietary", identifier: "LicenseRef-Proprietary" },
  contact: { name: "Operator of this server" },
};

type JsonObject = Record<string, unknown>;
type ApiOperation = {
  operationId?: string;
  security?: unknown[];
  parameters?: unknown[];
  requestBody?: { content?: Record<string, unknown> };
  responses: Record<string, unknown>;
};
type ApiDocument = JsonObject & { paths?: Record<string, Record<string, ApiOperation>> };

const METHODS = ["get", "put", "post", "delete", "options", "head", "patch", "trace"] as const;

/**
 * A stable camelCase operationId from the method and path: literal segments in PascalCase,
 * parameters as `By<Name>` (`GET /api/v1/providers/{id}/sessions` → `getProvidersByIdSessions`).
 * Routes may set their own with `operationId` in createRoute; those are kept.
 */
export function deriveOperationId(method: string, path: string): string {
  const words = path
    .replace(new RegExp(`^${API_PREFIX}(?=/)`), "")
    .split("/")
    .filter(Boolean)
    .flatMap((seg) => {
      const param = /^\{(.+)\}$/.exec(seg);
      const parts = (param ? param[1]! : seg).split(/[^A-Za-z0-9]+/).filter(Boolean);
      const pascal = parts.map((p) => p[0]!.toUpperCase() + p.slice(1));
      return param ? ["By", ...pascal] : pascal;
    });
  return method.toLowerCase() + words.join("");
}

/**
 * The statuses every operation can answer besides its own, from how the app is composed:
 * all may fail unexpectedly (500) or find the database unreachable or the server busy (503);
 * a bearer operation can be refused (401) and, after repeated refusals, rate limited (429), as
 * can a public one that refuses unknown secrets (401/404); input can be invalid (422); a JSON
 * body can be malformed (400), too large (413) or not JSON at all (415).
 */
function impliedStatuses(op: ApiOperation, bearer: boolean): number[] {
  const statuses = [500, 503];
  const jsonBody = Boolean(op.requestBody?.content?.["application/json"]);
  if (bearer) statuses.push(401, 429);
  else if (op.responses["401"] || op.responses["404"]) statuses.push(429);
  if (jsonBody) statuses.push(400, 413, 415, 422);
  if ((op.parameters?.length ?? 0) > 0) statuses.push(422);
  return statuses;
}

/**
 * Completes the generated document centrally, so every route (including ones added later) gets
 * the same contract: an operationId, explicit security (`[]` on public operations, the bearer
 * scheme on the rest, from the same rule the middleware applies), every problem status it can
 * answer as application/problem+json (RFC 9457), the server and the licence.
 */
export function completeApiDocument(doc: ApiDocument, serverUrl: string): ApiDocument {
  const paths: Record<string, Record<string, ApiOperation>> = {};
  const seen = new Map<string, string>();
  for (const [path, item] of Object.entries(doc.paths ?? {})) {
    const out: Record<string, ApiOperation> = { ...item };
    for (const method of METHODS) {
      const op = item[method];
      if (!op) continue;
      const bearer = requiresBearer(path.replace(/\{[^}]+\}/g, "x"));
      const operationId = op.operationId ?? deriveOperationId(method, path);
      const where = `${method.toUpperCase()} ${path}`;
      if (seen.has(operationId)) throw new Error(`operationId ${operationId} of ${where} is also used by ${seen.get(operationId)}`);
      seen.set(operationId, where);
      const responses: Record<string, unknown> = { ...op.responses };
      for (const status of impliedStatuses(op, bearer)) {
        responses[status] ??= {
          description: STATUS_TEXT[status],
          content: { "application/problem+json": { schema: { $ref: "#/components/schemas/Problem" } } },
        };
      }
      const sorted = Object.fromEntries(Object.entries(responses).sort(([a], [b]) => a.localeCompare(b)));
      out[method] = { ...op, operationId, security: bearer ? bearerSecurity : [], responses: sorted };
    }
    paths[path] = out;
  }
  return { ...doc, servers: [{ url: serverUrl }], paths };
}

/** The API document of an app built with createRouter, completed for clients and linters. */
export function apiDocument(app: OpenAPIHono<AppEnv>, serverUrl: string) {
  const generated = app.getOpenAPI31Document({ openapi: "3.1.0", info: API_INFO });
  return completeApiDocument(generated as unknown as ApiDocument, serverUrl);
}
