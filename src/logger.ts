import { pino, type DestinationStream, type Logger } from "pino";

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
      formatters: { level: (label) => ({ level: label }) },
    },
    opts.destination,
  );
}
