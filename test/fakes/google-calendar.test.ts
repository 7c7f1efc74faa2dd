// Drives FakeGoogleCalendar through src/ingest/google-client.ts: these are the client's tests as well.
import { randomUUID } from "node:crypto";
import { Hono } from "hono";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { ExternalEvent } from "../../src/domain/external-event.js";
import {
  GoogleApiError,
  type GoogleConfig,
  type GoogleEventsPage,
  listGoogleEvents,
  mapGoogleEvent,
  stopGoogleChannel,
  watchGoogleEvents,
} from "../../src/ingest/google-client.js";
import { zonedWallTimeToUtc } from "../../src/ingest/http.js";
import { FakeGoogleCalendar } from "./google-calendar.js";

const CAL = "therapist@example.com";
let fake: FakeGoogleCalendar;
let cfg: GoogleConfig;
let captured: { url: string; headers: Headers; body: string; method: string }[];
let webhookStatus: number[];

beforeEach(async () => {
  captured = [];
  webhookStatus = [];
  // Notifications land in an in-process Hono app, as they would in our server's app.request().
  const hooks = new Hono().post("/webhooks/google/:sourceId", async (c) => {
    captured.push({ url: c.req.url, headers: new Headers(c.req.raw.headers), body: await c.req.text(), method: c.req.method });
    return c.body(null, (webhookStatus.shift() ?? 200) as 200);
  });
  const token = `ya29.${randomUUID()}`;
  fake = new FakeGoogleCalendar({ accessToken: token, deliver: (url, init) => Promise.resolve(hooks.request(url, init)) });
  const { baseUrl } = await fake.start();
  cfg = { baseUrl, accessToken: token, calendarId: CAL };
});

afterEach(async () => {
  await fake.stop();
});

async function collect(opts: Parameters<typeof listGoogleEvents>[2], c: GoogleConfig = cfg): Promise<GoogleEventsPage[]> {
  const pages: GoogleEventsPage[] = [];
  for await (const p of listGoogleEvents(c, fetch, opts)) pages.push(p);
  return pages;
}

async function collectUntilError(opts: Parameters<typeof listGoogleEvents>[2], c: GoogleConfig = cfg) {
  const pages: GoogleEventsPage[] = [];
  try {
    for await (const p of listGoogleEvents(c, fetch, opts)) pages.push(p);
  } catch (error) {
    return { pages, error };
  }
  return { pages, error: undefined };
}

const byId = (events: ExternalEvent[], id: string) => events.find((e) => e.externalId === id);

