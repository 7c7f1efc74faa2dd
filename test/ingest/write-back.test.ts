// Write-back ("Put my sessions in this calendar") against the local OAuth and Google Calendar fakes:
// the connect flow with the write scope, the outbox delivered by the real worker, a lost answer and
// 429s replayed, our own writes coming back as push notifications, a therapist's move, privacy and
// logs, drift repair, and turning it off.
import { randomUUID } from "node:crypto";
import { and, eq } from "drizzle-orm";
import { afterAll, describe, expect, it } from "vitest";
import { calendarMirrors, calendarSources, mirrorOutbox } from "../../src/db/schema.js";
import { googleEventIdFor } from "../../src/ingest/mirror-google.js";
import { expectStatus } from "../helpers/app.js";
import { DAY, fixedClock, HOUR, MINUTE } from "../helpers/clock.js";
import { createProviderKey, createSession, providerWithClient, setLink, ZOOM_LINK } from "../helpers/factories.js";
import { consent, finish } from "../helpers/oauth-flow.js";
import { writeBackWorld } from "../helpers/write-back.js";
import { webClient } from "../web/web-client.js";

const START = "2026-11-26T12:00:00Z";
const clock = fixedClock(START);
const WRITE_SCOPE = "https://www.googleapis.com/auth/calendar.app.created";

const { t, auth: googleAuth, fake: google, ingest, mirrorWorker, db, settle, stop } = await writeBackWorld("google", clock);
afterAll(stop);

const plus = (iso: string, ms: number) => new Date(Date.parse(iso) + ms).toISOString();

async function world(clientName = `Client ${randomUUID().slice(0, 8)}`) {
  const { provider, client } = await providerWithClient(t, { timezone: "America/New_York" }, { displayName: clientName });
  await setLink(t, provider.id);
  const key = await createProviderKey(t, provider.id);
  const web = webClient(t);
  await web.signIn(key);
  const { callback, authorizationUrl } = await consent(t, web, "google", { writeBack: "on" });
  const { res } = await finish(web, callback);
  expect(res.status).toBe(303);
  const connectionId = res.headers.get("location")!.split("/").at(-1)!;
  const mirrorPath = `/api/v1/providers/${provider.id}/calendar-connections/${connectionId}/mirror`;
  return { provider, client, key, web, connectionId, mirrorPath, authorizationUrl, clientName };
}

async function enable(w: Awaited<ReturnType<typeof world>>, body: Record<string, unknown> = {}) {
  const mirror = await expectStatus<{ id: string }>(await t.request("PUT", w.mirrorPath, { body, token: w.key }), 201);
  const [row] = await db.select().from(calendarMirrors).where(eq(calendarMirrors.id, mirror.id));
  return { mirrorId: mirror.id, calendarId: row!.remoteCalendarId! };
}

const eventOf = (calendarId: string, sessionId: string) => google.liveEvents(calendarId).find((e) => e.id === googleEventIdFor(sessionId));
const sessionOf = async (id: string) =>
  expectStatus<{ start: string; end: string; sequence: number; status: string }>(await t.request("GET", `/api/v1/sessions/${id}`), 200);

