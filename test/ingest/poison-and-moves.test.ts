// Poison events are set aside (the rest of the page applies, the cursor advances); a deletion in one
// watched calendar whose event shows up in another is a move; an event back after its session was
// cancelled is an open item; sources are capped per provider; workers take providers in turn.
import { randomUUID } from "node:crypto";
import { eq } from "drizzle-orm";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { calendarSources, deliveries, externalEvents } from "../../src/db/schema.js";
import { IngestWorker } from "../../src/ingest/worker.js";
import { claimDelivery, recordIcsDelivery } from "../../src/services/inbox.js";
import type { FakeGoogleCalendar } from "../fakes/google-calendar.js";
import { expectStatus, makeTestApp } from "../helpers/app.js";
import { DAY, fixedClock, MINUTE } from "../helpers/clock.js";
import { createSession, providerWithClient } from "../helpers/factories.js";
import { startGoogleFake } from "../helpers/platform-fakes.js";
import { calendar, createIcsWebhookSource, icsUtc, postIcs, vevent } from "../helpers/webhooks.js";

const START = "2026-11-26T12:00:00Z";
const clock = fixedClock(START);
const t = await makeTestApp({ clock, env: { MAX_SOURCES_PER_PROVIDER: "3", INGEST_ALLOW_PRIVATE_HOSTS: "127.0.0.1" } });
const worker = new IngestWorker(t.services);
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

const sourceRow = async (id: string) => (await db.select().from(calendarSources).where(eq(calendarSources.id, id)))[0]!;
const deliveriesOf = (sourceId: string) => db.select().from(deliveries).where(eq(deliveries.sourceId, sourceId)).orderBy(deliveries.id);
const getSession = async (id: string) => expectStatus(await t.request("GET", `/api/v1/sessions/${id}`), 200);
const items = async (providerId: string) =>
  (await expectStatus(await t.request("GET", `/api/v1/providers/${providerId}/reconciliation`), 200)).items as Array<{
    kind: string;
    sessionId?: string;
  }>;
const event = (uid: string, start: string, fields: Record<string, string | number> = {}) =>
  vevent({
    UID: uid,
    DTSTAMP: "20261126T110000Z",
    DTSTART: icsUtc(start),
    DTEND: icsUtc(new Date(Date.parse(start) + 50 * MINUTE).toISOString()),
    SEQUENCE: 0,
    ...fields,
  });

describe("poison events", () => {
  it("a Google event with a malformed iCalUID is set aside; the valid change beside it applies and the sync token advances", async () => {
    const { provider, client } = await providerWithClient(t);
    const calendarId = `therapist-${randomUUID()}@example.com`;
    fake.addCalendar(calendarId, { timeZone: "UTC" });
    const session = await createSession(t, provider.id, client.id, { start: "2026-12-01T15:00:00Z" });
    const copy = fake.insertEvent(calendarId, { iCalUID: session.uid, start: { dateTime: session.start }, end: { dateTime: session.end } });
    const created = await expectStatus(
      await t.request("POST", `/api/v1/providers/${provider.id}/calendar-sources`, { body: { kind: "google", calendarId, accessToken, apiBaseUrl } }),
      201,
    );
    await fake.idle();
    await worker.drain();
    const before = await sourceRow(created.id);

    // One page: a NUL in one iCalUID, a number as another, and the real move.
    fake.insertEvent(calendarId, {
      iCalUID: "bad\u0000uid@example.com",
      start: { dateTime: "2026-12-02T10:00:00Z" },
      end: { dateTime: "2026-12-02T11:00:00Z" },
    });
    fake.insertEvent(calendarId, { iCalUID: 12345 as never, start: { dateTime: "2026-12-03T10:00:00Z" }, end: { dateTime: "2026-12-03T11:00:00Z" } });
    fake.patchEvent(calendarId, String(copy.id), { start: { dateTime: "2026-12-04T16:00:00Z" }, end: { dateTime: "2026-12-04T16:50:00Z" } });
    await fake.idle();
    await worker.drain();

    expect(await getSession(session.id)).toMatchObject({ start: "2026-12-04T16:00:00.000Z", status: "scheduled" });
    const after = await sourceRow(created.id);
    expect(after.syncToken).not.toBe(before.syncToken);
    expect(after).toMatchObject({ status: "active", lastErrorCode: expect.stringMatching(/^event_/) });
    const pulls = (await deliveriesOf(created.id)).filter((d) => d.deliveryKey !== "initial-sync");
    expect(pulls.every((d) => d.state === "done")).toBe(true);
    const setAside = pulls.flatMap((d) => d.setAside ?? []);
    expect(setAside.map((s) => s.reason).sort()).toEqual(["event_uid_invalid", "event_unreadable"]);
    expect(JSON.stringify(setAside)).not.toContain("\u0000");
    // The source view shows why.
    const listed = (await expectStatus(await t.request("GET", `/api/v1/providers/${provider.id}/calendar-sources`), 200)).items[0];
    expect(listed).toMatchObject({ status: "active", lastErrorCode: expect.stringMatching(/^event_/) });
    // Nothing more is pending: no retry loop.
    await worker.drain();
    expect((await deliveriesOf(created.id)).filter((d) => d.state === "pending")).toHaveLength(0);
  });
});

