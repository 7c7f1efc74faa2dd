// Push-channel lifecycle, end to end against the Google and Graph fakes: renewal before expiry (and on
// Graph lifecycle events), release on delete, failures, and Graph `@removed` told apart from a move.
import { randomUUID } from "node:crypto";
import { and, eq, isNull } from "drizzle-orm";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { calendarSources, deliveries, sessions } from "../../src/db/schema.js";
import { IngestWorker } from "../../src/ingest/worker.js";
import { hashSecret } from "../../src/services/secrets.js";
import type { FakeGoogleCalendar } from "../fakes/google-calendar.js";
import { type FakeMicrosoftGraph, importedICalUId } from "../fakes/microsoft-graph.js";
import { expectStatus, makeTestApp } from "../helpers/app.js";
import { DAY, fixedClock, HOUR, MINUTE } from "../helpers/clock.js";
import { createSession, providerWithClient } from "../helpers/factories.js";
import { startGoogleFake, startGraphFake } from "../helpers/platform-fakes.js";

// Both fakes run on the app's clock, so channel and subscription expiries move with it.
const START = "2026-11-26T12:00:00Z";
const clock = fixedClock(START);
// The fake listens on loopback: the operator allowance lets the guarded client reach it, nothing else.
const t = await makeTestApp({ clock, env: { INGEST_ALLOW_PRIVATE_HOSTS: "127.0.0.1" } });
const worker = new IngestWorker(t.services, { fetchFn: t.deps.runtime.fetchFn });
const db = t.database.db;

let google: FakeGoogleCalendar;
let graph: FakeMicrosoftGraph;
let googleBase: string;
let graphBase: string;
let googleToken: string;
let graphToken: string;

beforeEach(async () => {
  clock.set(START);
  ({ fake: google, apiBaseUrl: googleBase, accessToken: googleToken } = await startGoogleFake(t));
  ({ fake: graph, apiBaseUrl: graphBase, accessToken: graphToken } = await startGraphFake(t));
});

afterEach(async () => {
  await Promise.all([google.stop(), graph.stop()]);
  // Renewal scans cover every live source: this test's must not reach the next test's fakes.
  await db.update(calendarSources).set({ deletedAt: clock.now() }).where(isNull(calendarSources.deletedAt));
});

const at = (offsetMs: number) => new Date(Date.parse(START) + offsetMs).toISOString();
const plus = (iso: string, ms: number) => new Date(Date.parse(iso) + ms).toISOString();

const sourceRow = async (id: string) => (await db.select().from(calendarSources).where(eq(calendarSources.id, id)))[0]!;
const deliveriesOf = (sourceId: string) => db.select().from(deliveries).where(eq(deliveries.sourceId, sourceId)).orderBy(deliveries.id);
const pendingOf = async (sourceId: string) => (await deliveriesOf(sourceId)).filter((d) => d.state === "pending");
const getSession = async (id: string) => expectStatus(await t.request("GET", `/api/v1/sessions/${id}`), 200);

/** A fresh worker: scheduleRenewals runs at most once per 10 minutes of the clock per worker. */
async function scheduleRenewals() {
  await new IngestWorker(t.services, { fetchFn: t.deps.runtime.fetchFn }).scheduleRenewals();
}

async function connectGoogle() {
  const { provider, client } = await providerWithClient(t);
  const calendarId = `therapist-${randomUUID()}@example.com`;
  google.addCalendar(calendarId, { timeZone: "America/New_York" });
  const res = await t.request("POST", `/api/v1/providers/${provider.id}/calendar-sources`, {
    body: { kind: "google", calendarId, accessToken: googleToken, apiBaseUrl: googleBase },
  });
  const view = await expectStatus<{ id: string }>(res, 201);
  await google.idle();
  await worker.drain();
  return { provider, client, calendarId, source: await sourceRow(view.id) };
}

/** Sessions at these offsets, each with its copy in the therapist's Outlook calendar, then the source. */
async function connectGraph(offsets: number[] = []) {
  const w = await providerWithClient(t);
  const events: { session: { id: string; start: string }; eventId: string }[] = [];
  for (const offset of offsets) {
    const session = await createSession(t, w.provider.id, w.client.id, { start: at(offset) });
    const event = graph.insertEvent({ iCalUId: importedICalUId(session.uid), subject: "Therapy", start: session.start, end: session.end });
    events.push({ session, eventId: String(event.id) });
  }
  const res = await t.request("POST", `/api/v1/providers/${w.provider.id}/calendar-sources`, {
    body: { kind: "microsoft", accessToken: graphToken, apiBaseUrl: graphBase },
  });
  const view = await expectStatus<{ id: string }>(res, 201);
  await worker.drain();
  return { ...w, events, source: await sourceRow(view.id) };
}

