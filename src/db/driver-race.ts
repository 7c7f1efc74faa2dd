// postgres.js 3.4 schedules a buffered write with setImmediate; when the connection closes in
// between (the server went away), the timer runs against a null socket and throws outside any
// promise. The query it belonged to has already failed with the connection, so the throw carries no
// lost work: it is recognized narrowly here, logged, and not allowed to take the process down.
export function isPostgresClosedSocketWrite(err: unknown): boolean {
  if (!err || typeof err !== "object") return false;
  const { name, message, stack } = err as { name?: unknown; message?: unknown; stack?: unknown };
  return (
    name === "TypeError" &&
    typeof message === "string" &&
    message.includes("reading 'write'") &&
    typeof stack === "string" &&
    /postgres[\\/]src[\\/]connection\.js/.test(stack) &&
    stack.includes("nextWrite")
  );
}
