import { PGlite } from "@electric-sql/pglite";
import type { ExtractTablesWithRelations } from "drizzle-orm";
import type { PgDatabase, PgQueryResultHKT, PgTransaction } from "drizzle-orm/pg-core";
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

export type Database = {
  db: Db;
  kind: "pglite" | "postgres";
  /** Runs fn on a single connection holding a session advisory lock (start-up migrations). */
  withExclusiveLock<T>(key: number, fn: (db: Db) => Promise<T>): Promise<T>;
  ping(): Promise<void>;
  close(): Promise<void>;
};

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
      async close() {
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
    async close() {
      closed = true;
      await client.close();
    },
    ...{ pglite: client },
  };
}

export function pgliteOf(database: Database): PGlite | undefined {
  return (database as Database & { pglite?: PGlite }).pglite;
}
