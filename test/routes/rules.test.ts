// The network's rules through the API (docs/rules.md): each case was wrong before these rules were
// written down, and is right after.
import { describe, expect, it } from "vitest";
import { byId, type JsonBody, ok, problem } from "../helpers/api-client.js";
import { expectStatus, makeTestApp } from "../helpers/app.js";
import { DAY, fixedClock, HOUR } from "../helpers/clock.js";
import {
  createClient,
  createFeed,
  createProviderKey,
  createSession,
  feedPath,
  insertManySessions,
  providerWithClient,
  setLink,
  ZOOM_LINK,
} from "../helpers/factories.js";

const clock = fixedClock("2026-12-10T12:00:00Z");
const t = await makeTestApp({ clock });

const confirm = (id: string, body: JsonBody<"/api/v1/sessions/{id}/confirm", "post"> = {}) =>
  t.api.POST("/api/v1/sessions/{id}/confirm", { ...byId(id), body });
const addLocation = async (clientId: string, body: JsonBody<"/api/v1/clients/{id}/locations", "post">) =>
  ok(t.api.POST("/api/v1/clients/{id}/locations", { ...byId(clientId), body }), 201);
const items = async (providerId: string) => (await ok(t.api.GET("/api/v1/providers/{id}/reconciliation", byId(providerId)))).items;
const getSession = (id: string) => ok(t.api.GET("/api/v1/sessions/{id}", byId(id)));
const cancel = (id: string) => ok(t.api.POST("/api/v1/sessions/{id}/cancel", byId(id)));

describe("a session keeps its own link", () => {
  it("confirmation.linkUsed is the link the session used, not today's default", async () => {
    const { provider, client } = await providerWithClient(t);
    const past = await createSession(t, provider.id, client.id, { start: "2026-12-09T15:00:00Z" });
    await setLink(t, provider.id, { url: "https://zoom.us/j/2222222222" });
    const body = await ok(confirm(past.id, { state: "NY" }));
    expect(body.session.confirmation?.linkUsed).toBe(ZOOM_LINK);
    expect(body.session.telehealthUrl).toBe(ZOOM_LINK);
  });

  it("a new default reaches upcoming sessions that follow it (SEQUENCE rises), not past, cancelled or own-link ones", async () => {
    const { provider, client } = await providerWithClient(t);
    const past = await createSession(t, provider.id, client.id, { start: "2026-12-09T15:00:00Z" });
    const cancelled = await createSession(t, provider.id, client.id, { start: "2026-12-12T15:00:00Z" });
    await cancel(cancelled.id);
    const own = await createSession(t, provider.id, client.id, { start: "2026-12-13T15:00:00Z", telehealthUrl: "https://zoom.us/j/3333333333" });
    const upcoming = await createSession(t, provider.id, client.id, { start: "2026-12-14T15:00:00Z" });
    const before = await Promise.all([past, cancelled, own, upcoming].map((s) => getSession(s.id)));
    const saved = await setLink(t, provider.id, { url: "https://zoom.us/j/2222222222" });
    expect(saved.upcomingSessionsUpdated).toBe(1);
    const after = await Promise.all([past, cancelled, own, upcoming].map((s) => getSession(s.id)));
    for (const i of [0, 1, 2]) expect(after[i]).toEqual(before[i]);
    expect(after[3]).toMatchObject({ telehealthUrl: "https://zoom.us/j/2222222222", sequence: before[3]!.sequence + 1 });
  });

  it("renaming a client raises SEQUENCE of their sessions (initials and full feeds show the name)", async () => {
    const { provider, client } = await providerWithClient(t);
    const s = await createSession(t, provider.id, client.id, { start: "2026-12-14T15:00:00Z" });
    await ok(t.api.PATCH("/api/v1/clients/{id}", { ...byId(client.id), body: { displayName: "Renamed Person" } }));
    expect((await getSession(s.id)).sequence).toBe(s.sequence + 1);
  });
});

