// Connecting Google and Outlook calendars with OAuth (authorization code + PKCE) against local fakes:
// the authorization server (test/fakes/oauth-server.ts) and the calendar APIs, which accept only the
// access tokens it issued. Token refresh, invalid_grant, state checks and credentials at rest.
import { randomUUID } from "node:crypto";
import { eq, sql } from "drizzle-orm";
import { afterAll, describe, expect, it } from "vitest";
import { calendarConnections, calendarSources, deliveries } from "../../src/db/schema.js";
import { IngestWorker } from "../../src/ingest/worker.js";
import { FakeGoogleCalendar } from "../fakes/google-calendar.js";
import { FakeMicrosoftGraph } from "../fakes/microsoft-graph.js";
import { FakeOAuthServer } from "../fakes/oauth-server.js";
import { expectStatus, makeTestApp, type TestApp } from "../helpers/app.js";
import { DAY, fixedClock, HOUR, MINUTE } from "../helpers/clock.js";
import { createProviderKey, createSession, providerWithClient } from "../helpers/factories.js";
import { connectCalendars, consent, finish } from "../helpers/oauth-flow.js";
import { textOf, webClient } from "../web/web-client.js";

const START = "2026-11-26T12:00:00Z";
const clock = fixedClock(START);
const BASE = "https://cal.example.test";
const inApp = (t: () => TestApp) => async (url: string, init: RequestInit) => {
  const u = new URL(url);
  return t().app.request(`${u.pathname}${u.search}`, init);
};

let t: TestApp;
const googleAuth = new FakeOAuthServer("google", { now: () => clock.now(), accessTtlSeconds: 2 });
const msAuth = new FakeOAuthServer("microsoft", { now: () => clock.now() });
const google = new FakeGoogleCalendar({
  accessToken: "unused",
  tokenCheck: googleAuth.isValidAccessToken,
  now: () => clock.now(),
  deliver: inApp(() => t),
});
const graph = new FakeMicrosoftGraph({
  accessToken: "unused",
  tokenCheck: msAuth.isValidAccessToken,
  now: () => clock.now(),
  deliver: inApp(() => t),
});
await googleAuth.start();
await msAuth.start();
const googleBase = (await google.start()).baseUrl;
const graphBase = (await graph.start()).baseUrl;
googleAuth.redirectUris.add(`${BASE}/oauth/google/callback`);
msAuth.redirectUris.add(`${BASE}/oauth/microsoft/callback`);
t = await makeTestApp({
  clock,
  env: {
    INGEST_ALLOW_PRIVATE_HOSTS: "127.0.0.1",
    ...googleAuth.env(),
    ...msAuth.env(),
    GOOGLE_API_BASE_URL: googleBase,
    MICROSOFT_GRAPH_BASE_URL: graphBase,
  },
});
const worker = new IngestWorker(t.services);
const db = t.database.db;

afterAll(async () => {
  for (const f of [google, graph]) await f.stop();
  for (const f of [googleAuth, msAuth]) await f.stop();
});

const plus = (iso: string, ms: number) => new Date(Date.parse(iso) + ms).toISOString();

async function world() {
  const { provider, client } = await providerWithClient(t);
  const web = webClient(t);
  await web.signIn(await createProviderKey(t, provider.id));
  const calendarId = `therapist-${randomUUID()}@example.com`;
  const calendarName = `Therapy ${randomUUID().slice(0, 8)}`;
  google.addCalendar(calendarId, { timeZone: "America/New_York", summary: calendarName, primary: true });
  return { provider, client, web, calendarId, calendarName };
}
type World = Awaited<ReturnType<typeof world>>;

async function sessionWithGoogleEvent(w: World, startOffsetMs: number) {
  const session = await createSession(t, w.provider.id, w.client.id, { start: plus(START, startOffsetMs) });
  const ev = google.insertEvent(w.calendarId, {
    iCalUID: session.uid,
    summary: "Session",
    start: { dateTime: session.start },
    end: { dateTime: session.end },
  });
  return { session, eventId: String(ev.id) };
}

async function settle() {
  await google.idle();
  await graph.idle();
  await worker.drain();
}

const sourcesOf = (providerId: string) => db.select().from(calendarSources).where(eq(calendarSources.providerId, providerId));
const getSession = async (id: string) => expectStatus<{ start: string; status: string }>(await t.request("GET", `/api/v1/sessions/${id}`), 200);
const unauthorizedCalls = () => google.requests.filter((r) => !r.authorized).length;

