// Preloaded into the server child only (`node --import tsx --import ./test/bench/loopback.ts src/main.ts`).
// src/main.ts listens on 0.0.0.0 and has no HOST setting; the bench must never listen beyond
// loopback, so a wildcard or missing host becomes 127.0.0.1. Nothing else about the server changes.
import net from "node:net";

const WILDCARD = new Set(["0.0.0.0", "::", "", "[::]"]);
const original = net.Server.prototype.listen;

function loopbackListen(this: net.Server, ...args: unknown[]): net.Server {
  const first = args[0];
  if (typeof first === "number" || (typeof first === "string" && /^\d+$/.test(first))) {
    const host = args[1];
    if (typeof host === "string") {
      if (WILDCARD.has(host)) args[1] = "127.0.0.1";
    } else {
      args.splice(1, 0, "127.0.0.1");
    }
  } else if (first && typeof first === "object" && !("fd" in first) && !("path" in first && (first as { path?: unknown }).path)) {
    const opts = first as net.ListenOptions;
    if (opts.host === undefined || WILDCARD.has(opts.host)) args[0] = { ...opts, host: "127.0.0.1" };
  }
  return (original as (...a: unknown[]) => net.Server).apply(this, args);
}

net.Server.prototype.listen = loopbackListen as typeof net.Server.prototype.listen;
