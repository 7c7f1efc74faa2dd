import type { Config } from "../config.js";
import type { Db } from "../db/client.js";
import type { Clock } from "../domain/clock.js";
import type { Logger } from "../logger.js";

/** What every service verb receives. Created in main.ts (or a test) and passed down. */
export type ServiceDeps = {
  db: Db;
  clock: Clock;
  config: Config;
  logger: Logger;
};

/** Who is asking. A provider key reaches only its own provider; anything else is 404 (README, API overview). */
export type Principal = { kind: "admin" } | { kind: "provider"; providerId: string; keyId: string };

export function actorName(p: Principal): string {
  return p.kind === "admin" ? "admin" : `api_key:${p.keyId}`;
}
