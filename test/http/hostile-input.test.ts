// Hostile bodies, content types and text at every edge: each answers a 4xx problem with a code,
// changes nothing it should not, and leaves no client name, summary or SQL parameter in the logs.
import { randomBytes, randomUUID } from "node:crypto";
import { sql } from "drizzle-orm";
import { afterEach, describe, expect, it } from "vitest";
import { calendarSources } from "../../src/db/schema.js";
import { hashSecret } from "../../src/services/secrets.js";
import { byId, ok } from "../helpers/api-client.js";
import { expectStatus, makeTestApp } from "../helpers/app.js";
import { providerWithClient } from "../helpers/factories.js";
import { calendar, createIcsWebhookSource, envelope, signedHeaders, vevent } from "../helpers/webhooks.js";

const t = await makeTestApp({ env: { RATE_LIMIT_BURST: "1000" } });
// Routes can only be added before the first request: one that throws whatever a test sets.
let boom: unknown;
t.app.get("/boom", () => {
  throw boom;
});
const clientName = `Philippa Quarrington-${randomBytes(3).toString("hex")}`;
const summary = `Couples therapy with ${clientName}`;
const { provider } = await providerWithClient(t, {}, { displayName: clientName });
const source = await createIcsWebhookSource(t, provider.id);

const problem = async (res: Response, status: number, code: string) => {
  const body = await expectStatus<{ code: string; status: number }>(res, status);
  expect(res.headers.get("content-type")).toMatch(/^application\/problem\+json/);
  expect(body).toMatchObject({ code, status });
  return body;
};

let logMark = 0;
afterEach(() => {
  // After every hostile case: nothing private reached a log line.
  const text = t.logs.lines.slice(logMark).join("\n");
  logMark = t.logs.lines.length;
  for (const secret of [clientName, clientName.split(" ")[0]!, summary, "Quarrington", source.signingSecret]) {
    expect(text, `a log line carries ${secret.slice(0, 14)}...`).not.toContain(secret);
  }
});

const icsWith = (text: string) =>
  calendar(vevent({ UID: `u-${randomUUID()}`, DTSTAMP: "20261126T110000Z", DTSTART: "20261201T150000Z", DTEND: "20261201T155000Z", SUMMARY: text }));
const postWebhook = (headers: Record<string, string>, body?: string) =>
  t.app.request(`/webhooks/ics/${source.id}`, { method: "POST", headers, ...(body !== undefined ? { body } : {}) });
const deliveries = () =>
  t.database.db.query.deliveries.findMany({ where: (d, { eq }) => eq(d.sourceId, source.id), orderBy: (d, { asc }) => asc(d.id) });
const sourceView = async () => {
  const list = await ok(t.api.GET("/api/v1/providers/{id}/calendar-sources", byId(provider.id)));
  return list.items.find((s) => s.id === source.id)!;
};

