// What the drivers throw, sorted by what the client should hear. postgres.js and PGlite errors (and
// drizzle's wrapper, whose message holds the SQL and its parameters) are never shown or logged as
// they are: callers keep only the class, the SQLSTATE and the driver's code.

/** Node socket errors and postgres.js connection errors: the database cannot be reached. */
const UNREACHABLE_CODES = new Set([
  "ECONNREFUSED",
  "ECONNRESET",
  "ETIMEDOUT",
  "EPIPE",
  "EHOSTUNREACH",
  "ENETUNREACH",
  "ENOTFOUND",
  "EAI_AGAIN",
  "CONNECT_TIMEOUT",
  "CONNECTION_CLOSED",
  "CONNECTION_ENDED",
  "CONNECTION_DESTROYED",
]);

// PostgreSQL Appendix A (SQLSTATE codes): five characters; no class begins with "E", which keeps
// Node's five-letter codes (EPIPE) apart.
const SQLSTATE = /^(?!E)[0-9A-Z]{5}$/;

export type DbFailure =
  /** Down, restarting, out of connections, or a statement/lock timeout: retry later (503). */
  | "unavailable"
  /** A data exception (SQLSTATE class 22): a value validation should have refused (422). */
  | "invalid_value"
  /** Anything else: a bug. */
  | "other";

function* causes(err: unknown): Generator<Record<string, unknown>> {
  let e = err;
  for (let depth = 0; depth < 5 && e && typeof e === "object"; depth++) {
    yield e as Record<string, unknown>;
    e = (e as { cause?: unknown }).cause;
  }
}

/** The SQLSTATE of the first error in the cause chain that carries one. */
export function sqlStateOf(err: unknown): string | undefined {
  for (const e of causes(err)) if (typeof e.code === "string" && SQLSTATE.test(e.code)) return e.code;
  return undefined;
}

/** A driver or socket code such as ECONNREFUSED or CONNECT_TIMEOUT. */
export function driverCodeOf(err: unknown): string | undefined {
  for (const e of causes(err)) if (typeof e.code === "string" && UNREACHABLE_CODES.has(e.code)) return e.code;
  return undefined;
}

/** The embedded database refuses every query while closing and once closed (at shutdown), with these messages and no code. */
const PGLITE_CLOSED = /^PGlite is clos(ing|ed)$/;

export function classifyDbError(err: unknown): DbFailure | undefined {
  if (driverCodeOf(err)) return "unavailable";
  for (const e of causes(err)) if (e instanceof Error && PGLITE_CLOSED.test(e.message)) return "unavailable";
  const state = sqlStateOf(err);
  if (!state) return undefined;
  // 08: connection exception; 53: insufficient resources; 57P0x: shutdown/restart; 57014: statement
  // timeout or cancel; 55P03: lock timeout; 40001/40P01: serialization failure, deadlock (retryable).
  if (/^(08|53)/.test(state) || /^57P0\d$/.test(state) || ["57014", "55P03", "40001", "40P01"].includes(state)) return "unavailable";
  if (state.startsWith("22")) return "invalid_value";
  return "other";
}