describe("connecting Google Calendar", () => {
  it("consent, pick a calendar, and a change in it reaches the session; a 2-second access token is refreshed before the next pull", async () => {
    const w = await world();
    const { session, eventId } = await sessionWithGoogleEvent(w, 5 * DAY);
    const { authorizationUrl, pickHtml } = await connectCalendars(t, w.web, "google", [w.calendarName]);
    // Least scopes, offline access, a fresh refresh token on reconnect, PKCE S256.
    const q = new URL(authorizationUrl).searchParams;
    expect(q.get("scope")).toBe(
      "https://www.googleapis.com/auth/calendar.calendarlist.readonly https://www.googleapis.com/auth/calendar.events.readonly",
    );
    expect(q.get("access_type")).toBe("offline");
    expect(q.get("prompt")).toBe("consent");
    expect(q.get("code_challenge_method")).toBe("S256");
    expect(q.get("redirect_uri")).toBe(`${BASE}/oauth/google/callback`);
    expect(textOf(pickHtml)).toContain(`${w.calendarName} (main calendar)`);
    await settle();
    const [source] = await sourcesOf(w.provider.id);
    expect(source).toMatchObject({ kind: "google", status: "active" });
    expect(source!.syncToken).toBeTruthy();
    const refreshesBefore = googleAuth.counts.refreshGrants;

    clock.advance(3000); // the 2-second token has expired
    const unauthorized = unauthorizedCalls();
    google.patchEvent(w.calendarId, eventId, { start: { dateTime: plus(session.start, HOUR) }, end: { dateTime: plus(session.end, HOUR) } });
    await settle();
    expect(googleAuth.counts.refreshGrants - refreshesBefore, "refreshed once, before the pull").toBe(1);
    expect(unauthorizedCalls(), "no request went out with the expired token").toBe(unauthorized);
    expect((await getSession(session.id)).start).toBe(plus(session.start, HOUR));
  });

  it("a 401 on a pull leads to one refresh and one retry", async () => {
    googleAuth.accessTtlSeconds = 3600;
    const w = await world();
    const { session, eventId } = await sessionWithGoogleEvent(w, 6 * DAY);
    await connectCalendars(t, w.web, "google", [w.calendarName]);
    await settle();
    const refreshes = googleAuth.counts.refreshGrants;
    const unauthorized = unauthorizedCalls();
    googleAuth.expireAccessTokens(); // our stored expiry says valid; Google says 401
    google.patchEvent(w.calendarId, eventId, { start: { dateTime: plus(session.start, 2 * HOUR) }, end: { dateTime: plus(session.end, 2 * HOUR) } });
    await settle();
    expect(unauthorizedCalls() - unauthorized, "one 401").toBe(1);
    expect(googleAuth.counts.refreshGrants - refreshes, "one refresh").toBe(1);
    expect((await getSession(session.id)).start).toBe(plus(session.start, 2 * HOUR));
    const [source] = await sourcesOf(w.provider.id);
    expect(source!.status).toBe("active");
  });

  it("invalid_grant: needs_reconnect and an open item, no session cancelled; reconnecting resumes syncing", async () => {
    googleAuth.accessTtlSeconds = 3600;
    const w = await world();
    const { session, eventId } = await sessionWithGoogleEvent(w, 7 * DAY);
    const { connectionId } = await connectCalendars(t, w.web, "google", [w.calendarName]);
    await settle();
    googleAuth.revokeAll();
    googleAuth.expireAccessTokens();
    google.patchEvent(w.calendarId, eventId, { start: { dateTime: plus(session.start, 3 * HOUR) }, end: { dateTime: plus(session.end, 3 * HOUR) } });
    await settle();
    const [lost] = await sourcesOf(w.provider.id);
    expect(lost).toMatchObject({ status: "needs_reconnect", lastErrorCode: "grant_revoked" });
    expect((await getSession(session.id)).status).toBe("scheduled");
    const items = await expectStatus<{ items: { kind: string; title: string }[] }>(
      await t.request("GET", `/api/v1/providers/${w.provider.id}/reconciliation`),
      200,
    );
    expect(items.items).toContainEqual(expect.objectContaining({ kind: "calendar_needs_reconnect", title: "Reconnect your Google Calendar" }));
    const page = textOf(await (await w.web.get("/settings/connections")).text());
    expect(page).toContain("Needs reconnecting");
    expect(page).toContain("grant_revoked");
    expect(textOf(await (await w.web.get("/settings/open-items")).text())).toContain("Reconnect your Google Calendar");

    // Reconnect: the same connection, new tokens; its source is active again and catches up.
    const { callback } = await consent(t, w.web, "google", { connectionId });
    const { res } = await finish(w.web, callback);
    expect(res.status, await res.clone().text()).toBe(303);
    expect(res.headers.get("location")).toBe("/settings/connections");
    await settle();
    const [back] = await sourcesOf(w.provider.id);
    expect(back).toMatchObject({ id: lost!.id, status: "active" });
    expect((await getSession(session.id)).start).toBe(plus(session.start, 3 * HOUR));
    const after = await expectStatus<{ items: { kind: string }[] }>(await t.request("GET", `/api/v1/providers/${w.provider.id}/reconciliation`), 200);
    expect(after.items.map((i) => i.kind)).not.toContain("calendar_needs_reconnect");
  });

  it("deleting the last calendar of a Google connection stops its channel and revokes the grant", async () => {
    const w = await world();
    await connectCalendars(t, w.web, "google", [w.calendarName]);
    await settle();
    const [source] = await sourcesOf(w.provider.id);
    const revocations = googleAuth.counts.revocations;
    const res = await t.request("DELETE", `/api/v1/providers/${w.provider.id}/calendar-sources/${source!.id}`);
    expect(res.status, await res.clone().text()).toBe(204);
    expect(googleAuth.counts.revocations - revocations, t.logs.lines.filter((l) => l.includes("revo")).join("\n")).toBe(1);
    expect(google.channels.find((c) => c.id === source!.channelId)).toBeUndefined();
    const [conn] = await db
      .select()
      .from(calendarConnections)
      .where(eq(calendarConnections.id, String(source!.settings.connectionId)));
    expect(conn).toMatchObject({ status: "disconnected", accessToken: null, refreshToken: null });
  });
});

