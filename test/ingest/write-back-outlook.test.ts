// Write-back into Outlook against the local OAuth and Microsoft Graph fakes: the connect flow with
// Calendars.ReadWrite, the outbox delivered by the real worker, a lost answer and 429s replayed
// (the session id as transactionId and extended property), our own writes coming back as change
// notifications, a therapist's move, privacy and logs, drift repair, and turning it off.
import { randomUUID } from "node:crypto";
import { and, eq } from "drizzle-orm";
import { afterAll, afterEach, describe, expect, it } from "vitest";
import { calendarMirrors, calendarSources, mirrorOutbox } from "../../src/db/schema.js";
import { GRAPH_SESSION_ID_PROPERTY, GRAPH_SESSION_UID_PROPERTY } from "../../src/ingest/mirror-microsoft.js";
import { MIRROR_CALENDAR_NAME } from "../../src/services/calendar-mirrors.js";
import { expectStatus } from "../helpers/app.js";
import { DAY, fixedClock, HOUR, MINUTE } from "../helpers/clock.js";
import { createProviderKey, createSession, providerWithClient, setLink, ZOOM_LINK } from "../helpers/factories.js";
import { consent, finish } from "../helpers/oauth-flow.js";
import { writeBackWorld } from "../helpers/write-back.js";
import { webClient } from "../web/web-client.js";

const START = "2026-11-26T12:00:00Z";
const clock = fixedClock(START);
const { t, auth: msAuth, fake: graph, apiBaseUrl: graphBase, ingest, mirrorWorker, db, settle, stop } = await writeBackWorld("microsoft", clock);
afterAll(stop);

const plus = (iso: string, ms: number) => new Date(Date.parse(iso) + ms).toISOString();

// One Graph user serves every test, and Outlook refuses a second calendar of the same name: each
// test turns its mirror off afterwards (which is also the path that removes our calendar).
const turnOff: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const off of turnOff.splice(0)) await off();
  await settle();
});

async function world(clientName = `Client ${randomUUID().slice(0, 8)}`) {
  const { provider, client } = await providerWithClient(t, { timezone: "America/New_York" }, { displayName: clientName });
  await setLink(t, provider.id);
  const key = await createProviderKey(t, provider.id);
  const web = webClient(t);
  await web.signIn(key);
  const { callback, authorizationUrl } = await consent(t, web, "microsoft", { writeBack: "on" });
  const { res } = await finish(web, callback);
  expect(res.status).toBe(303);
  const connectionId = res.headers.get("location")!.split("/").at(-1)!;
  const mirrorPath = `/api/v1/providers/${provider.id}/calendar-connections/${connectionId}/mirror`;
  turnOff.push(() => t.request("DELETE", mirrorPath, { token: key }));
  return { provider, client, key, web, connectionId, mirrorPath, authorizationUrl, clientName };
}
type World = Awaited<ReturnType<typeof world>>;

async function enable(w: World, body: Record<string, unknown> = {}) {
  const mirror = await expectStatus<{ id: string }>(await t.request("PUT", w.mirrorPath, { body, token: w.key }), 201);
  const [row] = await db.select().from(calendarMirrors).where(eq(calendarMirrors.id, mirror.id));
  return { mirrorId: mirror.id, calendarId: row!.remoteCalendarId! };
}

type GraphEvent = Record<string, unknown> & { id: string; start: { dateTime: string; timeZone: string }; end: { dateTime: string } };
const propOf = (ev: Record<string, unknown>, id: string) =>
  (ev.singleValueExtendedProperties as { id: string; value: string }[]).find((p) => p.id === id)?.value;
const eventsOf = (calendarId: string) => graph.liveEvents(calendarId) as GraphEvent[];
const eventOf = (calendarId: string, sessionId: string) => eventsOf(calendarId).find((e) => propOf(e, GRAPH_SESSION_ID_PROPERTY) === sessionId);
/** dateTimeTimeZone in UTC -> epoch ms. */
const startMs = (ev: GraphEvent) => Date.parse(`${ev.start.dateTime.slice(0, 23)}Z`);
const sessionOf = async (id: string) =>
  expectStatus<{ start: string; end: string; sequence: number; status: string }>(await t.request("GET", `/api/v1/sessions/${id}`), 200);

