import type { Db, Executor, Tx } from "./client.js";

type Pending = { db: Db; hooks: ((db: Db) => void)[] };
const open = new WeakMap<Executor, Pending>();

/** The one way services open a transaction; the callback's writes commit together or not at all. */
export async function withTransaction<T>(db: Db, fn: (tx: Tx) => Promise<T>): Promise<T> {
  const pending: Pending = { db, hooks: [] };
  const result = await db.transaction((tx) => {
    open.set(tx, pending);
    return fn(tx);
  });
  // After COMMIT only: a rolled-back transaction's hooks never run.
  for (const hook of pending.hooks) hook(db);
  return result;
}

/**
 * Runs `hook` in this process once the transaction `tx` has committed (at once when `tx` is the
 * database itself, whose statements commit as they run). For in-process state that must follow a
 * commit; other processes learn of it by NOTIFY, which PostgreSQL also delivers only on commit.
 */
export function afterCommit(tx: Executor, hook: (db: Db) => void): void {
  const pending = open.get(tx);
  if (pending) pending.hooks.push(hook);
  else hook(tx as Db);
}
