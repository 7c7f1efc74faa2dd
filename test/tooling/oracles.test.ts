// The README's test command on a machine without the oracles: it must stop at once naming the
// exact command (when it may not install), never run a suite that would skip.
import { spawnSync } from "node:child_process";
import { describe, expect, it } from "vitest";
import { ORACLES } from "../oracles.js";

function check(env: Record<string, string>) {
  const r = spawnSync(process.execPath, ["--import", "tsx", "test/oracles.ts"], {
    env: { PATH: process.env.PATH ?? "", ...env },
    encoding: "utf8",
    timeout: 20_000,
  });
  return { status: r.status, out: `${r.stdout}${r.stderr}` };
}

describe("the test oracles check", () => {
  it("passes quietly when every oracle is present", () => {
    expect(check({})).toEqual({ status: 0, out: "" });
  });

  it.each(ORACLES.map((o) => o.aptPackage))("stops at once naming the apt-get command when %s is missing", (pkg) => {
    const started = Date.now();
    const r = check({ THC_ORACLES_HIDE: pkg, THC_ORACLES_INSTALL: "never" });
    expect(r.status).toBe(1);
    expect(r.out).toMatch(new RegExp(`\n  (sudo )?apt-get update && (sudo )?apt-get install -y --no-install-recommends ${pkg}\n`));
    expect(Date.now() - started).toBeLessThan(15_000);
  });

  it("names every missing package in one command", () => {
    const all = ORACLES.map((o) => o.aptPackage);
    const r = check({ THC_ORACLES_HIDE: all.join(","), THC_ORACLES_INSTALL: "never" });
    expect(r.status).toBe(1);
    expect(r.out).toContain(`apt-get install -y --no-install-recommends ${all.join(" ")}`);
  });
});
