import { describe, expect, it } from "vitest";
import { byId, type JsonBody, ok, problem } from "../helpers/api-client.js";
import { makeTestApp } from "../helpers/app.js";
import { fixedClock } from "../helpers/clock.js";
import { onPostgres } from "../helpers/db.js";
import { createClient, createSession, providerWithClient } from "../helpers/factories.js";

const clock = fixedClock("2026-12-10T12:00:00Z");
const t = await makeTestApp({ clock });

const PROVIDER = {
  licenses: [{ state: "NY" }, { state: "NJ" }, { state: "CO", via: "PSYPACT" }],
  credentialedStates: ["NY"],
};

async function pastSession(client: Parameters<typeof createClient>[2] = {}, session: Parameters<typeof createSession>[3] = {}) {
  const { provider, client: c } = await providerWithClient(t, PROVIDER, client);
  const s = await createSession(t, provider.id, c.id, { start: "2026-12-09T15:00:00Z", ...session });
  return { provider, client: c, session: s };
}

const confirm = (id: string, body: JsonBody<"/api/v1/sessions/{id}/confirm", "post">) =>
  t.api.POST("/api/v1/sessions/{id}/confirm", { ...byId(id), body });
const getSession = (id: string) => ok(t.api.GET("/api/v1/sessions/{id}", byId(id)));
const addLocation = (clientId: string, body: JsonBody<"/api/v1/clients/{id}/locations", "post">) =>
  ok(t.api.POST("/api/v1/clients/{id}/locations", { ...byId(clientId), body }), 201);

describe("the confirmation table through the API", () => {
  it("row 1: no location given", async () => {
    const { session } = await pastSession();
    const d = await ok(t.api.GET("/api/v1/sessions/{id}/eligibility", byId(session.id)));
    expect(d).toMatchObject({ row: 1, outcome: "client_location_required", confirmable: false });
    expect(d.explanation).toMatch(/state/i);
  });

  it.each([["AE"], ["ZZ"], ["FM"]])("row 2: %s is outside the US", async (state) => {
    const { session } = await pastSession();
    const body = await problem(confirm(session.id, { state }), 409);
    expect(body).toMatchObject({ code: "location_outside_us", decision: { row: 2, outcome: "location_outside_us", confirmable: false } });
    expect((await getSession(session.id)).status).toBe("scheduled");
  });

  it("row 3: audio-only for a client who is no longer Medicare", async () => {
    const { session, client } = await pastSession({ medicare: true }, { modality: "audio_only" });
    await ok(t.api.PATCH("/api/v1/clients/{id}", { ...byId(client.id), body: { medicare: false } }));
    const body = await problem(confirm(session.id, { state: "NY" }), 409);
    expect(body.decision).toMatchObject({ row: 3, outcome: "audio_only_not_allowed" });
  });

  it("audio-only for a Medicare client confirms (row 5)", async () => {
    const { session } = await pastSession({ medicare: true }, { modality: "audio_only" });
    const body = await ok(confirm(session.id, { state: "NY" }));
    expect(body.decision).toMatchObject({ row: 5, outcome: "eligible", billing: "insurance" });
  });

  it("row 4: not licensed in the client's state: refer", async () => {
    const { session } = await pastSession();
    const body = await problem(confirm(session.id, { state: "ca" }), 409);
    expect(body.decision).toMatchObject({ row: 4, outcome: "refer", state: "CA" });
    expect(body.decision.explanation).toMatch(/CA|California/);
  });

  it("row 5: credentialed: eligible, insurance billed; self-pay is private pay", async () => {
    const { session } = await pastSession();
    const body = await ok(confirm(session.id, { state: "NY", label: "Home" }));
    expect(body.decision).toMatchObject({ row: 5, outcome: "eligible", confirmable: true, billing: "insurance" });
    expect(body.session).toMatchObject({
      status: "confirmed",
      confirmation: { outcome: "eligible", state: "NY", linkUsed: expect.stringMatching(/^https:/) },
    });
    const selfPay = await pastSession({ insurance: "self_pay" });
    const b2 = await ok(confirm(selfPay.session.id, { state: "NY" }));
    expect(b2.decision).toMatchObject({ row: 5, billing: "private_pay" });
  });

  it("a compact privilege (PSYPACT in CO) licenses but never credentials: private pay for an out-of-network client", async () => {
    const { session, client } = await pastSession({ insurance: "out_of_network" });
    const loc = await addLocation(client.id, { state: "CO", label: "Ski trip" });
    const body = await ok(confirm(session.id, { clientLocationId: loc.id }));
    expect(body.decision).toMatchObject({ row: 7, outcome: "private_pay_only", state: "CO" });
    expect(body.session.confirmation?.clientLocationId).toBe(loc.id);
  });

  it("row 6: licensed, not credentialed, in-network: needs credentialing", async () => {
    const { session } = await pastSession({ insurance: "in_network" });
    const body = await problem(confirm(session.id, { state: "NJ" }), 409);
    expect(body.decision).toMatchObject({ row: 6, outcome: "needs_credentialing", confirmable: false });
  });

  it("row 6 also for a Medicare client who is out-of-network", async () => {
    const { session } = await pastSession({ insurance: "out_of_network", medicare: true });
    const body = await problem(confirm(session.id, { state: "NJ" }), 409);
    expect(body.decision).toMatchObject({ row: 6 });
  });

  it("row 7: licensed, not credentialed, out-of-network: private pay only, confirmable", async () => {
    const { session } = await pastSession({ insurance: "out_of_network" });
    const body = await ok(confirm(session.id, { state: "NJ" }));
    expect(body.decision).toMatchObject({ row: 7, outcome: "private_pay_only", confirmable: true, billing: "private_pay" });
  });
});

