import { randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import postgres from "postgres";
import { inject } from "vitest";
import { type Database, openDatabase } from "../../src/db/client.js";

export const onPostgres = (): boolean => inject("pgTemplate") !== null;

/** A fresh, migrated database for one test file (or one test). */
export async function createTestDatabase(opts: { max?: number } = {}): Promise<Database & { url?: string }> {
  const pg = inject("pgTemplate");
  if (pg) {
    const name = `${pg.prefix}${randomBytes(5).toString("hex")}`;
    const admin = postgres(pg.adminUrl, { max: 1, onnotice: () => {} });
    try {
      for (let attempt = 0; ; attempt++) {
        try {
          await admin.unsafe(`create database ${name} template ${pg.template}`);
          break;
        } catch (err) {
          // Two files copying the template at the same instant can collide; try again briefly.
          if (attempt >= 20) throw err;
          await new Promise((r) => setTimeout(r, 50 + Math.random() * 100));
        }
      }
    } finally {
      await admin.end();
    }
    const u = new URL(pg.adminUrl);
    u.pathname = `/${name}`;
    const url = u.toString();
    const database = await openDatabase({ kind: "postgres", url, max: opts.max ?? 5 });
    return Object.assign(database, { url });
  }
  const file = inject("pgliteTemplate");
  return openDatabase({ kind: "pglite", loadDataDir: new Blob([readFileSync(file)]) });
}
