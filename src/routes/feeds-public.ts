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
      ifNoneMatch: c.req.header("if-none-match"),
      ifModifiedSince: c.req.header("if-modified-since"),
      acceptEncoding: c.req.header("accept-encoding"),
    });
    if (answer.status === 304 || c.req.method === "HEAD") return c.body(null, answer.status, { ...answer.headers }) as never;
    return c.body(answer.body as Uint8Array<ArrayBuffer>, 200, { ...answer.headers }) as never;
  });
}

export type FeedAnswer = {
  status: 200 | 304;
  headers: Readonly<Record<string, string>>;
  /** The same headers as [name, value, name, value, ...], for node:http's writeHead. */
  flatHeaders: readonly string[];
  body: Buffer;
};

const answerOf = (status: 200 | 304, headers: Record<string, string>, body: Buffer): FeedAnswer => ({
  status,
  headers,
  flatHeaders: Object.entries(headers).flat(),
  body,
});

type Prepared = { plain: FeedAnswer; gzip: FeedAnswer; plain304: FeedAnswer; gzip304: FeedAnswer };
// A document's four answers (identity or gzip, 200 or 304) are the same for every request: built
// once, on the first request that needs the document, and shared (never mutated).
const prepared = new WeakMap<FeedDocument, Prepared>();

function prepare(doc: FeedDocument): Prepared {
  let p = prepared.get(doc);
  if (p) return p;
  const validators = (etag: string) => ({
    ...PRIVACY_HEADERS,
    etag,
    "last-modified": doc.lastModifiedHttp,
    "cache-control": "private, max-age=300",
    vary: "Accept-Encoding",
  });
  const full = (etag: string, body: Buffer, encoding?: string): FeedAnswer =>
    answerOf(
      200,
      {
        ...validators(etag),
        "content-type": "text/calendar; charset=utf-8",
        "content-disposition": 'inline; filename="calendar.ics"',
        ...(encoding ? { "content-encoding": encoding } : {}),
        "content-length": String(body.length),
      },
      body,
    );
  let gzip: FeedAnswer | undefined;
  p = {
    plain: full(doc.etag, doc.body),
    // The gzip body is made on the first request that asks for it.
    get gzip() {
      gzip ??= full(doc.gzipEtag, doc.gzipped(), "gzip");
      return gzip;
    },
    plain304: answerOf(304, validators(doc.etag), EMPTY),
    gzip304: answerOf(304, validators(doc.gzipEtag), EMPTY),
  };
  prepared.set(doc, p);
  return p;
}

/**
 * The answer to a GET or HEAD of a live feed: this route's and the node:http fast path's
 * (src/http/feed-fast-path.ts), so both send the same bytes and headers. For HEAD the caller sends
 * no body; Content-Length is that of the GET (RFC 9110 9.3.2 and 8.6). The headers are shared:
 * copy them to change them.
 */
export function feedAnswer(
  doc: FeedDocument,
  req: { ifNoneMatch: string | undefined; ifModifiedSince: string | undefined; acceptEncoding: string | undefined },
): FeedAnswer {
  const p = prepare(doc);
  const gzip = acceptsGzip(req.acceptEncoding);
  const { ifNoneMatch, ifModifiedSince } = req;
  if (ifNoneMatch !== undefined || ifModifiedSince !== undefined) {
    // Either representation's tag validates: they carry the same data.
    const notModified =
      ifNoneMatch === doc.etag ||
      ifNoneMatch === doc.gzipEtag ||
      isNotModified({ ifNoneMatch, ifModifiedSince }, doc.etag, doc.lastModified) ||
      isNotModified({ ifNoneMatch, ifModifiedSince }, doc.gzipEtag, doc.lastModified);
    if (notModified) return gzip ? p.gzip304 : p.plain304;
  }
  return gzip ? p.gzip : p.plain;
}

const EMPTY = Buffer.alloc(0);
