// Standard Webhooks ICS deliveries over a real socket to the node:http server main.ts runs, where a
// delivery for a source this process knows is answered ahead of Hono (src/http/webhook-fast-path.ts).
// Each answer is compared with the app's own answer to the same request.
import { request as httpRequest, type IncomingMessage } from "node:http";
import { afterAll, describe, expect, it } from "vitest";
import { IngestWorker } from "../../src/ingest/worker.js";
import { expectStatus, makeTestApp } from "../helpers/app.js";
import { fixedClock, MINUTE } from "../helpers/clock.js";
import { createSession, providerWithClient } from "../helpers/factories.js";
import { calendar, createIcsWebhookSource, envelope, icsUtc, signedHeaders, vevent } from "../helpers/webhooks.js";

const clock = fixedClock("2026-11-26T12:00:00Z");
const t = await makeTestApp({ clock, env: { BODY_TIMEOUT_MS: "300", RATE_LIMIT_BURST: "4", RATE_LIMIT_PER_MINUTE: "4" } });
const server = await t.listen();
afterAll(() => server.close());
const worker = new IngestWorker(t.services);

type Answer = { status: number; headers: IncomingMessage["headers"]; body: string };

/** A raw POST on a fresh connection (to this file's server unless `baseUrl`): headers now, then the body as `write` decides. */
function post(
  path: string,
  headers: Record<string, string | number>,
  write: (req: ReturnType<typeof httpRequest>) => void,
  baseUrl = server.baseUrl,
): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(`${baseUrl}${path}`, { method: "POST", headers, agent: false }, (res) => {
      let body = "";
      res.setEncoding("utf8");
      res.on("data", (d) => (body += d));
      res.on("end", () => resolve({ status: res.statusCode!, headers: res.headers, body }));
    });
    req.on("error", reject);
    write(req);
  });
}
const postBody = (path: string, headers: Record<string, string>, body: string, baseUrl = server.baseUrl) =>
  post(path, { ...headers, "content-length": Buffer.byteLength(body) }, (req) => req.end(body), baseUrl);

/** The app's answer to the same request (Hono alone, through app.request). */
async function viaApp(path: string, headers: Record<string, string>, body: string, app = t.app): Promise<Answer> {
  const res = await app.request(path, { method: "POST", headers, body });
  return { status: res.status, headers: Object.fromEntries(res.headers), body: await res.text() };
}

/** What must match between the two: the status, the media type, and the body but its request id. */
function comparable(a: Answer) {
  const json = JSON.parse(a.body) as Record<string, unknown>;
  delete json.requestId;
  return { status: a.status, type: a.headers["content-type"], json, retryAfter: a.headers["retry-after"] };
}

async function setup() {
  const { provider, client } = await providerWithClient(t, {}, { displayName: "Harriet Vandersloot" });
  const session = await createSession(t, provider.id, client.id, { start: "2026-12-01T15:00:00Z" });
  const source = await createIcsWebhookSource(t, provider.id);
  const path = `/webhooks/ics/${source.id}`;
  const moved = (start: string, sequence: number) =>
    envelope(
      calendar(
        vevent({
          UID: session.uid,
          DTSTAMP: "20261126T110000Z",
          DTSTART: icsUtc(start),
          DTEND: icsUtc(new Date(Date.parse(start) + 50 * 60_000).toISOString()),
          SEQUENCE: sequence,
          SUMMARY: "Harriet Vandersloot therapy",
        }),
      ),
    );
  // The first delivery makes the source known to this process (the app looks it up and remembers it).
  const first = moved("2026-12-02T15:00:00Z", 1);
  const firstAnswer = await postBody(path, signedHeaders(source.signingSecret, first), first);
  expect(firstAnswer.status).toBe(202);
  return { provider, session, source, path, moved };
}

const deliveryCount = async (sourceId: string) =>
  (await t.database.db.query.deliveries.findMany({ where: (d, { eq }) => eq(d.sourceId, sourceId) })).length;

