import { describe, expect, it } from "vitest";
import { byId, type JsonBody, ok, problem, rawJson } from "../helpers/api-client.js";
import { makeTestApp } from "../helpers/app.js";
import { DAY, fixedClock } from "../helpers/clock.js";
import { createClient, createProvider, createSession, providerWithClient, setLink, ZOOM_LINK } from "../helpers/factories.js";

const clock = fixedClock("2026-11-26T12:00:00Z");
const t = await makeTestApp({ clock });

async function tableCounts() {
  const db = t.database.db.query;
  const [p, c, l, s, conf] = await Promise.all([
    db.providers.findMany(),
    db.clients.findMany(),
    db.clientLocations.findMany(),
    db.sessions.findMany(),
    db.confirmations.findMany(),
  ]);
  return {
    providers: p.length,
    clients: c.length,
    locations: l.length,
    sessions: s.length,
    confirmations: conf.length,
    sequences: s.map((x) => x.sequence).join(),
  };
}

describe("telehealth link", () => {
  it("answers the verdict with the normalized URL, platform and waiting-room steps", async () => {
    const p = await createProvider(t);
    const body = await setLink(t, p.id, { url: "  HTTPS://Zoom.US/j/1234567890?pwd=abc#x ", baaSigned: true, waitingRoomEnabled: false });
    expect(body).toMatchObject({ platform: "zoom", compliant: false });
    expect(body.url).toBe("https://zoom.us/j/1234567890?pwd=abc");
    expect(body.warnings.length).toBeGreaterThan(0);
    expect(body.waitingRoomHelp).toMatch(/Waiting Room/);
    expect(await ok(t.api.GET("/api/v1/providers/{id}/telehealth-link", byId(p.id)))).toMatchObject({ url: body.url });
  });

  it.each([
    ["http://zoom.us/j/1234567890", "insecure_scheme"],
    ["facetime://someone@example.com", "facetime_not_accepted"],
    ["tel:+15555550100", "phone_not_accepted"],
    ["https://zoom.us.evil.com/j/1234567890", "lookalike_host"],
    ["https://teams.live.com/meet/123", "consumer_platform"],
    ["not a url", "not_a_url"],
  ])("refuses %s with %s and stores nothing", async (url, code) => {
    const p = await createProvider(t);
    await problem(
      t.api.PUT("/api/v1/providers/{id}/telehealth-link", { ...byId(p.id), body: { url, baaSigned: true, waitingRoomEnabled: true } }),
      422,
      code,
    );
    await problem(t.api.GET("/api/v1/providers/{id}/telehealth-link", byId(p.id)), 404, "not_found");
  });

  it("keeps instructions as typed, up to 2,000 characters", async () => {
    const p = await createProvider(t);
    const instructions = "Line one; with, punctuation \\ and\nnew lines — ünïcödé 🎧";
    expect((await setLink(t, p.id, { instructions })).instructions).toBe(instructions);
    await problem(
      t.api.PUT("/api/v1/providers/{id}/telehealth-link", {
        ...byId(p.id),
        body: { url: ZOOM_LINK, baaSigned: true, waitingRoomEnabled: true, instructions: "x".repeat(2001) },
      }),
      422,
      "validation_failed",
    );
  });
});

