// Each value list (src/domain/value-lists.ts) is a CHECK constraint in the database: a value outside
// it is refused there too, whatever code path writes it.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { is, sql } from "drizzle-orm";
import { getTableConfig, PgTable } from "drizzle-orm/pg-core";
import { describe, expect, it } from "vitest";
import { sqlStateOf } from "../../src/db/errors.js";
import { MIGRATIONS_FOLDER } from "../../src/db/migrate.js";
import * as schema from "../../src/db/schema.js";
import { makeTestApp } from "../helpers/app.js";
import { createFeed, createSession, providerWithClient } from "../helpers/factories.js";

const t = await makeTestApp();
const db = t.database.db;

const snake = (name: string) => name.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);

/** Every column the schema declares with a value list: table, column, values. */
const listColumns = Object.values(schema)
  .filter((v) => is(v, PgTable))
  .flatMap((table) => {
    const config = getTableConfig(table);
    return config.columns
      .filter((c) => c.enumValues !== undefined && c.enumValues.length > 0)
      .map((c) => ({ table: config.name, column: snake(c.name), values: [...(c.enumValues ?? [])].sort() }));
  });

type Constraint = { table: string; name: string; def: string };

async function checkConstraints(): Promise<Constraint[]> {
  const result = await db.execute(
    sql`select conrelid::regclass::text as "table", conname as name, pg_get_constraintdef(oid) as def from pg_constraint where contype = 'c'`,
  );
  return ((result as unknown as { rows?: Constraint[] }).rows ?? result) as Constraint[];
}

/** The SQLSTATE a statement fails with, or "ok". */
async function outcomeOf(statement: ReturnType<typeof sql>): Promise<string> {
  try {
    await db.execute(statement);
    return "ok";
  } catch (err) {
    return sqlStateOf(err) ?? "no sqlstate";
  }
}

async function world() {
  const { provider, client } = await providerWithClient(t);
  const session = await createSession(t, provider.id, client.id);
  const feed = await createFeed(t, provider.id, { privacy: "initials" });
  return { provider, client, session, feed };
}

describe("value lists in the database", () => {
  it("every column with a value list carries a CHECK holding exactly that list", async () => {
    expect(listColumns.map((c) => `${c.table}.${c.column}`)).toEqual(
      expect.arrayContaining(["feeds.privacy", "sessions.modality", "calendar_sources.status", "confirmations.outcome", "deliveries.state"]),
    );
    const constraints = await checkConstraints();
    for (const { table, column, values } of listColumns) {
      const found = constraints.filter((c) => c.table === table && new RegExp(`\\b${column}\\b`).test(c.def));
      expect(
        found.map((c) => c.name),
        `${table}.${column}`,
      ).toEqual([`${table}_${column}_check`]);
      const inDatabase = [...found[0]!.def.matchAll(/'([^']*)'/g)].map((m) => m[1]).sort();
      expect(inDatabase, `${table}.${column}`).toEqual(values);
    }
  });

  it.each([
    ["feeds.privacy", "feeds", "privacy", "everything"],
    ["sessions.modality", "sessions", "modality", "phone"],
    ["sessions.status", "sessions", "status", "done"],
    ["clients.insurance", "clients", "insurance", "medicaid"],
  ])("refuses a %s outside its list (check_violation) and keeps the row as it was", async (_, table, column, bad) => {
    const w = await world();
    const id = { feeds: w.feed, sessions: w.session, clients: w.client }[table]!.id;
    const before = await db.execute(sql`select ${sql.identifier(column)} as v from ${sql.identifier(table)} where id = ${id}`);
    expect(await outcomeOf(sql`update ${sql.identifier(table)} set ${sql.identifier(column)} = ${bad} where id = ${id}`)).toBe("23514");
    expect(await db.execute(sql`select ${sql.identifier(column)} as v from ${sql.identifier(table)} where id = ${id}`)).toEqual(before);
  });

  it("refuses an insert with a value outside its list, and takes one inside it", async () => {
    const { provider } = await world();
    const source = (state: string) =>
      sql`insert into calendar_sources (id, provider_id, kind, settings, secrets, status) values (gen_random_uuid(), ${provider.id}, 'ics_url', '{}', '{}', ${state})`;
    expect(await outcomeOf(source("paused"))).toBe("23514");
    expect(await outcomeOf(source("failing"))).toBe("ok");
  });

  it("the migration that adds the checks applies to a database already holding data", async () => {
    const migration = readFileSync(join(MIGRATIONS_FOLDER, "0013_value_list_checks.sql"), "utf8")
      .split("--> statement-breakpoint")
      .map((s) => s.trim())
      .filter(Boolean);
    const added = migration.map((s) => /ADD CONSTRAINT "([^"]+)"/.exec(s)?.[1]);
    expect([...added].sort()).toEqual(listColumns.map((c) => `${c.table}_${c.column}_check`).sort());
    // The database as it was before the migration, with rows the server wrote without the checks.
    for (const c of listColumns)
      await db.execute(sql`alter table ${sql.identifier(c.table)} drop constraint ${sql.identifier(`${c.table}_${c.column}_check`)}`);
    const w = await world();
    await createSession(t, w.provider.id, w.client.id, { kind: "in_person", start: "2026-12-02T15:00:00-05:00" });
    await createFeed(t, w.provider.id, { privacy: "full", acknowledgePhi: true });
    expect((await t.request("POST", `/api/v1/sessions/${w.session.id}/cancel`)).status).toBe(200);
    for (const statement of migration) expect(await outcomeOf(sql.raw(statement)), statement).toBe("ok");
    expect((await checkConstraints()).filter((c) => added.includes(c.name))).toHaveLength(listColumns.length);
  });
});
