import { type DestinationStream, type Logger, pino } from "pino";
import { sqlStateOf } from "./db/errors.js";

export type { Logger };

// Paths that may carry secrets or client data if a caller ever logs a whole object.
// The primary defence is not logging them at all: access logs carry the route pattern, never the path.
const REDACT = [
  "authorization",
  "*.authorization",
  "headers.authorization",
  "req.headers.authorization",
  "token",
  "*.token",
  "secret",
  "*.secret",
  "signingSecret",
  "*.signingSecret",
  "clientState",
  "*.clientState",
  "displayName",
  "*.displayName",
  "accessToken",
  "*.accessToken",
  "refreshToken",
  "*.refreshToken",
  "codeVerifier",
  "*.codeVerifier",
];

export function createLogger(opts: { level: string; destination?: DestinationStream }): Logger {
  return pino(
    {
      level: opts.level,
      base: undefined,
      timestamp: pino.stdTimeFunctions.isoTime,
      redact: { paths: REDACT, censor: "[redacted]" },
      serializers: { err: errorFields },
      formatters: { level: (label) => ({ level: label }) },
    },
    opts.destination,
  );
}

const NAME = /^[\w$.]{1,64}$/;

/**
 * What a log line may say about an error: its class, its code (ours, the driver's, or the SQLSTATE)
 * and where it was thrown. Never the message: driver and drizzle messages carry SQL parameters, and
 * parser messages quote the payload (client names, summaries).
 */
export function errorFields(err: unknown): Record<string, unknown> {
  if (!err || typeof err !== "object") return { type: typeof err };
  const e = err as { name?: unknown; code?: unknown; cause?: unknown; stack?: unknown; constructor?: { name?: unknown } };
  const type = typeof e.name === "string" && NAME.test(e.name) ? e.name : typeof e.constructor?.name === "string" ? e.constructor.name : "Error";
  const fields: Record<string, unknown> = { type };
  if (typeof e.code === "string" && NAME.test(e.code)) fields.code = e.code;
  const sqlState = sqlStateOf(err);
  if (sqlState) fields.sqlState = sqlState;
  const cause = e.cause as { name?: unknown; code?: unknown } | undefined;
  if (cause && typeof cause === "object") {
    if (typeof cause.name === "string" && NAME.test(cause.name)) fields.causeType = cause.name;
    if (fields.code === undefined && typeof cause.code === "string" && NAME.test(cause.code)) fields.code = cause.code;
  }
  // Frames only: the stack's first line repeats the message.
  if (typeof e.stack === "string")
    fields.frames = e.stack
      .split("\n")
      .filter((l) => l.startsWith("    at "))
      .slice(0, 8)
      .map((l) => l.trim());
  return fields;
}
