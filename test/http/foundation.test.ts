import { describe, expect, it } from "vitest";
import { byId, ok, problem } from "../helpers/api-client.js";
import { expectStatus, makeTestApp } from "../helpers/app.js";
import { createProvider, createProviderKey } from "../helpers/factories.js";

const t = await makeTestApp();

async function expectProblem(res: Response, status: number, code: string) {
  const body = await expectStatus(res, status);
  expect(res.headers.get("content-type")).toMatch(/^application\/problem\+json/);
  expect(body).toMatchObject({ status, code, title: expect.any(String), detail: expect.any(String), type: expect.any(String) });
  expect(body.requestId).toEqual(res.headers.get("x-request-id"));
  return body;
}

/** expectProblem for a typed client call. */
async function expectApiProblem(call: Parameters<typeof problem>[0], status: number, code: string) {
  const a = await call;
  const body = await problem(a, status, code);
  expect(body).toMatchObject({ status, code, title: expect.any(String), detail: expect.any(String), type: expect.any(String) });
  expect(body.requestId).toEqual(a.response.headers.get("x-request-id"));
  return body;
}

const NO_SUCH_PROVIDER = byId("00000000-0000-4000-8000-000000000000");

describe("health and readiness", () => {
  it("answers /healthz and /readyz", async () => {
    expect(await ok(t.apiAs(null).GET("/healthz"))).toEqual({ status: "ok" });
    expect(await ok(t.apiAs(null).GET("/readyz"))).toEqual({ status: "ok" });
  });

  it("answers /readyz 503 when the database is unreachable", async () => {
    const other = await makeTestApp();
    await other.database.close();
    await expectApiProblem(other.apiAs(null).GET("/readyz"), 503, "database_unavailable");
  });
});

describe("authentication", () => {
  it("401 without a token and with a wrong one", async () => {
    await expectApiProblem(t.apiAs(null).GET("/api/v1/providers/{id}", NO_SUCH_PROVIDER), 401, "unauthorized");
    await expectApiProblem(t.apiAs("nope").GET("/api/v1/providers/{id}", NO_SUCH_PROVIDER), 401, "unauthorized");
    await expectApiProblem(
      t.apiAs(null).GET("/api/v1/providers/{id}", { ...NO_SUCH_PROVIDER, headers: { authorization: "Basic abc" } }),
      401,
      "unauthorized",
    );
  });

  it("admin creates a provider and reads it", async () => {
    const p = await createProvider(t);
    const got = await ok(t.api.GET("/api/v1/providers/{id}", byId(p.id)));
    expect(got).toMatchObject({ id: p.id, name: p.name, timezone: "America/New_York" });
  });

  it("a provider key reaches only its own provider; others answer 404", async () => {
    const a = await createProvider(t);
    const b = await createProvider(t);
    const key = await createProviderKey(t, a.id);
    expect(key).toMatch(/^thk_[A-Za-z0-9_-]{43}$/);
    const asA = t.apiAs(key);
    await ok(asA.GET("/api/v1/providers/{id}", byId(a.id)));
    await expectApiProblem(asA.GET("/api/v1/providers/{id}", byId(b.id)), 404, "not_found");
    // Creating providers and keys is the operator's.
    await expectApiProblem(
      asA.POST("/api/v1/providers", { body: { name: "x", timezone: "UTC", licenses: [], credentialedStates: [] } }),
      404,
      "not_found",
    );
    await expectApiProblem(asA.POST("/api/v1/providers/{id}/api-keys", { ...byId(a.id), body: {} }), 404, "not_found");
  });

  it("lists keys without tokens, and a revoked key stops working at once", async () => {
    const a = await createProvider(t);
    const key = await createProviderKey(t, a.id);
    const list = await ok(t.apiAs(key).GET("/api/v1/providers/{id}/api-keys", byId(a.id)));
    expect(list.items).toHaveLength(1);
    expect(JSON.stringify(list)).not.toContain(key);
    await ok(t.api.DELETE("/api/v1/providers/{id}/api-keys/{keyId}", { params: { path: { id: a.id, keyId: list.items[0]!.id } } }), 204);
    await expectApiProblem(t.apiAs(key).GET("/api/v1/providers/{id}", byId(a.id)), 401, "unauthorized");
  });

  it("stores only hashes of keys", async () => {
    const a = await createProvider(t);
    const key = await createProviderKey(t, a.id);
    const rows = await t.database.db.query.apiKeys.findMany();
    expect(JSON.stringify(rows)).not.toContain(key);
  });
});

