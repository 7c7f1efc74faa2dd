import { describe, expect, it } from "vitest";
import { loadConfig } from "../src/config.js";

describe("loadConfig", () => {
  it("has working defaults", () => {
    const r = loadConfig({});
    expect(r.ok && r.config).toMatchObject({ port: 8787, dataDir: "./data", publicBaseUrl: "http://localhost:8787", logLevel: "info" });
  });

  it("names every bad key and never a value", () => {
    const r = loadConfig({ PORT: "http-secret-99", DATABASE_URL: "mysql://user:hunter2@x/db", LOG_LEVEL: "loud", NODE_ENV: "production" });
    expect(r.ok).toBe(false);
    if (r.ok) return;
    expect(r.badKeys).toEqual(expect.arrayContaining(["PORT", "DATABASE_URL", "LOG_LEVEL"]));
    expect(r.messages.join("\n")).not.toContain("hunter2");
    expect(r.messages.join("\n")).not.toContain("http-secret-99");
  });

  it("requires https PUBLIC_BASE_URL in production", () => {
    const r = loadConfig({ NODE_ENV: "production", PUBLIC_BASE_URL: "http://cal.example.com" });
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.badKeys).toEqual(["PUBLIC_BASE_URL"]);
    expect(loadConfig({ NODE_ENV: "production", PUBLIC_BASE_URL: "https://cal.example.com/" })).toMatchObject({
      ok: true,
      config: { publicBaseUrl: "https://cal.example.com" },
    });
  });
});

describe("operating rules", () => {
  const long = "a".repeat(32);
  it.each([
    ["production, 31 characters", { NODE_ENV: "production", ADMIN_TOKEN: "a".repeat(31) }, false],
    ["production, 32 characters", { NODE_ENV: "production", ADMIN_TOKEN: long }, true],
    ["production, generated (unset)", { NODE_ENV: "production" }, true],
    ["development, 1 character", { NODE_ENV: "development", ADMIN_TOKEN: "x" }, true],
  ] as Array<[string, Record<string, string>, boolean]>)("ADMIN_TOKEN: %s", (_name, env, ok) => {
    const r = loadConfig({ PUBLIC_BASE_URL: "https://cal.example.com", ...env });
    expect(r.ok).toBe(ok);
    if (!r.ok) {
      expect(r.badKeys).toEqual(["ADMIN_TOKEN"]);
      expect(r.messages.join("\n")).not.toContain(env.ADMIN_TOKEN ?? "");
    }
  });

  it("METRICS_TOKEN is at least 32 characters", () => {
    expect(loadConfig({ METRICS_TOKEN: "short" })).toMatchObject({ ok: false, badKeys: ["METRICS_TOKEN"] });
    expect(loadConfig({ METRICS_TOKEN: long })).toMatchObject({ ok: true, config: { metricsToken: long } });
  });

  it("HOST defaults to loopback and takes an address or name", () => {
    expect(loadConfig({})).toMatchObject({ ok: true, config: { host: "127.0.0.1" } });
    expect(loadConfig({ HOST: "0.0.0.0" })).toMatchObject({ ok: true, config: { host: "0.0.0.0" } });
    expect(loadConfig({ HOST: "::" })).toMatchObject({ ok: true, config: { host: "::" } });
    expect(loadConfig({ HOST: "bad host/" })).toMatchObject({ ok: false, badKeys: ["HOST"] });
  });
});
