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
    errors: z
      .array(z.object({ path: z.string(), message: z.string(), code: z.string().optional() }))
      .optional(),
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
  503: "Unavailable",
};

/** OpenAPI responses for the problem statuses a route can answer. */
export function problems(...statuses: number[]) {
  return Object.fromEntries(
    [401, 404, ...statuses].map((s) => [
      s,
      { description: STATUS_TEXT[s] ?? "Error", content: { "application/problem+json": { schema: ProblemSchema } } },
    ]),
  );
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