describe("ICS webhook: the signature is checked before the body is judged", () => {
  it.each([
    ["no content type", {}, envelope(icsWith(summary))],
    ["text/plain", { "content-type": "text/plain" }, envelope(icsWith(summary))],
    ["form encoded", { "content-type": "application/x-www-form-urlencoded" }, "a=b"],
    ["an empty body", { "content-type": "application/json" }, ""],
    ["invalid JSON", { "content-type": "application/json" }, "{nope"],
    ["a wrong shape", { "content-type": "application/json" }, JSON.stringify({ hello: clientName })],
    ["a NUL", { "content-type": "application/json" }, envelope(icsWith(`${clientName}\u0000`))],
  ])("unsigned, %s: 401 invalid_signature, nothing recorded", async (_, headers, body) => {
    const before = (await deliveries()).length;
    await problem(await postWebhook(headers as Record<string, string>, body), 401, "invalid_signature");
    expect(await deliveries()).toHaveLength(before);
  });

  it("signed without a content type is read all the same (the signature vouches for the bytes)", async () => {
    const body = envelope(icsWith("Busy"));
    const { "content-type": _, ...headers } = signedHeaders(source.signingSecret, body);
    expect((await expectStatus(await postWebhook(headers, body), 202)).accepted).toBe(true);
  });

  it.each([
    ["invalid JSON", () => '{"type":', 400, "malformed_json"],
    ["an empty body", () => "", 400, "malformed_json"],
    [
      "a wrong shape",
      () => JSON.stringify({ type: "calendar.changed", data: { ics: icsWith(summary) }, extra: clientName }),
      422,
      "validation_failed",
    ],
    ["a NUL in the ICS", () => envelope(icsWith(`${summary}\u0000`)), 422, "invalid_characters"],
    [
      "a NUL in a key",
      () => JSON.stringify({ type: "calendar.changed", timestamp: new Date().toISOString(), data: { ics: icsWith(summary), "x\u0000": 1 } }),
      422,
      "invalid_characters",
    ],
    ["a lone surrogate", () => envelope(icsWith(`${summary} \ud800`)), 422, "invalid_characters"],
    ["not a calendar", () => envelope(`hello ${clientName}`), 422, "ics_not_a_calendar"],
  ])("signed, %s: a problem, recorded rejected with its reason on the source", async (_, body, status, code) => {
    const raw = body();
    const headers = signedHeaders(source.signingSecret, raw);
    await problem(await postWebhook(headers, raw), status, code);
    const last = (await deliveries()).at(-1)!;
    expect(last).toMatchObject({ deliveryKey: `whk:${headers["webhook-id"]}`, state: "rejected", lastErrorCode: code, payload: null });
    expect(await sourceView()).toMatchObject({ lastErrorCode: code });
    // The sender's retry of the same message changes nothing more.
    await problem(await postWebhook(headers, raw), status, code);
    expect((await deliveries()).filter((d) => d.deliveryKey === last.deliveryKey)).toHaveLength(1);
  });

  it("a JSON escape that only looks like NUL (an escaped backslash) is accepted", async () => {
    const raw = envelope(icsWith("path C:\\u0000dir"));
    expect(raw).toContain("\\\\u0000");
    await expectStatus(await postWebhook(signedHeaders(source.signingSecret, raw), raw), 202);
  });
});

