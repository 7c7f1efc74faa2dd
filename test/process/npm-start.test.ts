// `npm start` as an operator runs it: SIGTERM to the npm process reaches the server, which drains;
// the embedded database's files are the server user's alone.
import { chmodSync, mkdirSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { freePort, spawnServer, waitReady } from "../helpers/server-process.js";

const dir = mkdtempSync(join(tmpdir(), "thc-npm-start-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Every entry under root with its permission bits. */
function modes(root: string): Array<{ path: string; dir: boolean; mode: number }> {
  const out: Array<{ path: string; dir: boolean; mode: number }> = [];
  const walk = (p: string) => {
    const s = statSync(p);
    out.push({ path: p, dir: s.isDirectory(), mode: s.mode & 0o777 });
    if (s.isDirectory()) for (const name of readdirSync(p)) walk(join(p, name));
  };
  walk(root);
  return out;
}

describe("npm start", () => {
  it("drains and exits within 10 s of SIGTERM to the npm process, with the drain in the log; DATA_DIR is 0700, its files 0600", async () => {
    const dataDir = join(dir, "data");
    // A file left world-readable by an older version is tightened too.
    mkdirSync(dataDir, { recursive: true, mode: 0o755 });
    writeFileSync(join(dataDir, "left-over"), "x");
    chmodSync(join(dataDir, "left-over"), 0o666);
    chmodSync(dataDir, 0o755);

    const port = await freePort();
    const p = spawnServer("npm", ["start"], { PORT: String(port), DATA_DIR: dataDir });
    await waitReady(port);
    expect(p.output()).toMatch(/Applying migrations/);
    expect(p.output()).toContain(`/settings`);

    const sent = Date.now();
    p.child.kill("SIGTERM");
    const code = await p.exited;
    const took = Date.now() - sent;
    expect(took, p.output()).toBeLessThan(10_000);
    expect(code, p.output()).toBe(0);
    expect(p.output()).toMatch(/"signal":"SIGTERM","msg":"draining"/);
    expect(p.output()).toMatch(/"msg":"stopped"/);
    // The server stopped with npm: nothing listens on the port any more.
    await expect(fetch(`http://127.0.0.1:${port}/healthz`)).rejects.toThrow();

    const entries = modes(dataDir);
    expect(entries.filter((e) => !e.dir).length).toBeGreaterThan(10);
    for (const e of entries) expect(e.mode.toString(8), e.path).toBe(e.dir ? "700" : "600");
  }, 120_000);
});