/** A push as Google sends it. */
function googlePush(sourceId: string, ch: { id: string; resourceId: string; token: string }, n = "77") {
  return t.app.request(`/webhooks/google/${sourceId}`, {
    method: "POST",
    headers: {
      "x-goog-channel-id": ch.id,
      "x-goog-resource-id": ch.resourceId,
      "x-goog-channel-token": ch.token,
      "x-goog-resource-state": "exists",
      "x-goog-message-number": n,
    },
  });
}

/** A change notification as Graph sends it (change-notifications-delivery-webhooks.md). */
function graphNotify(sourceId: string, sub: { id: string; clientState: string }) {
  const resource = `Users/${graph.userId}/Events/${randomUUID()}`;
  const item = {
    subscriptionId: sub.id,
    changeType: "updated",
    resource,
    clientState: sub.clientState,
    tenantId: graph.tenantId,
    resourceData: { "@odata.type": "#Microsoft.Graph.Event", "@odata.id": resource, "@odata.etag": `W/"${randomUUID()}"`, id: randomUUID() },
  };
  return t.app.request(`/webhooks/microsoft/${sourceId}`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ value: [item] }),
  });
}

// The stored row keeps only the token's hash; the token is what Google holds for the channel.
const googleChannelOf = (s: Awaited<ReturnType<typeof sourceRow>>) => {
  const ch = google.channels.find((c) => c.id === s.channelId)!;
  expect(s.secrets.channelTokenHash).toBe(hashSecret(ch.token!));
  return { id: s.channelId!, resourceId: String(s.settings.resourceId), token: ch.token! };
};
const graphSubOf = (s: { channelId: string | null; secrets: Record<string, string> }) => {
  const sub = graph.subscriptions.find((x) => x.id === s.channelId)!;
  expect(s.secrets.clientStateHash).toBe(hashSecret(sub.clientState!));
  return { id: s.channelId!, clientState: sub.clientState! };
};
const stopCalls = () => google.requests.filter((r) => r.method === "POST" && r.path.endsWith("/channels/stop"));
const patchCalls = () => graph.requests.filter((r) => r.method === "PATCH" && r.path.includes("/subscriptions/"));

