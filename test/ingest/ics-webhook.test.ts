import { eq } from "drizzle-orm";
import { describe, expect, it } from "vitest";
import { deliveries, deliveryPayloadParts } from "../../src/db/schema.js";
import { IngestWorker } from "../../src/ingest/worker.js";
import { loadDeliveryIcs, PAYLOAD_PART_CHARS } from "../../src/services/inbox.js";
import { expectStatus, makeTestApp } from "../helpers/app.js";
import { fixedClock } from "../helpers/clock.js";
import { createSession, providerWithClient } from "../helpers/factories.js";
import { calendar, createIcsWebhookSource, envelope, icsUtc, postIcs, signedHeaders, vevent } from "../helpers/webhooks.js";

const clock = fixedClock("2026-11-26T12:00:00Z");
const t = await makeTestApp({ clock });
const worker = new IngestWorker(t.services);

async function setup() {
  const { provider, client } = await providerWithClient(t, {}, { displayName: "Harriet Vandersloot" });
  const session = await createSession(t, provider.id, client.id, { start: "2026-12-01T15:00:00Z" });
  const source = await createIcsWebhookSource(t, provider.id);
  return { provider, client, session, source };
}

const moved = (uid: string, start: string, sequence = 1, extra: Record<string, string> = {}) =>
  calendar(
    vevent({
      UID: uid,
      DTSTAMP: "20261126T110000Z",
      DTSTART: icsUtc(start),
      DTEND: icsUtc(new Date(Date.parse(start) + 50 * 60_000).toISOString()),
      SEQUENCE: sequence,
      SUMMARY: "Harriet Vandersloot therapy",
      ...extra,
    }),
  );

const getSession = async (id: string) => expectStatus(await t.request("GET", `/api/v1/sessions/${id}`), 200);
const deliveryCount = async (sourceId: string) =>
  (await t.database.db.query.deliveries.findMany({ where: (d, { eq }) => eq(d.sourceId, sourceId) })).length;

