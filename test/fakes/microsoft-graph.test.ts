// Drives FakeMicrosoftGraph through src/ingest/microsoft-client.ts: these are the client's tests as well.
import { randomUUID } from "node:crypto";
import { Hono } from "hono";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { ExternalEvent } from "../../src/domain/external-event.js";
import {
  createGraphSubscription,
  deleteGraphSubscription,
  GraphApiError,
  type GraphConfig,
  type GraphDeltaPage,
  GraphNotificationBatchSchema,
  getGraphEvent,
  htmlTexts,
  pullGraphDelta,
  renewGraphSubscription,
} from "../../src/ingest/microsoft-client.js";
import { createMicrosoftMirrorPlatform, GRAPH_SESSION_ID_PROPERTY } from "../../src/ingest/mirror-microsoft.js";
import { MirrorApiError } from "../../src/services/mirror-platforms.js";
import { FakeMicrosoftGraph } from "./microsoft-graph.js";

const WINDOW = { startDateTime: "2026-11-01T00:00:00Z", endDateTime: "2027-01-01T00:00:00Z" };
const HOOK = "https://calendar.example.test/webhooks/microsoft/src_1";
const LIFECYCLE = "https://calendar.example.test/webhooks/microsoft/src_1?lifecycle=1";

let fake: FakeMicrosoftGraph;
let cfg: GraphConfig;
let received: { url: string; contentType: string | null; body: string }[];
let validationMode: "echo" | "encoded" | "status500" | "json" | "slow";
let notifyStatus: number[];

beforeEach(async () => {
  received = [];
  validationMode = "echo";
  notifyStatus = [];
  // Our webhook, in process: answers Graph's validation handshake and records notifications.
  const hooks = new Hono().post("/webhooks/microsoft/:sourceId", async (c) => {
    const token = c.req.query("validationToken"); // Hono decodes the query value
    if (token !== undefined) {
      if (validationMode === "slow") await new Promise((r) => setTimeout(r, 300));
      if (validationMode === "status500") return c.text("nope", 500);
      if (validationMode === "json") return c.json({ token });
      return c.text(validationMode === "encoded" ? encodeURIComponent(token) : token, 200);
    }
    received.push({ url: c.req.url, contentType: c.req.header("content-type") ?? null, body: await c.req.text() });
    return c.body(null, (notifyStatus.shift() ?? 202) as 202);
  });
  const token = `eyJ0.${randomUUID()}`;
  fake = new FakeMicrosoftGraph({ accessToken: token, deliver: (url, init) => Promise.resolve(hooks.request(url, init)), validationTimeoutMs: 100 });
  const { baseUrl } = await fake.start();
  cfg = { baseUrl, accessToken: token };
});

afterEach(async () => {
  await fake.stop();
});

async function pull(opts: Partial<Parameters<typeof pullGraphDelta>[2]> = {}, c: GraphConfig = cfg) {
  const pages: GraphDeltaPage[] = [];
  let error: unknown;
  try {
    for await (const p of pullGraphDelta(c, fetch, { ...WINDOW, ...opts })) pages.push(p);
  } catch (e) {
    error = e;
  }
  return { pages, error, events: pages.flatMap((p) => p.events), deltaLink: pages.at(-1)?.deltaLink };
}

const byId = (events: ExternalEvent[], id: string) => events.find((e) => e.externalId === id);

