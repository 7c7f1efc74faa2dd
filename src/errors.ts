import type { output, ZodError, ZodType } from "zod";

// One list of error codes, shared by thrown errors, the OpenAPI document and the JSON answers.
// Codes are stable snake_case strings: clients branch on them.
export const ERROR_CODES = {
  unauthorized: { status: 401, title: "Unauthorized" },
  forbidden: { status: 403, title: "Forbidden" },
  not_found: { status: 404, title: "Not found" },
  method_not_allowed: { status: 405, title: "Method not allowed" },
  conflict: { status: 409, title: "Conflict" },
  request_timeout: { status: 408, title: "Request timeout" },
  payload_too_large: { status: 413, title: "Payload too large" },
  unsupported_media_type: { status: 415, title: "Unsupported media type" },
  validation_failed: { status: 422, title: "Validation failed" },
  // NUL or an unpaired UTF-16 surrogate in a JSON string: PostgreSQL text cannot hold them.
  invalid_characters: { status: 422, title: "Invalid characters" },
  // A value the database refused (out of range, malformed), caught after validation missed it.
  invalid_value: { status: 422, title: "Invalid value" },
  rate_limited: { status: 429, title: "Too many requests" },
  malformed_json: { status: 400, title: "Malformed JSON" },
  internal_error: { status: 500, title: "Internal server error" },
  service_unavailable: { status: 503, title: "Service unavailable" },
  database_unavailable: { status: 503, title: "Database unavailable" },
  server_busy: { status: 503, title: "Server busy" },
} as const;

export type ProblemField = { path: string; message: string; code?: string };

/** An expected failure that becomes an RFC 9457 problem. `code` is the stable machine-readable key. */
export class AppError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    readonly title: string,
    readonly detail: string,
    readonly extra: Record<string, unknown> = {},
  ) {
    super(detail);
    this.name = "AppError";
  }
}

export class NotFoundError extends AppError {
  constructor(what = "resource") {
    super(404, "not_found", ERROR_CODES.not_found.title, `No such ${what}.`);
  }
}

export class UnauthorizedError extends AppError {
  constructor(detail = "A valid bearer token is required.") {
    super(401, "unauthorized", ERROR_CODES.unauthorized.title, detail);
  }
}

export class ValidationError extends AppError {
  constructor(fields: ProblemField[], detail = "The request has invalid fields.") {
    super(422, "validation_failed", ERROR_CODES.validation_failed.title, detail, { errors: fields });
  }

  /** The failing fields by path; at most 50, so a hostile body cannot make a huge answer. */
  static fromZod(error: ZodError, detail?: string): ValidationError {
    return new ValidationError(
      error.issues.slice(0, 50).map((i) => ({ path: i.path.map(String).join(".") || "(body)", message: i.message, code: i.code })),
      detail,
    );
  }
}

/** Services validate again at their boundary (webhooks and workers call them too). */
export function parseInput<S extends ZodType>(schema: S, input: unknown): output<S> {
  const r = schema.safeParse(input);
  if (!r.success) throw ValidationError.fromZod(r.error);
  return r.data;
}

/** A 422 with a domain-specific code (e.g. `insecure_scheme`, `end_before_start`). */
export class UnprocessableError extends AppError {
  constructor(code: string, detail: string, extra: Record<string, unknown> = {}) {
    super(422, code, "Unprocessable request", detail, extra);
  }
}

/** The caller may see the resource but not make this change (e.g. a provider setting network credentialing). */
export class ForbiddenError extends AppError {
  constructor(code: string, detail: string, extra: Record<string, unknown> = {}) {
    super(403, code, ERROR_CODES.forbidden.title, detail, extra);
  }
}

export class ConflictError extends AppError {
  constructor(code: string, detail: string, extra: Record<string, unknown> = {}) {
    super(409, code, ERROR_CODES.conflict.title, detail, extra);
  }
}

/** A 429 or 503 the client should retry: the answer carries `Retry-After` (RFC 9110 10.2.3). */
export class RetryLaterError extends AppError {
  constructor(
    code: "rate_limited" | "database_unavailable" | "server_busy" | "service_unavailable",
    detail: string,
    readonly retryAfterSeconds: number,
  ) {
    super(ERROR_CODES[code].status, code, ERROR_CODES[code].title, detail);
  }
}

/** NUL or an unpaired surrogate in a JSON string (the path names where, never the text). */
export class InvalidCharactersError extends AppError {
  constructor(path: string) {
    const message = "Text may not contain NUL (U+0000) or unpaired surrogate characters.";
    super(422, "invalid_characters", ERROR_CODES.invalid_characters.title, message, { errors: [{ path, message, code: "invalid_characters" }] });
  }
}
