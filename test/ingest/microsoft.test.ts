// Our app, in process, against the Microsoft Graph fake. The fake validates
// our notificationUrl through app.request() when the source is created, and posts its notifications there.
import { randomBytes, randomUUID } from "node:crypto";
import { and, eq } from "drizzle-orm";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { calendarSources, deliveries, sessions } from "../../src/db/schema.js";
import { uidFromICalUId } from "../../src/ingest/microsoft-client.js";
import { IngestWorker } from "../../src/ingest/worker.js";
import { hashSecret } from "../../src/services/secrets.js";
import { type FakeMicrosoftGraph, importedICalUId } from "../fakes/microsoft-graph.js";
import { expectStatus, makeTestApp } from "../helpers/app.js";
import { DAY, fixedClock, HOUR, MINUTE } from "../helpers/clock.js";
import { createSession, providerWithClient } from "../helpers/factories.js";
import { startGraphFake } from "../helpers/platform-fakes.js";

// The fake checks subscription expirations against its clock; it shares the app's, so the 4,230-minute
// rule holds whatever day the suite runs. Event times sit inside the delta window (clock -30 d, +365 d).
const START = "2026-11-26T12:00:00Z";
const clock = fixedClock(START);
// The fake listens on loopback: the operator allowance lets the guarded client reach it, nothing else.
const t = await makeTestApp({ clock, env: { INGEST_ALLOW_PRIVATE_HOSTS: "127.0.0.1" } });
const worker = new IngestWorker(t.services, { fetchFn: t.deps.runtime.fetchFn });
const db = t.database.db;

let fake: FakeMicrosoftGraph;
let apiBaseUrl: string;
let accessToken: string;

beforeEach(async () => {
  clock.set(START);
  ({ fake, apiBaseUrl, accessToken } = await startGraphFake(t));
});

afterEach(async () => {
  await fake.stop();
});

const at = (offsetMs: number) => new Date(Date.parse(START) + offsetMs).toISOString();
const plus = (iso: string, ms: number) => new Date(Date.parse(iso) + ms).toISOString();

async function world(clientName?: string) {
  return providerWithClient(t, {}, clientName ? { displayName: clientName } : {});
}

/**
 * A session and its copy in the therapist's Outlook calendar. Imported from our invitation, Graph shows
 * our UID wrapped in a GlobalObjectId; `raw` gives an iCalUId equal to the UID itself.
 */
async function sessionWithEvent(w: Awaited<ReturnType<typeof world>>, start: string, opts: { raw?: boolean; subject?: string } = {}) {
  const session = await createSession(t, w.provider.id, w.client.id, { start });
  const event = fake.insertEvent({
    iCalUId: opts.raw ? session.uid : importedICalUId(session.uid),
    subject: opts.subject ?? "Therapy session",
    start: session.start,
    end: session.end,
  });
  return { session, eventId: String(event.id) };
}

/** POST .../calendar-sources (the fake validates our endpoint before it answers) and the initial sync. */
async function connect(w: Awaited<ReturnType<typeof world>>) {
  const res = await t.request("POST", `/api/v1/providers/${w.provider.id}/calendar-sources`, {
    body: { kind: "microsoft", accessToken, apiBaseUrl },
  });
  const view = await expectStatus<{ id: string }>(res, 201);
  await worker.drain();
  const row = await sourceRow(view.id);
  expect(row.syncToken, "the initial delta round stored its deltaLink").toMatch(/\$deltatoken=/);
  return row;
}

const sourceRow = async (id: string) => (await db.select().from(calendarSources).where(eq(calendarSources.id, id)))[0]!;
const deliveriesOf = (sourceId: string) => db.select().from(deliveries).where(eq(deliveries.sourceId, sourceId)).orderBy(deliveries.id);
const getSession = async (id: string) => expectStatus(await t.request("GET", `/api/v1/sessions/${id}`), 200);
const deltaCalls = () => fake.requests.filter((r) => r.method === "GET" && r.path.endsWith("/calendarView/delta"));

function notify(sourceId: string, body: unknown) {
  return t.app.request(`/webhooks/microsoft/${sourceId}`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(body),
  });
}