describe("ICS webhook deliveries to the listening server", () => {
  it("a known source's delivery is recorded and acknowledged without the app, as the app acknowledges it, and applies", async () => {
    const { session, source, path, moved } = await setup();
    const body = moved("2026-12-03T16:00:00Z", 2);
    const before = server.appRequests();
    const answer = await postBody(path, signedHeaders(source.signingSecret, body, { id: "msg_fast_1" }), body);
    expect(server.appRequests()).toBe(before);
    expect(answer.headers["x-request-id"]).toMatch(/^[0-9a-f-]{36}$/);
    const app = await viaApp(path, signedHeaders(source.signingSecret, body, { id: "msg_app_1" }), body);
    expect(comparable(answer)).toEqual(comparable(app));
    expect(comparable(answer)).toMatchObject({ status: 202, type: "application/json", json: { accepted: true, duplicate: false } });
    expect(await deliveryCount(source.id)).toBe(3);

    // The same webhook-id again is one delivery: a duplicate, recorded once.
    const again = await postBody(path, signedHeaders(source.signingSecret, body, { id: "msg_fast_1" }), body);
    expect(server.appRequests()).toBe(before);
    expect(JSON.parse(again.body)).toEqual({ accepted: true, duplicate: true });
    expect(await deliveryCount(source.id)).toBe(3);

    await worker.drain();
    const applied = await expectStatus(await t.request("GET", `/api/v1/sessions/${session.id}`), 200);
    expect(applied).toMatchObject({ start: "2026-12-03T16:00:00.000Z", end: "2026-12-03T16:50:00.000Z" });
  });

  it("the caller's X-Request-ID is kept; the access log names the route pattern, never the source id", async () => {
    const { source, path, moved } = await setup();
    const body = moved("2026-12-04T16:00:00Z", 2);
    const before = server.appRequests();
    const answer = await postBody(path, { ...signedHeaders(source.signingSecret, body), "x-request-id": "sender-trace.42" }, body);
    expect(server.appRequests()).toBe(before);
    expect(answer.status).toBe(202);
    expect(answer.headers["content-length"]).toBe(String(Buffer.byteLength(answer.body)));
    expect(answer.headers["x-request-id"]).toBe("sender-trace.42");
    const line = t.logs.lines.map((l) => JSON.parse(l) as Record<string, unknown>).find((l) => l.requestId === "sender-trace.42");
    expect(line).toMatchObject({ msg: "request", method: "POST", route: "/webhooks/ics/:sourceId", status: 202 });
    expect(t.logs.text()).not.toContain(source.id);
    const metrics = await (await t.request("GET", "/metrics")).text();
    expect(metrics).toMatch(/http_requests_total\{method="POST",route="\/webhooks\/ics\/:sourceId",status="202"\} \d+/);
  });

  it("verified but unusable bodies get the app's problems, recorded as rejected", async () => {
    const { source, path } = await setup();
    const cases = [
      { body: "{not json", code: "malformed_json" },
      { body: JSON.stringify({ type: "calendar.changed", timestamp: new Date().toISOString(), data: {} }), code: "validation_failed" },
      { body: envelope("hello"), code: "ics_not_a_calendar" },
      { body: "", code: "malformed_json" },
    ];
    for (const c of cases) {
      const before = server.appRequests();
      const answer = await postBody(path, signedHeaders(source.signingSecret, c.body), c.body);
      expect(server.appRequests()).toBe(before);
      const app = await viaApp(path, signedHeaders(source.signingSecret, c.body), c.body);
      expect(comparable(answer)).toEqual(comparable(app));
      expect(answer.headers["content-type"]).toBe("application/problem+json");
      expect(JSON.parse(answer.body)).toMatchObject({ code: c.code });
    }
    const rows = await t.database.db.query.deliveries.findMany({ where: (d, { eq }) => eq(d.sourceId, source.id) });
    expect(rows.filter((r) => r.state === "rejected")).toHaveLength(2 * cases.length);
  });

  it("what the app must judge falls through to it before the body is read: unsigned, chunked, oversized, unknown", async () => {
    const { source, path, moved } = await setup();
    const body = moved("2026-12-05T16:00:00Z", 2);
    let before = server.appRequests();
    const chunked = await post(path, { ...signedHeaders(source.signingSecret, body), "transfer-encoding": "chunked" }, (req) => {
      req.write(body.slice(0, 10));
      req.end(body.slice(10));
    });
    expect(chunked.status).toBe(202);
    expect(server.appRequests()).toBe(++before);

    const oversized = await post(path, { ...signedHeaders(source.signingSecret, body), "content-length": 4 * 1024 * 1024 }, (req) =>
      req.flushHeaders(),
    );
    expect(oversized.status).toBe(413);
    expect(server.appRequests()).toBe(++before);

    const unknown = await postBody("/webhooks/ics/00000000-0000-4000-8000-000000000000", signedHeaders(source.signingSecret, body), body);
    expect(unknown.status).toBe(404);
    expect(server.appRequests()).toBe(++before);
    clock.advance(MINUTE); // tokens back for the 404 (a failure)

    const unsigned = await postBody(path, { "content-type": "application/json" }, body);
    expect(unsigned.status).toBe(401);
    expect(server.appRequests()).toBe(++before);
    clock.advance(MINUTE);
  });

  it("a slow body is cut at the body deadline with the app's 408, and the connection is closed", async () => {
    const { source, path, moved } = await setup();
    const body = moved("2026-12-06T16:00:00Z", 2);
    let timer: NodeJS.Timeout | undefined;
    const before = server.appRequests();
    const answer = await post(path, { ...signedHeaders(source.signingSecret, body), "content-length": Buffer.byteLength(body) }, (req) => {
      let i = 0;
      req.on("error", () => {}); // the server closes the connection after its answer
      timer = setInterval(() => (i < body.length ? req.write(body[i++]!) : undefined), 100);
    });
    clearInterval(timer);
    expect(server.appRequests()).toBe(before);
    expect(answer.status).toBe(408);
    expect(answer.headers.connection).toBe("close");
    expect(JSON.parse(answer.body)).toMatchObject({ code: "request_timeout", status: 408 });
    expect(t.deps.runtime.bodyBudget.used).toBe(0);
  });

  it("a sender that goes away mid-body leaves nothing recorded and nothing reserved", async () => {
    const { source, path, moved } = await setup();
    const body = moved("2026-12-07T16:00:00Z", 2);
    const count = await deliveryCount(source.id);
    const before = server.appRequests();
    await new Promise<void>((resolve) => {
      const req = httpRequest(`${server.baseUrl}${path}`, {
        method: "POST",
        agent: false,
        headers: { ...signedHeaders(source.signingSecret, body), "content-length": Buffer.byteLength(body) },
      });
      req.on("error", () => resolve());
      req.write(body.slice(0, 20), () => setTimeout(() => req.destroy(), 50));
      req.on("close", () => resolve());
    });
    await new Promise((r) => setTimeout(r, 100));
    expect(server.appRequests()).toBe(before);
    expect(t.deps.runtime.bodyBudget.used).toBe(0);
    expect(await deliveryCount(source.id)).toBe(count);
  });

  it("bad signatures are 401 as from the app and count against the address: past the burst, the app's 429", async () => {
    clock.advance(10 * MINUTE); // a full bucket
    const { source, path, moved } = await setup();
    const body = moved("2026-12-08T16:00:00Z", 2);
    const forged = signedHeaders("whsec_" + Buffer.from("not the secret at all, 32 bytes!").toString("base64"), body);
    const before = server.appRequests();
    const answers: Answer[] = [];
    for (let i = 0; i < 4; i++) answers.push(await postBody(path, forged, body));
    expect(server.appRequests()).toBe(before);
    const app = comparable(await viaApp(path, forged, body));
    for (const a of answers) expect(comparable(a)).toEqual(app);
    expect(app).toMatchObject({ status: 401, type: "application/problem+json", json: { code: "invalid_signature" } });
    const limited = await postBody(path, signedHeaders(source.signingSecret, body), body);
    expect(server.appRequests()).toBe(before + 1);
    expect(limited.status).toBe(429);
    expect(limited.headers["retry-after"]).toMatch(/^\d+$/);
    clock.advance(10 * MINUTE);
  });
});

