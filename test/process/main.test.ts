// The real process: `npm start`'s entry point on a fresh PGlite directory, then SIGTERM.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { freePort, spawnServer, waitReady } from "../helpers/server-process.js";

const dir = mkdtempSync(join(tmpdir(), "thc-main-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function start(env: Record<string, string>) {
  return spawnServer(process.execPath, ["--import", "tsx", "src/main.ts"], { DATA_DIR: join(dir, "data"), ...env });
}

describe("the server process", () => {
  it("starts on embedded PGlite, prints a generated admin token once, and drains on SIGTERM", async () => {
    const port = await freePort();
    const first = start({ PORT: String(port) });
    await waitReady(port);
    const token = /Admin token[^\n]*\n\s+(tha_\S+)/.exec(first.output())?.[1];
    expect(token, first.output()).toBeDefined();
    const ok = await fetch(`http://127.0.0.1:${port}/api/v1/providers/00000000-0000-4000-8000-000000000000`, {
      headers: { authorization: `Bearer ${token}` },
    });
    expect(ok.status).toBe(404); // authenticated; the provider simply does not exist
    first.child.kill("SIGTERM");
    expect(await first.exited).toBe(0);
    expect(first.output()).not.toMatch(/"level":"info".*tha_/); // never in a log line

    const port2 = await freePort();
    const second = start({ PORT: String(port2) });
    await waitReady(port2);
    expect(second.output()).not.toContain("Admin token");
    second.child.kill("SIGTERM");
    expect(await second.exited).toBe(0);
  }, 90_000);

  it("accepts ADMIN_TOKEN from the environment", async () => {
    const port = await freePort();
    const p = start({ PORT: String(port), ADMIN_TOKEN: "x", DATA_DIR: join(dir, "data2") });
    await waitReady(port);
    const res = await fetch(`http://127.0.0.1:${port}/api/v1/providers/00000000-0000-4000-8000-000000000000`, {
      headers: { authorization: "Bearer x" },
    });
    expect(res.status).toBe(404);
    p.child.kill("SIGTERM");
    expect(await p.exited).toBe(0);
  }, 90_000);

  it("exits non-zero on bad config, naming keys but not values", async () => {
    const p = start({ PORT: "not-a-port-s3cret", LOG_LEVEL: "loud" });
    expect(await p.exited).toBe(1);
    expect(p.output()).toContain("PORT");
    expect(p.output()).toContain("LOG_LEVEL");
    expect(p.output()).not.toContain("not-a-port-s3cret");
  }, 30_000);
});