describe("write-back to Google Calendar", () => {
  it("asks for the app-created-calendars scope only on opt-in; a created, rescheduled and cancelled session reaches our calendar there", async () => {
    const w = await world();
    expect(new URL(w.authorizationUrl).searchParams.get("scope")).toContain(WRITE_SCOPE);
    expect(new URL(w.authorizationUrl).searchParams.get("include_granted_scopes")).toBe("true");
    const { mirrorId, calendarId } = await enable(w);
    expect(google.hasCalendar(calendarId)).toBe(true);
    // Enabling again answers the same mirror; our calendar is watched like a picked one.
    expect((await expectStatus<{ id: string }>(await t.request("PUT", w.mirrorPath, { body: {}, token: w.key }), 200)).id).toBe(mirrorId);
    const watched = await db.select().from(calendarSources).where(eq(calendarSources.providerId, w.provider.id));
    expect(watched.map((s) => s.settings.calendarId)).toEqual([calendarId]);

    const session = await createSession(t, w.provider.id, w.client.id, { start: plus(START, 2 * DAY) });
    await settle();
    let ev = eventOf(calendarId, session.id)!;
    expect(ev, "created").toBeDefined();
    expect(Date.parse((ev.start as { dateTime: string }).dateTime)).toBe(Date.parse(session.start));
    expect(ev.start).toMatchObject({ timeZone: "America/New_York" });
    expect(ev.extendedProperties).toEqual({ private: { telehealthSessionId: session.id, telehealthSessionUid: session.uid } });

    const moved = plus(START, 3 * DAY);
    await expectStatus(await t.request("PATCH", `/api/v1/sessions/${session.id}`, { body: { start: moved }, token: w.key }), 200);
    await settle();
    ev = eventOf(calendarId, session.id)!;
    expect(Date.parse((ev.start as { dateTime: string }).dateTime)).toBe(Date.parse(moved));
    expect(google.liveEvents(calendarId)).toHaveLength(1);

    await expectStatus(await t.request("POST", `/api/v1/sessions/${session.id}/cancel`, { token: w.key }), 200);
    await settle();
    expect(google.liveEvents(calendarId)).toHaveLength(0);
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
    const writesBefore = google.writes;
    google.cutAfterNextWrite();
    await mirrorWorker.drain();
    expect(google.writes).toBe(writesBefore + 1); // the event exists at Google; we never heard back
    const [row] = await db.select().from(mirrorOutbox).where(eq(mirrorOutbox.sessionId, session.id));
    expect(row).toMatchObject({ state: "pending", attempts: 1 });

    // A reschedule meanwhile, and two rate-limit answers (one with Retry-After).
    const moved = plus(START, 5 * DAY);
    await expectStatus(await t.request("PATCH", `/api/v1/sessions/${session.id}`, { body: { start: moved }, token: w.key }), 200);
    google.failNext({ match: "write", status: 429, reason: "rateLimitExceeded", retryAfterSeconds: 120 });
    google.failNext({ match: "write", status: 403, reason: "rateLimitExceeded" });
    await mirrorWorker.drain();
    expect(await mirrorWorker.drain(), "not before Retry-After").toBe(0);
    clock.advance(121_000);
    await mirrorWorker.drain();
    clock.advance(10 * MINUTE);
    await settle();
    const mine = google.liveEvents(calendarId);
    expect(mine).toHaveLength(1);
    expect(Date.parse((mine[0]!.start as { dateTime: string }).dateTime)).toBe(Date.parse(moved));
    const [done] = await db.select().from(mirrorOutbox).where(eq(mirrorOutbox.sessionId, session.id));
    expect(done!.state).toBe("done");
  });

  it("our own writes coming back as push notifications change nothing; the therapist's move of an unconfirmed session reschedules it", async () => {
    const w = await world();
    const { calendarId } = await enable(w);
    const session = await createSession(t, w.provider.id, w.client.id, { start: plus(START, 6 * DAY) });
    await settle();
    const before = await sessionOf(session.id);
    const notified = google.deliveries.length;
    // A second change, so more of our writes come back.
    await expectStatus(await t.request("PATCH", `/api/v1/sessions/${session.id}`, { body: { durationMinutes: 45 }, token: w.key }), 200);
    await settle();
    expect(google.deliveries.length).toBeGreaterThan(notified);
    const after = await sessionOf(session.id);
    expect(after.sequence).toBe(before.sequence + 1); // our PATCH only, nothing from the echoes
    expect(after.start).toBe(before.start);
    const pending = await db
      .select()
      .from(mirrorOutbox)
      .where(and(eq(mirrorOutbox.sessionId, session.id), eq(mirrorOutbox.state, "pending")));
    expect(pending).toHaveLength(0);

    // The race echoes are dangerous in: our write of the old time comes back after the session moved
    // on (its new time still in the outbox). Read as the therapist's, it would move the session back.
    const racing = await createSession(t, w.provider.id, w.client.id, { start: plus(START, 20 * DAY) });
    await mirrorWorker.drain();
    await google.idle(); // the notification of our write is in; ingestion has not pulled it yet
    const later = plus(START, 21 * DAY);
    await expectStatus(await t.request("PATCH", `/api/v1/sessions/${racing.id}`, { body: { start: later }, token: w.key }), 200);
    await ingest.drain();
    expect((await sessionOf(racing.id)).start).toBe(later);
    await settle();
    expect((await sessionOf(racing.id)).start).toBe(later);
    expect(Date.parse((eventOf(calendarId, racing.id)!.start as { dateTime: string }).dateTime)).toBe(Date.parse(later));

    // The therapist drags the event in Google Calendar.
    const newStart = plus(START, 7 * DAY + 2 * HOUR);
    google.patchEvent(calendarId, googleEventIdFor(session.id), { start: { dateTime: newStart }, end: { dateTime: plus(newStart, 45 * MINUTE) } });
    await settle();
    const moved = await sessionOf(session.id);
    expect(moved.start).toBe(newStart);
    expect(google.liveEvents(calendarId)).toHaveLength(2);
    // And it settles: nothing more to write, nothing more to apply.
    const seq = moved.sequence;
    await settle();
    expect((await sessionOf(session.id)).sequence).toBe(seq);
  });

  it("a minimal-level mirror carries no client name, email or attendee; the logs hold no event content", async () => {
    const name = `Zelda Quixote-${randomUUID().slice(0, 6)}`;
    const w = await world(name);
    const { calendarId } = await enable(w, { privacy: "minimal" });
    const session = await createSession(t, w.provider.id, w.client.id, { start: plus(START, 8 * DAY) });
    google.failNext({ match: "write", status: 503, reason: "backendError" });
    await settle();
    clock.advance(5 * MINUTE);
    await settle();
    const ev = eventOf(calendarId, session.id)!;
    expect(ev.summary).toBe("Telehealth session");
    const text = JSON.stringify(ev);
    expect(text).not.toContain(name);
    expect(text).not.toContain("Zelda");
    // What the event shows: no address of anyone, no attendee, no organizer but the calendar's owner.
    for (const field of ["summary", "description", "location"]) expect(String(ev[field] ?? "")).not.toContain("@");
    expect(ev).not.toHaveProperty("attendees");
    const logs = t.logs.text();
    expect(logs).toContain("mirror write failed"); // the 503 was logged, by code only
    for (const secret of [name, "Telehealth session", ZOOM_LINK, session.uid]) expect(logs).not.toContain(secret);
  });

  it("drift: an event or the whole calendar deleted in Google is re-created on the next repair pass", async () => {
    const w = await world();
    const { mirrorId, calendarId } = await enable(w);
    const a = await createSession(t, w.provider.id, w.client.id, { start: plus(START, 9 * DAY) });
    const b = await createSession(t, w.provider.id, w.client.id, { start: plus(START, 10 * DAY) });
    await settle();
    expect(google.liveEvents(calendarId)).toHaveLength(2);

    google.autoNotify = false; // the next pass finds it, not a notification
    google.deleteEvent(calendarId, googleEventIdFor(a.id));
    expect(await mirrorWorker.repair(mirrorId)).toBe(1);
    await settle();
    expect(
      google
        .liveEvents(calendarId)
        .map((e) => e.id)
        .sort(),
    ).toEqual([googleEventIdFor(a.id), googleEventIdFor(b.id)].sort());
    expect((await sessionOf(a.id)).status).toBe("scheduled");

    google.removeCalendar(calendarId);
    expect(await mirrorWorker.repair(mirrorId)).toBe(2);
    await settle();
    google.autoNotify = true;
    const [m] = await db.select().from(calendarMirrors).where(eq(calendarMirrors.id, mirrorId));
    expect(m!.remoteCalendarId).not.toBe(calendarId);
    expect(google.liveEvents(m!.remoteCalendarId!)).toHaveLength(2);
  });

  it("turning it off removes the calendar we created and stops the outbox; without the write scope it asks for consent", async () => {
    const w = await world();
    const { calendarId } = await enable(w);
    await createSession(t, w.provider.id, w.client.id, { start: plus(START, 11 * DAY) });
    const res = await t.request("DELETE", w.mirrorPath, { token: w.key });
    expect(res.status, await res.clone().text()).toBe(204);
    expect(google.hasCalendar(calendarId)).toBe(false);
    expect(await db.select().from(mirrorOutbox).where(eq(mirrorOutbox.providerId, w.provider.id))).toHaveLength(0);
    expect((await t.request("GET", w.mirrorPath, { token: w.key })).status).toBe(404);

    // A connection made without write-back cannot be mirrored until it is reconnected with it.
    const { provider } = await providerWithClient(t);
    const key = await createProviderKey(t, provider.id);
    const web = webClient(t);
    await web.signIn(key);
    const { callback } = await consent(t, web, "google");
    const { res: done } = await finish(web, callback);
    const connectionId = done.headers.get("location")!.split("/").at(-1)!;
    const refused = await t.request("PUT", `/api/v1/providers/${provider.id}/calendar-connections/${connectionId}/mirror`, { body: {}, token: key });
    expect((await expectStatus<{ code: string }>(refused, 409)).code).toBe("consent_required");
  });

  it("the settings page turns it on and shows, per account, that sessions are mirrored, the last push and anything stuck", async () => {
    const w = await world();
    const page = await w.web.get("/settings/connections");
    let html = await page.text();
    expect(page.status, html).toBe(200);
    expect(html).toContain(`data-mirror-connection="${w.connectionId}" data-mirrored="no"`);
    const on = await w.web.submit("/settings/connections", `/settings/connections/${w.connectionId}/mirror`, {});
    expect(on.status, await on.clone().text()).toBe(303);
    const session = await createSession(t, w.provider.id, w.client.id, { start: plus(START, 13 * DAY) });
    await settle();
    google.failNext({ match: "write", status: 500, reason: "backendError" });
    google.failNext({ match: "write", status: 500, reason: "backendError" });
    google.failNext({ match: "write", status: 500, reason: "backendError" });
    await expectStatus(await t.request("PATCH", `/api/v1/sessions/${session.id}`, { body: { durationMinutes: 30 }, token: w.key }), 200);
    for (let i = 0; i < 3; i++) {
      await mirrorWorker.drain();
      clock.advance(MINUTE);
    }
    const shown = await w.web.get("/settings/connections");
    html = await shown.text();
    expect(shown.status, html).toBe(200);
    expect(html).toContain(`data-mirror-connection="${w.connectionId}" data-mirrored="yes"`);
    expect(html).toContain("Last push");
    expect(html).toContain('data-stuck="1"');
    await settle();
    html = await (await w.web.get("/settings/connections")).text();
    expect(html).not.toContain("data-stuck");
  });

  it("a revoked grant pauses the mirror with needs_reconnect; nothing is lost", async () => {
    const w = await world();
    await enable(w);
    googleAuth.revokeAll();
    googleAuth.expireAccessTokens();
    const session = await createSession(t, w.provider.id, w.client.id, { start: plus(START, 12 * DAY) });
    await mirrorWorker.drain();
    const view = await expectStatus<{ status: string; pending: number }>(await t.request("GET", w.mirrorPath, { token: w.key }), 200);
    expect(view).toMatchObject({ status: "needs_reconnect" });
    expect(view.pending).toBeGreaterThan(0);
    const [row] = await db.select().from(mirrorOutbox).where(eq(mirrorOutbox.sessionId, session.id));
    expect(row).toMatchObject({ state: "pending", attempts: 0 });
    // Still paused later: the row waits rather than failing.
    clock.advance(HOUR);
    await mirrorWorker.drain();
    const [later] = await db.select().from(mirrorOutbox).where(eq(mirrorOutbox.sessionId, session.id));
    expect(later).toMatchObject({ state: "pending", attempts: 0 });
  });
});
