import type { Db, Tx } from "./client.js";

/** The one way services open a transaction; the callback's writes commit together or not at all. */
export function withTransaction<T>(db: Db, fn: (tx: Tx) => Promise<T>): Promise<T> {
  return db.transaction(fn);
}