describe("Standard Webhooks ICS deliveries", () => {
  it("a valid delivery applies: the matched session is rescheduled", async () => {
    const { session, source } = await setup();
    const res = await postIcs(t, source.id, source.signingSecret, moved(session.uid, "2026-12-02T16:00:00Z"));
    expect(await expectStatus(res, 202)).toMatchObject({ accepted: true, duplicate: false });
    expect(source.signingSecret).toMatch(/^whsec_[A-Za-z0-9+/]+=*$/);
    expect((await getSession(session.id)).start).toBe("2026-12-01T15:00:00.000Z"); // nothing applied in the request
    await worker.drain();
    expect(await getSession(session.id)).toMatchObject({
      start: "2026-12-02T16:00:00.000Z",
      end: "2026-12-02T16:50:00.000Z",
      sequence: 1,
      status: "scheduled",
    });
  });

  it("a payload larger than one stored part is kept whole, a surrogate pair at a cut included, and applies", async () => {
    const { session, source } = await setup();
    // The DESCRIPTION puts an emoji (two UTF-16 units) across the first PAYLOAD_PART_CHARS boundary.
    const [before, after] = moved(session.uid, "2026-12-03T16:00:00Z").split("END:VEVENT") as [string, string];
    const prefix = `${before}DESCRIPTION:`;
    const ics = `${prefix}${"x".repeat(PAYLOAD_PART_CHARS - prefix.length - 1)}\u{1F4C5}${"y".repeat(10_000)}\r\nEND:VEVENT${after}`;
    expect(ics.charCodeAt(PAYLOAD_PART_CHARS - 1)).toBe(0xd83d);
    await expectStatus(await postIcs(t, source.id, source.signingSecret, ics), 202);
    const [delivery] = await t.database.db.select({ id: deliveries.id }).from(deliveries).where(eq(deliveries.sourceId, source.id));
    const parts = await t.database.db.select().from(deliveryPayloadParts).where(eq(deliveryPayloadParts.deliveryId, delivery!.id));
    expect(parts.length).toBeGreaterThan(1);
    expect(await loadDeliveryIcs(t.database.db, delivery!.id, async () => {})).toBe(ics);
    await worker.drain();
    expect((await getSession(session.id)).start).toBe("2026-12-03T16:00:00.000Z");
  });

  it("the same webhook-id again applies nothing", async () => {
    const { session, source } = await setup();
    const ics = moved(session.uid, "2026-12-02T16:00:00Z");
    await expectStatus(await postIcs(t, source.id, source.signingSecret, ics, { id: "msg_same" }), 202);
    const again = await expectStatus(await postIcs(t, source.id, source.signingSecret, ics, { id: "msg_same" }), 202);
    expect(again.duplicate).toBe(true);
    expect(await deliveryCount(source.id)).toBe(1);
    await worker.drain();
    expect((await getSession(session.id)).sequence).toBe(1);
  });

  it.each([
    ["301 s old", -301_000],
    ["301 s ahead", 302_000],
  ])("a timestamp %s is 401 and changes nothing", async (_, offsetMs) => {
    const { session, source } = await setup();
    // Verification uses the wall clock, as the standardwebhooks package does (it reads Date.now()).
    const res = await postIcs(t, source.id, source.signingSecret, moved(session.uid, "2026-12-02T16:00:00Z"), {
      at: new Date(Date.now() + offsetMs),
    });
    expect((await expectStatus(res, 401)).code).toBe("invalid_signature");
    expect(await deliveryCount(source.id)).toBe(0);
  });

  it("a changed byte, a wrong secret, only v2 signatures or missing headers are 401", async () => {
    const { session, source } = await setup();
    const body = envelope(moved(session.uid, "2026-12-02T16:00:00Z"));
    const headers = signedHeaders(source.signingSecret, body);
    const tampered = body.replace("T160000Z", "T170000Z");
    const send = (h: Record<string, string>, b = body) => t.app.request(`/webhooks/ics/${source.id}`, { method: "POST", headers: h, body: b });
    expect((await send(headers, tampered)).status).toBe(401);
    const other = (await createIcsWebhookSource(t, (await providerWithClient(t)).provider.id)).signingSecret;
    expect((await send(signedHeaders(other, body))).status).toBe(401);
    expect((await send({ ...headers, "webhook-signature": headers["webhook-signature"]!.replace(/^v1,/, "v2,") })).status).toBe(401);
    expect((await send({ "content-type": "application/json" })).status).toBe(401);
    expect(await deliveryCount(source.id)).toBe(0);
    expect((await getSession(session.id)).sequence).toBe(0);
  });

  it("a rotated-key pair of signatures passes, and svix-* aliases are accepted", async () => {
    const { session, source } = await setup();
    const oldKey = "whsec_" + Buffer.from("an older key that was rotated out!").toString("base64");
    await expectStatus(
      await postIcs(t, source.id, oldKey, moved(session.uid, "2026-12-03T16:00:00Z"), { extraSecrets: [source.signingSecret] }),
      202,
    );
    await expectStatus(await postIcs(t, source.id, source.signingSecret, moved(session.uid, "2026-12-04T16:00:00Z", 2), { prefix: "svix" }), 202);
    await worker.drain();
    expect((await getSession(session.id)).start).toBe("2026-12-04T16:00:00.000Z");
  });

  it("unknown and deleted sources answer 404", async () => {
    const { source, provider } = await setup();
    expect((await postIcs(t, "00000000-0000-4000-8000-000000000000", source.signingSecret, calendar())).status).toBe(404);
    // Known to this process from a delivery: the deletion still takes effect at once.
    await expectStatus(await postIcs(t, source.id, source.signingSecret, calendar()), 202);
    await expectStatus(await t.request("DELETE", `/api/v1/providers/${provider.id}/calendar-sources/${source.id}`), 204);
    expect((await postIcs(t, source.id, source.signingSecret, calendar())).status).toBe(404);
  });

  it("a cancellation (STATUS:CANCELLED or METHOD:CANCEL) cancels the session", async () => {
    const a = await setup();
    await expectStatus(
      await postIcs(t, a.source.id, a.source.signingSecret, moved(a.session.uid, "2026-12-01T15:00:00Z", 1, { STATUS: "CANCELLED" })),
      202,
    );
    const b = await setup();
    const cancelIcs = moved(b.session.uid, "2026-12-01T15:00:00Z", 1).replace("VERSION:2.0", "VERSION:2.0\r\nMETHOD:CANCEL");
    await expectStatus(await postIcs(t, b.source.id, b.source.signingSecret, cancelIcs), 202);
    await worker.drain();
    expect((await getSession(a.session.id)).status).toBe("cancelled");
    expect((await getSession(b.session.id)).status).toBe("cancelled");
  });

  it("exactly once: the same change 5 times, in any order with an older version, ends in one reschedule", async () => {
    const { session, source } = await setup();
    const newer = moved(session.uid, "2026-12-05T16:00:00Z", 3);
    const older = moved(session.uid, "2026-12-04T16:00:00Z", 2);
    for (const ics of [newer, older, newer, older, newer]) await expectStatus(await postIcs(t, source.id, source.signingSecret, ics), 202);
    await worker.drain();
    const s = await getSession(session.id);
    expect(s).toMatchObject({ start: "2026-12-05T16:00:00.000Z", sequence: 1 });
    const audits = await t.database.db.query.auditEvents.findMany({
      where: (a, { and, eq }) => and(eq(a.subjectId, session.id), eq(a.action, "session.rescheduled_externally")),
    });
    expect(audits).toHaveLength(1);
  });

  it("a confirmed session never changes; the difference is an open item", async () => {
    const { session, source, provider } = await setup();
    clock.set("2026-12-01T16:00:00Z");
    await expectStatus(await t.request("POST", `/api/v1/sessions/${session.id}/confirm`, { body: { state: "NY" } }), 200);
    await expectStatus(await postIcs(t, source.id, source.signingSecret, moved(session.uid, "2026-12-06T16:00:00Z")), 202);
    await worker.drain();
    expect((await getSession(session.id)).start).toBe("2026-12-01T15:00:00.000Z");
    const items = (await expectStatus(await t.request("GET", `/api/v1/providers/${provider.id}/reconciliation`), 200)).items;
    expect(items).toEqual(expect.arrayContaining([expect.objectContaining({ kind: "external_change_on_confirmed_session", sessionId: session.id })]));
    clock.set("2026-11-26T12:00:00Z");
  });
});

