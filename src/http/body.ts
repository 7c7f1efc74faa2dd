// Request bodies are read here, and only here: bounded in size while they stream (never buffered
// past the limit), in time (a slow body is cut), and in total across the process (many large bodies
// at once get 503 instead of exhausting memory).
import type { IncomingMessage, ServerResponse } from "node:http";
import type { Context, MiddlewareHandler } from "hono";
import { AppError, RetryLaterError } from "../errors.js";
import type { AppEnv } from "./env.js";
import { codedError } from "./problem.js";

/** Bytes of request bodies held in memory by this process at once. */
export class BodyBudget {
  private inUse = 0;
  constructor(readonly maxBytes: number) {}

  take(n: number): boolean {
    if (this.inUse + n > this.maxBytes) return false;
    this.inUse += n;
    return true;
  }

  give(n: number): void {
    this.inUse = Math.max(0, this.inUse - n);
  }

  get used(): number {
    return this.inUse;
  }
}

export type BodyLimits = { maxBytes: number; timeoutMs: number; budget: BodyBudget };

const tooLarge = (max: number) => codedError("payload_too_large", `The body is over the ${max}-byte limit.`);
const notReceived = () => codedError("request_timeout", "The body was not received.");
const tooSlow = (timeoutMs: number) => codedError("request_timeout", `The body did not arrive within ${Math.round(timeoutMs / 1000)} s.`);
const busy = () => new RetryLaterError("server_busy", "Too many large requests are in progress; retry shortly.", 1);

/** Content-Length as a number; undefined when absent; throws when it is not a number. */
export function contentLength(raw: string | undefined): number | undefined {
  if (raw === undefined) return undefined;
  if (!/^\d{1,15}$/.test(raw.trim())) throw codedError("malformed_json", "The Content-Length header is not a number.");
  return Number(raw.trim());
}

const declaredLength = (c: Context) => contentLength(c.req.header("content-length"));
const utf8 = new TextDecoder();

export const API_BODY_LIMIT = 1024 * 1024;
/** Room for a 2 MiB ICS payload in its JSON envelope; anything larger is 413 before verification. */
export const WEBHOOK_BODY_LIMIT = 3 * 1024 * 1024;

/**
 * RFC 9110 15.5.14: a declared length over the limit is refused before a byte is read. Routes below
 * read the body themselves (readBody) when they are ready to; the reservation is given back here.
 */
export function refuseDeclaredOversize(maxBytes: number): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    const n = declaredLength(c);
    if (n !== undefined && n > maxBytes) throw tooLarge(maxBytes);
    try {
      await next();
    } finally {
      releaseBody(c, c.var.deps.runtime.bodyBudget);
    }
  };
}

/** The limits of a webhook body, read by the route once the sender's headers have been checked. */
export const webhookBodyLimits = (c: Context<AppEnv>): BodyLimits => ({
  maxBytes: WEBHOOK_BODY_LIMIT,
  timeoutMs: c.var.deps.config.http.bodyTimeoutMs,
  budget: c.var.deps.runtime.bodyBudget,
});

const reservations = new WeakMap<Context, number>();

/**
 * Reads the whole body into memory within the limits, then serves it to c.req.text()/json() from
 * Hono's body cache. The bytes stay reserved in the budget until the response is made (release()).
 */
export async function readBody(c: Context, limits: BodyLimits): Promise<string> {
  if (reservations.has(c)) return c.req.raw.body ? c.req.text() : "";
  const declared = declaredLength(c);
  if (declared !== undefined && declared > limits.maxBytes) throw tooLarge(limits.maxBytes);
  const stream = c.req.raw.body;
  reservations.set(c, 0);
  if (!stream) return "";
  const reserve = (n: number) => {
    if (!limits.budget.take(n)) throw busy();
    reservations.set(c, reservations.get(c)! + n);
  };
  if (declared !== undefined) reserve(declared);
  const reader = stream.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(tooSlow(limits.timeoutMs)), limits.timeoutMs);
  });
  try {
    for (;;) {
      const { done, value } = await Promise.race([reader.read(), deadline]);
      if (done) break;
      size += value.byteLength;
      if (size > limits.maxBytes) throw tooLarge(limits.maxBytes);
      // A chunked body (or one longer than declared) reserves as it streams.
      if (size > (declared ?? 0)) reserve(size - Math.max(declared ?? 0, size - value.byteLength));
      chunks.push(value);
    }
  } catch (err) {
    reader.cancel().catch(() => {});
    throw err instanceof AppError ? err : notReceived();
  } finally {
    clearTimeout(timer);
  }
  const body = new Uint8Array(size);
  let at = 0;
  for (const chunk of chunks) {
    body.set(chunk, at);
    at += chunk.byteLength;
  }
  // Downstream readers (validators, c.req.text()) read this copy, not the socket.
  const { url, method, headers } = c.req.raw;
  c.req.raw = new Request(url, { method, headers, body });
  return utf8.decode(body);
}

/**
 * For answers made ahead of Hono: a node:http body of a declared `length` (already checked against
 * the limit and reserved in the budget by the caller), decoded as readBody decodes it, within
 * `timeoutMs`. A body cut short or too slow is refused as readBody refuses it. Once `res` is over
 * (answered before the body arrived, or the connection gone) the read is given up: node:http no
 * longer reports on a request whose response went out first.
 */
export function readDeclaredBody(req: IncomingMessage, res: ServerResponse, length: number, timeoutMs: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const body = Buffer.allocUnsafe(length);
    let at = 0;
    const finish = (err: Error | null) => {
      clearTimeout(timer);
      req.off("data", onData).off("end", onEnd).off("error", onFail).off("close", onClose);
      res.off("close", onFail);
      if (err) reject(err);
      else resolve(utf8.decode(body));
    };
    const onData = (chunk: Buffer) => {
      // node:http stops a body at its Content-Length; the check keeps the copy in bounds regardless.
      if (at + chunk.length > length) return finish(codedError("payload_too_large", "The body is longer than its Content-Length."));
      chunk.copy(body, at);
      at += chunk.length;
    };
    const onEnd = () => finish(at === length ? null : notReceived());
    const onFail = () => finish(notReceived());
    const onClose = () => {
      if (!req.complete) onFail();
    };
    const timer = setTimeout(() => finish(tooSlow(timeoutMs)), timeoutMs);
    req.on("data", onData).on("end", onEnd).on("error", onFail).on("close", onClose);
    res.on("close", onFail);
  });
}

/** Gives the request's reserved bytes back to the budget (after the response is made). */
export function releaseBody(c: Context, budget: BodyBudget): void {
  const n = reservations.get(c);
  if (n) budget.give(n);
  reservations.delete(c);
}

/**
 * For JSON APIs: reads a write's body within the limits before the validators see it, and gives the
 * reservation back when the response is made.
 */
export function bufferBody(limits: (c: Context<AppEnv>) => BodyLimits): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    const l = limits(c);
    try {
      if (c.req.method === "POST" || c.req.method === "PUT" || c.req.method === "PATCH" || c.req.method === "DELETE") await readBody(c, l);
      await next();
    } finally {
      releaseBody(c, l.budget);
    }
  };
}
