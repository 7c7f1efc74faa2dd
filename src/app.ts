import { API_BODY_LIMIT, refuseDeclaredOversize, WEBHOOK_BODY_LIMIT } from "./http/body.js";
import type { AppDeps } from "./http/env.js";
import { accessLog, bearerAuth, limitBody, refuseUnsafeText, requestContext, requestDeadline, requireJson } from "./http/middleware.js";
import { API_DOCUMENT_PATH, apiDocument, createRouter, requiresBearer } from "./http/openapi.js";
import { codedError, problemResponse, reportFailure } from "./http/problem.js";
import { providerScope } from "./http/provider-scope.js";
import { limitUnauthenticatedFailures } from "./http/rate-limit.js";
import { allowedMethods } from "./http/routes-index.js";
import { connectionRoutes } from "./routes/connections.js";
import { publicFeedRoutes } from "./routes/feeds-public.js";
import { apiRoutes } from "./routes/index.js";
import { opsRoutes } from "./routes/ops.js";
import { settingsRoutes } from "./routes/settings.js";
import { settingsAdminRoutes, settingsNotFoundPage } from "./routes/settings-admin.js";
import { webhookRoutes } from "./routes/webhooks.js";
import { FAVICON_SVG } from "./web/assets.js";

export { API_BODY_LIMIT, WEBHOOK_BODY_LIMIT };

/** Routes that wait on Google, Microsoft or an OAuth server: their own timeouts bound them. */
const waitsOnOtherServers = (method: string, path: string) =>
  path.startsWith("/oauth/") || (method === "POST" && /\/calendar-(sources|connections)$/.test(path));

/** Composes middleware and routes. No I/O happens here: everything arrives in deps. */
export function createApp(deps: AppDeps) {
  const app = createRouter();
  app.use("*", requestContext(deps));
  app.use("*", accessLog(deps));
  app.use("*", requestDeadline(deps.config.http.requestDeadlineMs, waitsOnOtherServers));

  app.route("/", opsRoutes());
  app.use(
    "/feeds/*",
    limitUnauthenticatedFailures((c) => c.res.status === 404),
  );
  app.route("/", publicFeedRoutes());
  app.use(
    "/settings/sign-in",
    limitUnauthenticatedFailures((c) => c.req.method === "POST" && c.res.status === 403),
  );
  app.route("/", connectionRoutes()); // before settingsRoutes: its own CSP (consent screens as form targets)
  // A person opening the server's address lands on the settings pages.
  app.get("/", (c) => c.redirect("/settings", 302));
  app.route("/", settingsAdminRoutes());
  app.route("/", settingsRoutes());
  // Browsers ask for it on every page; SVG under the .ico name is accepted by current browsers.
  app.get("/favicon.ico", (c) =>
    c.body(FAVICON_SVG, 200, { "content-type": "image/svg+xml", "cache-control": "public, max-age=86400", "x-content-type-options": "nosniff" }),
  );
  app.use(
    "/webhooks/*",
    limitUnauthenticatedFailures((c) => c.res.status === 401 || c.res.status === 404),
  );
  app.use("/webhooks/*", refuseDeclaredOversize(WEBHOOK_BODY_LIMIT));
  app.route("/", webhookRoutes());

  app.use(
    "/api/v1/*",
    limitUnauthenticatedFailures((c) => c.res.status === 401),
  );
  app.use("/api/v1/*", refuseDeclaredOversize(API_BODY_LIMIT));
  app.use("/api/v1/*", async (c, next) => {
    if (!requiresBearer(c.req.path)) return next();
    return bearerAuth(deps)(c, next);
  });
  app.use("/api/v1/providers/:id", providerScope());
  app.use("/api/v1/providers/:id/*", providerScope());
  app.use("/api/v1/*", requireJson());
  app.use("/api/v1/*", limitBody(API_BODY_LIMIT));
  app.use("/api/v1/*", refuseUnsafeText());
  app.route("/api/v1", apiRoutes());

  app.openAPIRegistry.registerComponent("securitySchemes", "bearer", { type: "http", scheme: "bearer" });
  let document: ReturnType<typeof apiDocument> | undefined;
  app.get(API_DOCUMENT_PATH, (c) => {
    document ??= apiDocument(app, deps.config.publicBaseUrl);
    return c.json(document);
  });

  app.notFound((c) => {
    const methods = allowedMethods(app.routes, c.req.path);
    if (methods.length > 0 && !methods.includes(c.req.method)) {
      c.header("allow", methods.join(", "));
      return problemResponse(c, codedError("method_not_allowed", `Use ${methods.join(", ")} on this resource.`));
    }
    if ((c.req.path === "/settings" || c.req.path.startsWith("/settings/")) && (c.req.method === "GET" || c.req.method === "HEAD")) {
      return settingsNotFoundPage(c);
    }
    return problemResponse(c, codedError("not_found", "No such resource."));
  });

  app.onError((err, c) => problemResponse(c, reportFailure(deps.logger, c.get("requestId"), err)));

  return app;
}

export type App = ReturnType<typeof createApp>;