describe("bursts", () => {
  const busy = (uid: string, start: string, end: string) =>
    vevent({ UID: uid, DTSTAMP: "20261126T110000Z", DTSTART: icsUtc(start), DTEND: icsUtc(end), SUMMARY: "Supervision" });

  it("deliveries waiting behind each other apply together, in order; an unreadable one ends the run and is refused alone", async () => {
    const { session, source } = await setup();
    const post = async (ics: string) => expectStatus(await postIcs(t, source.id, source.signingSecret, ics), 202);
    await post(moved(session.uid, "2026-12-02T16:00:00Z", 1));
    // The second also carries an event that cannot apply (its UID is over 1,024 characters): set aside, listed on it.
    const [head, tail] = moved(session.uid, "2026-12-02T17:00:00Z", 2).split("END:VCALENDAR") as [string, string];
    await post(`${head}${busy(`${"u".repeat(1100)}@example.org`, "2026-12-02T09:00:00Z", "2026-12-02T10:00:00Z")}\r\nEND:VCALENDAR${tail}`);
    await post(`BEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\nUID:${session.uid}\r\nDTSTART:2026XX\r\n`);
    await post(moved(session.uid, "2026-12-02T18:00:00Z", 4));
    const states = async () =>
      (await t.database.db.query.deliveries.findMany({ where: (d, { eq }) => eq(d.sourceId, source.id), orderBy: (d, { asc }) => asc(d.id) })).map(
        (d) => ({ state: d.state, setAside: d.setAside?.map((e) => e.reason) ?? [] }),
      );

    // One claim: the first two apply in one pass; the run stops before the unreadable third.
    expect(await worker.runOnce()).toBe(true);
    expect(await states()).toEqual([
      { state: "done", setAside: [] },
      { state: "done", setAside: ["event_id_invalid"] },
      { state: "pending", setAside: [] },
      { state: "pending", setAside: [] },
    ]);
    expect(await getSession(session.id)).toMatchObject({ start: "2026-12-02T17:00:00.000Z", sequence: 1 });

    await worker.drain();
    expect((await states()).map((d) => d.state)).toEqual(["done", "done", "rejected", "done"]);
    expect(await getSession(session.id)).toMatchObject({ start: "2026-12-02T18:00:00.000Z", sequence: 2 });
  });

  it("a delivery that cannot be parsed in what is left of the run's time is applied on its own, not refused", async () => {
    const { session, source } = await setup();
    const post = async (ics: string) => expectStatus(await postIcs(t, source.id, source.signingSecret, ics), 202);
    await post(moved(session.uid, "2026-12-02T16:00:00Z", 1));
    // 600 busy blocks (one stored part; within the 1,000 events a run may hold): far over 1 ms of parsing.
    const blocks = Array.from({ length: 600 }, (_, i) => {
      const start = Date.parse("2026-12-10T00:00:00Z") + i * 3600_000;
      return busy(`block-${i}@example.org`, new Date(start).toISOString(), new Date(start + 1800_000).toISOString());
    });
    const [head, tail] = moved(session.uid, "2026-12-02T17:00:00Z", 2).split("END:VCALENDAR") as [string, string];
    await post(`${head}${blocks.join("\r\n")}\r\nEND:VCALENDAR${tail}`);
    const tight = new IngestWorker(t.services, { followingParseMs: 1 });
    expect(await tight.runOnce()).toBe(true);
    const states = async () =>
      (await t.database.db.query.deliveries.findMany({ where: (d, { eq }) => eq(d.sourceId, source.id), orderBy: (d, { asc }) => asc(d.id) })).map(
        (d) => d.state,
      );
    expect(await states()).toEqual(["done", "pending"]);
    expect((await getSession(session.id)).start).toBe("2026-12-02T16:00:00.000Z");
    expect(await tight.runOnce()).toBe(true);
    expect(await states()).toEqual(["done", "done"]);
    expect((await getSession(session.id)).start).toBe("2026-12-02T17:00:00.000Z");
  });

  it("deliveries arriving together are recorded each once, with their whole payload; one id sent twice at once is one delivery", async () => {
    const { session, source } = await setup();
    const bodies = Array.from({ length: 24 }, (_, i) => moved(session.uid, `2026-12-0${1 + (i % 8)}T16:00:00Z`, i + 1));
    const answers = await Promise.all([
      ...bodies.map((ics, i) => postIcs(t, source.id, source.signingSecret, ics, { id: `msg_burst_${i}` })),
      postIcs(t, source.id, source.signingSecret, bodies[0]!, { id: "msg_burst_0" }),
    ]);
    const acks = await Promise.all(answers.map((r) => expectStatus(r, 202)));
    expect(acks.filter((a) => a.duplicate === true)).toHaveLength(1);
    const rows = await t.database.db.query.deliveries.findMany({ where: (d, { eq }) => eq(d.sourceId, source.id) });
    expect(rows).toHaveLength(24);
    for (const row of rows) {
      const i = Number(row.deliveryKey.replace("whk:msg_burst_", ""));
      expect(await loadDeliveryIcs(t.database.db, row.id, async () => {})).toBe(bodies[i]);
    }
    await worker.drain();
    expect(await getSession(session.id)).toMatchObject({ start: "2026-12-08T16:00:00.000Z", status: "scheduled" });
  });
});