describe("calendarView delta", () => {
  it("pages by odata.maxpagesize, follows nextLink, and only the last page has the deltaLink", async () => {
    const teams = fake.insertEvent({
      subject: "Session",
      start: "2026-12-01T15:00:00Z",
      end: "2026-12-01T15:50:00Z",
      location: "Telehealth",
      onlineMeetingJoinUrl: "https://teams.microsoft.com/l/meetup-join/19%3ameeting_x%40thread.v2/0",
      body: {
        contentType: "html",
        content:
          '<html><body><p>Hi &amp; welcome</p><a href="https://teams.microsoft.com/l/meetup-join/abc?x=1&amp;y=2">Join the meeting now</a></body></html>',
      },
    });
    const free = fake.insertEvent({ start: "2026-12-02T15:00:00Z", end: "2026-12-02T16:00:00Z", showAs: "free" });
    const tentative = fake.insertEvent({ start: "2026-12-03T15:00:00Z", end: "2026-12-03T16:00:00Z", showAs: "tentative" });
    const allDay = fake.insertEvent({ start: "2026-12-04T00:00:00Z", end: "2026-12-05T00:00:00Z", isAllDay: true });
    const cancelled = fake.insertEvent({ start: "2026-12-05T15:00:00Z", end: "2026-12-05T16:00:00Z", isCancelled: true });
    fake.insertEvent({ start: "2027-03-01T15:00:00Z", end: "2027-03-01T16:00:00Z" }); // outside the window

    const { pages, events, error } = await pull({ maxPageSize: 2 });
    expect(error).toBeUndefined();
    expect(pages.map((p) => p.events.length)).toEqual([2, 2, 1]);
    expect(pages.map((p) => p.deltaLink !== undefined)).toEqual([false, false, true]);

    const deltaRequests = fake.requests.filter((r) => r.path.endsWith("/calendarView/delta"));
    expect(deltaRequests[0]!.path).toBe("/v1.0/me/calendarView/delta");
    expect(deltaRequests[0]!.query).toEqual(WINDOW);
    expect(deltaRequests.slice(1).every((r) => r.query.$skiptoken && !r.query.startDateTime)).toBe(true);
    expect(deltaRequests.every((r) => r.prefer === 'odata.maxpagesize=2, outlook.timezone="UTC"')).toBe(true);

    expect(byId(events, teams.id as string)).toEqual({
      externalId: teams.id,
      uid: teams.iCalUId,
      etag: teams["@odata.etag"],
      status: "confirmed",
      start: "2026-12-01T15:00:00.000Z",
      end: "2026-12-01T15:50:00.000Z",
      allDay: false,
      sequence: 0,
      updatedAt: expect.stringMatching(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/),
      busy: true,
      texts: [
        "Telehealth",
        "https://teams.microsoft.com/l/meetup-join/19%3ameeting_x%40thread.v2/0",
        "https://teams.microsoft.com/l/meetup-join/abc?x=1&y=2",
        "Hi & welcome\nJoin the meeting now",
      ],
    });
    expect(byId(events, free.id as string)).toMatchObject({ busy: false, status: "confirmed" });
    expect(byId(events, tentative.id as string)).toMatchObject({ busy: true, status: "tentative" });
    expect(byId(events, allDay.id as string)).toMatchObject({ allDay: true, start: "2026-12-04T00:00:00.000Z" });
    expect(byId(events, cancelled.id as string)).toMatchObject({ status: "cancelled", busy: false, start: "2026-12-05T15:00:00.000Z" });
  });

  it("a later round returns changes only; deletions and moves out of the window come as @removed stubs", async () => {
    const kept = fake.insertEvent({ start: "2026-12-01T15:00:00Z", end: "2026-12-01T16:00:00Z" });
    const patched = fake.insertEvent({ start: "2026-12-02T15:00:00Z", end: "2026-12-02T16:00:00Z" });
    const deleted = fake.insertEvent({ start: "2026-12-03T15:00:00Z", end: "2026-12-03T16:00:00Z" });
    const movedOut = fake.insertEvent({ start: "2026-12-04T15:00:00Z", end: "2026-12-04T16:00:00Z" });
    const first = await pull();
    expect(first.events).toHaveLength(4);

    fake.patchEvent(patched.id as string, { start: "2026-12-02T17:00:00Z", end: "2026-12-02T18:00:00Z" });
    fake.deleteEvent(deleted.id as string);
    fake.patchEvent(movedOut.id as string, { start: "2027-02-01T15:00:00Z", end: "2027-02-01T16:00:00Z" });

    const second = await pull({ deltaLink: first.deltaLink! });
    expect(second.error).toBeUndefined();
    expect(fake.requests.at(-1)!.query.$deltatoken).toBeDefined();
    expect(byId(second.events, kept.id as string)).toBeUndefined();
    expect(byId(second.events, patched.id as string)).toMatchObject({ status: "confirmed", start: "2026-12-02T17:00:00.000Z" });
    const stub = { status: "cancelled", sequence: 0, busy: false, texts: [] };
    expect(byId(second.events, deleted.id as string)).toEqual({ externalId: deleted.id, ...stub });
    expect(byId(second.events, movedOut.id as string)).toEqual({ externalId: movedOut.id, ...stub });
    // The two stubs look alike; GET tells a delete (null) from a move out of the window.
    expect(await getGraphEvent(cfg, fetch, deleted.id as string)).toBeNull();
    expect(await getGraphEvent(cfg, fetch, movedOut.id as string)).toMatchObject({ start: "2027-02-01T15:00:00.000Z" });
    expect(second.deltaLink).toBeDefined();
  });

  it("maps occurrences with recurrenceId = originalStart and reports a cancelled occurrence as @removed", async () => {
    const { seriesId, occurrenceIds } = fake.addRecurringSeries({ start: "2026-12-01T15:00:00Z", end: "2026-12-01T15:50:00Z", count: 3 });
    const first = await pull();
    const occ = [...first.events].sort((a, b) => a.start!.localeCompare(b.start!));
    expect(occ.map((e) => e.recurrenceId)).toEqual(["2026-12-01T15:00:00.000Z", "2026-12-08T15:00:00.000Z", "2026-12-15T15:00:00.000Z"]);
    expect(occ.map((e) => e.externalId).sort()).toEqual([...occurrenceIds].sort());
    // event resource: iCalUId differs per occurrence (so UID alone does not find the series).
    expect(new Set(occ.map((e) => e.uid)).size).toBe(3);

    const gone = fake.cancelOccurrence(seriesId, "2026-12-08T15:00:00Z");
    const second = await pull({ deltaLink: first.deltaLink! });
    expect(second.events).toEqual([{ externalId: gone, status: "cancelled", sequence: 0, busy: false, texts: [] }]);
  });

  it("answers 410 SyncStateNotFound once the tokens are evicted", async () => {
    fake.insertEvent({ start: "2026-12-01T15:00:00Z", end: "2026-12-01T16:00:00Z" });
    const first = await pull();
    fake.invalidateDeltaTokens();
    const second = await pull({ deltaLink: first.deltaLink! });
    expect(second.pages).toEqual([]);
    expect(second.error).toBeInstanceOf(GraphApiError);
    expect(second.error).toMatchObject({ kind: "full_sync_required", status: 410, code: "SyncStateNotFound" });
  });

  it("a failure on page 2 leaves the caller with page 1 and no deltaLink", async () => {
    for (let d = 1; d <= 3; d += 1) fake.insertEvent({ start: `2026-12-0${d}T15:00:00Z`, end: `2026-12-0${d}T16:00:00Z` });
    fake.failNext({ match: "page2", status: 503, code: "ServiceNotAvailable" });
    const { pages, error } = await pull({ maxPageSize: 2 });
    expect(pages).toHaveLength(1);
    expect(pages[0]!.deltaLink).toBeUndefined();
    expect(error).toMatchObject({ kind: "transient", status: 503 });
  });

  it.each([
    [{ status: 429, code: "TooManyRequests", retryAfterSeconds: 12 }, "rate_limited", 12],
    [{ status: 400, code: "syncStateNotFound" }, "full_sync_required", undefined],
    [{ status: 400, code: "resyncRequired" }, "full_sync_required", undefined],
    [{ status: 403, code: "ErrorAccessDenied" }, "auth", undefined],
    [{ status: 503, code: "ServiceNotAvailable", retryAfterSeconds: 3 }, "transient", 3],
    [{ status: 400, code: "ErrorInvalidParameter" }, "bad_request", undefined],
  ] as const)("classifies %o as %s", async (failure, kind, retryAfterSeconds) => {
    fake.failNext({ match: "delta", ...failure });
    const { error } = await pull();
    expect(error).toMatchObject({ kind, status: failure.status, code: failure.code, retryAfterSeconds });
  });

  it("a wrong bearer token is 401 auth and the message never shows it", async () => {
    const { error } = await pull({}, { ...cfg, accessToken: "eyJ0.wrong-token-value" });
    expect(error).toMatchObject({ kind: "auth", status: 401, code: "InvalidAuthenticationToken" });
    expect((error as Error).message).not.toContain("wrong-token-value");
  });

  it("never follows a nextLink to another origin (the bearer token would go with it)", async () => {
    const sent: string[] = [];
    const hostile: typeof fetch = async (input) => {
      sent.push(String(input));
      return Response.json({ "@odata.nextLink": "https://evil.example/v1.0/me/calendarView/delta?$skiptoken=x", value: [] });
    };
    const { pages, error } = await pullWith(hostile);
    expect(pages).toHaveLength(1);
    expect(error).toMatchObject({ kind: "invalid_response", code: "linkOffOrigin" });
    expect(sent).toHaveLength(1);
  });

  it("uses /users/{id} when a userId is configured", async () => {
    fake.insertEvent({ start: "2026-12-01T15:00:00Z", end: "2026-12-01T16:00:00Z" });
    const { events } = await pull({}, { ...cfg, userId: fake.userId });
    expect(events).toHaveLength(1);
    expect(fake.requests.at(-1)!.path).toBe(`/v1.0/users/${fake.userId}/calendarView/delta`);
  });
});

