import { createRoute, z } from "@hono/zod-openapi";
import { PRIVACY_LEVELS } from "../domain/value-lists.js";
import { bearerSecurity, createRouter, IdParam, jsonBody, jsonResponse, problems } from "../http/openapi.js";
import { CreateFeedSchema, createFeed, listFeeds, revokeFeed, rotateFeedSecret } from "../services/feeds.js";
import { sessionInvitation } from "../services/invitations.js";

const when = z.string().nullable();
const FeedSchema = z
  .object({
    id: z.uuid(),
    providerId: z.uuid(),
    name: z.string(),
    privacy: z.enum(PRIVACY_LEVELS),
    includeLink: z.boolean(),
    includeInPerson: z.boolean(),
    pastDays: z.number().int(),
    futureDays: z.number().int(),
    createdAt: z.string(),
    revokedAt: when,
    lastFetchedAt: when,
    fetchCount: z.number().int(),
    lastFetchBySubscriber: z.object({ google: when, microsoft: when, apple: when, other: when }),
  })
  .openapi("Feed");

const FeedContentSchema = z
  .object({
    bytes: z.number().int(),
    maxBytes: z.number().int(),
    events: z.number().int(),
    omittedPast: z.number().int().describe("Past sessions left out to stay under the size budget (the oldest first)"),
    omittedUpcoming: z.number().int().describe("Upcoming sessions left out (the furthest ahead), only once no past one was left"),
    advice: z
      .object({ message: z.string(), futureDays: z.number().int().optional(), includeLink: z.literal(false).optional() })
      .optional()
      .describe("How to fit every upcoming session: a shorter window, or the link left out"),
  })
  .openapi("FeedContent");

const ListedFeedSchema = FeedSchema.extend({ content: FeedContentSchema }).openapi("ListedFeed");

const FeedWithUrls = FeedSchema.extend({
  url: z.string(),
  webcalUrl: z.string(),
  googleSubscribeUrl: z.string(),
  outlookSubscribeUrl: z.string(),
}).openapi("FeedWithSecretUrls");

const tags = ["feeds"];
const params = z.object({ id: IdParam });
const feedParams = z.object({ id: IdParam, feedId: IdParam });

const create = createRoute({
  method: "post",
  path: "/providers/{id}/feeds",
  tags,
  security: bearerSecurity,
  summary: "Create a subscribable feed; its secret URL appears only in this answer (and after rotate)",
  request: { params, body: jsonBody(CreateFeedSchema) },
  responses: { 201: jsonResponse(FeedWithUrls, "Created"), ...problems(400, 413, 415, 422) },
});
const list = createRoute({
  method: "get",
  path: "/providers/{id}/feeds",
  tags,
  security: bearerSecurity,
  summary: "List live feeds (no secrets) with fetch statistics per subscriber kind",
  request: { params },
  responses: {
    200: jsonResponse(z.object({ items: z.array(ListedFeedSchema) }), "Feeds, each with what the size budget left out"),
    ...problems(422),
  },
});
const rotate = createRoute({
  method: "post",
  path: "/providers/{id}/feeds/{feedId}/rotate",
  tags,
  security: bearerSecurity,
  summary: "New secret; the old URL answers 404 at once",
  request: { params: feedParams },
  responses: { 200: jsonResponse(FeedWithUrls, "Rotated"), ...problems(422) },
});
const revoke = createRoute({
  method: "delete",
  path: "/providers/{id}/feeds/{feedId}",
  tags,
  security: bearerSecurity,
  summary: "Revoke a feed",
  request: { params: feedParams },
  responses: { 204: { description: "Revoked" }, ...problems(422) },
});
const invite = createRoute({
  method: "get",
  path: "/sessions/{id}/invite.ics",
  tags: ["sessions"],
  security: bearerSecurity,
  summary: "A single-event invitation (link and instructions) for confirmations and reminders",
  request: { params },
  responses: { 200: { description: "text/calendar", content: { "text/calendar": { schema: z.string() } } }, ...problems(422) },
});

export function feedRoutes() {
  return createRouter()
    .openapi(create, async (c) => c.json(await createFeed(c.var.services, c.var.provider, c.req.valid("json")), 201))
    .openapi(list, async (c) => c.json(await listFeeds(c.var.services, c.var.deps.runtime.feedCache, c.var.provider), 200))
    .openapi(rotate, async (c) => {
      return c.json(await rotateFeedSecret(c.var.services, c.var.provider, c.req.valid("param").feedId), 200);
    })
    .openapi(revoke, async (c) => {
      await revokeFeed(c.var.services, c.var.provider, c.req.valid("param").feedId);
      return c.body(null, 204);
    })
    .openapi(invite, async (c) => {
      const ics = await sessionInvitation(c.var.services, c.var.principal, c.req.valid("param").id);
      return c.text(ics, 200, {
        "content-type": "text/calendar; charset=utf-8",
        "content-disposition": 'attachment; filename="session.ics"',
        "cache-control": "no-store",
      });
    });
}