describe("events.list full sync", () => {
  it("pages with nextPageToken, puts nextSyncToken only on the last page, and maps fields", async () => {
    fake.addCalendar(CAL, { timeZone: "America/New_York" });
    const meet = fake.insertEvent(CAL, {
      summary: "Session",
      start: { dateTime: "2026-12-01T10:00:00-05:00" },
      end: { dateTime: "2026-12-01T10:50:00-05:00" },
      location: "https://zoom.us/j/1234567890",
      description: "Join: https://doxy.me/dr-smith",
      hangoutLink: "https://meet.google.com/abc-defg-hij",
      conferenceData: {
        entryPoints: [
          { entryPointType: "video", uri: "https://meet.google.com/abc-defg-hij" },
          { entryPointType: "phone", uri: "tel:+1-555-0100" },
        ],
      },
      extendedProperties: { private: { telehealthSessionId: "ses_private" } },
    });
    const shared = fake.insertEvent(CAL, {
      start: { dateTime: "2026-12-02T09:00:00Z" },
      end: { dateTime: "2026-12-02T10:00:00Z" },
      extendedProperties: { shared: { telehealthSessionId: "ses_shared" } },
    });
    const allDay = fake.insertEvent(CAL, { start: { date: "2026-12-03" }, end: { date: "2026-12-04" }, transparency: "transparent" });
    fake.insertEvent(CAL, { start: { dateTime: "2026-12-05T09:00:00Z" }, end: { dateTime: "2026-12-05T10:00:00Z" }, status: "tentative" });
    fake.insertEvent(CAL, { start: { dateTime: "2026-12-06T09:00:00Z" }, end: { dateTime: "2026-12-06T10:00:00Z" } });

    const pages = await collect({ timeMin: "2026-11-01T00:00:00Z", maxResults: 2 });

    expect(pages.map((p) => p.events.length)).toEqual([2, 2, 1]);
    expect(pages.map((p) => p.nextSyncToken !== undefined)).toEqual([false, false, true]);
    const lists = fake.requests.filter((r) => r.path.endsWith("/events"));
    expect(lists[0]!.path).toBe(`/calendar/v3/calendars/${CAL}/events`);
    expect(lists[0]!.query).toEqual({ singleEvents: "true", showDeleted: "true", maxResults: "2", timeMin: "2026-11-01T00:00:00Z" });
    expect(lists.slice(1).every((r) => r.query.pageToken && r.query.timeMin)).toBe(true);

    const events = pages.flatMap((p) => p.events);
    expect(byId(events, meet.id as string)).toEqual({
      externalId: meet.id,
      etag: expect.any(String),
      uid: meet.iCalUID,
      status: "confirmed",
      start: "2026-12-01T15:00:00.000Z",
      end: "2026-12-01T15:50:00.000Z",
      allDay: false,
      sequence: 0,
      updatedAt: expect.stringMatching(/Z$/),
      busy: true,
      sessionId: "ses_private",
      texts: [
        "https://zoom.us/j/1234567890",
        "Join: https://doxy.me/dr-smith",
        "https://meet.google.com/abc-defg-hij",
        "https://meet.google.com/abc-defg-hij",
        "tel:+1-555-0100",
      ],
    });
    expect(byId(events, shared.id as string)?.sessionId).toBe("ses_shared");
    // All-day: midnight in the calendar's zone (America/New_York), end exclusive; transparent = free.
    expect(byId(events, allDay.id as string)).toMatchObject({
      allDay: true,
      start: "2026-12-03T05:00:00.000Z",
      end: "2026-12-04T05:00:00.000Z",
      busy: false,
    });
    expect(events.filter((e) => e.status === "tentative")).toHaveLength(1);
  });

  it("includes deleted events in a full sync window as id-only cancelled stubs (showDeleted=true)", async () => {
    const gone = fake.insertEvent(CAL, { start: { dateTime: "2026-12-01T10:00:00Z" }, end: { dateTime: "2026-12-01T11:00:00Z" } });
    fake.deleteEvent(CAL, gone.id as string);
    const pages = await collect({ timeMin: "2026-11-01T00:00:00Z" });
    expect(pages[0]!.events).toEqual([{ externalId: gone.id, etag: expect.any(String), status: "cancelled", sequence: 0, busy: false, texts: [] }]);
    const outside = await collect({ timeMin: "2027-01-01T00:00:00Z" });
    expect(outside[0]!.events).toEqual([]);
  });
});