describe("hostile input", () => {
  it("a 5 MB body is 413 before parsing or verification", async () => {
    const { source } = await setup();
    const big = "x".repeat(5 * 1024 * 1024);
    const res = await t.app.request(`/webhooks/ics/${source.id}`, {
      method: "POST",
      headers: { "content-type": "application/json", "content-length": String(big.length) },
      body: big,
    });
    expect((await expectStatus(res, 413)).code).toBe("payload_too_large");
    // Without a declared length, an unsigned body is refused before it is read at all.
    const unsigned = await t.app.request(`/webhooks/ics/${source.id}`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: big,
    });
    expect((await expectStatus(unsigned, 401)).code).toBe("invalid_signature");
  });

  it("malformed ICS is refused at the door, or fails in the worker with nothing changed", async () => {
    const { session, source } = await setup();
    expect((await expectStatus(await postIcs(t, source.id, source.signingSecret, "hello"), 422)).code).toBe("ics_not_a_calendar");
    const broken = `BEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\nUID:${session.uid}\r\nDTSTART:2026XX\r\n`;
    await expectStatus(await postIcs(t, source.id, source.signingSecret, broken), 202);
    await worker.drain();
    const [refused, d] = await t.database.db.query.deliveries.findMany({
      where: (d, { eq }) => eq(d.sourceId, source.id),
      orderBy: (d, { asc }) => asc(d.id),
    });
    expect(refused).toMatchObject({ state: "rejected", lastErrorCode: "ics_not_a_calendar", payload: null });
    expect(d).toMatchObject({ state: "rejected", lastErrorCode: expect.stringMatching(/^ics_/) });
    expect((await getSession(session.id)).sequence).toBe(0);
  });

  it("100,000 events are refused with a clear problem", async () => {
    const { source } = await setup();
    const many = calendar(...Array.from({ length: 100_000 }, (_, i) => `BEGIN:VEVENT\r\nUID:${i}\r\nEND:VEVENT`));
    // Over the 2 MiB payload cap already: refused as too large or as too many events, never processed.
    const res = await postIcs(t, source.id, source.signingSecret, many);
    expect([413, 422]).toContain(res.status);
    expect(await deliveryCount(source.id)).toBe(0);
  });

  it("an RRULE without end is bounded work", async () => {
    const { source } = await setup();
    const endless = calendar(vevent({ UID: "endless-1", DTSTART: "20260101T150000Z", DTEND: "20260101T155000Z", RRULE: "FREQ=DAILY", SEQUENCE: 0 }));
    await expectStatus(await postIcs(t, source.id, source.signingSecret, endless), 202);
    const started = performance.now();
    await worker.drain();
    expect(performance.now() - started).toBeLessThan(20_000); // bounded, not a benchmark: an unbounded loop never ends
    const mirrored = await t.database.db.query.externalEvents.findMany({ where: (e, { eq }) => eq(e.sourceId, source.id) });
    expect(mirrored.length).toBeGreaterThan(0);
    expect(mirrored.length).toBeLessThanOrEqual(1000);
  });

  it("deeply nested JSON and __proto__ keys end in a clear problem, recorded only as rejected", async () => {
    const { source } = await setup();
    const deep = "[".repeat(200_000) + "]".repeat(200_000);
    const send = (body: string) =>
      t.app.request(`/webhooks/ics/${source.id}`, { method: "POST", headers: signedHeaders(source.signingSecret, body), body });
    const deepRes = await send(deep);
    expect([400, 422]).toContain(deepRes.status);
    expect(deepRes.headers.get("content-type")).toMatch(/problem\+json/);
    const proto =
      '{"type":"calendar.changed","timestamp":"2026-11-26T12:00:00Z","data":{"ics":"BEGIN:VCALENDAR\\r\\nEND:VCALENDAR"},"__proto__":{"admin":true}}';
    const res = await send(proto);
    expect((await expectStatus(res, 422)).code).toBe("validation_failed");
    expect(({} as Record<string, unknown>).admin).toBeUndefined();
    const rows = await t.database.db.query.deliveries.findMany({ where: (d, { eq }) => eq(d.sourceId, source.id) });
    expect(rows.map((r) => [r.state, r.payload])).toEqual([
      ["rejected", null],
      ["rejected", null],
    ]);
  });
});

