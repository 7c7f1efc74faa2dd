// Provider isolation in one place: every API path under /providers/{id} has its provider resolved
// against the caller's key here, once per request, before any route runs. Routes read the result
// as `c.var.provider`; the services that act on a provider take nothing else (src/services/auth.ts).
import type { MiddlewareHandler } from "hono";
import { resolveProviderScope } from "../services/auth.js";
import type { AppEnv } from "./env.js";
import { IdParam } from "./openapi.js";

/** For `/providers/:id` and `/providers/:id/*`: a foreign provider answers 404, as a missing one does. */
export function providerScope(): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    const id = c.req.param("id");
    // A malformed id is left to the route's own validation, which answers 422 for it.
    if (id !== undefined && IdParam.safeParse(id).success) c.set("provider", resolveProviderScope(c.var.principal, id));
    await next();
  };
}