describe("events.list incremental sync", () => {
  it("returns only what changed since the token, deletions as id-only cancelled stubs", async () => {
    const kept = fake.insertEvent(CAL, { start: { dateTime: "2026-12-01T10:00:00Z" }, end: { dateTime: "2026-12-01T11:00:00Z" } });
    const moved = fake.insertEvent(CAL, { start: { dateTime: "2026-12-02T10:00:00Z" }, end: { dateTime: "2026-12-02T11:00:00Z" } });
    const deleted = fake.insertEvent(CAL, { start: { dateTime: "2026-12-03T10:00:00Z" }, end: { dateTime: "2026-12-03T11:00:00Z" } });
    const full = await collect({ timeMin: "2026-11-01T00:00:00Z" });
    const token = full.at(-1)!.nextSyncToken!;

    fake.patchEvent(CAL, moved.id as string, { start: { dateTime: "2026-12-02T12:00:00Z" }, end: { dateTime: "2026-12-02T13:00:00Z" } });
    fake.deleteEvent(CAL, deleted.id as string);
    const added = fake.insertEvent(CAL, { start: { dateTime: "2026-12-04T10:00:00Z" }, end: { dateTime: "2026-12-04T11:00:00Z" } });

    const inc = await collect({ syncToken: token, maxResults: 2 });
    const events = inc.flatMap((p) => p.events);
    expect(events.map((e) => e.externalId).sort()).toEqual([moved.id, deleted.id, added.id].sort());
    expect(byId(events, kept.id as string)).toBeUndefined();
    expect(byId(events, moved.id as string)).toMatchObject({ start: "2026-12-02T12:00:00.000Z", sequence: 1, status: "confirmed" });
    expect(byId(events, deleted.id as string)).toEqual({
      externalId: deleted.id,
      etag: expect.any(String),
      status: "cancelled",
      sequence: 0,
      busy: false,
      texts: [],
    });
    expect(inc.at(-1)!.nextSyncToken).toBeDefined();
    const req = fake.requests.filter((r) => r.query.syncToken)[0]!;
    expect(req.query.timeMin).toBeUndefined();
    expect(req.query).toMatchObject({ singleEvents: "true", showDeleted: "true" });

    // Nothing changed since: an empty page and a token.
    const again = await collect({ syncToken: inc.at(-1)!.nextSyncToken! });
    expect(again).toEqual([{ events: [], setAside: [], nextSyncToken: expect.any(String) }]);
  });

  it("expands a series per instance (DST kept on the wall clock) and reports a cancelled instance as a stub with its recurrenceId", async () => {
    fake.addCalendar(CAL, { timeZone: "America/New_York" });
    // Weekly 10:00 New York across the 2026-11-01 DST end.
    const { seriesId, instanceIds } = fake.addRecurringSeries(CAL, {
      start: { dateTime: "2026-10-20T10:00:00", timeZone: "America/New_York" },
      durationMinutes: 50,
      count: 4,
      location: "https://doxy.me/dr-smith",
    });
    expect(instanceIds[0]).toBe(`${seriesId}_20261020T140000Z`);
    const full = await collect({ timeMin: "2026-10-01T00:00:00Z" });
    const instances = full.flatMap((p) => p.events).sort((a, b) => a.start!.localeCompare(b.start!));
    expect(instances.map((e) => e.start)).toEqual([
      "2026-10-20T14:00:00.000Z",
      "2026-10-27T14:00:00.000Z",
      "2026-11-03T15:00:00.000Z",
      "2026-11-10T15:00:00.000Z",
    ]);
    expect(new Set(instances.map((e) => e.uid)).size).toBe(1);
    expect(instances.map((e) => e.recurrenceId)).toEqual(instances.map((e) => e.start));

    const cancelledId = fake.cancelInstance(CAL, seriesId, "2026-11-03T15:00:00Z");
    const inc = await collect({ syncToken: full.at(-1)!.nextSyncToken! });
    expect(inc.flatMap((p) => p.events)).toEqual([
      {
        externalId: cancelledId,
        etag: expect.any(String),
        recurrenceId: "2026-11-03T15:00:00.000Z",
        status: "cancelled",
        sequence: 0,
        busy: false,
        texts: [],
      },
    ]);
  });

  it("answers 410 fullSyncRequired after the tokens are invalidated", async () => {
    fake.insertEvent(CAL, { start: { dateTime: "2026-12-01T10:00:00Z" }, end: { dateTime: "2026-12-01T11:00:00Z" } });
    const token = (await collect({})).at(-1)!.nextSyncToken!;
    fake.invalidateSyncTokens();
    const { pages, error } = await collectUntilError({ syncToken: token });
    expect(pages).toEqual([]);
    expect(error).toBeInstanceOf(GoogleApiError);
    expect(error).toMatchObject({ kind: "full_sync_required", status: 410, reason: "fullSyncRequired" });
  });

  it("refuses to combine syncToken with timeMin (client throws; the fake answers 400 like Google)", async () => {
    fake.addCalendar(CAL);
    await expect(collect({ syncToken: "t", timeMin: "2026-01-01T00:00:00Z" })).rejects.toThrow(TypeError);
    expect(fake.requests).toHaveLength(0);
    const res = await fetch(`${cfg.baseUrl}/calendars/${encodeURIComponent(CAL)}/events?syncToken=x&timeMin=2026-01-01T00:00:00Z`, {
      headers: { authorization: `Bearer ${cfg.accessToken}` },
    });
    expect(res.status).toBe(400);
    expect(((await res.json()) as { error: { errors: { reason: string }[] } }).error.errors[0]!.reason).toBe("syncTokenWithRequestRestrictions");
  });
});