describe("Google watch channels", () => {
  it("within 24 h of expiry a new channel replaces the old one, once; pushes follow the new channel", async () => {
    const { source, calendarId } = await connectGoogle();
    const old = googleChannelOf(source);
    expect(google.channels).toEqual([expect.objectContaining({ id: old.id, expiration: at(7 * DAY) })]);

    clock.set(at(5 * DAY)); // two days left: nothing to do yet
    await scheduleRenewals();
    expect(await pendingOf(source.id)).toEqual([]);

    clock.set(at(6 * DAY + HOUR));
    await scheduleRenewals();
    await scheduleRenewals(); // another instance, same scan
    clock.advance(10 * MINUTE);
    await scheduleRenewals(); // a later scan, same expiry
    expect((await pendingOf(source.id)).map((d) => [d.kind, d.deliveryKey])).toEqual([["renew_channel", `renew:${old.id}:${at(7 * DAY)}`]]);

    await worker.drain();
    await google.idle();
    const renewed = await sourceRow(source.id);
    const fresh = googleChannelOf(renewed);
    expect(fresh.id).not.toBe(old.id);
    expect(fresh.token).not.toBe(old.token);
    expect(renewed.settings.channelExpiration).toBe(plus(clock.now().toISOString(), 7 * DAY));
    // channels.stop removes a channel only for its exact id and resourceId: the old one is gone.
    expect(google.channels.map((c) => c.id)).toEqual([fresh.id]);
    expect(stopCalls()).toHaveLength(1);
    expect(google.deliveries).toContainEqual(expect.objectContaining({ channelId: fresh.id, state: "sync", status: 200 }));
    expect((await deliveriesOf(source.id)).filter((d) => d.deliveryKey.startsWith("renewed:"))).toEqual([
      expect.objectContaining({ kind: "pull", state: "done" }),
    ]);
    expect(renewed).toMatchObject({ status: "active", consecutiveFailures: 0 });

    // The old channel's late messages are acknowledged and change nothing; the new one's are taken.
    expect(await expectStatus(await googlePush(source.id, old), 200)).toEqual({ accepted: false });
    expect(await pendingOf(source.id)).toEqual([]);
    await google.notifyAll("exists", calendarId);
    expect(google.deliveries.at(-1)).toMatchObject({ channelId: fresh.id, state: "exists", status: 200 });
    expect((await pendingOf(source.id)).map((d) => d.deliveryKey)).toEqual([expect.stringMatching(new RegExp(`^goog:${fresh.id}:`))]);
    await worker.drain();

    // The next expiry is a day before the new channel lapses, not before.
    clock.advance(5 * DAY);
    await scheduleRenewals();
    expect(await pendingOf(source.id)).toEqual([]);
  });

  it("a renewal refused with 401 marks the source as needing attention and fails for good", async () => {
    const { source } = await connectGoogle();
    const old = googleChannelOf(source);
    clock.set(at(6 * DAY + HOUR));
    await scheduleRenewals();
    google.failNext({ match: "watch", status: 401, reason: "authError" });
    await worker.drain();

    expect(await sourceRow(source.id)).toMatchObject({ status: "needs_reconnect", lastErrorCode: "channel_upstream_auth", channelId: old.id });
    expect((await deliveriesOf(source.id)).filter((d) => d.kind === "renew_channel")).toEqual([
      expect.objectContaining({ state: "failed", lastErrorCode: "upstream_auth" }),
    ]);
    expect(google.channels.map((c) => c.id)).toEqual([old.id]);
    clock.advance(10 * MINUTE);
    await scheduleRenewals(); // the failed renewal is an operator's to look at, not re-queued
    expect(await pendingOf(source.id)).toEqual([]);
  });

  it("a renewal that meets a 503 waits for a retry while the old channel keeps working", async () => {
    const { source, calendarId } = await connectGoogle();
    const old = googleChannelOf(source);
    clock.set(at(6 * DAY + HOUR));
    await scheduleRenewals();
    google.failNext({ match: "watch", status: 503, reason: "backendError" });
    await worker.drain();

    const [retry] = (await deliveriesOf(source.id)).filter((d) => d.kind === "renew_channel");
    expect(retry).toMatchObject({ state: "pending", attempts: 1, lastErrorCode: "upstream_transient" });
    expect(await sourceRow(source.id)).toMatchObject({
      status: "active",
      channelId: old.id,
      secrets: expect.objectContaining({ channelTokenHash: hashSecret(old.token) }),
    });
    // Meanwhile the source still hears its live channel, and a later scan adds no second renewal.
    await google.notifyAll("exists", calendarId);
    expect(google.deliveries.at(-1)).toMatchObject({ channelId: old.id, status: 200 });
    expect((await pendingOf(source.id)).map((d) => d.kind)).toEqual(["renew_channel", "pull"]);
    clock.advance(10 * MINUTE);
    await scheduleRenewals();
    expect((await deliveriesOf(source.id)).filter((d) => d.kind === "renew_channel")).toHaveLength(1);

    await worker.drain();
    expect((await deliveriesOf(source.id)).find((d) => d.id === retry!.id)).toMatchObject({ state: "done", attempts: 2 });
    const renewed = await sourceRow(source.id);
    expect(renewed.channelId).not.toBe(old.id);
    // The retry stopped the channel that was actually running.
    expect(google.channels.map((c) => c.id)).toEqual([renewed.channelId]);
  });

  it("deleting the source stops its channel; later pushes are acknowledged and ignored", async () => {
    const { provider, source, calendarId } = await connectGoogle();
    const ch = googleChannelOf(source);
    const res = await t.request("DELETE", `/api/v1/providers/${provider.id}/calendar-sources/${source.id}`);
    expect(res.status, await res.clone().text()).toBe(204);
    expect(stopCalls()).toHaveLength(1);
    expect(google.channels).toEqual([]);

    expect(await expectStatus(await googlePush(source.id, ch), 200)).toEqual({ accepted: false });
    google.insertEvent(calendarId, { start: { dateTime: at(3 * DAY) }, end: { dateTime: at(3 * DAY + HOUR) } });
    await google.idle();
    expect(google.deliveries.filter((d) => d.state === "exists")).toEqual([]); // nobody to tell
    expect((await deliveriesOf(source.id)).map((d) => d.deliveryKey)).toEqual(["initial-sync"]);
  });
});

