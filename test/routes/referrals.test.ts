// POST /sessions/{id}/refer: an ended session that the rules send elsewhere is closed as referred.
import { describe, expect, it } from "vitest";
import { byId, type JsonBody, ok, problem, rawJson } from "../helpers/api-client.js";
import { makeTestApp } from "../helpers/app.js";
import { fixedClock } from "../helpers/clock.js";
import { createProviderKey, createSession, providerWithClient } from "../helpers/factories.js";

const t = await makeTestApp({ clock: fixedClock("2026-11-26T12:00:00Z") });
const refer = (id: string, body: JsonBody<"/api/v1/sessions/{id}/refer", "post">, token?: string) =>
  (token ? t.apiAs(token) : t.api).POST("/api/v1/sessions/{id}/refer", { ...byId(id), body });
const items = async (providerId: string) => (await ok(t.api.GET("/api/v1/providers/{id}/reconciliation", byId(providerId)))).items;

describe("marking a session referred", () => {
  it("row 4 (not licensed where the client was): 201, the open item goes away, the session stays unconfirmed; once only", async () => {
    const { provider, client } = await providerWithClient(t);
    const s = await createSession(t, provider.id, client.id, { start: "2026-11-20T15:00:00Z" });
    const key = await createProviderKey(t, provider.id);
    const body = await ok(refer(s.id, { state: "ca" }, key), 201);
    expect(body).toMatchObject({ sessionId: s.id, state: "CA", outcome: "refer", decision: { row: 4 } });
    expect(await items(provider.id)).toEqual([]);
    expect((await ok(t.api.GET("/api/v1/sessions/{id}", byId(s.id)))).status).toBe("scheduled");
    const again = await problem(refer(s.id, { state: "CA" }), 409);
    expect(again.code).toBe("already_referred");
  });

  it("row 6 (licensed, not credentialed, in-network client) can be referred too", async () => {
    const { provider, client } = await providerWithClient(t);
    const s = await createSession(t, provider.id, client.id, { start: "2026-11-20T15:00:00Z" });
    expect((await ok(refer(s.id, { state: "NJ" }), 201)).outcome).toBe("needs_credentialing");
  });

  it("refused, changing nothing: a confirmable session, one not yet ended, a cancelled one, bad input, another provider's", async () => {
    const { provider, client } = await providerWithClient(t);
    const ended = await createSession(t, provider.id, client.id, { start: "2026-11-20T15:00:00Z" });
    const eligible = await problem(refer(ended.id, { state: "NY" }), 409);
    expect(eligible).toMatchObject({ code: "not_referable", decision: { outcome: "eligible" } });
    const upcoming = await createSession(t, provider.id, client.id, { start: "2026-12-02T15:00:00Z" });
    expect((await problem(refer(upcoming.id, { state: "CA" }), 409)).code).toBe("session_not_ended");
    const cancelled = await createSession(t, provider.id, client.id, { start: "2026-11-21T15:00:00Z" });
    await ok(t.api.POST("/api/v1/sessions/{id}/cancel", byId(cancelled.id)));
    expect((await problem(refer(cancelled.id, { state: "CA" }), 409)).code).toBe("not_referable");
    // Bodies the document itself rejects go out raw: the typed client would not send them.
    const referRaw = (body: unknown) => rawJson(t, "POST", `/api/v1/sessions/${ended.id}/refer`, body);
    expect((await problem(referRaw({ state: "CA", note: "x" }), 422)).code).toBe("validation_failed");
    expect((await problem(referRaw({}), 422)).code).toBe("validation_failed");
    const other = await providerWithClient(t);
    const otherKey = await createProviderKey(t, other.provider.id);
    expect((await refer(ended.id, { state: "CA" }, otherKey)).response.status).toBe(404);
    expect((await items(provider.id)).map((i) => i.sessionId)).toEqual([ended.id]);
  });
});