/** One change notification as Graph sends it (change-notifications-delivery-webhooks.md). */
function changeItem(sub: { id: string; clientState?: string }, eventId: string, overrides: Record<string, unknown> = {}) {
  const resource = `Users/${fake.userId}/Events/${eventId}`;
  return {
    subscriptionId: sub.id,
    subscriptionExpirationDateTime: plus(clock.now().toISOString(), 3 * DAY),
    changeType: "updated",
    resource,
    resourceData: { "@odata.type": "#Microsoft.Graph.Event", "@odata.id": resource, "@odata.etag": `W/"${randomUUID()}"`, id: eventId },
    clientState: sub.clientState ?? null,
    tenantId: fake.tenantId,
    ...overrides,
  };
}

describe("Graph iCalUId", () => {
  // stackoverflow.com/questions/36985390: an invitation from Google, as Graph reports it ([MS-OXOCAL] 2.2.1.27).
  const FROM_GOOGLE =
    "040000008200E00074C5B7101A82E0080000000000000000000000000000000000000000320000007643616C2D55696401000000716138377132743535326465746637373335303870647263686340676F6F676C652E636F6D00";
  const OUTLOOK_MADE = "040000008200E00074C5B7101A82E0080000000038C12994A0A1D1010000000000000000100000002D3AE9C22CC82C42ADE8BFFD6999115D";

  it.each([
    ["an imported UID is unwrapped", FROM_GOOGLE, "qa87q2t552detf773508pdrchc@google.com"],
    ["an Outlook-made GOID stays as is", OUTLOOK_MADE, OUTLOOK_MADE],
    ["a plain UID stays as is", "abc@telehealth-calendar", "abc@telehealth-calendar"],
    ["a size that does not fit stays as is", FROM_GOOGLE.replace("32000000", "33000000"), FROM_GOOGLE.replace("32000000", "33000000")],
  ])("%s", (_, iCalUId, uid) => {
    expect(uidFromICalUId(iCalUId)).toBe(uid);
  });

  it("the fake wraps UIDs the way Exchange does", () => {
    expect(importedICalUId("qa87q2t552detf773508pdrchc@google.com")).toBe(FROM_GOOGLE);
  });
});

