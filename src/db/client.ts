import { PGlite } from "@electric-sql/pglite";
import type { ExtractTablesWithRelations, SQL } from "drizzle-orm";
import type { PgDatabase, PgDialect, PgQueryResultHKT, PgSession, PgTransaction } from "drizzle-orm/pg-core";
import { drizzle as drizzlePglite } from "drizzle-orm/pglite";
import { drizzle as drizzlePostgres } from "drizzle-orm/postgres-js";
import postgres from "postgres";
import * as schema from "./schema.js";

export type Schema = typeof schema;
/** One drizzle type over both drivers: services never know which one runs. */
export type Db = PgDatabase<PgQueryResultHKT, Schema>;
export type Tx = PgTransaction<PgQueryResultHKT, Schema, ExtractTablesWithRelations<Schema>>;
/** Anything a query can run on: the database or an open transaction. */
export type Executor = Db | Tx;

/**
 * The rows of a raw `execute`: postgres.js answers the rows themselves, PGlite an object holding
 * them. `T` is what the statement selects; nothing checks it.
 */
export function executedRows<T>(result: unknown): T[] {
  return (Array.isArray(result) ? result : (result as { rows: unknown[] }).rows) as T[];
}

/**
 * A raw statement, prepared: postgres.js keeps it prepared per connection (keyed by its text), so
 * PostgreSQL parses it once per connection and then only binds and executes it. Through
 * `db.execute`, postgres.js first asks the server to describe the statement's parameters: two round
 * trips and a parse on every call. For hot statements of fixed text only: every connection keeps
 * each one it ran. Rows as executedRows reads them (PGlite runs it as before).
 */
export async function executePrepared<T>(db: Executor, query: SQL): Promise<T[]> {
  // PgDatabase.execute's two steps, with a name: drizzle's drivers take any name as "prepare"
  // (postgres.js names the statement itself), as its query builders' .prepare(name) does.
  const { dialect, session } = db as unknown as { dialect: PgDialect; session: PgSession };
  return executedRows<T>(await session.prepareQuery(dialect.sqlToQuery(query), undefined, "prepared", false).execute());
}

export type Database = {
  db: Db;
  kind: "pglite" | "postgres";
  /** Runs fn on a single connection holding a session advisory lock (start-up migrations). */
  withExclusiveLock<T>(key: number, fn: (db: Db) => Promise<T>): Promise<T>;
  ping(): Promise<void>;
  /**
   * LISTEN on `channel` (PostgreSQL delivers a NOTIFY only once its transaction commits).
   * `listening` runs each time the LISTEN is (re)established, `dropped` each time the listening
   * connection goes away: notifications sent in between are lost, so a caller keeping state by them
   * must treat a drop, and a new LISTEN, as "anything may have changed". Resolves once listening.
   */
  listen(channel: string, on: ListenHandlers): Promise<{ stop(): Promise<void> }>;
  close(): Promise<void>;
};

export type ListenHandlers = { notify(payload: string): void; listening(): void; dropped(): void };

export type DatabaseOptions =
  | {
      kind: "postgres";
      url: string;
      max?: number;
      /** A connection attempt that takes longer fails (the database is down or unreachable). */
      connectTimeoutMs?: number;
      /** PostgreSQL's statement_timeout: no statement holds a connection longer. */
      statementTimeoutMs?: number;
    }
  | { kind: "pglite"; dataDir?: string /* absent: in memory */; loadDataDir?: Blob };

