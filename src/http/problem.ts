import type { Context } from "hono";
import type { ContentfulStatusCode } from "hono/utils/http-status";
import { AppError, ERROR_CODES } from "../errors.js";

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

/** RFC 9457: every non-2xx answer is application/problem+json. */
export function problemResponse(c: Context, err: AppError): Response {
  const body = problemBody(err, c.get("requestId") as string | undefined);
  return c.body(JSON.stringify(body), err.status as ContentfulStatusCode, {
    "content-type": "application/problem+json",
  });
}

export function internalError(): AppError {
  const meta = ERROR_CODES.internal_error;
  return new AppError(meta.status, "internal_error", meta.title, "Something went wrong on our side. It has been logged.");
}

export function codedError(code: keyof typeof ERROR_CODES, detail: string): AppError {
  const meta = ERROR_CODES[code];
  return new AppError(meta.status, code, meta.title, detail);
}
