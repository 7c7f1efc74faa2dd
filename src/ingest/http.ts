// What the Google and Microsoft clients share: one bounded, timed, redirect-refusing JSON request,
// typed upstream failures, and instant parsing. Nothing here logs; messages never hold tokens or data.
import type { z } from "zod";
import { createIanaZone, UTC_ZONE, wallMs, wallToUtc } from "../ics/timezones.js";
import { MirrorApiError } from "../services/mirror-platforms.js";
import { OutboundError } from "./guarded-fetch.js";

export type ApiErrorKind =
  | "full_sync_required"
  | "rate_limited"
  | "auth"
  | "not_found"
  | "transient"
  | "bad_request"
  /** A 2xx whose body is not the documented shape (or a link pointing off the configured host). */
  | "invalid_response";

export const DEFAULT_TIMEOUT_MS = 30_000;
const MAX_PAGE_BYTES = 32 * 1024 * 1024;
const MAX_ERROR_BYTES = 64 * 1024;

export type FailWith = (kind: ApiErrorKind, status: number, reason?: string, retryAfterSeconds?: number, cause?: unknown) => Error;

/**
 * A platform's authorized JSON call for write-back (Google Calendar, Microsoft Graph): bearer token,
 * optional If-Match (RFC 9110 13.1.1) for the etag we hold, 15 s at most, failures as MirrorApiError
 * classified by the platform's own rules; `headersFor` adds what a platform wants per method.
 */
export function mirrorCaller(
  fetchFn: typeof fetch,
  classify: (status: number, errorBody: unknown) => { kind: ApiErrorKind; reason?: string },
  headersFor?: (method: string) => Record<string, string>,
) {
  return <S extends z.ZodType>(token: string, method: string, url: string | URL, body: unknown, schema: S | null, ifMatch?: string | null) => {
    const headers = new Headers({ authorization: `Bearer ${token}`, accept: "application/json", ...headersFor?.(method) });
    if (ifMatch) headers.set("if-match", ifMatch);
    return sendJson({
      fetchFn,
      url: new URL(url),
      method,
      headers,
      body,
      schema,
      timeoutMs: 15_000,
      fail: (kind, status, reason, retryAfter) => new MirrorApiError(kind, status, reason, retryAfter),
      classify,
    });
  };
}

/**
 * Sends one request through the guarded client (`fetchFn`) and returns the body parsed by `schema`
 * (nothing when null). Non-2xx answers become `fail(classify(status, body))`; a refused address, a
 * network error or a timeout is `transient` with status 0, also when it happens mid-body.
 */
export async function sendJson<S extends z.ZodType>(req: {
  fetchFn: typeof fetch;
  url: URL;
  method: string;
  headers: Headers;
  body: unknown;
  timeoutMs?: number;
  schema: S | null;
  fail: FailWith;
  classify: (status: number, errorBody: unknown) => { kind: ApiErrorKind; reason?: string };
}): Promise<z.output<S>> {
  if (req.body !== undefined) req.headers.set("content-type", "application/json");
  let res: Response;
  try {
    res = await req.fetchFn(req.url, {
      method: req.method,
      headers: req.headers,
      body: req.body === undefined ? undefined : JSON.stringify(req.body),
      signal: AbortSignal.timeout(req.timeoutMs ?? DEFAULT_TIMEOUT_MS),
      redirect: "error", // a redirect would carry the bearer token elsewhere
    });
  } catch (cause) {
    throw req.fail("transient", 0, isTimeout(cause) ? "timeout" : "network", undefined, cause);
  }
  if (!res.ok) {
    const text = await readBoundedText(res, MAX_ERROR_BYTES).catch(() => null);
    const { kind, reason } = req.classify(res.status, text === null ? undefined : safeJson(text));
    throw req.fail(kind, res.status, reason, parseRetryAfter(res.headers.get("retry-after")));
  }
  if (req.schema === null) {
    await res.body?.cancel();
    return undefined as z.output<S>;
  }
  let text: string | null;
  try {
    text = await readBoundedText(res, MAX_PAGE_BYTES);
  } catch (cause) {
    if (cause instanceof OutboundError && cause.reason === "body_too_large") text = null;
    else throw req.fail("transient", 0, isTimeout(cause) ? "timeout" : "network", undefined, cause);
  }
  if (text === null) throw req.fail("invalid_response", res.status, "bodyTooLarge");
  const parsed = req.schema.safeParse(safeJson(text));
  if (!parsed.success) throw req.fail("invalid_response", res.status, "unexpectedShape");
  return parsed.data;
}

/** Reads at most `maxBytes` of a body; null when it is larger (the rest is discarded). */
export async function readBoundedText(res: Response, maxBytes: number): Promise<string | null> {
  if (!res.body) return "";
  const reader = res.body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > maxBytes) {
      await reader.cancel();
      return null;
    }
    chunks.push(value);
  }
  return new TextDecoder().decode(Buffer.concat(chunks));
}

/** RFC 9110 10.2.3: delay-seconds or an HTTP-date. Returns whole seconds, or undefined. */
export function parseRetryAfter(value: string | null, now: Date = new Date()): number | undefined {
  if (value === null) return undefined;
  const v = value.trim();
  if (/^\d{1,9}$/.test(v)) return Number(v);
  const at = Date.parse(v);
  if (Number.isNaN(at)) return undefined;
  return Math.max(0, Math.ceil((at - now.getTime()) / 1000));
}

export function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

export function isTimeout(err: unknown): boolean {
  if (err instanceof OutboundError) return err.reason === "timeout";
  return err instanceof DOMException && (err.name === "TimeoutError" || err.name === "AbortError");
}

export function trimBase(baseUrl: string): string {
  return baseUrl.replace(/\/+$/, "");
}

const WALL_TIME = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})(?::(\d{2})(?:\.(\d+))?)?$/;

/** An RFC 3339 instant (any fraction length) as `toISOString()` UTC. Throws RangeError. */
export function toUtcIso(instant: string): string {
  // Graph writes 7 fractional digits; Date.parse only promises 3, so cut the fraction first.
  const normalized = instant.replace(/(\.\d{3})\d+/, "$1");
  const ms = Date.parse(normalized);
  if (Number.isNaN(ms)) throw new RangeError("badInstant");
  return new Date(ms).toISOString();
}

/**
 * A zone-less local date-time in an IANA zone -> UTC ISO, by the same rules as ICS TZID times
 * (src/ics/timezones.ts, RFC 5545 3.3.5: the earlier of a repeated time; a skipped time read with
 * the offset before the jump). Throws RangeError for an unreadable date-time or an unknown zone.
 */
export function zonedWallTimeToUtc(wall: string, timeZone: string): string {
  const m = WALL_TIME.exec(wall);
  if (!m) throw new RangeError("badDateTime");
  const [, y, mo, d, h, mi, s = "0", frac = "0"] = m;
  const zone = /^(UTC|Etc\/UTC|GMT|Etc\/GMT|Z)$/i.test(timeZone) ? UTC_ZONE : createIanaZone(timeZone);
  if (!zone) throw new RangeError("unknownTimeZone");
  const ms = Math.round(Number(`0.${frac}`) * 1000);
  return new Date(wallToUtc(wallMs(+y!, +mo!, +d!, +h!, +mi!, +s), zone) + ms).toISOString();
}