describe("JSON API: bodies and content types", () => {
  const clients = () =>
    t.database.db
      .execute(sql`select count(*)::int as n from clients`)
      .then((r) => Number((r as unknown as { rows?: { n: number }[] }).rows?.[0]?.n ?? (r as unknown as { n: number }[])[0]?.n));
  const post = (body: string, headers: Record<string, string> = { "content-type": "application/json" }) =>
    t.app.request(`/api/v1/providers/${provider.id}/clients`, {
      method: "POST",
      headers: { authorization: `Bearer ${t.adminToken}`, ...headers },
      body,
    });

  it.each([
    ["a NUL in a client name", `{"displayName":"${clientName}\\u0000","insurance":"in_network","medicare":false}`, 422, "invalid_characters"],
    ["a lone high surrogate", `{"displayName":"${clientName}\\ud83d","insurance":"in_network","medicare":false}`, 422, "invalid_characters"],
    ["a lone low surrogate", `{"displayName":"${clientName}\\uDE00","insurance":"in_network","medicare":false}`, 422, "invalid_characters"],
    ["an empty body", "", 400, "malformed_json"],
    ["invalid JSON", `{"displayName":"${clientName}"`, 400, "malformed_json"],
    ["a JSON array", "[]", 422, "validation_failed"],
    ["JSON null", "null", 422, "validation_failed"],
  ])("%s: a 4xx problem, nothing created", async (_, body, status, code) => {
    const before = await clients();
    const res = await problem(await post(body), status, code);
    if (code === "invalid_characters") expect(res).toMatchObject({ errors: [{ path: "displayName", code }] });
    expect(JSON.stringify(res)).not.toContain(clientName);
    expect(await clients()).toBe(before);
  });

  it("a NUL deep inside an array is found too", async () => {
    const body = JSON.stringify({ name: "Dr X", timezone: "UTC", licenses: [{ state: "NY" }, { state: "N\u0000J" }], credentialedStates: [] });
    const res = await problem(
      await t.app.request("/api/v1/providers", {
        method: "POST",
        headers: { authorization: `Bearer ${t.adminToken}`, "content-type": "application/json" },
        body,
      }),
      422,
      "invalid_characters",
    );
    expect(res).toMatchObject({ errors: [{ path: "licenses.1.state" }] });
  });

  it.each([
    ["no content type", {}],
    ["text/plain", { "content-type": "text/plain" }],
    ["multipart", { "content-type": "multipart/form-data; boundary=x" }],
  ])("%s: 415 unsupported_media_type", async (_, headers) => {
    await problem(
      await post(JSON.stringify({ displayName: clientName, insurance: "in_network", medicare: false }), headers as Record<string, string>),
      415,
      "unsupported_media_type",
    );
  });

  it("a Content-Length over the limit is 413 at once; a chunked body over it is cut while streaming", async () => {
    await problem(
      await t.app.request(`/api/v1/providers/${provider.id}/clients`, {
        method: "POST",
        headers: { authorization: `Bearer ${t.adminToken}`, "content-type": "application/json", "content-length": String(2 * 1024 * 1024) },
        body: "{}",
      }),
      413,
      "payload_too_large",
    );
    let sent = 0;
    const chunk = new Uint8Array(64 * 1024).fill(32);
    const stream = new ReadableStream<Uint8Array>({
      pull(controller) {
        if (sent > 8 * 1024 * 1024) return controller.close();
        sent += chunk.byteLength;
        controller.enqueue(chunk);
      },
    });
    const res = await t.app.request(`/api/v1/providers/${provider.id}/clients`, {
      method: "POST",
      headers: { authorization: `Bearer ${t.adminToken}`, "content-type": "application/json" },
      body: stream,
      duplex: "half",
    } as RequestInit);
    await problem(res, 413, "payload_too_large");
    expect(sent).toBeLessThan(2 * 1024 * 1024); // stopped reading just past the 1 MiB limit
    expect(t.deps.runtime.bodyBudget.used).toBe(0);
  });
});

describe("Google and Microsoft notifications", () => {
  async function pushSource(kind: "google" | "microsoft") {
    const id = randomUUID();
    const channelId = kind === "google" ? `chan-${randomUUID()}` : randomUUID();
    const secret = randomBytes(24).toString("base64url");
    await t.database.db.insert(calendarSources).values({
      id,
      providerId: provider.id,
      kind,
      channelId,
      settings: kind === "google" ? { resourceId: "res-1", calendarId: "primary" } : {},
      // Stored as the service stores them: only the hash of what is only compared.
      secrets: kind === "google" ? { channelTokenHash: hashSecret(secret) } : { clientStateHash: hashSecret(secret) },
    });
    return { id, channelId, secret };
  }

  it("Google: a wrong token is 401 before the headers are judged; our token with malformed headers is rejected and visible", async () => {
    const g = await pushSource("google");
    const push = (h: Record<string, string>) =>
      t.app.request(`/webhooks/google/${g.id}`, {
        method: "POST",
        headers: { "x-goog-channel-id": g.channelId, ...h },
        body: `{"x":"${clientName}"}`,
      });
    await problem(await push({ "x-goog-channel-token": "guess", "x-goog-message-number": "not a number" }), 401, "invalid_signature");
    await problem(
      await push({
        "x-goog-channel-token": g.secret,
        "x-goog-resource-id": "res-1",
        "x-goog-resource-state": "exists",
        "x-goog-message-number": "12x",
      }),
      422,
      "validation_failed",
    );
    const rows = await t.database.db.query.deliveries.findMany({ where: (d, { eq }) => eq(d.sourceId, g.id) });
    expect(rows).toEqual([expect.objectContaining({ state: "rejected", lastErrorCode: "validation_failed" })]);
    const src = await t.database.db.query.calendarSources.findFirst({ where: (s, { eq }) => eq(s.id, g.id) });
    expect(src).toMatchObject({ lastErrorCode: "validation_failed", consecutiveFailures: 1 });
  });

  it("Graph: forged items get 202 and nothing; our item with a NUL or a bad shape is rejected and visible", async () => {
    const m = await pushSource("microsoft");
    const post = (body: string, headers: Record<string, string> = { "content-type": "application/json" }) =>
      t.app.request(`/webhooks/microsoft/${m.id}`, { method: "POST", headers, body });
    const item = (o: Record<string, unknown>) => ({
      subscriptionId: m.channelId,
      clientState: m.secret,
      changeType: "updated",
      resource: "me/events/AAA",
      ...o,
    });
    await problem(await post("{oops"), 400, "malformed_json");
    await problem(await post(""), 400, "malformed_json");
    await problem(await post(JSON.stringify({ value: "x" })), 422, "validation_failed");
    await problem(await post("{}", {}), 422, "validation_failed");
    expect(
      await expectStatus(await post(JSON.stringify({ value: [item({ clientState: "forged", resource: `${clientName}\u0000` })] })), 202),
    ).toMatchObject({ accepted: true });
    expect(await t.database.db.query.deliveries.findMany({ where: (d, { eq }) => eq(d.sourceId, m.id) })).toEqual([]);

    await problem(await post(JSON.stringify({ value: [item({ resource: `me/events/${clientName}\u0000` })] })), 422, "invalid_characters");
    await problem(await post(JSON.stringify({ value: [item({ changeType: undefined, resource: undefined })] })), 422, "validation_failed");
    const rows = await t.database.db.query.deliveries.findMany({ where: (d, { eq }) => eq(d.sourceId, m.id), orderBy: (d, { asc }) => asc(d.id) });
    expect(rows.map((r) => [r.state, r.lastErrorCode, r.payload])).toEqual([
      ["rejected", "invalid_characters", null],
      ["rejected", "validation_failed", null],
    ]);
    const src = await t.database.db.query.calendarSources.findFirst({ where: (s, { eq }) => eq(s.id, m.id) });
    expect(src).toMatchObject({ lastErrorCode: "validation_failed", consecutiveFailures: 2 });
  });
});