describe("connecting an Outlook calendar", () => {
  it("consent with Calendars.Read offline_access, pick the calendar, a change reaches the session; rotated refresh tokens are stored", async () => {
    const w = await world();
    graph.addCalendar("Birthdays");
    const session = await createSession(t, w.provider.id, w.client.id, { start: plus(START, 4 * DAY) });
    const ev = graph.insertEvent({ iCalUId: session.uid, subject: "Session", start: session.start, end: session.end } as never);
    const { authorizationUrl, pickHtml } = await connectCalendars(t, w.web, "microsoft", ["Calendar (main calendar)"]);
    expect(new URL(authorizationUrl).searchParams.get("scope")).toBe("offline_access Calendars.Read");
    expect(textOf(pickHtml)).toContain("Birthdays");
    await settle();
    const [source] = await sourcesOf(w.provider.id);
    expect(source).toMatchObject({ kind: "microsoft", status: "active" });
    const [conn] = await db
      .select()
      .from(calendarConnections)
      .where(eq(calendarConnections.id, String(source!.settings.connectionId)));
    const before = conn!.refreshToken;

    clock.advance(2 * HOUR); // the hour-long token expires: refreshed, and Microsoft rotates the refresh token
    graph.patchEvent(String(ev.id), { start: plus(session.start, HOUR), end: plus(session.end, HOUR) } as never);
    await settle();
    expect((await getSession(session.id)).start).toBe(plus(session.start, HOUR));
    const [rotated] = await db.select().from(calendarConnections).where(eq(calendarConnections.id, conn!.id));
    expect(rotated!.refreshToken).not.toBe(before);
  });
});