describe("errors", () => {
  it("a failure on page 2 leaves the caller with page 1 and no nextSyncToken", async () => {
    for (let i = 1; i <= 3; i += 1)
      fake.insertEvent(CAL, { start: { dateTime: `2026-12-0${i}T10:00:00Z` }, end: { dateTime: `2026-12-0${i}T11:00:00Z` } });
    fake.failNext({ match: "page2", status: 503, reason: "backendError" });
    const { pages, error } = await collectUntilError({ maxResults: 2 });
    expect(pages).toHaveLength(1);
    expect(pages.some((p) => p.nextSyncToken)).toBe(false);
    expect(error).toMatchObject({ kind: "transient", status: 503, reason: "backendError" });
  });

  it("a wrong bearer token is 401 auth, and the error never shows the token", async () => {
    fake.addCalendar(CAL);
    const wrong = { ...cfg, accessToken: "ya29.wrong-token-value" };
    const { error } = await collectUntilError({}, wrong);
    expect(error).toMatchObject({ kind: "auth", status: 401, reason: "authError" });
    expect(String((error as Error).message)).not.toContain("wrong-token-value");
    expect(fake.requests.at(-1)!.authorized).toBe(false);
  });

  it.each([
    [{ status: 403, reason: "rateLimitExceeded" }, "rate_limited", undefined],
    [{ status: 403, reason: "userRateLimitExceeded" }, "rate_limited", undefined],
    [{ status: 429, reason: "rateLimitExceeded", retryAfterSeconds: 7 }, "rate_limited", 7],
    [{ status: 403, reason: "forbidden" }, "auth", undefined],
    [{ status: 404, reason: "notFound" }, "not_found", undefined],
    [{ status: 500, reason: "backendError" }, "transient", undefined],
    [{ status: 400, reason: "invalid" }, "bad_request", undefined],
  ] as const)("classifies %o as %s", async (failure, kind, retryAfterSeconds) => {
    fake.addCalendar(CAL);
    fake.failNext({ match: "any", ...failure });
    const { error } = await collectUntilError({});
    expect(error).toMatchObject({ kind, status: failure.status, reason: failure.reason, retryAfterSeconds });
  });

  it("a network failure is transient with status 0; a non-JSON 200 is invalid_response", async () => {
    const refused: typeof fetch = () => Promise.reject(new TypeError("fetch failed"));
    await expect(listGoogleEvents(cfg, refused, {}).next()).rejects.toMatchObject({ kind: "transient", status: 0, reason: "network" });
    const garbage: typeof fetch = () => Promise.resolve(new Response("<html>", { status: 200 }));
    await expect(listGoogleEvents(cfg, garbage, {}).next()).rejects.toMatchObject({ kind: "invalid_response" });
  });

  it("an unknown calendar is not_found", async () => {
    await expect(collect({})).rejects.toMatchObject({ kind: "not_found", status: 404 });
  });
});