describe("errors are RFC 9457 problems", () => {
  it("404 for an unknown route, 405 for a wrong method", async () => {
    await expectProblem(await t.request("GET", "/nope", { token: null }), 404, "not_found");
    const res = await t.request("DELETE", "/api/v1/providers", { body: {} });
    await expectProblem(res, 405, "method_not_allowed");
    expect(res.headers.get("allow")).toContain("POST");
  });

  it("413 for a body over 1 MiB, before it is parsed", async () => {
    const huge = "x".repeat(1024 * 1024 + 10);
    await expectProblem(await t.request("POST", "/api/v1/providers", { body: huge }), 413, "payload_too_large");
    const declared = await t.app.request("/api/v1/providers", {
      method: "POST",
      headers: { authorization: `Bearer ${t.adminToken}`, "content-type": "application/json", "content-length": String(5 * 1024 * 1024) },
      body: "{}",
    });
    await expectProblem(declared, 413, "payload_too_large");
  });

  it("415 for a body that is not JSON", async () => {
    await expectProblem(
      await t.request("POST", "/api/v1/providers", { body: "name=x", headers: { "content-type": "application/x-www-form-urlencoded" } }),
      415,
      "unsupported_media_type",
    );
  });

  it("400 for malformed JSON", async () => {
    await expectProblem(await t.request("POST", "/api/v1/providers", { body: "{not json" }), 400, "malformed_json");
  });

  it("422 with field paths, unknown fields rejected", async () => {
    const body = await expectProblem(
      await t.request("POST", "/api/v1/providers", {
        body: { name: "", timezone: "Mars/Base", licenses: [{ state: "New York" }], credentialedStates: [], extra: 1 },
      }),
      422,
      "validation_failed",
    );
    const paths = body.errors.map((e: { path: string }) => e.path);
    expect(paths).toEqual(expect.arrayContaining(["name", "timezone", "licenses.0.state"]));
    expect(JSON.stringify(body.errors)).toContain("extra");
  });

  it("422 with a precise code for credentialed states without a license, and nothing written", async () => {
    const before = await t.database.db.query.providers.findMany();
    await expectApiProblem(
      t.api.POST("/api/v1/providers", { body: { name: "A", timezone: "UTC", licenses: [{ state: "NY" }], credentialedStates: ["CA"] } }),
      422,
      "credentialed_without_license",
    );
    expect(await t.database.db.query.providers.findMany()).toHaveLength(before.length);
  });

  it("500 shows no internals", async () => {
    const broken = await makeTestApp();
    broken.app.get("/boom", () => {
      throw new Error("secret internal detail SELECT * FROM x");
    });
    const body = await expectProblem(await broken.request("GET", "/boom", { token: null }), 500, "internal_error");
    expect(JSON.stringify(body)).not.toContain("secret internal detail");
  });
});

describe("OpenAPI and metrics", () => {
  it("serves an OpenAPI 3.1 document listing every route", async () => {
    const doc = await expectStatus(await t.request("GET", "/api/v1/openapi.json", { token: null }), 200);
    expect(doc.openapi).toBe("3.1.0");
    const documented = new Set<string>();
    for (const [path, ops] of Object.entries(doc.paths as Record<string, Record<string, unknown>>)) {
      for (const method of Object.keys(ops)) documented.add(`${method.toUpperCase()} ${path.replace(/\{(\w+)\}/g, ":$1")}`);
    }
    // "/" (a redirect), the /settings pages and the OAuth callback pages are server-rendered HTML, not JSON API routes: excluded on purpose.
    const served = t.app.routes
      .filter((r) => r.method !== "ALL" && !r.path.includes("*") && r.path !== "/api/v1/openapi.json")
      .filter((r) => r.path !== "/" && r.path !== "/settings" && !r.path.startsWith("/settings/") && !r.path.startsWith("/oauth/"))
      // The pages' icon is a static asset for browsers, not an API operation.
      .filter((r) => r.path !== "/favicon.ico")
      .map((r) => `${r.method} ${r.path}`);
    expect(served.length).toBeGreaterThan(5);
    for (const route of served) expect(documented, route).toContain(route);
  });

  it("serves /metrics to METRICS_TOKEN, and to nobody without a token", async () => {
    const metricsToken = `m-${"x".repeat(40)}`;
    const m = await makeTestApp({ env: { METRICS_TOKEN: metricsToken }, database: t.database });
    expect((await m.request("GET", "/metrics", { token: null })).status).toBe(401);
    expect((await m.request("GET", "/metrics", { token: `${metricsToken}x` })).status).toBe(401);
    expect((await m.request("GET", "/metrics", { token: metricsToken })).status).toBe(200);
    // The metrics token is no API key.
    expect((await m.request("GET", "/api/v1/providers", { token: metricsToken })).status).toBe(401);
  });

  it("serves Prometheus text with request counts by route pattern", async () => {
    await t.request("GET", "/healthz", { token: null });
    expect((await t.request("GET", "/metrics", { token: null })).status).toBe(401);
    expect((await t.request("GET", "/metrics", { token: "not-the-metrics-token" })).status).toBe(401);
    const res = await t.request("GET", "/metrics");
    expect(res.headers.get("content-type")).toMatch(/^text\/plain/);
    const text = await res.text();
    expect(text).toMatch(/# TYPE http_requests_total counter/);
    expect(text).toMatch(/http_requests_total\{method="GET",route="\/healthz",status="200"\} \d+/);
    // Every non-comment line is `name{labels} value`.
    for (const line of text.split("\n").filter((l) => l && !l.startsWith("#"))) {
      expect(line).toMatch(/^[a-zA-Z_:][a-zA-Z0-9_:]*(\{[^}]*\})? -?[0-9.e+-]+|NaN|[+-]Inf$/);
    }
  });
});

describe("logs", () => {
  it("one line per request with the route pattern; no tokens", async () => {
    const p = await createProvider(t);
    const key = await createProviderKey(t, p.id);
    await ok(t.apiAs(key).GET("/api/v1/providers/{id}", byId(p.id)));
    await problem(t.apiAs("wrong-token-value-123").GET("/api/v1/providers/{id}", byId(p.id)), 401);
    const text = t.logs.text();
    expect(text).toContain('"route":"/api/v1/providers/:id"');
    expect(text).not.toContain(key);
    expect(text).not.toContain(t.adminToken);
    expect(text).not.toContain("wrong-token-value-123");
    expect(text).not.toContain(p.id); // raw paths never logged
    for (const line of t.logs.lines) expect(() => JSON.parse(line)).not.toThrow();
  });
});