export async function openDatabase(opts: DatabaseOptions): Promise<Database> {
  if (opts.kind === "postgres") {
    const sql = postgres(opts.url, {
      max: opts.max ?? 10,
      onnotice: () => {},
      // The schema has no array columns. postgres.js otherwise runs a type query on every new
      // connection from a promise nobody awaits: a connection reset during it (the server going
      // away) surfaces as an unhandled rejection instead of a failed query.
      fetch_types: false,
      connect_timeout: (opts.connectTimeoutMs ?? 2_000) / 1000,
      // Idle connections are closed, so a restarted server is met with fresh ones.
      idle_timeout: 60,
      // postgres.js backs off up to 20 s between reconnects while queries wait for a connection;
      // a short, steady retry lets a waiting query fail fast (or succeed) while the server is down.
      backoff: () => 0.25,
      connection: {
        statement_timeout: opts.statementTimeoutMs ?? 15_000,
        idle_in_transaction_session_timeout: Math.max(opts.statementTimeoutMs ?? 15_000, 30_000),
      },
    });
    const db = drizzlePostgres(sql, { schema, casing: "snake_case" }) as unknown as Db;
    const listeners = new Set<ReturnType<typeof listenPostgres>>();
    return {
      db,
      kind: "postgres",
      async withExclusiveLock(key, fn) {
        const single = postgres(opts.url, { max: 1, onnotice: () => {}, fetch_types: false });
        try {
          await single`select pg_advisory_lock(${key})`;
          return await fn(drizzlePostgres(single, { schema, casing: "snake_case" }) as unknown as Db);
        } finally {
          await single.end({ timeout: 5 });
        }
      },
      async ping() {
        await sql`select 1`;
      },
      async listen(channel, on) {
        const listener = listenPostgres(opts, channel, on);
        listeners.add(listener);
        await listener.ready;
        return {
          stop: async () => {
            listeners.delete(listener);
            await listener.stop();
          },
        };
      },
      async close() {
        await Promise.all([...listeners].map((l) => l.stop()));
        await sql.end({ timeout: 10 });
      },
    };
  }
  const client = await PGlite.create({
    ...(opts.dataDir ? { dataDir: opts.dataDir } : {}),
    ...(opts.loadDataDir ? { loadDataDir: opts.loadDataDir } : {}),
  });
  const db = drizzlePglite(client, { schema, casing: "snake_case" }) as unknown as Db;
  let closed = false;
  return {
    db,
    kind: "pglite",
    // PGlite is one connection in one process: nothing else can race us.
    withExclusiveLock: (_key, fn) => fn(db),
    async ping() {
      if (closed) throw new Error("database closed");
      await client.query("select 1");
    },
    async listen(channel, on) {
      // One connection in this process: the NOTIFY of a committing transaction is delivered
      // before its commit resolves, and there is no connection to lose.
      const unlisten = await client.listen(channel, on.notify);
      on.listening();
      return { stop: async () => (closed ? undefined : unlisten()) };
    },
    async close() {
      closed = true;
      await client.close();
    },
    ...{ pglite: client },
  };
}

const RELISTEN_MS = 250;

/**
 * A dedicated connection (not from the pool) holding LISTEN. postgres.js's own `listen` re-listens
 * after a drop but does not report the drop itself, so this one is built from its `onnotify` and
 * `onclose` options instead.
 */
function listenPostgres(opts: Extract<DatabaseOptions, { kind: "postgres" }>, channel: string, on: ListenHandlers) {
  let stopped = false;
  let up = false;
  let retry: NodeJS.Timeout | undefined;
  let subscribing: Promise<void> | undefined;
  const client = postgres(opts.url, {
    max: 1,
    max_lifetime: null,
    fetch_types: false,
    onnotice: () => {},
    connect_timeout: (opts.connectTimeoutMs ?? 2_000) / 1000,
    backoff: () => RELISTEN_MS / 1000,
    // Handled by postgres.js's connection (it is how its own `listen` works), not in its types.
    ...({
      onnotify: (ch: string, payload: string) => {
        if (ch === channel) on.notify(payload);
      },
    } as object),
    onclose: () => {
      if (stopped) return;
      if (up) {
        up = false;
        on.dropped();
      }
      schedule();
    },
  });
  const subscribe = async () => {
    try {
      await client`listen ${client(channel)}`;
      if (stopped) return;
      up = true;
      on.listening();
    } catch {
      if (stopped) return;
      if (up) {
        up = false;
        on.dropped();
      }
      schedule();
    }
  };
  const schedule = () => {
    if (stopped || retry || subscribing) return;
    retry = setTimeout(() => {
      retry = undefined;
      subscribing = subscribe().finally(() => {
        subscribing = undefined;
      });
    }, RELISTEN_MS);
    retry.unref();
  };
  subscribing = subscribe().finally(() => {
    subscribing = undefined;
  });
  return {
    ready: subscribing,
    async stop() {
      stopped = true;
      clearTimeout(retry);
      await client.end({ timeout: 2 });
    },
  };
}

export function pgliteOf(database: Database): PGlite | undefined {
  return (database as Database & { pglite?: PGlite }).pglite;
}
