// The provider of a /providers/{id} path is resolved once, before any route runs: a route added
// without a scope check of its own is still closed to other providers' keys.
import { describe, expect, it } from "vitest";
import { expectStatus, makeTestApp } from "../helpers/app.js";
import { createProvider, createProviderKey } from "../helpers/factories.js";

const t = await makeTestApp();
// A route that checks nothing itself and only echoes what the middleware resolved.
t.app.get("/api/v1/providers/:id/probe", (c) => c.json({ providerId: c.var.provider.providerId, caller: c.var.provider.principal.kind }));

const mine = await createProvider(t);
const theirs = await createProvider(t);
const key = await createProviderKey(t, mine.id);

describe("provider scope", () => {
  it("a route reads the provider its key may act on from the context", async () => {
    expect(await expectStatus(await t.request("GET", `/api/v1/providers/${mine.id}/probe`, { token: key }), 200)).toEqual({
      providerId: mine.id,
      caller: "provider",
    });
    expect(await expectStatus(await t.request("GET", `/api/v1/providers/${theirs.id}/probe`), 200)).toEqual({
      providerId: theirs.id,
      caller: "admin",
    });
  });

  it("another provider's id answers 404 not_found before the route runs, as a missing one does", async () => {
    for (const id of [theirs.id, "00000000-0000-4000-8000-000000000000"]) {
      const body = await expectStatus(await t.request("GET", `/api/v1/providers/${id}/probe`, { token: key }), 404);
      expect(body.code).toBe("not_found");
    }
    // The provider itself too, and a write with a valid body.
    expect((await t.request("GET", `/api/v1/providers/${theirs.id}`, { token: key })).status).toBe(404);
    const write = await t.request("POST", `/api/v1/providers/${theirs.id}/clients`, {
      token: key,
      body: { displayName: "Someone", insurance: "in_network", medicare: false },
    });
    expect(write.status, await write.clone().text()).toBe(404);
    expect((await expectStatus<{ items: unknown[] }>(await t.request("GET", `/api/v1/providers/${theirs.id}/clients`), 200)).items).toEqual([]);
  });

  it("a malformed id is still the route's own 422", async () => {
    const body = await expectStatus(await t.request("GET", "/api/v1/providers/not-an-id", { token: key }), 422);
    expect(body.code).toBe("validation_failed");
  });
});