describe("confirming", () => {
  it("with no location on file: 409 client_location_required carrying the decision (row 1)", async () => {
    const { provider, client } = await providerWithClient(t);
    const s = await createSession(t, provider.id, client.id, { start: "2026-12-09T15:00:00Z" });
    const body = await problem(confirm(s.id, {}), 409);
    expect(body).toMatchObject({ code: "client_location_required", decision: { row: 1, outcome: "client_location_required", confirmable: false } });
    // With the location on file for the session's time, {} confirms.
    await addLocation(client.id, { state: "NY", from: "2026-12-01T00:00:00Z" });
    expect((await ok(confirm(s.id, {}))).decision).toMatchObject({ row: 5, state: "NY" });
  });

  it("only once the session has ended: 10 minutes after the start is too early", async () => {
    const { provider, client } = await providerWithClient(t);
    const s = await createSession(t, provider.id, client.id, { start: "2026-12-10T11:50:00Z", durationMinutes: 50 });
    const body = await problem(confirm(s.id, { state: "NY" }), 409);
    expect(body).toMatchObject({ code: "session_not_ended", confirmableFrom: "2026-12-10T12:40:00.000Z" });
    // The document itself is not one of its operations.
    const doc = await expectStatus(await t.request("GET", "/api/v1/openapi.json", { token: null }), 200);
    expect(JSON.stringify(doc.paths["/api/v1/sessions/{id}/confirm"])).toMatch(/once the session has ended/);
  });

  it("a typed state reuses the identical saved location instead of adding a copy", async () => {
    const { provider, client } = await providerWithClient(t);
    const a = await createSession(t, provider.id, client.id, { start: "2026-12-08T15:00:00Z" });
    const b = await createSession(t, provider.id, client.id, { start: "2026-12-09T15:00:00Z" });
    const first = await ok(confirm(a.id, { state: "ny", label: "Home" }));
    const second = await ok(confirm(b.id, { state: "NY", label: "home" }));
    expect(second.session.confirmation?.clientLocationId).toBe(first.session.confirmation?.clientLocationId);
    expect((await ok(t.api.GET("/api/v1/clients/{id}/locations", byId(client.id)))).items).toHaveLength(1);
  });

  it("a Canadian client entered as CA is in Canada, never California", async () => {
    const { provider, client } = await providerWithClient(t, { licenses: [{ state: "NY" }, { state: "CA" }], credentialedStates: ["NY", "CA"] });
    const s = await createSession(t, provider.id, client.id, { start: "2026-12-09T15:00:00Z" });
    const body = await problem(confirm(s.id, { country: "CA", label: "Toronto" }), 409);
    expect(body).toMatchObject({ code: "location_outside_us", decision: { row: 2, country: "CA" } });
    expect(body.decision.explanation).toContain("Canada");
    const loc = await addLocation(client.id, { country: "CA", state: "ON", from: "2026-12-01T00:00:00Z" });
    expect(loc).toMatchObject({ country: "CA", state: "ON" });
    expect((await ok(t.api.GET("/api/v1/sessions/{id}/eligibility", byId(s.id)))).row).toBe(2);
    // A US location needs a state.
    expect((await t.api.POST("/api/v1/clients/{id}/locations", { ...byId(client.id), body: { country: "US" } })).response.status).toBe(422);
  });
});

describe("licensed and credentialed", () => {
  it("a PSYPACT compact privilege never counts as network credentialing", async () => {
    const res = t.api.POST("/api/v1/providers", {
      body: {
        name: "Dr Compact",
        timezone: "America/Denver",
        licenses: [{ state: "NY" }, { state: "CO", via: "PSYPACT" }],
        credentialedStates: ["CO"],
      },
    });
    expect((await problem(res, 422)).code).toBe("credentialed_without_license");
    // Licensed through the privilege, not credentialed: an in-network client there needs credentialing.
    const { provider, client } = await providerWithClient(t, {
      licenses: [{ state: "NY" }, { state: "CO", via: "PSYPACT" }],
      credentialedStates: ["NY"],
    });
    const s = await createSession(t, provider.id, client.id, { start: "2026-12-09T15:00:00Z" });
    expect((await problem(confirm(s.id, { state: "CO" }), 409)).decision).toMatchObject({ row: 6, outcome: "needs_credentialing" });
  });

  it("a provider key cannot set credentialing; licenses it adds stay unverified and never bill until an admin verifies them", async () => {
    const { provider, client } = await providerWithClient(t, {}, { insurance: "out_of_network" });
    const key = await createProviderKey(t, provider.id);
    const patch = (body: JsonBody<"/api/v1/providers/{id}", "patch">) => t.apiAs(key).PATCH("/api/v1/providers/{id}", { ...byId(provider.id), body });
    expect((await problem(patch({ credentialedStates: ["NY", "NJ"] }), 403)).code).toBe("admin_only");
    expect((await problem(patch({ licenses: [{ state: "NY", verified: true }] }), 403)).code).toBe("admin_only");
    const added = await ok(patch({ licenses: [{ state: "NY" }, { state: "NJ" }, { state: "CA" }] }));
    expect(added.licenses).toEqual([
      { state: "NY", verified: true },
      { state: "NJ", verified: true },
      { state: "CA", verified: false },
    ]);
    const s = await createSession(t, provider.id, client.id, { start: "2026-12-09T15:00:00Z" });
    const refused = await problem(confirm(s.id, { state: "CA" }), 409);
    expect(refused.decision).toMatchObject({ row: 4, outcome: "refer" });
    expect(refused.decision.explanation).toMatch(/verify/);
    // The network verifies it: licensed in CA, not credentialed, out-of-network client: private pay.
    await ok(
      t.api.PATCH("/api/v1/providers/{id}", { ...byId(provider.id), body: { licenses: [{ state: "NY" }, { state: "NJ" }, { state: "CA" }] } }),
    );
    expect((await ok(confirm(s.id, { state: "CA" }))).decision).toMatchObject({ row: 7, billing: "private_pay" });
  });
});