describe("events.watch and push notifications", () => {
  it("creates a channel, then sends a sync message with exactly Google's headers and an empty body", async () => {
    fake.addCalendar(CAL);
    const channelId = randomUUID();
    const address = "https://calendar.example.test/webhooks/google/src_1";
    const ch = await watchGoogleEvents(cfg, fetch, { channelId, address, token: "chan-secret", ttlSeconds: 3600 });
    await fake.idle();

    expect(ch.resourceId).toMatch(/.+/);
    expect(Date.parse(ch.expiration!) - Date.now()).toBeGreaterThan(3500_000);
    expect(captured).toHaveLength(1);
    const msg = captured[0]!;
    expect(msg.method).toBe("POST");
    expect(msg.url).toBe(address);
    expect(msg.body).toBe("");
    const goog = Object.fromEntries([...msg.headers].filter(([k]) => k.startsWith("x-goog-")));
    expect(goog).toEqual({
      "x-goog-channel-id": channelId,
      "x-goog-message-number": "1",
      "x-goog-resource-id": ch.resourceId,
      "x-goog-resource-state": "sync",
      "x-goog-resource-uri": `${cfg.baseUrl}/calendars/${encodeURIComponent(CAL)}/events?alt=json`,
      "x-goog-channel-expiration": new Date(Date.parse(ch.expiration!)).toUTCString(),
      "x-goog-channel-token": "chan-secret",
    });

    fake.insertEvent(CAL, { start: { dateTime: "2026-12-01T10:00:00Z" }, end: { dateTime: "2026-12-01T11:00:00Z" } });
    await fake.idle();
    expect(captured).toHaveLength(2);
    expect(captured[1]!.headers.get("x-goog-resource-state")).toBe("exists");
    expect(Number(captured[1]!.headers.get("x-goog-message-number"))).toBeGreaterThan(1);

    expect(await stopGoogleChannel(cfg, fetch, { channelId, resourceId: ch.resourceId })).toEqual({ stopped: true });
    fake.insertEvent(CAL, { start: { dateTime: "2026-12-02T10:00:00Z" }, end: { dateTime: "2026-12-02T11:00:00Z" } });
    await fake.idle();
    expect(captured).toHaveLength(2);
    expect(await stopGoogleChannel(cfg, fetch, { channelId, resourceId: ch.resourceId })).toEqual({ stopped: false });
  });

  it("omits expiration and token headers when not set, caps the TTL at 7 days, and lets two channels overlap", async () => {
    fake.addCalendar(CAL);
    const a = await watchGoogleEvents(cfg, fetch, { channelId: randomUUID(), address: "https://calendar.example.test/webhooks/google/a" });
    const b = await watchGoogleEvents(cfg, fetch, {
      channelId: randomUUID(),
      address: "https://calendar.example.test/webhooks/google/b",
      ttlSeconds: 30 * 86_400,
    });
    await fake.idle();
    expect(a.resourceId).toBe(b.resourceId); // the resource id names the watched calendar
    expect(Date.parse(b.expiration!) - Date.now()).toBeLessThanOrEqual(7 * 86_400_000);
    const first = captured.find((m) => m.url.endsWith("/a"))!;
    expect(first.headers.has("x-goog-channel-expiration")).toBe(false);
    expect(first.headers.has("x-goog-channel-token")).toBe(false);

    await fake.notifyAll("exists");
    expect(captured.filter((m) => m.headers.get("x-goog-resource-state") === "exists")).toHaveLength(2);
  });

  it("retries a 503 from the receiver and does not auto-notify when switched off", async () => {
    fake.addCalendar(CAL);
    webhookStatus = [503, 200];
    await watchGoogleEvents(cfg, fetch, { channelId: randomUUID(), address: "https://calendar.example.test/webhooks/google/r" });
    await fake.idle();
    expect(fake.deliveries.map((d) => [d.state, d.attempt, d.status])).toEqual([
      ["sync", 0, 503],
      ["sync", 1, 200],
    ]);
    fake.autoNotify = false;
    fake.insertEvent(CAL, { start: { dateTime: "2026-12-01T10:00:00Z" }, end: { dateTime: "2026-12-01T11:00:00Z" } });
    await fake.idle();
    expect(fake.deliveries).toHaveLength(2);
  });

  it("rejects a channel type other than web_hook and a non-https address", async () => {
    fake.addCalendar(CAL);
    const post = (body: unknown) =>
      fetch(`${cfg.baseUrl}/calendars/${encodeURIComponent(CAL)}/events/watch`, {
        method: "POST",
        headers: { authorization: `Bearer ${cfg.accessToken}`, "content-type": "application/json" },
        body: JSON.stringify(body),
      });
    expect((await post({ id: randomUUID(), type: "webhook", address: "https://x.example.test/h" })).status).toBe(400);
    await expect(watchGoogleEvents(cfg, fetch, { channelId: randomUUID(), address: "http://x.example.test/h" })).rejects.toMatchObject({
      kind: "bad_request",
    });
  });
});