describe("sessions", () => {
  it("creates a virtual session with the provider's link, stable opaque UID and sequence 0", async () => {
    const { provider, client } = await providerWithClient(t);
    const s = await createSession(t, provider.id, client.id);
    expect(s).toMatchObject({
      status: "scheduled",
      sequence: 0,
      start: "2026-12-01T20:00:00.000Z",
      end: "2026-12-01T20:50:00.000Z",
      telehealthUrl: ZOOM_LINK,
    });
    expect(s.uid).toMatch(/^[0-9a-f]{32}@/);
    expect(s.uid).not.toContain(s.id);
  });

  it("refuses a virtual session without a compliant link", async () => {
    const p = await createProvider(t);
    const c = await createClient(t, p.id);
    await problem(
      t.api.POST("/api/v1/providers/{id}/sessions", {
        ...byId(p.id),
        body: { clientId: c.id, start: "2026-12-01T15:00:00Z", durationMinutes: 50, kind: "virtual" },
      }),
      422,
      "no_compliant_link",
    );
    await setLink(t, p.id, { baaSigned: false });
    await problem(
      t.api.POST("/api/v1/providers/{id}/sessions", {
        ...byId(p.id),
        body: { clientId: c.id, start: "2026-12-01T15:00:00Z", durationMinutes: 50, kind: "virtual" },
      }),
      422,
      "no_compliant_link",
    );
    // In person needs no link.
    await createSession(t, p.id, c.id, { kind: "in_person" });
  });

  it("audio-only only for Medicare clients", async () => {
    const { provider, client } = await providerWithClient(t);
    const medicare = await createClient(t, provider.id, { medicare: true });
    await problem(
      t.api.POST("/api/v1/providers/{id}/sessions", {
        ...byId(provider.id),
        body: { clientId: client.id, start: "2026-12-01T15:00:00Z", durationMinutes: 50, kind: "virtual", modality: "audio_only" },
      }),
      422,
      "audio_only_not_allowed",
    );
    const s = await createSession(t, provider.id, medicare.id, { modality: "audio_only" });
    expect(s).toMatchObject({ modality: "audio_only" });
  });

  it("audio-only is refused for everyone when the policy flag is off", async () => {
    const off = await makeTestApp({ clock, env: { AUDIO_ONLY_FOR_MEDICARE: "false" } });
    const { provider } = await providerWithClient(off);
    const medicare = await createClient(off, provider.id, { medicare: true });
    await problem(
      off.api.POST("/api/v1/providers/{id}/sessions", {
        ...byId(provider.id),
        body: { clientId: medicare.id, start: "2026-12-01T15:00:00Z", durationMinutes: 50, kind: "virtual", modality: "audio_only" },
      }),
      422,
      "audio_only_not_allowed",
    );
  });

  it("bad input answers a precise code and changes nothing", async () => {
    const { provider, client } = await providerWithClient(t);
    const other = await providerWithClient(t);
    const before = await tableCounts();
    const post = (body: Partial<JsonBody<"/api/v1/providers/{id}/sessions", "post">>) =>
      t.api.POST("/api/v1/providers/{id}/sessions", {
        ...byId(provider.id),
        body: { clientId: client.id, start: "2026-12-01T15:00:00Z", kind: "virtual", ...body },
      });
    await problem(post({ clientId: "00000000-0000-4000-8000-000000000000", durationMinutes: 50 }), 422, "unknown_client");
    await problem(post({ clientId: other.client.id, durationMinutes: 50 }), 422, "unknown_client");
    await problem(post({ end: "2026-12-01T14:00:00Z" }), 422, "end_before_start");
    await problem(post({ durationMinutes: 481 }), 422, "duration_out_of_range");
    await problem(post({ durationMinutes: 4 }), 422, "duration_out_of_range");
    await problem(post({ start: "2026-12-01T15:00:00", durationMinutes: 50 }), 422, "validation_failed"); // no offset
    // Bodies the document itself rejects go out raw: the typed client would not send them.
    await problem(
      rawJson(t, "POST", `/api/v1/providers/${provider.id}/sessions`, {
        clientId: client.id,
        start: "2026-12-01T15:00:00Z",
        kind: "virtual",
        durationMinutes: 50,
        color: "red",
      }),
      422,
      "validation_failed",
    );
    await problem(post({ durationMinutes: 50, telehealthUrl: "https://meet.google.com/abc-defg-hij" }), 422, "platform_not_attested");
    await problem(t.api.POST("/api/v1/clients/{id}/locations", { ...byId(client.id), body: { state: "New York" } }), 422, "validation_failed");
    await problem(
      t.api.PATCH("/api/v1/providers/{id}", { ...byId(provider.id), body: { credentialedStates: ["TX"] } }),
      422,
      "credentialed_without_license",
    );
    await problem(rawJson(t, "PATCH", `/api/v1/providers/${provider.id}`, { licenses: [{ state: "CO", via: "MADEUP" }] }), 422, "validation_failed");
    expect(await tableCounts()).toEqual(before);
  });

  it("a provider key cannot see or use another provider's clients and sessions", async () => {
    const a = await providerWithClient(t);
    const b = await providerWithClient(t);
    const sb = await createSession(t, b.provider.id, b.client.id);
    const asA = t.apiAs((await ok(t.api.POST("/api/v1/providers/{id}/api-keys", { ...byId(a.provider.id), body: {} }), 201)).token);
    await problem(asA.GET("/api/v1/sessions/{id}", byId(sb.id)), 404, "not_found");
    await problem(asA.GET("/api/v1/clients/{id}", byId(b.client.id)), 404, "not_found");
    await problem(asA.POST("/api/v1/sessions/{id}/cancel", byId(sb.id)), 404, "not_found");
    await problem(asA.GET("/api/v1/providers/{id}/sessions", byId(b.provider.id)), 404, "not_found");
    await ok(asA.GET("/api/v1/providers/{id}/sessions", byId(a.provider.id)));
  });

  it("reschedule bumps SEQUENCE and keeps the UID; cancel is idempotent", async () => {
    const { provider, client } = await providerWithClient(t);
    const s = await createSession(t, provider.id, client.id);
    const moved = await ok(t.api.PATCH("/api/v1/sessions/{id}", { ...byId(s.id), body: { start: "2026-12-02T15:00:00-05:00" } }));
    expect(moved).toMatchObject({ uid: s.uid, sequence: 1, start: "2026-12-02T20:00:00.000Z", end: "2026-12-02T20:50:00.000Z" });
    const same = await ok(t.api.PATCH("/api/v1/sessions/{id}", { ...byId(s.id), body: { start: "2026-12-02T20:00:00Z" } }));
    expect(same.sequence).toBe(1); // no change, no bump
    const c1 = await ok(t.api.POST("/api/v1/sessions/{id}/cancel", byId(s.id)));
    const c2 = await ok(t.api.POST("/api/v1/sessions/{id}/cancel", byId(s.id)));
    expect(c1).toMatchObject({ status: "cancelled", sequence: 2 });
    expect(c2).toEqual(c1);
    await problem(t.api.PATCH("/api/v1/sessions/{id}", { ...byId(s.id), body: { durationMinutes: 30 } }), 409, "session_cancelled");
  });

  it("lists by window and status with a cursor", async () => {
    const { provider, client } = await providerWithClient(t);
    for (let i = 0; i < 5; i++)
      await createSession(t, provider.id, client.id, { start: new Date(Date.parse("2026-12-01T15:00:00Z") + i * DAY).toISOString() });
    const list = (query: { limit?: number; from?: string; cursor?: string; status?: "scheduled" | "cancelled" | "confirmed" }) =>
      ok(t.api.GET("/api/v1/providers/{id}/sessions", { params: { path: { id: provider.id }, query } }));
    const page1 = await list({ limit: 2, from: "2026-12-02T00:00:00Z" });
    expect(page1.items).toHaveLength(2);
    expect(page1.items[0]!.start).toBe("2026-12-02T15:00:00.000Z");
    const page2 = await list({ limit: 2, from: "2026-12-02T00:00:00Z", cursor: page1.nextCursor });
    expect(page2.items.map((s) => s.start)).toEqual(["2026-12-04T15:00:00.000Z", "2026-12-05T15:00:00.000Z"]);
    expect(page2.nextCursor).toBeUndefined();
    const cancelled = await list({ status: "cancelled" });
    expect(cancelled.items).toHaveLength(0);
  });
});

