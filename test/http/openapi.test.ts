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