describe("mapping details", () => {
  it.each([
    ["2026-03-08T02:30:00", "America/New_York", "2026-03-08T07:30:00.000Z"], // skipped by DST: after the jump
    ["2026-11-01T01:30:00", "America/New_York", "2026-11-01T05:30:00.000Z"], // repeated: the first (EDT)
    ["2026-07-01T09:00:00", "Europe/Berlin", "2026-07-01T07:00:00.000Z"],
    ["2026-07-01T09:00:00.5", "UTC", "2026-07-01T09:00:00.500Z"],
  ])("zonedWallTimeToUtc(%s, %s) = %s", (wall, zone, expected) => {
    expect(zonedWallTimeToUtc(wall, zone)).toBe(expected);
  });

  it("maps an all-day date with its own timeZone and an instance keyed by a date originalStartTime", () => {
    const e = mapGoogleEvent(
      {
        id: "abc_20261203",
        status: "confirmed",
        recurringEventId: "abc",
        originalStartTime: { date: "2026-12-03" },
        start: { date: "2026-12-03", timeZone: "Europe/Berlin" },
        end: { date: "2026-12-04", timeZone: "Europe/Berlin" },
      },
      "America/New_York",
    );
    expect(e).toMatchObject({ allDay: true, start: "2026-12-02T23:00:00.000Z", recurrenceId: "2026-12-03T05:00:00.000Z" });
  });
});

describe("write endpoints (calendars.insert/delete, events.insert/update/delete)", () => {
  const api = (method: string, path: string, body?: unknown, headers: Record<string, string> = {}) =>
    fetch(`${cfg.baseUrl}${path}`, {
      method,
      headers: { authorization: `Bearer ${cfg.accessToken}`, "content-type": "application/json", ...headers },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  const ev = { start: { dateTime: "2026-12-01T15:00:00Z", timeZone: "America/New_York" }, end: { dateTime: "2026-12-01T16:00:00Z" } };

  it("client ids are base32hex and unique (409 duplicate, also after deletion); If-Match guards update and delete (412); writes are counted", async () => {
    const cal = (await (await api("POST", "/calendars", { summary: "Ours", timeZone: "America/New_York" })).json()) as { id: string };
    const path = `/calendars/${encodeURIComponent(cal.id)}/events`;
    expect((await api("POST", path, { ...ev, id: "NOT-BASE32" })).status).toBe(400);
    const made = (await (await api("POST", path, { ...ev, id: "abcdef0123456789" })).json()) as { id: string; etag: string };
    expect(made.id).toBe("abcdef0123456789");
    const dup = await api("POST", path, { ...ev, id: made.id });
    expect(dup.status).toBe(409);
    expect(((await dup.json()) as { error: { errors: { reason: string }[] } }).error.errors[0]!.reason).toBe("duplicate");
    expect((await api("PUT", `${path}/${made.id}`, { ...ev, summary: "x" }, { "if-match": '"0"' })).status).toBe(412);
    const updated = (await (await api("PUT", `${path}/${made.id}`, { ...ev, summary: "x" }, { "if-match": made.etag })).json()) as { etag: string };
    expect(updated.etag).not.toBe(made.etag);
    expect((await api("DELETE", `${path}/${made.id}`, undefined, { "if-match": made.etag })).status).toBe(412);
    expect((await api("DELETE", `${path}/${made.id}`, undefined, { "if-match": updated.etag })).status).toBe(204);
    expect((await api("DELETE", `${path}/${made.id}`)).status).toBe(410);
    expect((await api("POST", path, { ...ev, id: made.id })).status).toBe(409); // Google keeps the id of a deleted event
    expect(fake.writes).toBe(4); // calendar, event, update, delete
    expect((await api("DELETE", `/calendars/${encodeURIComponent(cal.id)}`)).status).toBe(204);
    expect((await api("GET", `/calendars/${encodeURIComponent(cal.id)}`)).status).toBe(404);
  });

  it("injected rate limits answer 429 with Retry-After before anything is written", async () => {
    fake.addCalendar(CAL);
    fake.failNext({ match: "write", status: 429, reason: "rateLimitExceeded", retryAfterSeconds: 7 });
    const res = await api("POST", `/calendars/${encodeURIComponent(CAL)}/events`, ev);
    expect(res.status).toBe(429);
    expect(res.headers.get("retry-after")).toBe("7");
    expect(fake.writes).toBe(0);
    expect(fake.liveEvents(CAL)).toHaveLength(0);
  });
});