describe("locations are time-ranged", () => {
  it("open items judge each past session by the location that held at its time, not a later trip", async () => {
    const { provider, client } = await providerWithClient(
      t,
      { licenses: [{ state: "NY" }, { state: "NJ" }], credentialedStates: ["NY"] },
      { insurance: "out_of_network" },
    );
    await addLocation(client.id, { state: "NY", from: "2026-11-01T00:00:00Z" });
    await addLocation(client.id, { state: "NJ", from: "2026-12-05T00:00:00Z", to: "2026-12-07T00:00:00Z" });
    await addLocation(client.id, { state: "CA", label: "Trip", from: "2026-12-20T00:00:00Z" });
    const ny = await createSession(t, provider.id, client.id, { start: "2026-12-03T15:00:00Z" });
    const nj = await createSession(t, provider.id, client.id, { start: "2026-12-06T15:00:00Z" });
    const backInNy = await createSession(t, provider.id, client.id, { start: "2026-12-08T15:00:00Z" });
    const list = await items(provider.id);
    const of = (id: string) => list.find((i) => i.sessionId === id)!;
    expect(of(ny.id)).toMatchObject({ kind: "eligible", decision: { state: "NY" } });
    expect(of(nj.id)).toMatchObject({ kind: "private_pay_only", decision: { state: "NJ" } });
    expect(of(backInNy.id)).toMatchObject({ kind: "eligible", decision: { state: "NY" } });
    expect(JSON.stringify(list)).not.toContain("California");
    // Confirm with {} uses the same location.
    expect((await ok(confirm(nj.id))).session.confirmation).toMatchObject({ state: "NJ" });
  });
});

describe("overlaps", () => {
  it("one provider's overlapping sessions answer 409 overlaps_session unless allowOverlap (create and reschedule)", async () => {
    const { provider, client } = await providerWithClient(t);
    const other = await createClient(t, provider.id);
    const first = await createSession(t, provider.id, client.id, { start: "2026-12-15T15:00:00Z", durationMinutes: 50 });
    const clash = t.api.POST("/api/v1/providers/{id}/sessions", {
      ...byId(provider.id),
      body: { clientId: other.id, start: "2026-12-15T15:30:00Z", durationMinutes: 50, kind: "virtual" },
    });
    expect(await problem(clash, 409)).toMatchObject({ code: "overlaps_session", sessions: [{ id: first.id }] });
    await createSession(t, provider.id, other.id, { start: "2026-12-15T15:30:00Z", allowOverlap: true });
    const later = await createSession(t, provider.id, other.id, { start: "2026-12-15T17:00:00Z" });
    const move = (body: JsonBody<"/api/v1/sessions/{id}", "patch">) => t.api.PATCH("/api/v1/sessions/{id}", { ...byId(later.id), body });
    expect((await problem(move({ start: "2026-12-15T15:10:00Z" }), 409)).code).toBe("overlaps_session");
    await ok(move({ start: "2026-12-15T15:10:00Z", allowOverlap: true }));
    // Back to back is not an overlap; a cancelled session frees its time.
    await createSession(t, provider.id, client.id, { start: "2026-12-15T15:50:00Z", durationMinutes: 5, allowOverlap: true });
    const tomorrow = await createSession(t, provider.id, client.id, { start: "2026-12-16T15:00:00Z" });
    await createSession(t, provider.id, client.id, { start: "2026-12-16T15:50:00Z" });
    await cancel(tomorrow.id);
    await createSession(t, provider.id, other.id, { start: "2026-12-16T15:00:00Z", durationMinutes: 50 });
  });
});