describe("database errors are wrapped before the logger and the client see them", () => {
  const thrower = async (run: () => Promise<unknown>) => {
    try {
      await run();
    } catch (err) {
      return err;
    }
    throw new Error("expected the query to fail");
  };

  it("a value PostgreSQL refuses (its message quotes it) is 422 invalid_value; the log has the SQLSTATE only", async () => {
    const err = await thrower(() => t.database.db.execute(sql`select ${clientName}::int`));
    boom = err;
    const path = "/boom";
    const res = await problem(await t.request("GET", path, { token: null }), 422, "invalid_value");
    expect(JSON.stringify(res)).not.toContain(clientName);
    expect(t.logs.lines.slice(logMark).join("\n")).toContain('"sqlState":"22P02"');
  });

  it("a constraint failure (its detail quotes the key) is a 500 whose log line has class and SQLSTATE only", async () => {
    await t.database.db.execute(sql`create temporary table if not exists uniq_probe (v text primary key)`);
    await t.database.db.execute(sql`insert into uniq_probe values (${summary}) on conflict do nothing`);
    const err = await thrower(() => t.database.db.execute(sql`insert into uniq_probe values (${summary})`));
    boom = err;
    const path = "/boom";
    const res = await problem(await t.request("GET", path, { token: null }), 500, "internal_error");
    expect(JSON.stringify(res)).not.toContain(summary);
    const line = t.logs.lines.slice(logMark).find((l) => l.includes("request failed"))!;
    expect(JSON.parse(line)).toMatchObject({ level: "error", code: "internal_error", err: { sqlState: "23505" } });
  });

  it("an unexpected error's message (which may hold anything) never reaches the log", async () => {
    boom = new TypeError(`cannot read ${clientName}`);
    const path = "/boom";
    await problem(await t.request("GET", path, { token: null }), 500, "internal_error");
    const line = t.logs.lines.slice(logMark).find((l) => l.includes("request failed"))!;
    expect(JSON.parse(line)).toMatchObject({ err: { type: "TypeError", frames: expect.any(Array) } });
  });
});