describe("default link changes", () => {
  it("reach upcoming unconfirmed sessions (SEQUENCE +1); a confirmed session keeps its recorded link", async () => {
    const { provider, client } = await providerWithClient(t);
    const past = await createSession(t, provider.id, client.id, { start: "2026-11-25T15:00:00Z" });
    const upcoming = await createSession(t, provider.id, client.id, { start: "2026-12-03T15:00:00Z" });
    await ok(t.api.POST("/api/v1/sessions/{id}/confirm", { ...byId(past.id), body: { state: "NY" } }));
    const newLink = "https://zoom.us/j/98765432101";
    await setLink(t, provider.id, { url: newLink });
    const up = await ok(t.api.GET("/api/v1/sessions/{id}", byId(upcoming.id)));
    expect(up).toMatchObject({ telehealthUrl: newLink, sequence: 1 });
    const confirmed = await ok(t.api.GET("/api/v1/sessions/{id}", byId(past.id)));
    expect(confirmed.telehealthUrl).toBe(ZOOM_LINK);
    expect(confirmed.confirmation?.linkUsed).toBe(ZOOM_LINK);
  });

  it("deleting the default link is refused while upcoming sessions use it", async () => {
    const { provider, client } = await providerWithClient(t);
    await createSession(t, provider.id, client.id, { start: "2026-12-03T15:00:00Z" });
    await problem(t.api.DELETE("/api/v1/providers/{id}/telehealth-link", byId(provider.id)), 409, "link_in_use");
  });
});
