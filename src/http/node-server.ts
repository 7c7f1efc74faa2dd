// The node:http server main.ts listens with, and tests start: Hono's request listener behind the
// feed and ICS webhook fast paths, with Node's own limits for the socket.
import { createServer, type Server } from "node:http";
import { getRequestListener } from "@hono/node-server";
import { nodeServerOptions } from "../runtime.js";
import type { AppDeps } from "./env.js";
import { requestObserver } from "./fast-path.js";
import { withFeedFastPath } from "./feed-fast-path.js";
import { withIcsWebhookFastPath } from "./webhook-fast-path.js";

export function createHttpServer(deps: AppDeps, app: { fetch: Parameters<typeof getRequestListener>[0] }): Server {
  const honoListener = getRequestListener(app.fetch, { hostname: deps.config.host });
  const observe = requestObserver(deps);
  const listener = withFeedFastPath(deps, observe, withIcsWebhookFastPath(deps, observe, honoListener));
  return createServer(nodeServerOptions(deps.config), listener);
}
