import { createRoute, z } from "@hono/zod-openapi";
import { subscriberKind } from "../domain/feed-policy.js";
import { acceptsGzip, isNotModified } from "../http/conditional.js";
import { createRouter, ProblemSchema } from "../http/openapi.js";
import { codedError, problemResponse } from "../http/problem.js";
import { feedDocument } from "../services/feed-content.js";

// 256-bit base64url secrets; anything else is answered without touching the database.
const FEED_FILE = /^([A-Za-z0-9_-]{43})\.ics$/;

const PRIVACY_HEADERS = {
  "referrer-policy": "no-referrer",
  "x-robots-tag": "noindex",
  "x-content-type-options": "nosniff",
};

const route = createRoute({
  method: "get",
  path: "/feeds/{file}",
  tags: ["feeds"],
  summary: "A subscribable ICS feed (also HEAD). The secret in the path is the only credential.",
  request: {
    params: z.object({ file: z.string().openapi({ param: { in: "path" }, example: "<secret>.ics" }) }),
    headers: z.object({
      "if-none-match": z.string().optional(),
      "if-modified-since": z.string().optional(),
      "accept-encoding": z.string().optional(),
    }),
  },
  responses: {
    200: { description: "The feed (text/calendar)", content: { "text/calendar": { schema: z.string() } } },
    304: { description: "Not modified" },
    404: { description: "Unknown, rotated or revoked feed (all the same)", content: { "application/problem+json": { schema: ProblemSchema } } },
  },
});

export function publicFeedRoutes() {
  return createRouter().openapi(route, async (c) => {
    const notFound = () => {
      c.header("cache-control", "no-store");
      for (const [k, v] of Object.entries(PRIVACY_HEADERS)) c.header(k, v);
      return problemResponse(c, codedError("not_found", "No such feed.")) as never;
    };
    const match = FEED_FILE.exec(c.req.param("file"));
    if (!match) return notFound();
    const { services, runtime } = { services: c.var.services, runtime: c.var.deps.runtime };
    const doc = await feedDocument(services, runtime.feedCache, match[1]!);
    if (!doc) return notFound();
    runtime.fetchRecorder.record(doc.feedId, subscriberKind(c.req.header("user-agent")), services.clock.now());

    const gzip = acceptsGzip(c.req.header("accept-encoding"));
    const headers: Record<string, string> = {
      ...PRIVACY_HEADERS,
      etag: gzip ? doc.etag.replace(/"$/, '-gz"') : doc.etag,
      "last-modified": doc.lastModified.toUTCString(),
      "cache-control": "private, max-age=300",
      vary: "Accept-Encoding",
    };
    const conditional = { ifNoneMatch: c.req.header("if-none-match"), ifModifiedSince: c.req.header("if-modified-since") };
    // Either representation's tag validates: they carry the same data.
    if (isNotModified(conditional, doc.etag, doc.lastModified) || isNotModified(conditional, headers.etag!, doc.lastModified)) {
      return c.body(null, 304, headers) as never;
    }
    headers["content-type"] = "text/calendar; charset=utf-8";
    headers["content-disposition"] = 'inline; filename="calendar.ics"';
    const body = gzip ? doc.gzipped() : doc.body;
    if (gzip) headers["content-encoding"] = "gzip";
    // RFC 9110 9.3.2 and 8.6: HEAD answers with the Content-Length a GET would have.
    headers["content-length"] = String(body.length);
    if (c.req.method === "HEAD") return c.body(null, 200, headers) as never;
    return c.body(body as Uint8Array<ArrayBuffer>, 200, headers) as never;
  });
}
