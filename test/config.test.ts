import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { loadConfig } from "../src/config.js";
import { withDevelopmentSecretKey } from "../src/secret-key-file.js";

const KEY = `k1:${randomBytes(32).toString("base64")}`;

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
    expect(loadConfig({ NODE_ENV: "production", PUBLIC_BASE_URL: "https://cal.example.com/", SECRETS_KEY: KEY })).toMatchObject({
      ok: true,
      config: { publicBaseUrl: "https://cal.example.com" },
    });
  });

  it("reads the outbound allowance as a CIDR list, true, or nothing", () => {
    const none = loadConfig({});
    expect(none.ok && none.config.outboundAllowance).toEqual({ all: false, networks: [] });
    const some = loadConfig({ INGEST_ALLOW_PRIVATE_HOSTS: "10.20.0.0/16, fd00::/8" });
    expect(some.ok && some.config.outboundAllowance.networks.map(([ip, bits]) => `${ip.toString()}/${bits}`)).toEqual(["10.20.0.0/16", "fd00::/8"]);
    const bad = loadConfig({ INGEST_ALLOW_PRIVATE_HOSTS: "10.0.0.0/8,intranet-secret" });
    expect(bad.ok).toBe(false);
    if (!bad.ok) {
      expect(bad.badKeys).toEqual(["INGEST_ALLOW_PRIVATE_HOSTS"]);
      expect(bad.messages.join("\n")).not.toContain("intranet-secret");
    }
  });

  it("requires SECRETS_KEY in production, and never echoes a bad one", () => {
    const missing = loadConfig({ NODE_ENV: "production", PUBLIC_BASE_URL: "https://cal.example.com" });
    expect(missing.ok || missing.badKeys).toEqual(["SECRETS_KEY"]);
    const bad = loadConfig({ SECRETS_KEY: "k1:c2hvcnQtc2VjcmV0LXZhbHVl" });
    expect(bad.ok).toBe(false);
    if (!bad.ok) expect(bad.messages.join("\n")).not.toContain("c2hvcnQtc2VjcmV0LXZhbHVl");
    const ok = loadConfig({ SECRETS_KEY: `${KEY},k0:${randomBytes(32).toString("base64")}` });
    expect(ok.ok && ok.config.secretKeys.map((k) => k.id)).toEqual(["k1", "k0"]);
  });

  it("in development without SECRETS_KEY, one key is generated into DATA_DIR with mode 0600 and reused", () => {
    const dir = mkdtempSync(join(tmpdir(), "thc-key-"));
    try {
      const loaded = loadConfig({ DATA_DIR: dir });
      if (!loaded.ok) throw new Error(loaded.messages.join());
      const first = withDevelopmentSecretKey(loaded.config);
      expect(first.generatedAt).toBe(join(dir, "secrets.key"));
      expect(statSync(join(dir, "secrets.key")).mode & 0o777).toBe(0o600);
      const second = withDevelopmentSecretKey(loaded.config);
      expect(second.generatedAt).toBeUndefined();
      expect(second.config.secretKeys[0]!.key.equals(first.config.secretKeys[0]!.key)).toBe(true);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe("operating rules", () => {
  const long = "a".repeat(32);
  it.each([
    ["production, 31 characters", { NODE_ENV: "production", SECRETS_KEY: KEY, ADMIN_TOKEN: "a".repeat(31) }, false],
    ["production, 32 characters", { NODE_ENV: "production", SECRETS_KEY: KEY, ADMIN_TOKEN: long }, true],
    ["production, generated (unset)", { NODE_ENV: "production", SECRETS_KEY: KEY }, true],
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
