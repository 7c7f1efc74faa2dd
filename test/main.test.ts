// The real process: `npm start`'s entry point on a fresh PGlite directory, then SIGTERM.
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";

const dir = mkdtempSync(join(tmpdir(), "thc-main-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer().listen(0, "127.0.0.1", () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

function start(env: Record<string, string>) {
  const child = spawn(process.execPath, ["--import", "tsx", "src/main.ts"], {
    env: { PATH: process.env.PATH ?? "", DATA_DIR: join(dir, "data"), LOG_LEVEL: "info", ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let out = "";
  child.stdout.on("data", (d) => (out += d));
  child.stderr.on("data", (d) => (out += d));
  const exited = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)));
  return { child, output: () => out, exited };
}

async function waitReady(port: number, ms = 30_000) {
  const until = Date.now() + ms;
  while (Date.now() < until) {
    try {
      const res = await fetch(`http://127.0.0.1:${port}/readyz`);
      if (res.status === 200) return;
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error("not ready in time");
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