describe("moves between watched calendars", () => {
  async function twoCalendars() {
    const { provider, client } = await providerWithClient(t);
    const session = await createSession(t, provider.id, client.id, { start: "2026-12-01T15:00:00Z" });
    const work = await createIcsWebhookSource(t, provider.id);
    const personal = await createIcsWebhookSource(t, provider.id);
    await expectStatus(await postIcs(t, work.id, work.signingSecret, calendar(event(session.uid, session.start))), 202);
    await worker.drain();
    return { provider, session, work, personal };
  }

  it("deleted in one calendar and present in the other in the same cycle: the session stays", async () => {
    const { session, work, personal } = await twoCalendars();
    await expectStatus(
      await postIcs(t, work.id, work.signingSecret, calendar(event(session.uid, session.start, { STATUS: "CANCELLED", SEQUENCE: 1 }))),
      202,
    );
    await worker.drain();
    expect((await getSession(session.id)).status).toBe("scheduled"); // held: the other calendar has not had its pass
    await expectStatus(await postIcs(t, personal.id, personal.signingSecret, calendar(event(session.uid, session.start, { SEQUENCE: 1 }))), 202);
    await worker.drain();
    expect((await getSession(session.id)).status).toBe("scheduled");
    clock.advance(20 * MINUTE);
    await worker.drain();
    expect((await getSession(session.id)).status).toBe("scheduled");
    const audits = await db.query.auditEvents.findMany({
      where: (a, { and, eq }) => and(eq(a.subjectId, session.id), eq(a.action, "session.moved_between_calendars")),
    });
    expect(audits).toHaveLength(1);
  });

  it("the other calendar had its pass without the event: the cancellation applies", async () => {
    const { session, work, personal } = await twoCalendars();
    await expectStatus(
      await postIcs(t, work.id, work.signingSecret, calendar(event(session.uid, session.start, { STATUS: "CANCELLED", SEQUENCE: 1 }))),
      202,
    );
    await worker.drain();
    clock.advance(1000);
    await expectStatus(await postIcs(t, personal.id, personal.signingSecret, calendar(event(`other-${randomUUID()}`, "2026-12-02T15:00:00Z"))), 202);
    await worker.drain();
    expect((await getSession(session.id)).status).toBe("cancelled");
  });

  it("a held cancellation is decided after the hold runs out when the other calendar stays silent", async () => {
    const { session, work } = await twoCalendars();
    await expectStatus(
      await postIcs(t, work.id, work.signingSecret, calendar(event(session.uid, session.start, { STATUS: "CANCELLED", SEQUENCE: 1 }))),
      202,
    );
    await worker.drain();
    expect((await getSession(session.id)).status).toBe("scheduled");
    clock.advance(16 * MINUTE);
    await worker.drain();
    expect((await getSession(session.id)).status).toBe("cancelled");
    const [row] = await db.select().from(externalEvents).where(eq(externalEvents.sourceId, work.id));
    expect(row!.cancellationHeldAt).toBeNull();
  });
});

