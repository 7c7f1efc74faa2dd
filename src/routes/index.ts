import { createRouter } from "../http/openapi.js";
import { apiKeyRoutes } from "./api-keys.js";
import { providerRoutes } from "./providers.js";

/** Everything under /api/v1; each resource has its own file. */
export function apiRoutes() {
  return createRouter().route("/", providerRoutes()).route("/", apiKeyRoutes());
}