describe("confirmation rules", () => {
  it("only after the session ended, at most once, never when cancelled", async () => {
    const { provider, client } = await providerWithClient(t, PROVIDER);
    const future = await createSession(t, provider.id, client.id, { start: "2026-12-11T15:00:00Z" });
    expect((await problem(confirm(future.id, { state: "NY" }), 409)).code).toBe("session_not_ended");
    const past = await createSession(t, provider.id, client.id, { start: "2026-12-09T15:00:00Z" });
    await ok(confirm(past.id, { state: "NY" }));
    expect((await problem(confirm(past.id, { state: "NY" }), 409)).code).toBe("already_confirmed");
    expect((await problem(t.api.POST("/api/v1/sessions/{id}/cancel", byId(past.id)), 409)).code).toBe("session_confirmed");
    const cancelled = await createSession(t, provider.id, client.id, { start: "2026-12-08T15:00:00Z" });
    await ok(t.api.POST("/api/v1/sessions/{id}/cancel", byId(cancelled.id)));
    expect((await problem(confirm(cancelled.id, { state: "NY" }), 409)).code).toBe("session_cancelled");
  });

  it("an archived or foreign location is refused; archived locations stay in history", async () => {
    const { session, client } = await pastSession();
    const other = await createClient(t, (await pastSession()).provider.id);
    const foreign = await addLocation(other.id, { state: "NY" });
    expect((await problem(confirm(session.id, { clientLocationId: foreign.id }), 422)).code).toBe("unknown_location");
    const loc = await addLocation(client.id, { state: "NY" });
    await ok(t.api.DELETE("/api/v1/clients/{id}/locations/{locationId}", { params: { path: { id: client.id, locationId: loc.id } } }), 204);
    expect((await problem(confirm(session.id, { clientLocationId: loc.id }), 422)).code).toBe("unknown_location");
    const all = await ok(t.api.GET("/api/v1/clients/{id}/locations", { params: { path: { id: client.id }, query: { includeArchived: "true" } } }));
    expect(all.items.map((l) => l.id)).toContain(loc.id);
    const current = await ok(t.api.GET("/api/v1/clients/{id}/locations", byId(client.id)));
    expect(current.items.map((l) => l.id)).not.toContain(loc.id);
  });

  it(`two simultaneous confirmations: exactly one succeeds (${onPostgres() ? "PostgreSQL, parallel connections" : "PGlite"})`, async () => {
    for (let round = 0; round < 5; round++) {
      const { session } = await pastSession();
      const results = await Promise.all([
        confirm(session.id, { state: "NY" }),
        confirm(session.id, { state: "NY" }),
        confirm(session.id, { state: "NY" }),
      ]);
      const statuses = results.map((r) => r.response.status).sort();
      expect(statuses).toEqual([200, 409, 409]);
      for (const r of results.filter((r) => r.response.status === 409)) expect((await problem(r, 409)).code).toBe("already_confirmed");
      const rows = await t.database.db.query.confirmations.findMany({ where: (c, { eq }) => eq(c.sessionId, session.id) });
      expect(rows).toHaveLength(1);
    }
  });
});
