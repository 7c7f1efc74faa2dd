import { describe, expect, it } from "vitest";
import { expectStatus, makeTestApp } from "../helpers/app.js";

const t = await makeTestApp();

type Operation = {
  requestBody?: { content?: Record<string, { schema?: unknown }> };
  responses: Record<string, { content?: Record<string, { schema?: unknown }> }>;
  parameters?: { in: string; name: string; schema?: unknown }[];
};

describe("OpenAPI document", () => {
  const docPromise = t.request("GET", "/api/v1/openapi.json", { token: null }).then((r) => expectStatus(r, 200));

  it("every operation has a success response with a schema, problem responses, and parameter schemas", async () => {
    const doc = await docPromise;
    const ops = Object.entries(doc.paths as Record<string, Record<string, Operation>>).flatMap(([path, byMethod]) =>
      Object.entries(byMethod).map(([method, op]) => ({ path, method, op })),
    );
    expect(ops.length).toBeGreaterThan(30);
    for (const { path, method, op } of ops) {
      const where = `${method.toUpperCase()} ${path}`;
      const success = Object.entries(op.responses).filter(([s]) => /^2\d\d$/.test(s));
      expect(success.length, where).toBeGreaterThan(0);
      for (const [status, res] of success) {
        if (status === "204") continue;
        const schemas = Object.values(res.content ?? {}).map((c) => c.schema);
        expect(schemas.length, `${where} ${status}`).toBeGreaterThan(0);
        expect(schemas.every(Boolean), `${where} ${status}`).toBe(true);
      }
      for (const p of op.parameters ?? []) expect(p.schema, `${where} ${p.name}`).toBeDefined();
      if (path.startsWith("/api/v1/")) {
        expect(op.responses["401"], where).toBeDefined();
      }
    }
  });

  it("every JSON write describes its request body", async () => {
    const doc = await docPromise;
    const bodiless = new Set(["/api/v1/sessions/{id}/cancel", "/api/v1/providers/{id}/feeds/{feedId}/rotate"]);
    for (const [path, byMethod] of Object.entries(doc.paths as Record<string, Record<string, Operation>>)) {
      for (const [method, op] of Object.entries(byMethod)) {
        if (!["post", "put", "patch"].includes(method) || !path.startsWith("/api/v1/") || bodiless.has(path)) continue;
        expect(op.requestBody?.content?.["application/json"]?.schema, `${method} ${path}`).toBeDefined();
      }
    }
  });

  it("request schemas reject unknown fields (strict objects)", async () => {
    const doc = await docPromise;
    const create = doc.paths["/api/v1/providers/{id}/sessions"].post.requestBody.content["application/json"].schema;
    const resolved = create.$ref ? doc.components.schemas[create.$ref.split("/").at(-1)] : create;
    expect(resolved.additionalProperties).toBe(false);
  });
});

describe("OpenAPI document as a contract (completed centrally for every route)", () => {
  const docPromise = t.request("GET", "/api/v1/openapi.json", { token: null }).then((r) => expectStatus(r, 200));
  const operations = async () => {
    const doc = await docPromise;
    return Object.entries(doc.paths as Record<string, Record<string, Operation & { operationId?: string; security?: unknown[] }>>).flatMap(
      ([path, byMethod]) => Object.entries(byMethod).map(([method, op]) => ({ path, method, op, where: `${method.toUpperCase()} ${path}` })),
    );
  };
  const problemStatuses = (op: Operation) =>
    Object.entries(op.responses)
      .filter(([, r]) => r.content?.["application/problem+json"])
      .map(([s]) => Number(s));

  it("names its server from PUBLIC_BASE_URL, and has a licence and contact", async () => {
    const doc = await docPromise;
    expect(doc.servers).toEqual([{ url: "https://cal.example.test" }]);
    expect(doc.info.license.name).toBeTruthy();
    expect(doc.info.license.identifier ?? doc.info.license.url).toBeTruthy();
    expect(doc.info.contact).toBeDefined();
  });

  it("gives every operation a unique camelCase operationId derived from method and path", async () => {
    const ops = await operations();
    const ids = ops.map((o) => o.op.operationId);
    for (const { op, where } of ops) expect(op.operationId, where).toMatch(/^[a-z][A-Za-z0-9]*$/);
    expect(new Set(ids).size).toBe(ids.length);
    const byPath = Object.fromEntries(ops.map((o) => [o.where, o.op.operationId]));
    expect(byPath["GET /api/v1/providers/{id}/sessions"]).toBe("getProvidersByIdSessions");
    expect(byPath["POST /webhooks/ics/{sourceId}"]).toBe("postWebhooksIcsBySourceId");
    expect(byPath["GET /api/v1/sessions/{id}/invite.ics"]).toBe("getSessionsByIdInviteIcs");
  });

  it("declares security on every operation: none on public ones, the bearer scheme on the API", async () => {
    const doc = await docPromise;
    expect(doc.components.securitySchemes.bearer).toEqual({ type: "http", scheme: "bearer" });
    for (const { path, op, where } of await operations()) {
      if (path.startsWith("/api/v1/")) expect(op.security, where).toEqual([{ bearer: [] }]);
      else expect(op.security, where).toEqual([]);
    }
    const publicOps = (await operations()).filter((o) => o.op.security?.length === 0).map((o) => o.where);
    expect(publicOps).toEqual(
      expect.arrayContaining(["GET /healthz", "GET /readyz", "GET /metrics", "GET /feeds/{file}", "POST /webhooks/ics/{sourceId}"]),
    );
  });

  it("documents every problem status an operation can answer as application/problem+json", async () => {
    for (const { path, op, where } of await operations()) {
      const statuses = problemStatuses(op);
      expect(statuses, where).toEqual(expect.arrayContaining([500, 503]));
      const bearer = path.startsWith("/api/v1/");
      if (bearer) expect(statuses, where).toEqual(expect.arrayContaining([401, 429]));
      if (!bearer && (statuses.includes(401) || statuses.includes(404))) expect(statuses, where).toContain(429);
      if (op.requestBody?.content?.["application/json"]) expect(statuses, where).toEqual(expect.arrayContaining([400, 413, 415, 422]));
      if ((op.parameters?.length ?? 0) > 0 || op.requestBody) {
        expect(
          statuses.some((s) => s >= 400 && s < 500),
          `${where} has a 4xx`,
        ).toBe(true);
      }
      for (const s of statuses) {
        const schema = op.responses[String(s)]!.content!["application/problem+json"]!.schema as { $ref?: string };
        expect(schema.$ref, `${where} ${s}`).toBe("#/components/schemas/Problem");
      }
    }
  });

  it("answers what it documents: a webhook body that is not JSON, and a JSON write that is not JSON", async () => {
    const doc = await docPromise;
    const webhook = await t.app.request("/webhooks/ics/00000000-0000-4000-8000-000000000000", {
      method: "POST",
      headers: { "content-type": "text/plain" },
      body: "not json",
    });
    expect(webhook.status).toBeLessThan(500);
    expect(doc.paths["/webhooks/ics/{sourceId}"].post.responses[String(webhook.status)], `status ${webhook.status}`).toBeDefined();
    const write = await t.request("POST", "/api/v1/providers", { body: "x", headers: { "content-type": "text/plain" } });
    expect(write.status).toBe(415);
    expect(doc.paths["/api/v1/providers"].post.responses["415"]).toBeDefined();
  });
});