describe("the callback", () => {
  it("refuses a wrong, reused or expired state, and one begun by another provider; the PKCE verifier never leaves the server", async () => {
    const a = await world();
    const b = await world();
    // Wrong state.
    const { callback } = await consent(t, a.web, "google");
    const forged = new URL(callback);
    forged.searchParams.set("state", "x".repeat(43));
    expect((await finish(a.web, forged)).res.status).toBe(400);
    // Begun by provider A, finished in provider B's browser.
    const other = await finish(b.web, callback);
    expect(other.res.status).toBe(403);
    expect(textOf(await other.res.text())).toContain("started by someone else");
    // Used once, then reused.
    const first = await finish(a.web, callback);
    expect(first.res.status, await first.res.clone().text()).toBe(303);
    const again = await finish(a.web, callback);
    expect(again.res.status).toBe(400);
    expect(textOf(await again.res.text())).toContain("already used");
    // Expired: RFC 6749 4.1.2, ten minutes at most.
    const late = await consent(t, a.web, "google");
    clock.advance(11 * MINUTE);
    const expired = await finish(a.web, late.callback);
    expect(expired.res.status).toBe(400);
    expect(textOf(await expired.res.text())).toContain("expired");
    // Without a settings session in that browser: nothing is consumed.
    const anon = webClient(t);
    const fresh = await consent(t, a.web, "google");
    expect((await finish(anon, fresh.callback)).res.status).toBe(401);
    expect((await finish(a.web, fresh.callback)).res.status).toBe(303);

    // The verifier reached only the token endpoint: not the authorization URL, the callback, or any page.
    expect(googleAuth.verifiersReceived.length).toBeGreaterThan(0);
    for (const v of googleAuth.verifiersReceived) {
      expect(fresh.authorizationUrl).not.toContain(v);
      expect(fresh.callback.href).not.toContain(v);
    }
    const states = await db.execute(sql`select code_verifier from oauth_states`);
    for (const v of googleAuth.verifiersReceived) expect(JSON.stringify(states)).not.toContain(v);
  });

  it("a kind without credentials is shown as unavailable, never as broken", async () => {
    const bare = await makeTestApp({ clock });
    const { provider } = await providerWithClient(bare);
    const web = webClient(bare);
    await web.signIn(await createProviderKey(bare, provider.id));
    const page = await web.get("/settings/connections");
    expect(page.status).toBe(200);
    expect(textOf(await page.text())).toContain("Google Calendar: not available on this server yet");
    const res = await bare.request("POST", `/api/v1/providers/${provider.id}/calendar-connections`, { body: { kind: "microsoft" } });
    expect((await expectStatus<{ code: string }>(res, 422)).code).toBe("connection_kind_unavailable");
  });

  it("a provider cannot paste an access token any more; the API begins a connection instead", async () => {
    const w = await world();
    const key = await createProviderKey(t, w.provider.id);
    const pasted = await t.request("POST", `/api/v1/providers/${w.provider.id}/calendar-sources`, {
      token: key,
      body: { kind: "google", calendarId: w.calendarId, accessToken: "ya29.pasted" },
    });
    expect((await expectStatus<{ code: string }>(pasted, 422)).code).toBe("use_calendar_connection");
    const begun = await expectStatus<{ authorizationUrl: string }>(
      await t.request("POST", `/api/v1/providers/${w.provider.id}/calendar-connections`, { token: key, body: { kind: "google" } }),
      201,
    );
    expect(new URL(begun.authorizationUrl).origin).toBe(new URL(googleAuth.endpoints().authorizationUrl).origin);
    expect(new URL(begun.authorizationUrl).searchParams.get("code_challenge")).toMatch(/^[A-Za-z0-9_-]{43}$/);
  });
});

describe("credentials at rest", () => {
  it("no token the fake issued appears in any text or jsonb column of any table", async () => {
    const secrets = [...googleAuth.issuedSecrets(), ...msAuth.issuedSecrets(), ...googleAuth.verifiersReceived, ...msAuth.verifiersReceived].filter(
      (s) => !s.startsWith("code-"),
    );
    expect(secrets.length).toBeGreaterThan(5);
    const cols = (await db.execute(
      sql`select table_name, column_name from information_schema.columns where table_schema = 'public' and data_type in ('text', 'jsonb', 'character varying')`,
    )) as unknown as { rows?: { table_name: string; column_name: string }[] } & { table_name: string; column_name: string }[];
    const list = (cols.rows ?? cols) as { table_name: string; column_name: string }[];
    expect(list.length).toBeGreaterThan(20);
    let scanned = 0;
    for (const { table_name, column_name } of list) {
      const rows = (await db.execute(
        sql.raw(`select "${column_name}"::text as v from "${table_name}" where "${column_name}" is not null`),
      )) as unknown as { rows?: { v: string }[] } & { v: string }[];
      for (const { v } of rows.rows ?? rows) {
        scanned++;
        for (const s of secrets) expect(v.includes(s), `${table_name}.${column_name} holds a token in clear`).toBe(false);
      }
    }
    expect(scanned).toBeGreaterThan(50);
    const logs = t.logs.text();
    for (const s of secrets) expect(logs.includes(s), "a token reached the log").toBe(false);
    const pending = await db.select().from(deliveries);
    expect(pending.length).toBeGreaterThan(0);
  });
});
