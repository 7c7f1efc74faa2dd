import { createRouter } from "../http/openapi.js";
import { apiKeyRoutes } from "./api-keys.js";
import { calendarConnectionRoutes } from "./calendar-connections.js";
import { calendarMirrorRoutes } from "./calendar-mirrors.js";
import { calendarSourceRoutes } from "./calendar-sources.js";
import { clientRoutes } from "./clients.js";
import { feedRoutes } from "./feeds.js";
import { providerRoutes } from "./providers.js";
import { referralRoutes } from "./referrals.js";
import { sessionRoutes } from "./sessions.js";
import { telehealthLinkRoutes } from "./telehealth-links.js";

/** Everything under /api/v1; each resource has its own file. */
export function apiRoutes() {
  return createRouter()
    .route("/", providerRoutes())
    .route("/", apiKeyRoutes())
    .route("/", telehealthLinkRoutes())
    .route("/", clientRoutes())
    .route("/", sessionRoutes())
    .route("/", referralRoutes())
    .route("/", feedRoutes())
    .route("/", calendarSourceRoutes())
    .route("/", calendarConnectionRoutes())
    .route("/", calendarMirrorRoutes());
}