describe("link validation through the API", () => {
  const put = async (url: string) => {
    const { provider } = await providerWithClient(t);
    return t.api.PUT("/api/v1/providers/{id}/telehealth-link", { ...byId(provider.id), body: { url, baaSigned: true, waitingRoomEnabled: true } });
  };

  it.each(["https://zoorn.us/j/123456789", "https://zoom-us.com/j/123456789", "https://zoom.us-meeting.com/j/123456789"])(
    "%s is a lookalike, never platform other",
    async (url) => {
      expect((await problem(put(url), 422)).code).toBe("lookalike_host");
    },
  );

  it.each([
    [
      "https://nam02.safelinks.protection.outlook.com/?url=https%3A%2F%2Fzoom.us%2Fj%2F123456789&data=05",
      "outlook_safe_links",
      "https://zoom.us/j/123456789",
    ],
    ["https://www.google.com/url?q=https://meet.google.com/abc-defg-hij&sa=D", "google_redirect", "https://meet.google.com/abc-defg-hij"],
  ])("a wrapped link is unwrapped, checked, and the answer says so: %s", async (url, wrapper, inner) => {
    const body = await ok(put(url));
    expect(body).toMatchObject({ url: inner, unwrappedFrom: wrapper, compliant: true });
    expect(body.warnings[0]).toMatch(/wrapped/);
  });

  it("a backslash gets its own code and message", async () => {
    const body = await problem(put("https://zoom.us\\@evil.com/j/123456789"), 422);
    expect(body.code).toBe("backslash_in_url");
    expect(body.detail).toMatch(/backslash/);
    expect(body.detail).not.toMatch(/space/);
  });
});

describe("several attested platforms", () => {
  it("a Zoom provider attests Meet too and gives one client a Meet link; the default API still reads Zoom", async () => {
    const { provider, client } = await providerWithClient(t);
    const meetUrl = "https://meet.google.com/abc-defg-hij";
    const unattested = t.api.POST("/api/v1/providers/{id}/sessions", {
      ...byId(provider.id),
      body: { clientId: client.id, start: "2026-12-20T15:00:00Z", kind: "virtual", telehealthUrl: meetUrl },
    });
    expect((await problem(unattested, 422)).code).toBe("platform_not_attested");
    const meet = await ok(
      t.api.POST("/api/v1/providers/{id}/telehealth-links", {
        ...byId(provider.id),
        body: { url: meetUrl, instructions: "Ask to join; I admit you.", baaSigned: true, waitingRoomEnabled: true },
      }),
    );
    expect(meet).toMatchObject({ platform: "google_meet", isDefault: false, compliant: true });
    const s = await createSession(t, provider.id, client.id, { start: "2026-12-20T15:00:00Z", telehealthUrl: meetUrl });
    expect(s.telehealthUrl).toBe(meetUrl);
    const list = await ok(t.api.GET("/api/v1/providers/{id}/telehealth-links", byId(provider.id)));
    expect(list.items.map((l) => [l.platform, l.isDefault]).sort()).toEqual([
      ["google_meet", false],
      ["zoom", true],
    ]);
    expect((await ok(t.api.GET("/api/v1/providers/{id}/telehealth-link", byId(provider.id)))).url).toBe(ZOOM_LINK);
    // The invitation carries the Meet link with Meet's own instructions.
    const ics = await ok(t.api.GET("/api/v1/sessions/{id}/invite.ics", { ...byId(s.id), parseAs: "text" }));
    expect(ics).toContain(meetUrl);
    expect(ics).toContain("Ask to join");
    // In use: the Meet link cannot be removed while an upcoming session uses it.
    const remove = t.api.DELETE("/api/v1/providers/{id}/telehealth-links/{linkId}", { params: { path: { id: provider.id, linkId: meet.id } } });
    expect((await problem(remove, 409)).code).toBe("link_in_use");
  });
});