describe("write-back to Outlook (Microsoft Graph)", () => {
  it("asks for Calendars.ReadWrite only on opt-in; a created, rescheduled and cancelled session reaches our calendar there", async () => {
    const w = await world();
    expect(new URL(w.authorizationUrl).searchParams.get("scope")!.split(" ")).toContain("Calendars.ReadWrite");
    const page = await (await w.web.get("/settings/connections")).text();
    expect(page).toContain("Put my sessions in Outlook (connect with write access)");
    expect(page).toContain(`data-mirror-connection="${w.connectionId}" data-mirrored="no"`);
    expect(page).toContain("Put my sessions in this calendar");
    const { mirrorId, calendarId } = await enable(w);
    expect(graph.hasCalendar(calendarId)).toBe(true);
    expect((await expectStatus<{ id: string }>(await t.request("PUT", w.mirrorPath, { body: {}, token: w.key }), 200)).id).toBe(mirrorId);
    const watched = await db.select().from(calendarSources).where(eq(calendarSources.providerId, w.provider.id));
    expect(watched.map((s) => s.settings.calendarId)).toEqual([calendarId]);
    expect(graph.subscriptions.map((s) => s.resource)).toContain(`me/calendars/${calendarId}/events`);

    const session = await createSession(t, w.provider.id, w.client.id, { start: plus(START, 2 * DAY) });
    await settle();
    let ev = eventOf(calendarId, session.id)!;
    expect(ev, "created").toBeDefined();
    expect(startMs(ev)).toBe(Date.parse(session.start));
    expect(ev.start.timeZone).toBe("UTC");
    expect(ev.transactionId).toBe(session.id);
    expect(propOf(ev, GRAPH_SESSION_UID_PROPERTY)).toBe(session.uid);

    const moved = plus(START, 3 * DAY);
    await expectStatus(await t.request("PATCH", `/api/v1/sessions/${session.id}`, { body: { start: moved }, token: w.key }), 200);
    await settle();
    ev = eventOf(calendarId, session.id)!;
    expect(startMs(ev)).toBe(Date.parse(moved));
    expect(eventsOf(calendarId)).toHaveLength(1);

    await expectStatus(await t.request("POST", `/api/v1/sessions/${session.id}/cancel`, { token: w.key }), 200);
    await settle();
    expect(eventsOf(calendarId)).toHaveLength(0);
    const view = await expectStatus<{ lastPushAt: string | null; pending: number; stuck: number; status: string }>(
      await t.request("GET", w.mirrorPath, { token: w.key }),
      200,
    );
    expect(view).toMatchObject({ status: "active", pending: 0, stuck: 0 });
    expect(view.lastPushAt).not.toBeNull();
  });

  it("a lost answer after the platform's write, then 429s, leave exactly one event per session with the latest content", async () => {
    const w = await world();
    const { calendarId } = await enable(w);
    const session = await createSession(t, w.provider.id, w.client.id, { start: plus(START, 4 * DAY) });
    const writesBefore = graph.writes;
    graph.cutAfterNextWrite();
    await mirrorWorker.drain();
    expect(graph.writes).toBe(writesBefore + 1); // the event exists in Outlook; we never heard back
    const [row] = await db.select().from(mirrorOutbox).where(eq(mirrorOutbox.sessionId, session.id));
    expect(row).toMatchObject({ state: "pending", attempts: 1 });

    const moved = plus(START, 5 * DAY);
    await expectStatus(await t.request("PATCH", `/api/v1/sessions/${session.id}`, { body: { start: moved }, token: w.key }), 200);
    // Outlook throttling (429 with Retry-After), then a 503.
    graph.failNext({
      match: "write",
      status: 429,
      code: "ApplicationThrottled",
      message: "Application is over its MailboxConcurrency limit.",
      retryAfterSeconds: 120,
    });
    graph.failNext({ match: "write", status: 503, code: "ServiceUnavailable" });
    await mirrorWorker.drain();
    expect(await mirrorWorker.drain(), "not before Retry-After").toBe(0);
    clock.advance(121_000);
    await mirrorWorker.drain();
    clock.advance(10 * MINUTE);
    await settle();
    const mine = eventsOf(calendarId);
    expect(mine).toHaveLength(1);
    expect(startMs(mine[0]!)).toBe(Date.parse(moved));
    const [done] = await db.select().from(mirrorOutbox).where(eq(mirrorOutbox.sessionId, session.id));
    expect(done!.state).toBe("done");
  });

  it("a create retried with the same transactionId gets the first event, brought up to date", async () => {
    const w = await world();
    const { calendarId } = await enable(w);
    const session = await createSession(t, w.provider.id, w.client.id, { start: plus(START, 14 * DAY) });
    // The first attempt's POST reached Outlook before our property was readable by $filter (here:
    // an event with the transactionId and without the property), so the lookup finds nothing.
    const token = msAuth.issuedSecrets().filter(msAuth.isValidAccessToken).at(-1)!;
    const res = await fetch(`${graphBase}/me/calendars/${encodeURIComponent(calendarId)}/events`, {
      method: "POST",
      headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
      body: JSON.stringify({
        subject: "stale",
        start: { dateTime: "2026-12-01T09:00:00", timeZone: "UTC" },
        end: { dateTime: "2026-12-01T10:00:00", timeZone: "UTC" },
        transactionId: session.id,
      }),
    });
    expect(res.status).toBe(201);
    const first = (await res.json()) as { id: string };
    await settle();
    const mine = eventsOf(calendarId);
    expect(mine.map((e) => e.id)).toEqual([first.id]);
    expect(startMs(mine[0]!)).toBe(Date.parse(session.start));
    expect(mine[0]!.subject).toBe("Telehealth session");
  });

  it("our own writes coming back as change notifications change nothing; the therapist's move of an unconfirmed session reschedules it", async () => {
    const w = await world();
    const { calendarId } = await enable(w);
    const session = await createSession(t, w.provider.id, w.client.id, { start: plus(START, 6 * DAY) });
    await settle();
    const before = await sessionOf(session.id);
    const notified = graph.deliveries.length;
    await expectStatus(await t.request("PATCH", `/api/v1/sessions/${session.id}`, { body: { durationMinutes: 45 }, token: w.key }), 200);
    await settle();
    expect(graph.deliveries.length).toBeGreaterThan(notified);
    const after = await sessionOf(session.id);
    expect(after.sequence).toBe(before.sequence + 1); // our PATCH only, nothing from the echoes
    expect(after.start).toBe(before.start);
    const pending = await db
      .select()
      .from(mirrorOutbox)
      .where(and(eq(mirrorOutbox.sessionId, session.id), eq(mirrorOutbox.state, "pending")));
    expect(pending).toHaveLength(0);

    // Our write of the old time comes back after the session moved on: not the therapist's move.
    const racing = await createSession(t, w.provider.id, w.client.id, { start: plus(START, 20 * DAY) });
    await mirrorWorker.drain();
    await graph.idle();
    const later = plus(START, 21 * DAY);
    await expectStatus(await t.request("PATCH", `/api/v1/sessions/${racing.id}`, { body: { start: later }, token: w.key }), 200);
    await ingest.drain();
    expect((await sessionOf(racing.id)).start).toBe(later);
    await settle();
    expect((await sessionOf(racing.id)).start).toBe(later);
    expect(startMs(eventOf(calendarId, racing.id)!)).toBe(Date.parse(later));

    // The therapist drags the event in Outlook.
    const newStart = plus(START, 7 * DAY + 2 * HOUR);
    graph.patchEvent(eventOf(calendarId, session.id)!.id, { start: newStart, end: plus(newStart, 45 * MINUTE) });
    await settle();
    const moved = await sessionOf(session.id);
    expect(moved.start).toBe(newStart);
    expect(eventsOf(calendarId)).toHaveLength(2);
    const seq = moved.sequence;
    await settle();
    expect((await sessionOf(session.id)).sequence).toBe(seq);
  });

  it("a minimal-level mirror carries no client name, email or attendee; the logs hold no event content", async () => {
    const name = `Zelda Quixote-${randomUUID().slice(0, 6)}`;
    const w = await world(name);
    const { calendarId } = await enable(w, { privacy: "minimal" });
    const session = await createSession(t, w.provider.id, w.client.id, { start: plus(START, 8 * DAY) });
    graph.failNext({ match: "write", status: 503, code: "ServiceUnavailable" });
    await settle();
    clock.advance(5 * MINUTE);
    await settle();
    const ev = eventOf(calendarId, session.id)!;
    expect(ev.subject).toBe("Telehealth session");
    const text = JSON.stringify(ev);
    expect(text).not.toContain(name);
    expect(text).not.toContain("Zelda");
    expect(ev.attendees).toEqual([]);
    for (const field of [ev.subject, (ev.body as { content: string }).content, (ev.location as { displayName: string }).displayName])
      expect(String(field)).not.toContain("@");
    const logs = t.logs.text();
    expect(logs).toContain("mirror write failed"); // the 503 was logged, by code only
    for (const secret of [name, "Telehealth session", ZOOM_LINK, session.uid]) expect(logs).not.toContain(secret);
  });

  it("drift: an event or the whole calendar deleted in Outlook is re-created on the next repair pass", async () => {
    const w = await world();
    const { mirrorId, calendarId } = await enable(w);
    const a = await createSession(t, w.provider.id, w.client.id, { start: plus(START, 9 * DAY) });
    const b = await createSession(t, w.provider.id, w.client.id, { start: plus(START, 10 * DAY) });
    await settle();
    expect(eventsOf(calendarId)).toHaveLength(2);

    graph.autoNotify = false; // the next pass finds it, not a notification
    graph.deleteEvent(eventOf(calendarId, a.id)!.id);
    expect(await mirrorWorker.repair(mirrorId)).toBe(1);
    await settle();
    expect(
      eventsOf(calendarId)
        .map((e) => propOf(e, GRAPH_SESSION_ID_PROPERTY))
        .sort(),
    ).toEqual([a.id, b.id].sort());
    expect((await sessionOf(a.id)).status).toBe("scheduled");

    graph.removeCalendar(calendarId);
    expect(await mirrorWorker.repair(mirrorId)).toBe(2);
    await settle();
    graph.autoNotify = true;
    const [m] = await db.select().from(calendarMirrors).where(eq(calendarMirrors.id, mirrorId));
    expect(m!.remoteCalendarId).not.toBe(calendarId);
    expect(eventsOf(m!.remoteCalendarId!)).toHaveLength(2);
  });

  it("turning it off removes the calendar we created; a calendar of ours left behind is taken over on the next opt-in", async () => {
    const w = await world();
    const { calendarId } = await enable(w);
    await createSession(t, w.provider.id, w.client.id, { start: plus(START, 11 * DAY) });
    const res = await t.request("DELETE", w.mirrorPath, { token: w.key });
    expect(res.status, await res.clone().text()).toBe(204);
    expect(graph.hasCalendar(calendarId)).toBe(false);
    expect(await db.select().from(mirrorOutbox).where(eq(mirrorOutbox.providerId, w.provider.id))).toHaveLength(0);

    // A removal the grant no longer allowed leaves ours there: Outlook refuses a second calendar of
    // that name (409 ErrorFolderExists), and turning it on again uses the one that is there.
    const leftover = graph.addCalendar(MIRROR_CALENDAR_NAME);
    const again = await enable(w);
    expect(again.calendarId).toBe(leftover);
  });
});