async function pullWith(fetchFn: typeof fetch) {
  const pages: GraphDeltaPage[] = [];
  try {
    for await (const p of pullGraphDelta({ baseUrl: "https://graph.microsoft.com/v1.0", accessToken: "t" }, fetchFn, WINDOW)) pages.push(p);
  } catch (error) {
    return { pages, error };
  }
  return { pages, error: undefined };
}

describe("subscriptions", () => {
  const expiry = () => new Date(Date.now() + 2 * 86_400_000).toISOString(); // under the 4,230-minute cap

  it("is created only after our endpoint echoes the decoded validationToken as text/plain", async () => {
    const sub = await createGraphSubscription(cfg, fetch, {
      notificationUrl: HOOK,
      lifecycleNotificationUrl: LIFECYCLE,
      clientState: "cs-1",
      expirationDateTime: expiry(),
    });
    expect(sub.id).toMatch(/^[0-9a-f-]{36}$/);
    expect(fake.validations.map((v) => [v.url, v.ok])).toEqual([
      [HOOK, true],
      [LIFECYCLE, true],
    ]);
    expect(fake.validations[0]!.token).toMatch(/ /); // the token needs decoding: it holds spaces and colons
    expect(fake.subscriptions.map((s) => s.id)).toEqual([sub.id]);
  });

  it.each([
    ["encoded", "mismatch", "ValidationError"],
    ["status500", "status 500", "ValidationError"],
    ["json", "content-type", "ValidationError"],
    ["slow", "timeout", "InvalidRequest"],
  ] as const)("fails with 400 when the endpoint answers %s", async (mode, failure, code) => {
    validationMode = mode;
    const err = await createGraphSubscription(cfg, fetch, { notificationUrl: HOOK, clientState: "cs", expirationDateTime: expiry() }).catch(
      (e: unknown) => e,
    );
    expect(err).toMatchObject({ kind: "bad_request", status: 400, code });
    expect(fake.validations.at(-1)).toMatchObject({ ok: false, failure });
    expect(fake.subscriptions).toEqual([]);
  });

  it("refuses an expiration beyond 4,230 minutes; renews within it; deletes idempotently", async () => {
    const tooLate = new Date(Date.now() + 4231 * 60_000).toISOString();
    await expect(
      createGraphSubscription(cfg, fetch, { notificationUrl: HOOK, clientState: "cs", expirationDateTime: tooLate }),
    ).rejects.toMatchObject({ kind: "bad_request" });
    const sub = await createGraphSubscription(cfg, fetch, { notificationUrl: HOOK, clientState: "cs", expirationDateTime: expiry() });
    const later = new Date(Date.now() + 4000 * 60_000).toISOString();
    expect(await renewGraphSubscription(cfg, fetch, { id: sub.id, expirationDateTime: later })).toEqual({ id: sub.id, expirationDateTime: later });
    expect(await deleteGraphSubscription(cfg, fetch, sub.id)).toEqual({ deleted: true });
    expect(await deleteGraphSubscription(cfg, fetch, sub.id)).toEqual({ deleted: false });
  });

  it("POSTs change notifications in Graph's shape, which GraphNotificationBatchSchema accepts", async () => {
    const sub = await createGraphSubscription(cfg, fetch, {
      notificationUrl: HOOK,
      lifecycleNotificationUrl: LIFECYCLE,
      clientState: "cs-9",
      expirationDateTime: expiry(),
    });
    const ev = fake.insertEvent({ start: "2026-12-01T15:00:00Z", end: "2026-12-01T16:00:00Z" });
    fake.deleteEvent(ev.id as string);
    await fake.idle();

    expect(received).toHaveLength(2);
    expect(received[0]!.url).toBe(HOOK);
    expect(received[0]!.contentType).toMatch(/^application\/json/);
    const created = GraphNotificationBatchSchema.parse(JSON.parse(received[0]!.body));
    expect(created.value).toEqual([
      {
        subscriptionId: sub.id,
        subscriptionExpirationDateTime: expect.stringMatching(/\.\d{7}Z$/),
        changeType: "created",
        resource: `Users/${fake.userId}/Events/${ev.id}`,
        resourceData: {
          "@odata.type": "#Microsoft.Graph.Event",
          "@odata.id": `Users/${fake.userId}/Events/${ev.id}`,
          "@odata.etag": expect.stringMatching(/^W\/"/),
          id: ev.id,
        },
        clientState: "cs-9",
        tenantId: fake.tenantId,
      },
    ]);
    expect(GraphNotificationBatchSchema.parse(JSON.parse(received[1]!.body)).value[0]).toMatchObject({
      changeType: "deleted",
      resourceData: { id: ev.id },
    });
  });

  it.each(["missed", "reauthorizationRequired", "subscriptionRemoved"] as const)(
    "sends a %s lifecycle notification to the lifecycle URL",
    async (kind) => {
      const sub = await createGraphSubscription(cfg, fetch, {
        notificationUrl: HOOK,
        lifecycleNotificationUrl: LIFECYCLE,
        clientState: "cs-l",
        expirationDateTime: expiry(),
      });
      await fake.sendLifecycle(kind);
      expect(received.map((r) => r.url)).toEqual([LIFECYCLE]);
      const item = GraphNotificationBatchSchema.parse(JSON.parse(received[0]!.body)).value[0]!;
      expect(item).toEqual({
        subscriptionId: sub.id,
        subscriptionExpirationDateTime: expect.any(String),
        tenantId: fake.tenantId,
        clientState: "cs-l",
        lifecycleEvent: kind,
      });
      expect(fake.subscriptions.length).toBe(kind === "subscriptionRemoved" ? 0 : 1);
    },
  );

  it("retries a delivery our endpoint failed, and sends nothing when auto-notify is off", async () => {
    await createGraphSubscription(cfg, fetch, { notificationUrl: HOOK, clientState: "cs", expirationDateTime: expiry() });
    notifyStatus = [500];
    fake.insertEvent({ start: "2026-12-01T15:00:00Z", end: "2026-12-01T16:00:00Z" });
    await fake.idle();
    expect(fake.deliveries.map((d) => [d.attempt, d.status])).toEqual([
      [0, 500],
      [1, 202],
    ]);
    fake.autoNotify = false;
    fake.insertEvent({ start: "2026-12-02T15:00:00Z", end: "2026-12-02T16:00:00Z" });
    await fake.idle();
    expect(fake.deliveries).toHaveLength(2);
  });
});

describe("write surface (calendars and events), through the write-back platform client", () => {
  const content = (sessionId: string, startIso: string) => ({
    sessionId,
    uid: `${sessionId}@example.test`,
    summary: "Telehealth session",
    start: new Date(startIso),
    end: new Date(Date.parse(startIso) + 3600_000),
    timeZone: "America/New_York",
  });
  const raw = (method: string, path: string, body?: unknown, headers: Record<string, string> = {}) =>
    fetch(`${cfg.baseUrl}${path}`, {
      method,
      headers: { authorization: `Bearer ${cfg.accessToken}`, "content-type": "application/json", ...headers },
      body: body === undefined ? undefined : JSON.stringify(body),
    });

  it("creates a calendar (a second of the same name is 409 ErrorFolderExists, which the client takes over), and deletes it", async () => {
    const platform = createMicrosoftMirrorPlatform(cfg.baseUrl, fetch);
    const { id } = await platform.createCalendar(cfg.accessToken, { name: "Mine", timeZone: "UTC" });
    expect(fake.hasCalendar(id)).toBe(true);
    const dup = await raw("POST", "/me/calendars", { name: "mine" });
    expect(dup.status).toBe(409);
    expect(((await dup.json()) as { error: { code: string } }).error.code).toBe("ErrorFolderExists");
    expect((await platform.createCalendar(cfg.accessToken, { name: "Mine", timeZone: "UTC" })).id).toBe(id);
    expect(await platform.calendarExists(cfg.accessToken, id)).toBe(true);
    await platform.deleteCalendar(cfg.accessToken, id);
    await platform.deleteCalendar(cfg.accessToken, id); // already gone: still fine
    expect(await platform.calendarExists(cfg.accessToken, id)).toBe(false);
    expect((await raw("DELETE", `/me/calendars/${fake.defaultCalendarId}`)).status).toBe(400);
  });

  it("honours transactionId, checks If-Match (412 ErrorIrresolvableConflict), filters and expands extended properties", async () => {
    const platform = createMicrosoftMirrorPlatform(cfg.baseUrl, fetch);
    const cal = fake.addCalendar("Ours");
    const sessionId = randomUUID();
    const ref = await platform.upsertEvent(cfg.accessToken, cal, content(sessionId, "2026-12-01T15:00:00Z"), null);
    const writes = fake.writes;
    const again = await raw("POST", `/me/calendars/${cal}/events`, {
      subject: "x",
      start: { dateTime: "2026-12-02T09:00:00", timeZone: "UTC" },
      end: { dateTime: "2026-12-02T10:00:00", timeZone: "UTC" },
      transactionId: sessionId,
    });
    expect(again.status).toBe(201);
    expect(((await again.json()) as { id: string }).id).toBe(ref.remoteEventId);
    expect(fake.writes).toBe(writes); // nothing new was stored
    const stale = await raw(
      "PATCH",
      `/me/calendars/${cal}/events/${encodeURIComponent(ref.remoteEventId)}`,
      { subject: "y" },
      { "if-match": 'W/"old"' },
    );
    expect(stale.status).toBe(412);
    expect(((await stale.json()) as { error: { code: string } }).error.code).toBe("ErrorIrresolvableConflict");
    // Someone else's change moves the etag; the client re-reads it and its write still lands.
    fake.patchEvent(ref.remoteEventId, { subject: "moved by the owner" });
    const updated = await platform.upsertEvent(cfg.accessToken, cal, content(sessionId, "2026-12-03T15:00:00Z"), ref);
    expect(updated.remoteEventId).toBe(ref.remoteEventId);
    expect(updated.etag).not.toBe(ref.etag);
    const listed = await platform.listEvents(cfg.accessToken, cal);
    expect(listed).toEqual([{ remoteEventId: ref.remoteEventId, etag: updated.etag, sessionId, cancelled: false }]);
    // Without the known id, the lookup by our property finds the same event.
    const found = await platform.upsertEvent(cfg.accessToken, cal, content(sessionId, "2026-12-04T15:00:00Z"), null);
    expect(found.remoteEventId).toBe(ref.remoteEventId);
    const filter = `singleValueExtendedProperties/Any(ep: ep/id eq '${GRAPH_SESSION_ID_PROPERTY}' and ep/value eq '${sessionId}')`;
    const page = (await (await raw("GET", `/me/calendars/${cal}/events?$filter=${encodeURIComponent(filter)}`)).json()) as { value: object[] };
    expect(page.value).toHaveLength(1);
    expect(page.value[0]).not.toHaveProperty("singleValueExtendedProperties"); // filtered, not expanded
    await platform.removeEvent(cfg.accessToken, cal, sessionId, null);
    expect(fake.liveEvents(cal)).toEqual([]);
  });

  it("injects 429 with Retry-After and 5xx on writes, and can cut the connection after storing a write", async () => {
    const platform = createMicrosoftMirrorPlatform(cfg.baseUrl, fetch);
    const cal = fake.addCalendar("Ours");
    fake.failNext({ match: "write", status: 429, code: "ApplicationThrottled", retryAfterSeconds: 30 });
    const err = await platform.upsertEvent(cfg.accessToken, cal, content(randomUUID(), "2026-12-01T15:00:00Z"), null).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(MirrorApiError);
    expect(err).toMatchObject({ kind: "rate_limited", status: 429, reason: "ApplicationThrottled", retryAfterSeconds: 30 });
    fake.failNext({ match: "write", status: 503, code: "ServiceUnavailable" });
    await expect(platform.createCalendar(cfg.accessToken, { name: "Other", timeZone: "UTC" })).rejects.toMatchObject({
      kind: "transient",
      status: 503,
    });
    fake.cutAfterNextWrite();
    const sessionId = randomUUID();
    await expect(platform.upsertEvent(cfg.accessToken, cal, content(sessionId, "2026-12-01T15:00:00Z"), null)).rejects.toMatchObject({
      kind: "transient",
      status: 0,
    });
    expect(fake.liveEvents(cal)).toHaveLength(1);
    expect(fake.lastWriteOf(sessionId)).toBeTypeOf("number");
  });

  it("notifies subscriptions of that calendar (and only those) of writes through the API", async () => {
    const platform = createMicrosoftMirrorPlatform(cfg.baseUrl, fetch);
    const cal = fake.addCalendar("Ours");
    const base = { notificationUrl: HOOK, clientState: "s", expirationDateTime: new Date(Date.now() + 3600_000).toISOString() };
    await createGraphSubscription(cfg, fetch, { ...base, resource: `me/calendars/${cal}/events` });
    await createGraphSubscription(cfg, fetch, base); // me/events: the default calendar
    const ref = await platform.upsertEvent(cfg.accessToken, cal, content(randomUUID(), "2026-12-01T15:00:00Z"), null);
    await fake.idle();
    const items = received.flatMap((r) => (JSON.parse(r.body) as { value: { changeType: string; resourceData: Record<string, string> }[] }).value);
    expect(items.map((i) => i.changeType)).toEqual(["created"]);
    expect(items[0]!.resourceData).toMatchObject({ id: ref.remoteEventId, "@odata.etag": ref.etag });
  });
});

describe("GraphNotificationBatchSchema", () => {
  const item = {
    subscriptionId: randomUUID(),
    changeType: "updated",
    resource: "Users/u/Events/e",
    subscriptionExpirationDateTime: "2026-12-01T00:00:00.0000000Z",
  };

  it("keeps fields Microsoft may add and accepts null clientState and tenantId", () => {
    const parsed = GraphNotificationBatchSchema.parse({ value: [{ ...item, clientState: null, tenantId: null, newField: { x: 1 } }], extra: true });
    expect(parsed.value[0]).toMatchObject({ newField: { x: 1 } });
  });

  it.each([
    ["an empty batch", { value: [] }],
    ["a clientState over 255 characters", { value: [{ ...item, clientState: "x".repeat(256) }] }],
    ["an item with neither changeType+resource nor lifecycleEvent", { value: [{ subscriptionId: "s" }] }],
    ["over 1000 items", { value: Array.from({ length: 1001 }, () => item) }],
    ["a huge resource", { value: [{ ...item, resource: "x".repeat(5000) }] }],
  ])("rejects %s", (_, body) => {
    expect(GraphNotificationBatchSchema.safeParse(body).success).toBe(false);
  });
});

describe("htmlTexts", () => {
  it.each([
    ['<a href="https://zoom.us/j/123?pwd=a&amp;b=1">Join</a>', ["https://zoom.us/j/123?pwd=a&b=1", "Join"]],
    ["<p>Line 1</p><p>https://doxy.me/dr</p>", ["Line 1\nhttps://doxy.me/dr"]],
    ["<style>.x{}</style>plain &lt;text&gt; &#x41;&#66;", ["plain <text> AB"]],
    ["<a href='javascript:alert(1)'>x</a>", ["x"]],
  ])("%s", (html, expected) => {
    expect(htmlTexts(html)).toEqual(expected);
  });
});