describe("ICS webhook deliveries when the database is gone", () => {
  it("a known source's delivery gets the app's 503 with Retry-After, logged without the payload, and no 500", async () => {
    const other = await makeTestApp();
    const listening = await other.listen();
    try {
      const { provider } = await providerWithClient(other);
      const source = await createIcsWebhookSource(other, provider.id);
      const path = `/webhooks/ics/${source.id}`;
      const ics = calendar(
        vevent({ UID: "private-block@therapist.example", DTSTAMP: "20261126T110000Z", DTSTART: "20261201T090000Z", SUMMARY: "Dentist" }),
      );
      const body = envelope(ics);
      const send = (headers: Record<string, string>) => postBody(path, headers, body, listening.baseUrl);
      expect((await send(signedHeaders(source.signingSecret, body))).status).toBe(202); // now known here
      await other.database.close();
      const before = listening.appRequests();
      const answer = await send(signedHeaders(source.signingSecret, body));
      expect(listening.appRequests()).toBe(before);
      const appAnswer = await viaApp(path, signedHeaders(source.signingSecret, body), body, other.app);
      expect(comparable(answer)).toEqual(comparable(appAnswer));
      expect(comparable(answer)).toMatchObject({
        status: 503,
        type: "application/problem+json",
        json: { code: "database_unavailable" },
        retryAfter: "5",
      });
      expect(other.logs.text()).not.toContain("Dentist");
      expect(other.logs.text()).not.toContain(source.signingSecret);
    } finally {
      await listening.close();
    }
  });
});

