import { readFileSync } from "node:fs";
import { createServer, type Server } from "node:http";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { IngestWorker } from "../../src/ingest/worker.js";
import { expectStatus, makeTestApp } from "../helpers/app.js";
import { fixedClock } from "../helpers/clock.js";
import { createFeed, createSession, providerWithClient } from "../helpers/factories.js";
import { calendar, icsUtc, vevent } from "../helpers/webhooks.js";

// A plain calendar host on loopback: serves whatever `body` is, with an ETag, honouring If-None-Match.
let body = "";
let status = 200;
let etag = '"v1"';
const requests: { ifNoneMatch?: string }[] = [];
let server: Server;
let base = "";
beforeAll(async () => {
  server = createServer((req, res) => {
    requests.push({ ifNoneMatch: req.headers["if-none-match"] });
    if (status !== 200) res.writeHead(status).end("down");
    else if (req.headers["if-none-match"] === etag) res.writeHead(304, { etag }).end();
    else res.writeHead(200, { "content-type": "text/calendar", etag }).end(body);
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  base = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
});
afterAll(() => new Promise<void>((r) => server.close(() => r())));

const clock = fixedClock("2026-10-20T12:00:00Z");
// The calendar host listens on loopback: the operator allowance lets the guarded client reach it.
const t = await makeTestApp({ clock, env: { INGEST_ALLOW_PRIVATE_HOSTS: "127.0.0.1", ICS_POLL_INTERVAL_SECONDS: "60" } });
const worker = new IngestWorker(t.services, { fetchFn: t.deps.runtime.fetchFn });

async function addSource(providerId: string, path = "/cal.ics") {
  const res = await t.request("POST", `/api/v1/providers/${providerId}/calendar-sources`, { body: { kind: "ics_url", url: base + path } });
  return expectStatus<{ id: string; status: string }>(res, 201);
}

const mirror = (sourceId: string) =>
  t.database.db.query.externalEvents.findMany({ where: (e, { eq }) => eq(e.sourceId, sourceId), orderBy: (e, { asc }) => asc(e.startAt) });

describe("ics_url sources", () => {
  it("a weekly 14:00 America/New_York series across the November DST change is 18:00Z before and 19:00Z after", async () => {
    for (const file of ["weekly-dst.ics", "weekly-dst-no-vtimezone.ics"]) {
      body = readFileSync(`fixtures/ics/${file}`, "utf8");
      const { provider } = await providerWithClient(t);
      const source = await addSource(provider.id, `/${file}`);
      await worker.drain();
      const rows = await mirror(source.id);
      const oct29 = rows.find((r) => r.startAt?.toISOString().startsWith("2026-10-29"));
      const nov5 = rows.find((r) => r.startAt?.toISOString().startsWith("2026-11-05"));
      expect(oct29?.startAt?.toISOString(), file).toBe("2026-10-29T18:00:00.000Z");
      expect(nov5?.startAt?.toISOString(), file).toBe("2026-11-05T19:00:00.000Z");
      expect(nov5?.recurrenceId?.toISOString()).toBe("2026-11-05T19:00:00.000Z");
    }
  });

  it("is polled with conditional GET: a 304 does nothing", async () => {
    const { provider, client } = await providerWithClient(t);
    const session = await createSession(t, provider.id, client.id, { start: "2026-10-27T15:00:00Z" });
    body = calendar(
      vevent({
        UID: session.uid,
        DTSTART: icsUtc("2026-10-28T15:00:00Z"),
        DTEND: icsUtc("2026-10-28T15:50:00Z"),
        SEQUENCE: 1,
        DTSTAMP: "20261020T000000Z",
      }),
    );
    etag = '"a1"';
    const source = await addSource(provider.id, "/poll.ics");
    await worker.drain();
    const s1 = await expectStatus(await t.request("GET", `/api/v1/sessions/${session.id}`), 200);
    expect(s1).toMatchObject({ start: "2026-10-28T15:00:00.000Z", sequence: 1 });
    // The next poll sends If-None-Match and gets 304.
    requests.length = 0;
    clock.advance(2 * 60_000);
    await worker.schedulePolls();
    await worker.drain();
    expect(requests.at(-1)?.ifNoneMatch).toBe('"a1"');
    const s2 = await expectStatus(await t.request("GET", `/api/v1/sessions/${session.id}`), 200);
    expect(s2.sequence).toBe(1);
    const src = (await expectStatus(await t.request("GET", `/api/v1/providers/${provider.id}/calendar-sources`), 200)).items.find(
      (x: { id: string }) => x.id === source.id,
    );
    expect(src.lastSuccessAt).toBe(clock.now().toISOString());
  });

  it("a fetch that fails or does not parse cancels nothing, and an absent event never cancels", async () => {
    const { provider, client } = await providerWithClient(t);
    const session = await createSession(t, provider.id, client.id, { start: "2026-10-27T15:00:00Z" });
    body = calendar(
      vevent({
        UID: session.uid,
        DTSTART: icsUtc("2026-10-27T15:00:00Z"),
        DTEND: icsUtc("2026-10-27T15:50:00Z"),
        SEQUENCE: 0,
        DTSTAMP: "20261020T000000Z",
      }),
    );
    etag = '"b1"';
    const source = await addSource(provider.id, "/fail.ics");
    await worker.drain();
    expect((await mirror(source.id)).length).toBe(1);
    for (const [next, nextStatus] of [
      ["", 503],
      ["BEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\nDTSTART:garbage", 200],
      [calendar(), 200],
    ] as const) {
      body = next;
      status = nextStatus;
      etag = `"e${Math.random()}"`;
      clock.advance(2 * 60_000);
      await worker.schedulePolls();
      await worker.drain();
      const s = await expectStatus(await t.request("GET", `/api/v1/sessions/${session.id}`), 200);
      expect(s.status).toBe("scheduled");
    }
    status = 200;
  });

  it("a calendar larger than one apply part: every part applies, and the next full state drops only what is absent", async () => {
    const { provider, client } = await providerWithClient(t);
    const session = await createSession(t, provider.id, client.id, { start: "2026-10-27T15:00:00Z" });
    const busy = (i: number) => {
      const start = Date.parse("2026-10-21T00:00:00Z") + i * 3_600_000;
      return vevent({
        UID: `busy-${i}@elsewhere`,
        DTSTART: icsUtc(new Date(start).toISOString()),
        DTEND: icsUtc(new Date(start + 1_800_000).toISOString()),
      });
    };
    // 2,500 events (three parts of at most 1,000), our session last: it is in the last part.
    const moved = vevent({
      UID: session.uid,
      DTSTART: icsUtc("2026-10-29T15:00:00Z"),
      DTEND: icsUtc("2026-10-29T15:50:00Z"),
      SEQUENCE: 1,
      DTSTAMP: "20261020T000000Z",
    });
    body = calendar(...Array.from({ length: 2_499 }, (_, i) => busy(i)), moved);
    etag = '"parts-1"';
    const source = await addSource(provider.id, "/parts.ics");
    await worker.drain();
    expect(await mirror(source.id)).toHaveLength(2_500);
    expect(await expectStatus(await t.request("GET", `/api/v1/sessions/${session.id}`), 200)).toMatchObject({
      start: "2026-10-29T15:00:00.000Z",
      sequence: 1,
    });
    // The next full state lacks the first 1,200 busy blocks: they leave the mirror; the rest stay.
    body = calendar(
      ...Array.from({ length: 2_499 }, (_, i) => i)
        .filter((i) => i >= 1_200)
        .map(busy),
      moved,
    );
    etag = '"parts-2"';
    clock.advance(2 * 60_000);
    await worker.schedulePolls();
    await worker.drain();
    const left = (await mirror(source.id)).map((r) => r.externalId);
    expect(left).toHaveLength(1_300);
    expect(left).not.toContain("busy-0@elsewhere");
    expect(left).toContain("busy-1200@elsewhere");
    expect(left).toContain(session.uid);
    const deliveries = await t.database.db.query.deliveries.findMany({ where: (d, { eq }) => eq(d.sourceId, source.id) });
    expect(deliveries.map((d) => d.state)).toEqual(["done", "done"]);
  });

  it("a source pointing at one of our own feeds is refused", async () => {
    const { provider } = await providerWithClient(t);
    const feed = await createFeed(t, provider.id);
    for (const url of [feed.url, feed.webcalUrl]) {
      const res = await t.request("POST", `/api/v1/providers/${provider.id}/calendar-sources`, { body: { kind: "ics_url", url } });
      expect((await expectStatus(res, 422)).code).toBe("source_is_own_feed");
    }
    // And one served from elsewhere (a proxy of our feed) is caught by its PRODID and set aside.
    body = await (await t.app.request(new URL(feed.url).pathname)).text();
    const source = await addSource(provider.id, "/proxy.ics");
    await worker.drain();
    const src = (await expectStatus(await t.request("GET", `/api/v1/providers/${provider.id}/calendar-sources`), 200)).items.find(
      (x: { id: string }) => x.id === source.id,
    );
    expect(src).toMatchObject({ status: "failing", lastErrorCode: "source_is_own_feed" });
  });

  it("private addresses are refused unless the operator allows them", async () => {
    const strict = await makeTestApp({ clock });
    const { provider } = await providerWithClient(strict);
    for (const url of [
      "http://127.0.0.1/cal.ics",
      "https://localhost/cal.ics",
      "https://10.1.2.3/x.ics",
      "https://user:pw@example.com/x.ics",
      "ftp://example.com/x.ics",
    ]) {
      const res = await strict.request("POST", `/api/v1/providers/${provider.id}/calendar-sources`, { body: { kind: "ics_url", url } });
      expect(res.status, url).toBe(422);
    }
  });
});