describe("Microsoft Graph ingestion against the fake", () => {
  it("the validation handshake is echoed as text/plain, at subscription time and directly", async () => {
    const w = await world();
    const source = await connect(w);
    const hook = `https://cal.example.test/webhooks/microsoft/${source.id}`;
    // notificationUrl and lifecycleNotificationUrl, both validated before the subscription existed.
    expect(fake.validations).toEqual([expect.objectContaining({ url: hook, ok: true }), expect.objectContaining({ url: hook, ok: true })]);
    expect(fake.subscriptions).toEqual([expect.objectContaining({ id: source.channelId, resource: "me/events" })]);

    const res = await t.app.request(`/webhooks/microsoft/${source.id}?validationToken=abc`, {
      method: "POST",
      headers: { "content-type": "text/plain; charset=utf-8" },
    });
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toMatch(/^text\/plain/);
    expect(await res.text()).toBe("abc");
    // Decoded, never reflected as markup.
    const odd = "Validation: <b>a&b</b> 100%";
    const echoed = await t.app.request(`/webhooks/microsoft/${source.id}?validationToken=${encodeURIComponent(odd)}`, { method: "POST" });
    expect(await echoed.text()).toBe(odd);
    expect(echoed.headers.get("content-type")).toMatch(/^text\/plain/);
    expect((await t.app.request(`/webhooks/microsoft/${randomUUID()}?validationToken=abc`, { method: "POST" })).status).toBe(404);
    // A handshake records nothing.
    expect((await deliveriesOf(source.id)).map((d) => d.deliveryKey)).toEqual(["initial-sync"]);
  });

  it("a mixed-clientState batch: only the item with our clientState is queued and applied", async () => {
    const w = await world();
    const { session, eventId } = await sessionWithEvent(w, at(5 * DAY));
    const source = await connect(w);
    const sub = fake.subscriptions[0]!;
    fake.autoNotify = false;
    const moved = plus(session.start, 2 * HOUR);
    fake.patchEvent(eventId, { start: moved, end: plus(moved, 50 * MINUTE) });

    const forged = [
      changeItem(sub, eventId, { clientState: "guessed-client-state" }),
      changeItem(sub, eventId, { clientState: null }),
      changeItem({ id: randomUUID(), clientState: sub.clientState! }, eventId),
    ];
    expect(await expectStatus(await notify(source.id, { value: forged }), 202)).toMatchObject({ accepted: true }); // Graph wants its 2xx regardless
    await worker.drain();
    expect((await deliveriesOf(source.id)).map((d) => d.deliveryKey)).toEqual(["initial-sync"]);
    expect(await getSession(session.id)).toMatchObject({ start: session.start, sequence: 0 });

    const good = changeItem(sub, eventId);
    expect(await expectStatus(await notify(source.id, { value: [forged[0], good, forged[2]] }), 202)).toEqual({ accepted: true, duplicate: false });
    expect(await expectStatus(await notify(source.id, { value: [good] }), 202)).toEqual({ accepted: true, duplicate: true }); // Graph's retry
    expect((await deliveriesOf(source.id)).filter((d) => d.kind === "pull")).toHaveLength(1);
    await worker.drain();
    expect(await getSession(session.id)).toMatchObject({ start: moved, end: plus(moved, 50 * MINUTE), sequence: 1 });
  });

  it("`@removed` cancels the matched session; a move reschedules (iCalUId wrapped or plain)", async () => {
    const w = await world();
    const removed = await sessionWithEvent(w, at(4 * DAY));
    const movedOne = await sessionWithEvent(w, at(5 * DAY), { raw: true });
    const untouched = await createSession(t, w.provider.id, w.client.id, { start: at(6 * DAY) });
    const source = await connect(w);

    fake.deleteEvent(removed.eventId);
    const moved = plus(movedOne.session.start, DAY);
    fake.patchEvent(movedOne.eventId, { start: moved, end: plus(moved, 50 * MINUTE) });
    await fake.idle();
    expect(fake.deliveries.map((d) => [d.kind, d.status])).toEqual([
      ["change", 202],
      ["change", 202],
    ]);
    const calls = deltaCalls().length;
    await worker.drain();

    expect(deltaCalls()[calls]!.query.$deltatoken).toBeTruthy(); // incremental, from the stored deltaLink
    expect(await getSession(removed.session.id)).toMatchObject({ status: "cancelled", start: removed.session.start });
    expect(await getSession(movedOne.session.id)).toMatchObject({ status: "scheduled", start: moved, sequence: 1 });
    expect(await getSession(untouched.id)).toMatchObject({ status: "scheduled", sequence: 0 });
    expect((await deliveriesOf(source.id)).every((d) => d.state === "done")).toBe(true);
  });

  it("`missed` triggers a full resync that merges and cancels nothing, each time it comes", async () => {
    const w = await world();
    const gone = await sessionWithEvent(w, at(4 * DAY));
    const moving = await sessionWithEvent(w, at(5 * DAY));
    const source = await connect(w);
    const before = source.syncToken;

    // Notifications lost: a deletion and a move that we never heard of.
    fake.autoNotify = false;
    fake.deleteEvent(gone.eventId);
    const moved = plus(moving.session.start, 3 * HOUR);
    fake.patchEvent(moving.eventId, { start: moved, end: plus(moved, 50 * MINUTE) });
    await fake.sendLifecycle("missed");
    expect(fake.deliveries.at(-1)).toMatchObject({ kind: "lifecycle", status: 202 });
    expect((await deliveriesOf(source.id)).at(-1)).toMatchObject({ kind: "full_resync", state: "pending" });
    const calls = deltaCalls().length;
    await worker.drain();

    expect(deltaCalls()[calls]!.query).toMatchObject({ startDateTime: at(-30 * DAY), endDateTime: at(365 * DAY) });
    expect(await getSession(moving.session.id)).toMatchObject({ start: moved, status: "scheduled" });
    // Absent from the fresh round is not proof of deletion: nothing is cancelled.
    expect(await getSession(gone.session.id)).toMatchObject({ status: "scheduled", sequence: 0 });
    const after = await sourceRow(source.id);
    expect(after.syncToken).toMatch(/\$deltatoken=/);
    expect(after.syncToken).not.toBe(before);

    // Graph sends the same lifecycle body again later (no id, same subscription): it must resync again.
    clock.advance(HOUR);
    const movedAgain = plus(moved, HOUR);
    fake.patchEvent(moving.eventId, { start: movedAgain, end: plus(movedAgain, 50 * MINUTE) });
    await fake.sendLifecycle("missed");
    await worker.drain();
    expect((await deliveriesOf(source.id)).filter((d) => d.kind === "full_resync")).toHaveLength(3); // initial + 2 missed
    expect(await getSession(moving.session.id)).toMatchObject({ start: movedAgain });
    expect(await getSession(gone.session.id)).toMatchObject({ status: "scheduled" });
  });

  it("a 410 on the delta token triggers a full resync; the new deltaLink works afterwards", async () => {
    const w = await world();
    const steady = await sessionWithEvent(w, at(3 * DAY));
    const moving = await sessionWithEvent(w, at(5 * DAY));
    const source = await connect(w);
    const before = source.syncToken;

    fake.invalidateDeltaTokens();
    const moved = plus(moving.session.start, 2 * HOUR);
    fake.patchEvent(moving.eventId, { start: moved, end: plus(moved, 50 * MINUTE) });
    await fake.idle();
    const calls = deltaCalls().length;
    await worker.drain();

    const [stale, fresh] = deltaCalls().slice(calls);
    expect(stale!.query.$deltatoken).toBeTruthy();
    expect(fresh!.query).toMatchObject({ startDateTime: expect.any(String), endDateTime: expect.any(String) });
    expect(await getSession(moving.session.id)).toMatchObject({ start: moved, status: "scheduled" });
    expect(await getSession(steady.session.id)).toMatchObject({ start: steady.session.start, status: "scheduled", sequence: 0 });
    const cancelled = await db
      .select()
      .from(sessions)
      .where(and(eq(sessions.providerId, w.provider.id), eq(sessions.status, "cancelled")));
    expect(cancelled).toEqual([]);
    const after = await sourceRow(source.id);
    expect(after.syncToken).not.toBe(before);

    const movedAgain = plus(moved, HOUR);
    fake.patchEvent(moving.eventId, { start: movedAgain, end: plus(movedAgain, 50 * MINUTE) });
    await fake.idle();
    const next = deltaCalls().length;
    await worker.drain();
    expect(deltaCalls().slice(next)).toEqual([expect.objectContaining({ query: { $deltatoken: expect.any(String) } })]);
    expect(await getSession(moving.session.id)).toMatchObject({ start: movedAgain });
  });

  it("logs never carry clientState, access tokens, event subjects or client names", async () => {
    const clientName = `Bartholomew Okonkwo-${randomBytes(3).toString("hex")}`;
    const subject = `Therapy: ${clientName} (couples)`;
    const w = await world(clientName);
    const { session, eventId } = await sessionWithEvent(w, at(5 * DAY), { subject });
    const before = t.logs.lines.length;
    const source = await connect(w);
    const sub = fake.subscriptions[0]!;
    // Only its hash is stored; the value itself is what Graph was given.
    const clientState = sub.clientState!;
    expect(source.secrets.clientStateHash).toBe(hashSecret(clientState));

    // A change, a forged batch, a missed lifecycle, a revoked token, and a failed set-up.
    fake.patchEvent(eventId, { subject: `${subject} moved`, start: plus(session.start, HOUR), end: plus(session.end, HOUR) });
    await fake.idle();
    await notify(source.id, { value: [changeItem(sub, eventId, { clientState: `${clientState}x` })] });
    await fake.sendLifecycle("missed");
    await worker.drain();
    const revoked = `eyJ0eXAiOiJKV1Qi.${randomBytes(24).toString("base64url")}`;
    fake.accessToken = revoked;
    fake.patchEvent(eventId, { start: plus(session.start, 2 * HOUR), end: plus(session.end, 2 * HOUR) });
    await fake.idle();
    await worker.drain();
    expect(await sourceRow(source.id)).toMatchObject({ status: "needs_reconnect", lastErrorCode: "upstream_auth" });
    fake.failNext({ match: "subscriptions", status: 403, code: "ExtensionError" });
    const failed = await t.request("POST", `/api/v1/providers/${w.provider.id}/calendar-sources`, {
      body: { kind: "microsoft", accessToken: revoked, apiBaseUrl },
    });
    expect((await expectStatus(failed, 502)).code).toBe("source_setup_failed");

    const text = t.logs.lines.slice(before).join("\n");
    expect(text).toContain('"route":"/webhooks/microsoft/:sourceId"');
    expect(text).toContain("delivery applied");
    expect(text).toContain('"code":"upstream_auth"');
    expect(text).toContain("calendar source setup failed");
    for (const secret of [clientState, accessToken, revoked, subject, clientName, clientName.split(" ")[0]!, "couples"]) {
      expect(text, `a log line carries ${secret.slice(0, 12)}...`).not.toContain(secret);
    }
  });
});