describe("Graph subscriptions", () => {
  it("within 24 h of expiry the subscription is PATCHed to a later expiration, once", async () => {
    const { source } = await connectGraph();
    const [sub] = graph.subscriptions;
    expect(sub).toMatchObject({ id: source.channelId });
    const firstExpiry = Date.parse(sub!.expirationDateTime);

    clock.set(at(50 * HOUR)); // the 70-hour subscription has 20 left
    await scheduleRenewals();
    await scheduleRenewals();
    expect((await pendingOf(source.id)).map((d) => d.kind)).toEqual(["renew_channel"]);
    await worker.drain();

    expect(patchCalls()).toEqual([expect.objectContaining({ path: expect.stringMatching(new RegExp(`/subscriptions/${sub!.id}$`)) })]);
    const [after] = graph.subscriptions;
    expect(after!.id).toBe(sub!.id);
    expect(Date.parse(after!.expirationDateTime)).toBeGreaterThan(firstExpiry);
    expect(Date.parse(after!.expirationDateTime)).toBe(clock.now().getTime() + 4200 * MINUTE);
    const row = await sourceRow(source.id);
    expect(Date.parse(String(row.settings.subscriptionExpiration))).toBe(Date.parse(after!.expirationDateTime));
    expect((await deliveriesOf(source.id)).every((d) => d.state === "done")).toBe(true);
    clock.advance(HOUR);
    await scheduleRenewals();
    expect(await pendingOf(source.id)).toEqual([]);
  });

  it("reauthorizationRequired renews; after a renewal refused with 401 the source returns to active", async () => {
    const { source } = await connectGraph();
    const subId = source.channelId!;
    clock.set(at(50 * HOUR));
    await scheduleRenewals();
    graph.failNext({ match: "subscriptions", status: 401, code: "InvalidAuthenticationToken" });
    await worker.drain();
    expect(await sourceRow(source.id)).toMatchObject({ status: "needs_reconnect", lastErrorCode: "channel_upstream_auth" });
    expect((await deliveriesOf(source.id)).filter((d) => d.kind === "renew_channel")).toEqual([
      expect.objectContaining({ state: "failed", lastErrorCode: "upstream_auth" }),
    ]);

    clock.advance(HOUR);
    await graph.sendLifecycle("reauthorizationRequired");
    expect(graph.deliveries.at(-1)).toMatchObject({ kind: "lifecycle", status: 202 });
    expect((await pendingOf(source.id)).map((d) => d.kind)).toEqual(["renew_channel"]);
    await worker.drain();
    expect(patchCalls()).toHaveLength(2);
    expect(graph.subscriptions.map((x) => x.id)).toEqual([subId]);
    expect(Date.parse(graph.subscriptions[0]!.expirationDateTime)).toBe(clock.now().getTime() + 4200 * MINUTE);
    expect(await sourceRow(source.id)).toMatchObject({ status: "active", consecutiveFailures: 0, channelId: subId });
  });

  it("a renewal that meets a 503 stays pending and succeeds on retry", async () => {
    const { source } = await connectGraph();
    clock.set(at(50 * HOUR));
    await scheduleRenewals();
    graph.failNext({ match: "subscriptions", status: 503, code: "ServiceUnavailable" });
    await worker.drain();
    const [d] = (await deliveriesOf(source.id)).filter((x) => x.kind === "renew_channel");
    expect(d).toMatchObject({ state: "pending", attempts: 1, lastErrorCode: "upstream_transient" });
    expect(await sourceRow(source.id)).toMatchObject({ status: "active" });

    clock.advance(d!.availableAt.getTime() - clock.now().getTime());
    await worker.drain();
    expect((await deliveriesOf(source.id)).find((x) => x.id === d!.id)).toMatchObject({ state: "done", attempts: 2 });
    expect(Date.parse(graph.subscriptions[0]!.expirationDateTime)).toBe(clock.now().getTime() + 4200 * MINUTE);
  });

  it("subscriptionRemoved creates a new subscription (with the handshake) and a full resync that cancels nothing", async () => {
    const { provider, source, events } = await connectGraph([4 * DAY, 5 * DAY]);
    const [gone, moving] = events;
    const oldSub = graphSubOf(source);
    const validations = graph.validations.length;

    // Notifications lost while the subscription was going away: a deletion and a move.
    graph.autoNotify = false;
    graph.deleteEvent(gone!.eventId);
    const moved = plus(moving!.session.start, 3 * HOUR);
    graph.patchEvent(moving!.eventId, { start: moved, end: plus(moved, 50 * MINUTE) });
    await graph.sendLifecycle("subscriptionRemoved");
    expect(graph.deliveries.at(-1)).toMatchObject({ kind: "lifecycle", status: 202 });
    expect(graph.subscriptions).toEqual([]);
    expect((await pendingOf(source.id)).map((d) => d.kind)).toEqual(["renew_channel", "full_resync"]);
    await worker.drain();

    const row = await sourceRow(source.id);
    const [sub] = graph.subscriptions;
    expect(sub).toMatchObject({ id: row.channelId });
    expect(row.secrets.clientStateHash).toBe(hashSecret(sub!.clientState!));
    expect(sub!.id).not.toBe(oldSub.id);
    const hook = `https://cal.example.test/webhooks/microsoft/${source.id}`;
    expect(graph.validations.slice(validations)).toEqual([
      expect.objectContaining({ url: hook, ok: true }),
      expect.objectContaining({ url: hook, ok: true }),
    ]);
    expect(await getSession(moving!.session.id)).toMatchObject({ start: moved, status: "scheduled" });
    expect(await getSession(gone!.session.id)).toMatchObject({ status: "scheduled", sequence: 0 });
    expect(
      await db
        .select()
        .from(sessions)
        .where(and(eq(sessions.providerId, provider.id), eq(sessions.status, "cancelled"))),
    ).toEqual([]);
    expect((await deliveriesOf(source.id)).every((d) => d.state === "done")).toBe(true);
    expect(row.status).toBe("active");

    // The new subscription is heard; the removed one's id no longer verifies.
    graph.autoNotify = true;
    const movedAgain = plus(moved, HOUR);
    graph.patchEvent(moving!.eventId, { start: movedAgain, end: plus(movedAgain, 50 * MINUTE) });
    await graph.idle();
    expect(graph.deliveries.at(-1)).toMatchObject({ kind: "change", status: 202 });
    expect(await expectStatus(await graphNotify(source.id, oldSub), 202)).toMatchObject({ duplicate: true });
    expect((await pendingOf(source.id)).map((d) => d.kind)).toEqual(["pull"]);
    await worker.drain();
    expect(await getSession(moving!.session.id)).toMatchObject({ start: movedAgain });
  });

  it("deleting the source deletes its subscription; later notifications are 404", async () => {
    const { provider, source } = await connectGraph();
    const sub = graphSubOf(source);
    const res = await t.request("DELETE", `/api/v1/providers/${provider.id}/calendar-sources/${source.id}`);
    expect(res.status, await res.clone().text()).toBe(204);
    expect(graph.requests.filter((r) => r.method === "DELETE")).toEqual([
      expect.objectContaining({ path: expect.stringMatching(new RegExp(`/subscriptions/${sub.id}$`)) }),
    ]);
    expect(graph.subscriptions).toEqual([]);

    expect((await expectStatus(await graphNotify(source.id, sub), 404)).code).toBe("not_found");
    expect((await t.app.request(`/webhooks/microsoft/${source.id}?validationToken=abc`, { method: "POST" })).status).toBe(404);
    expect((await deliveriesOf(source.id)).map((d) => d.deliveryKey)).toEqual(["initial-sync"]);
  });

  it("`@removed` for an event moved out of the window reschedules its session; a real deletion cancels", async () => {
    const { source, events } = await connectGraph([5 * DAY, 6 * DAY]);
    const [leaving, deleted] = events;

    // The delta window is frozen at the first round (clock +365 days): this is past its end.
    const far = at(400 * DAY);
    graph.patchEvent(leaving!.eventId, { start: far, end: plus(far, 50 * MINUTE) });
    graph.deleteEvent(deleted!.eventId);
    await graph.idle();
    await worker.drain();

    const lookups = graph.requests
      .filter((r) => r.method === "GET" && /\/events\/[^/]+$/.test(r.path))
      .map((r) => decodeURIComponent(r.path.split("/").at(-1)!));
    expect(lookups.sort()).toEqual([leaving!.eventId, deleted!.eventId].sort());
    expect(await getSession(leaving!.session.id)).toMatchObject({ status: "scheduled", start: far, end: plus(far, 50 * MINUTE), sequence: 1 });
    expect(await getSession(deleted!.session.id)).toMatchObject({ status: "cancelled", start: deleted!.session.start });
    expect((await deliveriesOf(source.id)).every((d) => d.state === "done")).toBe(true);
  });
});
