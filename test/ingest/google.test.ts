// Our app, in process, against the Google Calendar fake. Sources are created
// through the API, the fake's push notifications reach app.request(), and the worker pulls over HTTP.
import { randomBytes, randomUUID } from "node:crypto";
import { and, eq } from "drizzle-orm";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { calendarSources, deliveries, externalEvents, sessions } from "../../src/db/schema.js";
import { IngestWorker } from "../../src/ingest/worker.js";
import { hashSecret } from "../../src/services/secrets.js";
import type { FakeGoogleCalendar } from "../fakes/google-calendar.js";
import { expectStatus, makeTestApp } from "../helpers/app.js";
import { DAY, fixedClock, MINUTE } from "../helpers/clock.js";
import { createSession, providerWithClient } from "../helpers/factories.js";
import { startGoogleFake } from "../helpers/platform-fakes.js";

// The fake runs on the app's clock: channel expiry and `updated` stay consistent with our pull windows
// (30 days back, 365 ahead of the clock), whatever day the suite runs.
const START = "2026-11-26T12:00:00Z";
const clock = fixedClock(START);
// The fake listens on loopback: the operator allowance lets the guarded client reach it, nothing else.
const t = await makeTestApp({ clock, env: { INGEST_ALLOW_PRIVATE_HOSTS: "127.0.0.1" } });
const worker = new IngestWorker(t.services, { fetchFn: t.deps.runtime.fetchFn });
const db = t.database.db;

let fake: FakeGoogleCalendar;
let apiBaseUrl: string;
let accessToken: string;

beforeEach(async () => {
  clock.set(START);
  ({ fake, apiBaseUrl, accessToken } = await startGoogleFake(t));
});

afterEach(async () => {
  await fake.stop();
});

const at = (offsetMs: number) => new Date(Date.parse(START) + offsetMs).toISOString();
const plus = (iso: string, ms: number) => new Date(Date.parse(iso) + ms).toISOString();

async function world(clientName?: string) {
  const { provider, client } = await providerWithClient(t, {}, clientName ? { displayName: clientName } : {});
  const calendarId = `therapist-${randomUUID()}@example.com`;
  fake.addCalendar(calendarId, { timeZone: "America/New_York" });
  return { provider, client, calendarId };
}

/** A session and its copy in the therapist's Google calendar (same iCalUID, same times). */
async function sessionWithEvent(w: Awaited<ReturnType<typeof world>>, start: string, summary = "Therapy session") {
  const session = await createSession(t, w.provider.id, w.client.id, { start });
  const event = fake.insertEvent(w.calendarId, { iCalUID: session.uid, summary, start: { dateTime: session.start }, end: { dateTime: session.end } });
  return { session, eventId: String(event.id) };
}

/** POST .../calendar-sources, let the fake's `sync` message land, and run the initial full sync. */
async function connect(w: Awaited<ReturnType<typeof world>>) {
  const res = await t.request("POST", `/api/v1/providers/${w.provider.id}/calendar-sources`, {
    body: { kind: "google", calendarId: w.calendarId, accessToken, apiBaseUrl },
  });
  const view = await expectStatus<{ id: string; status: string }>(res, 201);
  await fake.idle();
  await worker.drain();
  const row = await sourceRow(view.id);
  expect(row.syncToken, "the initial full sync stored a token").toBeTruthy();
  return row;
}

const sourceRow = async (id: string) => (await db.select().from(calendarSources).where(eq(calendarSources.id, id)))[0]!;
const deliveriesOf = (sourceId: string) => db.select().from(deliveries).where(eq(deliveries.sourceId, sourceId)).orderBy(deliveries.id);
const getSession = async (id: string) => expectStatus(await t.request("GET", `/api/v1/sessions/${id}`), 200);
const listCalls = () => fake.requests.filter((r) => r.method === "GET" && r.path.endsWith("/events"));

/** A push as Google sends it, with headers to vary. */
function push(sourceId: string, headers: Record<string, string>) {
  return t.app.request(`/webhooks/google/${sourceId}`, {
    method: "POST",
    headers: { "x-goog-resource-state": "exists", "x-goog-message-number": "99", ...headers },
  });
}

