// Builds one migrated template database per run; every test file then gets its own copy, cheaply:
// PGlite from a data-dir dump, PostgreSQL by CREATE DATABASE ... TEMPLATE.
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import postgres from "postgres";
import type { TestProject } from "vitest/node";
import { openDatabase, pgliteOf } from "../src/db/client.js";
import { migrate } from "../src/db/migrate.js";

declare module "vitest" {
  export interface ProvidedContext {
    pgliteTemplate: string;
    pgTemplate: { adminUrl: string; template: string; prefix: string } | null;
  }
}

export function databaseUrlWith(url: string, dbName: string): string {
  const u = new URL(url);
  u.pathname = `/${dbName}`;
  return u.toString();
}

export default async function setup(project: TestProject) {
  const dir = mkdtempSync(join(tmpdir(), "thc-test-"));
  const url = process.env.DATABASE_URL;
  let teardownPg: (() => Promise<void>) | undefined;

  if (url) {
    const runId = randomBytes(4).toString("hex");
    const template = `thc_tpl_${runId}`;
    const admin = postgres(url, { max: 1, onnotice: () => {} });
    await admin.unsafe(`create database ${template}`);
    const database = await openDatabase({ kind: "postgres", url: databaseUrlWith(url, template), max: 1 });
    await migrate(database);
    await database.close();
    project.provide("pgTemplate", { adminUrl: url, template, prefix: `thc_t_${runId}_` });
    project.provide("pgliteTemplate", "");
    teardownPg = async () => {
      const dbs = await admin<{ datname: string }[]>`select datname from pg_database where datname like ${`thc_%${runId}%`}`;
      for (const { datname } of dbs) await admin.unsafe(`drop database if exists ${datname} with (force)`);
      await admin.end();
    };
  } else {
    const database = await openDatabase({ kind: "pglite" });
    await migrate(database);
    const dump = await pgliteOf(database)!.dumpDataDir("none");
    const file = join(dir, "template.tar");
    writeFileSync(file, Buffer.from(await dump.arrayBuffer()));
    await database.close();
    project.provide("pgliteTemplate", file);
    project.provide("pgTemplate", null);
  }

  return async () => {
    await teardownPg?.();
    rmSync(dir, { recursive: true, force: true });
  };
}
