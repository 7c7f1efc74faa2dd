import type { Context } from "hono";
import { HTTPException } from "hono/http-exception";
import type { ContentfulStatusCode } from "hono/utils/http-status";
import { classifyDbError } from "../db/errors.js";
import { AppError, ERROR_CODES, RetryLaterError } from "../errors.js";
import type { Logger } from "../logger.js";

export const PROBLEM_TYPE_BASE = "https://docs.telehealth-calendar.invalid/problems/";

export type Problem = {
  type: string;
  title: string;
  status: number;
  detail: string;
  code: string;
  requestId?: string;
  instance?: string;
  [extra: string]: unknown;
};

export function problemBody(err: AppError, requestId: string | undefined): Problem {
  return {
    type: PROBLEM_TYPE_BASE + err.code,
    title: err.title,
    status: err.status,
    detail: err.detail,
    code: err.code,
    ...(requestId ? { requestId } : {}),
    ...err.extra,
  };
}

/** The headers of a problem answer (Retry-After when the client should come back). */
export function problemHeaders(err: AppError): Record<string, string> {
  return {
    "content-type": "application/problem+json",
    ...(err instanceof RetryLaterError ? { "retry-after": String(err.retryAfterSeconds) } : {}),
  };
}

/** RFC 9457: every non-2xx answer is application/problem+json. */
export function problemResponse(c: Context, err: AppError): Response {
  const body = problemBody(err, c.get("requestId") as string | undefined);
  return c.body(JSON.stringify(body), err.status as ContentfulStatusCode, problemHeaders(err));
}

/**
 * The problem a thrown thing is answered with, logged when it is the server's fault (class, codes
 * and frames only, see errorFields in the logger: a driver's message holds SQL parameters).
 */
export function reportFailure(logger: Logger, requestId: string | undefined, err: unknown): AppError {
  const failure = problemForError(err);
  if (failure.status >= 500) {
    logger[failure.code === "internal_error" ? "error" : "warn"]({ requestId, code: failure.code, err }, "request failed");
  } else if (failure.code === "invalid_value") {
    logger.warn({ requestId, code: failure.code, err }, "database refused a value");
  }
  return failure;
}

export function internalError(): AppError {
  const meta = ERROR_CODES.internal_error;
  return new AppError(meta.status, "internal_error", meta.title, "Something went wrong on our side. It has been logged.");
}

export function codedError(code: keyof typeof ERROR_CODES, detail: string): AppError {
  const meta = ERROR_CODES[code];
  return new AppError(meta.status, code, meta.title, detail);
}

/** Seconds a client should wait before retrying while the database is unreachable. */
export const DATABASE_RETRY_AFTER_SECONDS = 5;

const HTTP_EXCEPTION_CODES = { 400: "malformed_json", 408: "request_timeout", 413: "payload_too_large", 415: "unsupported_media_type" } as const;

/** Every thrown thing becomes a problem with a stable code; only an unknown failure is a 500. */
export function problemForError(err: unknown): AppError {
  if (err instanceof AppError) return err;
  if (err instanceof HTTPException) {
    const code = HTTP_EXCEPTION_CODES[err.status as keyof typeof HTTP_EXCEPTION_CODES];
    if (code) return codedError(code, code === "malformed_json" ? "The body is not valid JSON." : ERROR_CODES[code].title + ".");
  }
  switch (classifyDbError(err)) {
    case "unavailable":
      return new RetryLaterError("database_unavailable", "The database is not reachable right now; retry shortly.", DATABASE_RETRY_AFTER_SECONDS);
    case "invalid_value":
      return codedError("invalid_value", "A value is out of range or malformed.");
    default:
      return internalError();
  }
}