describe("Google Calendar ingestion against the fake", () => {
  it("creating a source registers a channel; its `sync` message is acknowledged and queues nothing", async () => {
    const w = await world();
    const source = await connect(w);
    const [channel] = fake.channels;
    expect(channel).toMatchObject({ id: source.channelId, address: `https://cal.example.test/webhooks/google/${source.id}` });
    expect(source.settings.resourceId).toBe(channel!.resourceId);
    expect(fake.deliveries).toEqual([expect.objectContaining({ state: "sync", status: 200 })]);
    // Only the initial full sync is in the inbox; the sync message added nothing.
    expect((await deliveriesOf(source.id)).map((d) => [d.deliveryKey, d.kind, d.state])).toEqual([["initial-sync", "full_resync", "done"]]);

    const calls = listCalls().length;
    await fake.notifyAll("sync", w.calendarId);
    expect(fake.deliveries.at(-1)).toMatchObject({ state: "sync", status: 200 });
    await worker.drain();
    expect(await deliveriesOf(source.id)).toHaveLength(1);
    expect(listCalls()).toHaveLength(calls);
  });

  it("`exists` leads to a pull that reschedules a moved session and cancels a deleted one (id-only stub)", async () => {
    const w = await world();
    const a = await sessionWithEvent(w, at(5 * DAY + 3 * 3600_000));
    const b = await sessionWithEvent(w, at(6 * DAY + 3 * 3600_000));
    const source = await connect(w);
    // The full sync found both copies: same times, so nothing changed.
    expect(await getSession(a.session.id)).toMatchObject({ start: a.session.start, sequence: 0, status: "scheduled" });

    const moved = plus(a.session.start, DAY + 2 * 3600_000);
    fake.patchEvent(w.calendarId, a.eventId, { start: { dateTime: moved }, end: { dateTime: plus(moved, 50 * MINUTE) } });
    fake.deleteEvent(w.calendarId, b.eventId);
    await fake.idle();
    expect(fake.deliveries.filter((d) => d.state === "exists").map((d) => d.status)).toEqual([200, 200]);
    const queued = (await deliveriesOf(source.id)).filter((d) => d.state === "pending");
    expect(queued.map((d) => d.kind)).toEqual(["pull", "pull"]);
    expect((await getSession(a.session.id)).start).toBe(a.session.start); // nothing applied in the request

    await worker.drain();
    expect(await getSession(a.session.id)).toMatchObject({ start: moved, end: plus(moved, 50 * MINUTE), sequence: 1, status: "scheduled" });
    expect(await getSession(b.session.id)).toMatchObject({ status: "cancelled", start: b.session.start });
    // Incremental: the pull used the stored sync token, and the deletion came as Google's id-only stub.
    expect(listCalls().at(-1)!.query).toMatchObject({ syncToken: expect.any(String), showDeleted: "true", singleEvents: "true" });
    expect(listCalls().at(-1)!.query.timeMin).toBeUndefined();
    const [mirror] = await db
      .select()
      .from(externalEvents)
      .where(and(eq(externalEvents.sourceId, source.id), eq(externalEvents.externalId, b.eventId)));
    expect(mirror).toMatchObject({ status: "cancelled", sessionId: b.session.id, uid: b.session.uid });
  });

  it("200 notifications for one source waiting together lead to one pull that applies every change; a later one gets its own", async () => {
    const w = await world();
    const a = await sessionWithEvent(w, at(5 * DAY + 3 * 3600_000));
    const source = await connect(w);
    const pullsBefore = listCalls().length;
    // 200 changes to the calendar, each announced by its own push notification.
    let last = a.session.start;
    for (let i = 0; i < 200; i++) {
      last = plus(a.session.start, (i + 1) * 3600_000);
      fake.patchEvent(w.calendarId, a.eventId, { start: { dateTime: last }, end: { dateTime: plus(last, 50 * MINUTE) } });
    }
    await fake.idle();
    expect((await deliveriesOf(source.id)).filter((d) => d.state === "pending" && d.kind === "pull")).toHaveLength(200);

    await worker.drain();
    expect(listCalls().length - pullsBefore).toBe(1);
    expect(await getSession(a.session.id)).toMatchObject({ start: last, sequence: 1, status: "scheduled" });
    const after = await deliveriesOf(source.id);
    expect(after.filter((d) => d.state !== "done")).toEqual([]);
    expect(after.filter((d) => d.kind === "pull")).toHaveLength(200);

    // A change after that pull is not lost: its notification waits for, and gets, a pull of its own.
    const moved = plus(last, DAY);
    fake.patchEvent(w.calendarId, a.eventId, { start: { dateTime: moved }, end: { dateTime: plus(moved, 50 * MINUTE) } });
    await fake.idle();
    await worker.drain();
    expect(listCalls().length - pullsBefore).toBe(2);
    expect((await getSession(a.session.id)).start).toBe(moved);
  });

  it("a cancelled recurring instance cancels only the session standing for that instance", async () => {
    const w = await world();
    const seriesUid = `series-${randomUUID()}@google.com`;
    // Weekly at 10:00 New York from Thursday 3 December.
    const series = fake.addRecurringSeries(w.calendarId, {
      iCalUID: seriesUid,
      summary: "Weekly therapy",
      start: { dateTime: "2026-12-03T10:00:00", timeZone: "America/New_York" },
      durationMinutes: 50,
      count: 4,
    });
    const instanceStarts = ["2026-12-03T15:00:00.000Z", "2026-12-10T15:00:00.000Z", "2026-12-17T15:00:00.000Z"];
    const standIns = [];
    for (const start of instanceStarts) {
      const s = await createSession(t, w.provider.id, w.client.id, { start });
      // Linked in the database directly (the sessions API's externalEvent does the same); an instance is
      // matched by its original start (RFC 5545 3.8.4.4 RECURRENCE-ID).
      await db
        .update(sessions)
        .set({ externalUid: seriesUid, externalRecurrenceId: new Date(start) })
        .where(eq(sessions.id, s.id));
      standIns.push(s);
    }
    await connect(w);
    expect(series.instanceIds).toHaveLength(4);

    fake.cancelInstance(w.calendarId, series.seriesId, instanceStarts[1]!);
    await fake.idle();
    await worker.drain();
    expect((await getSession(standIns[1]!.id)).status).toBe("cancelled");
    for (const s of [standIns[0]!, standIns[2]!]) expect(await getSession(s.id)).toMatchObject({ status: "scheduled", start: s.start, sequence: 0 });
  });

  it("a wrong channel token is 401; an unknown channel or resource is 200 with nothing queued", async () => {
    const w = await world();
    const source = await connect(w);
    const channel = fake.channels[0]!;
    const ours = { "x-goog-channel-id": channel.id, "x-goog-resource-id": channel.resourceId };

    const wrong = await push(source.id, { ...ours, "x-goog-channel-token": "not-the-channel-token" });
    expect((await expectStatus(wrong, 401)).code).toBe("invalid_signature");
    expect((await push(source.id, ours)).status).toBe(401); // no token at all
    const unknown = await push(source.id, { ...ours, "x-goog-channel-id": randomUUID(), "x-goog-channel-token": "x" });
    expect(await expectStatus(unknown, 200)).toEqual({ accepted: false });
    const otherResource = await push(source.id, { ...ours, "x-goog-resource-id": "another-resource", "x-goog-channel-token": "x" });
    expect(await expectStatus(otherResource, 200)).toEqual({ accepted: false });
    const notASource = await push(randomUUID(), { ...ours, "x-goog-channel-token": "x" });
    expect(await expectStatus(notASource, 200)).toEqual({ accepted: false });

    expect((await deliveriesOf(source.id)).map((d) => d.deliveryKey)).toEqual(["initial-sync"]);
  });

  it("a 410 on the sync token triggers a full resync that merges and cancels no session", async () => {
    const w = await world();
    // An old session near the back of the window, and an upcoming one.
    const past = await sessionWithEvent(w, at(-25 * DAY));
    const upcoming = await sessionWithEvent(w, at(4 * DAY));
    const source = await connect(w);
    const before = source.syncToken;

    // Six days on, the old event has left the full sync's window (timeMin = clock - 30 days).
    clock.advance(6 * DAY);
    fake.invalidateSyncTokens();
    const moved = plus(upcoming.session.start, 3 * 3600_000);
    fake.patchEvent(w.calendarId, upcoming.eventId, { start: { dateTime: moved }, end: { dateTime: plus(moved, 50 * MINUTE) } });
    await fake.idle();
    const calls = listCalls().length;
    await worker.drain();

    const [incremental, full] = listCalls().slice(calls);
    expect(incremental!.query.syncToken).toBe(before);
    expect(full!.query).toMatchObject({ timeMin: at(-24 * DAY) });
    expect(full!.query.syncToken).toBeUndefined();
    expect(await getSession(upcoming.session.id)).toMatchObject({ start: moved, status: "scheduled" });
    // Absent from the fresh state is not deleted: the old session stays as it was.
    expect(await getSession(past.session.id)).toMatchObject({ status: "scheduled", start: past.session.start, sequence: 0 });
    const cancelled = await db
      .select()
      .from(sessions)
      .where(and(eq(sessions.providerId, w.provider.id), eq(sessions.status, "cancelled")));
    expect(cancelled).toEqual([]);
    const after = await sourceRow(source.id);
    expect(after.syncToken).toBeTruthy();
    expect(after.syncToken).not.toBe(before);
    expect((await deliveriesOf(source.id)).every((d) => d.state === "done")).toBe(true);
  });

  it("page 2 failing keeps the old sync token and applies nothing; the retry applies every page", async () => {
    const w = await world();
    const s = await createSession(t, w.provider.id, w.client.id, { start: at(5 * DAY) });
    // Google orders nothing; the fake pages by id, so this one lands on page 1.
    fake.insertEvent(w.calendarId, { id: "00000000session", iCalUID: s.uid, start: { dateTime: s.start }, end: { dateTime: s.end } });
    const source = await connect(w);
    const token = source.syncToken;

    fake.autoNotify = false;
    const moved = plus(s.start, 2 * 3600_000);
    fake.patchEvent(w.calendarId, "00000000session", { start: { dateTime: moved }, end: { dateTime: plus(moved, 50 * MINUTE) } });
    // More than one page (maxResults=250) of changes.
    for (let i = 0; i < 260; i++) {
      const start = at(10 * DAY + i * 3600_000);
      fake.insertEvent(w.calendarId, { start: { dateTime: start }, end: { dateTime: plus(start, 30 * MINUTE) } });
    }
    fake.failNext({ match: "page2", status: 503, reason: "backendError" });
    await fake.notifyAll("exists", w.calendarId);
    await worker.drain();

    const pending = (await deliveriesOf(source.id)).filter((d) => d.kind === "pull");
    expect(pending).toEqual([expect.objectContaining({ state: "pending", attempts: 1, lastErrorCode: "upstream_transient" })]);
    expect(listCalls().at(-1)!.query.pageToken).toBeTruthy();
    expect((await sourceRow(source.id)).syncToken).toBe(token);
    expect(await getSession(s.id)).toMatchObject({ start: s.start, sequence: 0 });
    expect(await db.select().from(externalEvents).where(eq(externalEvents.sourceId, source.id))).toHaveLength(1);

    clock.advance(MINUTE);
    await worker.drain();
    expect((await deliveriesOf(source.id)).filter((d) => d.kind === "pull")).toEqual([expect.objectContaining({ state: "done" })]);
    expect(await getSession(s.id)).toMatchObject({ start: moved, sequence: 1 });
    expect(await db.select().from(externalEvents).where(eq(externalEvents.sourceId, source.id))).toHaveLength(261);
    expect((await sourceRow(source.id)).syncToken).not.toBe(token);
  });

  it.each([
    ["429", 429, "rateLimitExceeded", 120],
    ["403 rateLimitExceeded", 403, "rateLimitExceeded", undefined],
    ["403 userRateLimitExceeded", 403, "userRateLimitExceeded", undefined],
  ])("a %s is retried later: the delivery stays pending with a later available_at", async (_, status, reason, retryAfterSeconds) => {
    const w = await world();
    const { session, eventId } = await sessionWithEvent(w, at(5 * DAY));
    const source = await connect(w);
    fake.failNext({ match: "list", status, reason, ...(retryAfterSeconds ? { retryAfterSeconds } : {}) });
    const moved = plus(session.start, 3600_000);
    fake.patchEvent(w.calendarId, eventId, { start: { dateTime: moved }, end: { dateTime: plus(moved, 50 * MINUTE) } });
    await fake.idle();
    await worker.drain();

    const [d] = (await deliveriesOf(source.id)).filter((x) => x.kind === "pull");
    expect(d).toMatchObject({ state: "pending", attempts: 1, lastErrorCode: "upstream_rate_limited" });
    const waitMs = d!.availableAt.getTime() - clock.now().getTime();
    expect(waitMs).toBe(retryAfterSeconds ? retryAfterSeconds * 1000 : 2000); // Retry-After, else backoff
    expect(await sourceRow(source.id)).toMatchObject({ status: "active", consecutiveFailures: 1 });
    await worker.drain(); // not due yet
    expect((await getSession(session.id)).start).toBe(session.start);

    clock.advance(waitMs);
    await worker.drain();
    expect(await getSession(session.id)).toMatchObject({ start: moved });
    expect((await deliveriesOf(source.id)).find((x) => x.id === d!.id)).toMatchObject({ state: "done", attempts: 2 });
  });

  it("a 401 from Google marks the source as needing attention and changes nothing", async () => {
    const w = await world();
    const { session, eventId } = await sessionWithEvent(w, at(5 * DAY));
    const source = await connect(w);
    fake.accessToken = `ya29.${randomUUID()}`; // the therapist revoked our access
    const moved = plus(session.start, 3600_000);
    fake.patchEvent(w.calendarId, eventId, { start: { dateTime: moved }, end: { dateTime: plus(moved, 50 * MINUTE) } });
    await fake.idle();
    await worker.drain();

    const listed = await expectStatus(await t.request("GET", `/api/v1/providers/${w.provider.id}/calendar-sources`), 200);
    expect(listed.items).toEqual([expect.objectContaining({ id: source.id, status: "needs_reconnect", lastErrorCode: "upstream_auth" })]);
    expect((await deliveriesOf(source.id)).filter((d) => d.kind === "pull")).toEqual([
      expect.objectContaining({ state: "failed", lastErrorCode: "upstream_auth" }),
    ]);
    expect(await getSession(session.id)).toMatchObject({ start: session.start, sequence: 0 });
  });

  it("logs never carry channel tokens, access tokens, event summaries or client names", async () => {
    const clientName = `Philippa Quarrington-${randomBytes(3).toString("hex")}`;
    const summary = `Session with ${clientName} re: custody`;
    const w = await world(clientName);
    const { session, eventId } = await sessionWithEvent(w, at(5 * DAY), summary);
    const before = t.logs.lines.length;
    const source = await connect(w);
    const channel = fake.channels[0]!;
    // Only its hash is stored; the token itself is what Google was given.
    const channelToken = channel.token!;
    expect(source.secrets.channelTokenHash).toBe(hashSecret(channelToken));

    // A change applied, a rate limit, a forged push, a revoked token, and a failed set-up.
    fake.patchEvent(w.calendarId, eventId, {
      summary: `${summary} (moved)`,
      start: { dateTime: plus(session.start, 3600_000) },
      end: { dateTime: plus(session.end, 3600_000) },
    });
    await fake.idle();
    await worker.drain();
    fake.failNext({ match: "list", status: 429, reason: "rateLimitExceeded" });
    await fake.notifyAll("exists", w.calendarId);
    await worker.drain();
    await push(source.id, { "x-goog-channel-id": channel.id, "x-goog-resource-id": channel.resourceId, "x-goog-channel-token": `${channelToken}x` });
    const revoked = `ya29.${randomBytes(24).toString("base64url")}`;
    fake.accessToken = revoked; // ours no longer works
    clock.advance(DAY);
    await worker.drain();
    const failed = await t.request("POST", `/api/v1/providers/${w.provider.id}/calendar-sources`, {
      body: { kind: "google", calendarId: "nobody@example.com", accessToken, apiBaseUrl },
    });
    expect((await expectStatus(failed, 502)).code).toBe("source_setup_failed");

    const lines = t.logs.lines.slice(before);
    const text = lines.join("\n");
    // The flow did log: requests by route pattern, deliveries applied and refused.
    expect(text).toContain('"route":"/webhooks/google/:sourceId"');
    expect(text).toContain("delivery applied");
    expect(text).toContain('"code":"upstream_rate_limited"');
    expect(text).toContain('"code":"upstream_auth"');
    expect(text).toContain("calendar source setup failed");
    for (const secret of [channelToken, accessToken, revoked, summary, clientName, clientName.split(" ")[0]!, "custody"]) {
      expect(text, `a log line carries ${secret.slice(0, 12)}...`).not.toContain(secret);
    }
  });
});
