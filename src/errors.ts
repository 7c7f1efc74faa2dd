import type { output, ZodError, ZodType } from "zod";

// One list of error codes, shared by thrown errors, the OpenAPI document and the JSON answers.
// Codes are stable snake_case strings: clients branch on them.
export const ERROR_CODES = {
  unauthorized: { status: 401, title: "Unauthorized" },
  forbidden: { status: 403, title: "Forbidden" },
  not_found: { status: 404, title: "Not found" },
  method_not_allowed: { status: 405, title: "Method not allowed" },
  conflict: { status: 409, title: "Conflict" },
  payload_too_large: { status: 413, title: "Payload too large" },
  unsupported_media_type: { status: 415, title: "Unsupported media type" },
  validation_failed: { status: 422, title: "Validation failed" },
  malformed_json: { status: 400, title: "Malformed JSON" },
  internal_error: { status: 500, title: "Internal server error" },
  service_unavailable: { status: 503, title: "Service unavailable" },
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
  static fromZod(error: ZodError): ValidationError {
    return new ValidationError(
      error.issues.slice(0, 50).map((i) => ({ path: i.path.map(String).join(".") || "(body)", message: i.message, code: i.code })),
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
