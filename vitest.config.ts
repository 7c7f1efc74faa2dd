import { defineConfig } from "vitest/config";
import { isPostgresClosedSocketWrite } from "./src/db/driver-race.js";

// Two tiers. "once": pure rules, parsers, protocol fakes and the real server process (which always
// runs on its own PGlite directory); they do not depend on the database backend, so CI runs them
// once. "db": everything that talks to the test database; CI runs it on PGlite and on PostgreSQL.
// A new test file lands in "db" unless it sits under one of the "once" folders.
const ONCE = ["test/domain/**", "test/ics/**", "test/fakes/**", "test/process/**", "test/tooling/**", "test/config.test.ts"];
const ALL = ["test/**/*.test.ts", "test/**/*.test.tsx"];

export default defineConfig({
  test: {
    testTimeout: 30_000,
    hookTimeout: 60_000,
    pool: "forks",
    // The fault test stops PostgreSQL under load; postgres.js can then throw from a write timer
    // against a closed socket (src/db/driver-race.ts). Only that throw is let through; main.ts logs it.
    onUnhandledError: (error) => (isPostgresClosedSocketWrite(error) ? false : undefined),
    projects: [
      {
        extends: true,
        test: { name: "once", include: ONCE.map((g) => (g.endsWith("**") ? `${g}/*.test.{ts,tsx}` : g)) },
      },
      { extends: true, test: { name: "db", include: ALL, exclude: ONCE, globalSetup: ["test/global-setup.ts"] } },
    ],
  },
});