describe("logs", () => {
  it("never contain signing secrets, signatures, event summaries or client names", async () => {
    const { session, source } = await setup();
    const body = envelope(moved(session.uid, "2026-12-02T16:00:00Z"));
    const headers = signedHeaders(source.signingSecret, body);
    await t.app.request(`/webhooks/ics/${source.id}`, { method: "POST", headers, body });
    await t.app.request(`/webhooks/ics/${source.id}`, { method: "POST", headers: { ...headers, "webhook-signature": "v1,AAAA" }, body });
    await worker.drain();
    const logs = t.logs.text();
    expect(logs).toContain("delivery applied");
    for (const secret of [
      source.signingSecret,
      source.signingSecret.slice(6),
      headers["webhook-signature"]!.slice(3),
      "Harriet",
      "Vandersloot",
      "therapy",
      source.id,
    ]) {
      expect(logs).not.toContain(secret);
    }
  });
});

describe("recurring external series", () => {
  it("a session standing for one instance (by original start) is cancelled alone when that instance is", async () => {
    const { provider, client } = await providerWithClient(t);
    const series = "weekly-series-1@therapist.example";
    const mk = (day: string) =>
      createSession(t, provider.id, client.id, { start: `${day}T19:00:00Z`, externalEvent: { uid: series, originalStart: `${day}T19:00:00Z` } });
    const first = await mk("2026-12-03");
    const second = await mk("2026-12-10");
    const dup = await t.request("POST", `/api/v1/providers/${provider.id}/sessions`, {
      body: {
        clientId: client.id,
        start: "2026-12-10T19:00:00Z",
        durationMinutes: 50,
        kind: "virtual",
        externalEvent: { uid: series, originalStart: "2026-12-10T19:00:00Z" },
      },
    });
    expect((await expectStatus(dup, 409)).code).toBe("external_event_taken");
    expect(first).toMatchObject({ externalEvent: { uid: series, originalStart: "2026-12-03T19:00:00.000Z" } });
    const source = await createIcsWebhookSource(t, provider.id);
    const ics = calendar(
      vevent({
        UID: series,
        DTSTART: "20261203T190000Z",
        DTEND: "20261203T195000Z",
        RRULE: "FREQ=WEEKLY;COUNT=4",
        SEQUENCE: 0,
        DTSTAMP: "20261126T000000Z",
      }),
      vevent({
        UID: series,
        "RECURRENCE-ID": "20261210T190000Z",
        DTSTART: "20261210T190000Z",
        DTEND: "20261210T195000Z",
        STATUS: "CANCELLED",
        SEQUENCE: 1,
        DTSTAMP: "20261126T000000Z",
      }),
    );
    await expectStatus(await postIcs(t, source.id, source.signingSecret, ics), 202);
    await worker.drain();
    expect((await getSession(first.id)).status).toBe("scheduled");
    expect((await getSession(second.id)).status).toBe("cancelled");
  });
});
