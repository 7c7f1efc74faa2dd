import { createRoute, z } from "@hono/zod-openapi";
import { subscriberKind } from "../domain/feed-policy.js";
import { acceptsGzip, isNotModified } from "../http/conditional.js";
import { createRouter, ProblemSchema } from "../http/openapi.js";
import { codedError, problemResponse } from "../http/problem.js";
import { type FeedDocument, feedDocument } from "../services/feed-content.js";

// 256-bit base64url secrets; anything else is answered without touching the database.
export const FEED_FILE = /^([A-Za-z0-9_-]{43})\.ics$/;

export const PRIVACY_HEADERS = {
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
    const doc = await feedDocument(services, runtime, match[1]!);
    if (!doc) return notFound();
    const now = services.clock.now();
    runtime.fetchRecorder.record(doc.feedId, subscriberKind(c.req.header("user-agent")), now.getTime());
    const answer = feedAnswer(doc, {
      method: c.req.method,
      ifNoneMatch: c.req.header("if-none-match"),
      ifModifiedSince: c.req.header("if-modified-since"),
      acceptEncoding: c.req.header("accept-encoding"),
    });
    if (answer.status === 304 || c.req.method === "HEAD") return c.body(null, answer.status, answer.headers) as never;
    return c.body(answer.body as Uint8Array<ArrayBuffer>, 200, answer.headers) as never;
  });
}

export type FeedAnswer = { status: 200 | 304; headers: Record<string, string>; body: Buffer };

/**
 * The answer to a GET or HEAD of a live feed: this route's and the node:http fast path's
 * (src/http/feed-fast-path.ts), so both send the same bytes and headers. For HEAD the caller sends
 * no body; Content-Length is that of the GET (RFC 9110 9.3.2 and 8.6).
 */
export function feedAnswer(
  doc: FeedDocument,
  req: { method: string; ifNoneMatch: string | undefined; ifModifiedSince: string | undefined; acceptEncoding: string | undefined },
): FeedAnswer {
  const gzip = acceptsGzip(req.acceptEncoding);
  const etag = gzip ? doc.gzipEtag : doc.etag;
  const headers: Record<string, string> = {
    ...PRIVACY_HEADERS,
    etag,
    "last-modified": doc.lastModifiedHttp,
    "cache-control": "private, max-age=300",
    vary: "Accept-Encoding",
  };
  const conditional = { ifNoneMatch: req.ifNoneMatch, ifModifiedSince: req.ifModifiedSince };
  // Either representation's tag validates: they carry the same data.
  if (
    (conditional.ifNoneMatch !== undefined || conditional.ifModifiedSince !== undefined) &&
    (isNotModified(conditional, doc.etag, doc.lastModified) || isNotModified(conditional, doc.gzipEtag, doc.lastModified))
  ) {
    return { status: 304, headers, body: EMPTY };
  }
  headers["content-type"] = "text/calendar; charset=utf-8";
  headers["content-disposition"] = 'inline; filename="calendar.ics"';
  const body = gzip ? doc.gzipped() : doc.body;
  if (gzip) headers["content-encoding"] = "gzip";
  headers["content-length"] = String(body.length);
  return { status: 200, headers, body };
}

const EMPTY = Buffer.alloc(0);
