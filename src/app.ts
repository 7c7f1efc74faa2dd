import { HTTPException } from "hono/http-exception";
import { AppError } from "./errors.js";
import type { AppDeps } from "./http/env.js";
import { accessLog, bearerAuth, limitBody, requestContext, requireJson } from "./http/middleware.js";
import { API_DOCUMENT_PATH, apiDocument, createRouter, requiresBearer } from "./http/openapi.js";
import { codedError, internalError, problemResponse } from "./http/problem.js";
import { allowedMethods } from "./http/routes-index.js";
import { apiRoutes } from "./routes/index.js";
import { publicFeedRoutes } from "./routes/feeds-public.js";
import { opsRoutes } from "./routes/ops.js";
import { settingsRoutes } from "./routes/settings.js";
import { webhookRoutes } from "./routes/webhooks.js";
import { FAVICON_SVG } from "./web/assets.js";

export const API_BODY_LIMIT = 1024 * 1024;
/** Room for a 2 MiB ICS payload in its JSON envelope; anything larger is 413 before verification. */
export const WEBHOOK_BODY_LIMIT = 3 * 1024 * 1024;

/** Composes middleware and routes. No I/O happens here: everything arrives in deps. */
export function createApp(deps: AppDeps) {
  const app = createRouter();
  app.use("*", requestContext(deps));
  app.use("*", accessLog(deps));

  app.route("/", opsRoutes());
  app.route("/", publicFeedRoutes());
  app.route("/", settingsRoutes());
  // Browsers ask for it on every page; SVG under the .ico name is accepted by current browsers.
  app.get("/favicon.ico", (c) =>
    c.body(FAVICON_SVG, 200, { "content-type": "image/svg+xml", "cache-control": "public, max-age=86400", "x-content-type-options": "nosniff" }),
  );
  app.use("/webhooks/*", limitBody(WEBHOOK_BODY_LIMIT));
  app.route("/", webhookRoutes());

  app.use("/api/v1/*", limitBody(API_BODY_LIMIT));
  app.use("/api/v1/*", async (c, next) => {
    if (!requiresBearer(c.req.path)) return next();
    return bearerAuth(deps)(c, next);
  });
  app.use("/api/v1/*", requireJson());
  app.route("/api/v1", apiRoutes());

  app.openAPIRegistry.registerComponent("securitySchemes", "bearer", { type: "http", scheme: "bearer" });
  let document: ReturnType<typeof apiDocument> | undefined;
  app.get(API_DOCUMENT_PATH, (c) => c.json((document ??= apiDocument(app, deps.config.publicBaseUrl))));

  app.notFound((c) => {
    const methods = allowedMethods(app.routes, c.req.path);
    if (methods.length > 0 && !methods.includes(c.req.method)) {
      c.header("allow", methods.join(", "));
      return problemResponse(c, codedError("method_not_allowed", `Use ${methods.join(", ")} on this resource.`));
    }
    return problemResponse(c, codedError("not_found", "No such resource."));
  });

  app.onError((err, c) => {
    if (err instanceof AppError) return problemResponse(c, err);
    if (err instanceof HTTPException && err.status === 400) {
      return problemResponse(c, codedError("malformed_json", "The body is not valid JSON."));
    }
    // The route validator refuses a body whose media type its route does not accept.
    if (err instanceof HTTPException && err.status === 415) {
      return problemResponse(c, codedError("unsupported_media_type", "Send the body as application/json."));
    }
    // The message may hold anything (SQL, values): it goes to the log, never to the client.
    deps.logger.error({ requestId: c.get("requestId"), err: { name: err.name, message: err.message, stack: err.stack } }, "unhandled error");
    return problemResponse(c, internalError());
  });

  return app;
}

export type App = ReturnType<typeof createApp>;