describe("ICS webhook deliveries past the request deadline", () => {
  it("a body still arriving at the deadline gets the app's 503 with Retry-After, logged as the app logs it", async () => {
    const other = await makeTestApp({ env: { REQUEST_DEADLINE_MS: "200", BODY_TIMEOUT_MS: "5000" } });
    const listening = await other.listen();
    try {
      const { provider } = await providerWithClient(other);
      const source = await createIcsWebhookSource(other, provider.id);
      const path = `/webhooks/ics/${source.id}`;
      const body = envelope(calendar(vevent({ UID: "block@therapist.example", DTSTAMP: "20261126T110000Z", DTSTART: "20261201T090000Z" })));
      const headers = { ...signedHeaders(source.signingSecret, body), "content-length": Buffer.byteLength(body) };
      const send = (write: (req: ReturnType<typeof httpRequest>) => void) => post(path, headers, write, listening.baseUrl);
      expect((await send((req) => req.end(body))).status).toBe(202); // now known here
      const before = listening.appRequests();
      let stalled: ReturnType<typeof httpRequest> | undefined;
      const answer = await send((req) => {
        stalled = req;
        req.on("error", () => {});
        req.write(body.slice(0, 10)); // and nothing more
      });
      stalled?.destroy();
      expect(listening.appRequests()).toBe(before);
      expect(comparable(answer)).toMatchObject({
        status: 503,
        type: "application/problem+json",
        json: { code: "service_unavailable" },
        retryAfter: "5",
      });
      const failed = other.logs.lines.map((l) => JSON.parse(l) as Record<string, unknown>).filter((l) => l.msg === "request failed");
      expect(failed).toEqual([expect.objectContaining({ code: "service_unavailable", requestId: answer.headers["x-request-id"] })]);
      await new Promise((r) => setTimeout(r, 100));
      expect(other.deps.runtime.bodyBudget.used).toBe(0);
    } finally {
      await listening.close();
    }
  });
});