describe("an event that reappears after its session was cancelled", () => {
  it("becomes an open item; the session stays cancelled", async () => {
    const { provider, client } = await providerWithClient(t);
    const session = await createSession(t, provider.id, client.id, { start: "2026-12-01T15:00:00Z" });
    const source = await createIcsWebhookSource(t, provider.id);
    await expectStatus(
      await postIcs(t, source.id, source.signingSecret, calendar(event(session.uid, session.start, { STATUS: "CANCELLED", SEQUENCE: 1 }))),
      202,
    );
    await worker.drain();
    expect((await getSession(session.id)).status).toBe("cancelled");
    expect((await items(provider.id)).filter((i) => i.kind === "external_event_after_cancellation")).toHaveLength(0);
    clock.advance(DAY);
    await expectStatus(
      await postIcs(
        t,
        source.id,
        source.signingSecret,
        calendar(event(session.uid, session.start, { SEQUENCE: 2, "LAST-MODIFIED": icsUtc(clock.now().toISOString()) })),
      ),
      202,
    );
    await worker.drain();
    expect((await getSession(session.id)).status).toBe("cancelled");
    expect(await items(provider.id)).toEqual(
      expect.arrayContaining([expect.objectContaining({ kind: "external_event_after_cancellation", sessionId: session.id })]),
    );
  });
});

describe("limits and fairness", () => {
  it("sources per provider are capped: 409 source_limit_reached, free again after a delete", async () => {
    const { provider } = await providerWithClient(t);
    const made = [];
    for (let i = 0; i < 3; i++) made.push(await createIcsWebhookSource(t, provider.id));
    const res = await t.request("POST", `/api/v1/providers/${provider.id}/calendar-sources`, { body: { kind: "ics_webhook" } });
    expect((await expectStatus(res, 409)).code).toBe("source_limit_reached");
    expect(res.headers.get("content-type")).toMatch(/problem\+json/);
    await expectStatus(await t.request("DELETE", `/api/v1/providers/${provider.id}/calendar-sources/${made[0]!.id}`), 204);
    await createIcsWebhookSource(t, provider.id);
  });

  it("one delivery per source in hand; a provider with a backlog does not hold back another provider", async () => {
    await worker.drain();
    const busy = await providerWithClient(t);
    const quiet = await providerWithClient(t);
    const busySources = [await createIcsWebhookSource(t, busy.provider.id), await createIcsWebhookSource(t, busy.provider.id)];
    const quietSource = await createIcsWebhookSource(t, quiet.provider.id);
    const at = clock.now();
    for (const s of busySources) {
      for (let i = 0; i < 3; i++)
        await recordIcsDelivery(db, { providerId: busy.provider.id, sourceId: s.id, deliveryKey: `k${i}`, at }, calendar(), async () => {});
    }
    const later = new Date(at.getTime() + 1);
    await recordIcsDelivery(db, { providerId: quiet.provider.id, sourceId: quietSource.id, deliveryKey: "k", at: later }, calendar(), async () => {});
    clock.advance(1000);

    // Claims held (as by several workers at once): never two of one source.
    const held = [];
    for (;;) {
      const d = await claimDelivery(db, clock.now(), 60_000);
      if (!d) break;
      held.push(d);
    }
    expect(held.map((d) => d.sourceId).sort()).toEqual([...busySources.map((s) => s.id), quietSource.id].sort());
    // The leases lapse; a fresh worker serves the quiet provider within its first two deliveries.
    clock.advance(61_000);
    const fresh = new IngestWorker(t.services);
    await fresh.runOnce();
    await fresh.runOnce();
    expect((await deliveriesOf(quietSource.id))[0]!.state).toBe("done");
    await fresh.drain();
    for (const s of busySources) expect((await deliveriesOf(s.id)).every((d) => d.state === "done")).toBe(true);
  });
});