describe("feed size budget", () => {
  it("never drops an upcoming session silently: the nearest are kept, and the feeds API says how many were left out and how to fix it", async () => {
    const { provider, client } = await providerWithClient(t);
    const link = await setLink(t, provider.id, { instructions: "Before we meet: ".padEnd(1990, "x") });
    const base = clock.now().getTime() - 10 * DAY;
    const rows = await insertManySessions(
      t,
      { providerId: provider.id, clientId: client.id, link },
      Array.from({ length: 520 }, (_, i) => base + i * 8 * HOUR),
    );
    const feed = await createFeed(t, provider.id);
    const text = await (await t.request("GET", feedPath(feed.url), { token: null })).text();
    expect(Buffer.byteLength(text)).toBeLessThanOrEqual(1_000_000);
    const listed = (await ok(t.api.GET("/api/v1/providers/{id}/feeds", byId(provider.id)))).items[0]!;
    const now = clock.now().getTime();
    const past = rows.filter((r) => r.endAt.getTime() <= now).length;
    expect(listed.content.omittedPast).toBe(past);
    expect(listed.content.omittedUpcoming).toBeGreaterThan(0);
    const advice = listed.content.advice!;
    expect(advice).toMatchObject({ includeLink: false, futureDays: expect.any(Number) });
    expect(advice.message).toContain(`${listed.content.omittedUpcoming} upcoming sessions`);
    // The nearest upcoming are the ones kept.
    const upcoming = rows.filter((r) => r.endAt.getTime() > now);
    const keptCount = upcoming.length - listed.content.omittedUpcoming;
    for (const r of upcoming.slice(0, keptCount)) expect(text).toContain(r.uid);
    for (const r of upcoming.slice(keptCount)) expect(text).not.toContain(r.uid);
    // Following the advice fits every upcoming session.
    const shorter = await createFeed(t, provider.id, { futureDays: advice.futureDays });
    const all = (await ok(t.api.GET("/api/v1/providers/{id}/feeds", byId(provider.id)))).items;
    expect(all.find((f) => f.id === shorter.id)!.content.omittedUpcoming).toBe(0);
  });
});

describe("feed HTTP", () => {
  it("HEAD carries the Content-Length of the GET; If-Modified-Since in all three RFC 9110 forms; 31 Feb is ignored", async () => {
    const { provider, client } = await providerWithClient(t);
    await createSession(t, provider.id, client.id, { start: "2026-12-14T15:00:00Z" });
    const feed = await createFeed(t, provider.id);
    const path = feedPath(feed.url);
    const got = await t.request("GET", path, { token: null });
    const bytes = Buffer.byteLength(await got.text());
    const head = await t.request("HEAD", path, { token: null });
    expect(head.status).toBe(200);
    expect(head.headers.get("content-length")).toBe(String(bytes));
    expect(await head.text()).toBe("");
    const gzHead = await t.request("HEAD", path, { token: null, headers: { "accept-encoding": "gzip" } });
    const gzGet = await t.request("GET", path, { token: null, headers: { "accept-encoding": "gzip" } });
    expect(gzHead.headers.get("content-length")).toBe(String((await gzGet.arrayBuffer()).byteLength));

    const ims = (v: string) => t.request("GET", path, { token: null, headers: { "if-modified-since": v } }).then((r) => r.status);
    const lm = new Date(got.headers.get("last-modified")!);
    const later = new Date(lm.getTime() + 3600_000);
    const dd = String(later.getUTCDate()).padStart(2, "0");
    const [wk, , mon, yyyy, time] = later.toUTCString().split(" ");
    const long = ["Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday"][later.getUTCDay()];
    expect(await ims(later.toUTCString())).toBe(304);
    expect(await ims(`${long}, ${dd}-${mon}-${yyyy!.slice(2)} ${time} GMT`)).toBe(304);
    expect(await ims(`${wk!.slice(0, 3)} ${mon} ${String(later.getUTCDate()).padStart(2, " ")} ${time} ${yyyy}`)).toBe(304);
    expect(await ims("Sat, 31 Feb 2099 00:00:00 GMT")).toBe(200);
    expect(await ims("Tue, 15 Dec 2099 25:00:00 GMT")).toBe(200);
  });
});
