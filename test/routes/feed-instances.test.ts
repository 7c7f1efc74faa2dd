// Warm feeds are answered from memory (see src/services/live-feeds.ts), so two instances of the app
// on one database must learn each other's changes: PostgreSQL LISTEN/NOTIFY between processes, the
// same notifications within one PGlite. Instance B here has its own connections to the database on
// PostgreSQL (as another process would), and shares the PGlite otherwise.
import { Agent, request as httpRequest } from "node:http";
import postgres from "postgres";
import { afterAll, describe, expect, it } from "vitest";
import { openDatabase } from "../../src/db/client.js";
import { warmFeedDocument } from "../../src/services/feed-content.js";
import { expectStatus, makeTestApp } from "../helpers/app.js";
import { fixedClock } from "../helpers/clock.js";
import { createTestDatabase, onPostgres } from "../helpers/db.js";
import { createFeed, createSession, feedPath, providerWithClient } from "../helpers/factories.js";
import { calendar, createIcsWebhookSource, envelope, signedHeaders } from "../helpers/webhooks.js";

const clock = fixedClock("2026-11-26T12:00:00Z");
const database = await createTestDatabase();
const second = database.url ? await openDatabase({ kind: "postgres", url: database.url, max: 3 }) : database;
const a = await makeTestApp({ clock, database });
const b = await makeTestApp({ clock, database: second });
const serverA = await a.listen();
const serverB = await b.listen();
const agent = new Agent({ keepAlive: true });
afterAll(async () => {
  agent.destroy();
  await serverA.close();
  await serverB.close();
});
afterAll(async () => {
  if (second !== database) await second.close();
  await database.close();
});

type Answer = { status: number; headers: Record<string, string | string[] | undefined>; body: Buffer };

function get(baseUrl: string, path: string, headers: Record<string, string> = {}): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(`${baseUrl}${path}`, { headers, agent }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () => resolve({ status: res.statusCode!, headers: res.headers, body: Buffer.concat(chunks) }));
      res.on("error", reject);
    });
    req.on("error", reject);
    req.end();
  });
}

/** Instance B's answers until it gives `status`; bounded (a failure, not a wait, if it never does). */
async function untilB(path: string, status: number): Promise<Answer> {
  for (let i = 0; i < 500; i++) {
    const r = await get(serverB.baseUrl, path);
    if (r.status === status) return r;
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  throw new Error(`instance B never answered ${status}`);
}

const secretOf = (url: string) => /\/feeds\/([A-Za-z0-9_-]{43})\.ics$/.exec(url)![1]!;

async function warmFeedOnB() {
  const { provider, client } = await providerWithClient(a);
  await createSession(a, provider.id, client.id, { start: "2026-11-30T15:00:00Z" });
  const feed = await createFeed(a, provider.id);
  const path = feedPath(feed.url);
  expect((await get(serverB.baseUrl, path)).status).toBe(200);
  expect(warmFeedDocument(b.deps.runtime, secretOf(feed.url), clock.now().getTime())).toBeDefined();
  return { provider, client, feed, path };
}

describe("warm feeds across instances", () => {
  it("the node:http fast path answers a warm feed exactly as the app does", async () => {
    const { path } = await warmFeedOnB();
    const ignore = new Set(["date", "x-request-id", "connection", "keep-alive", "transfer-encoding"]);
    for (const headers of [{}, { "accept-encoding": "gzip" }] as Record<string, string>[]) {
      const fast = await get(serverB.baseUrl, path, headers); // warm: the fast path
      const app = await b.app.request(path, { headers }); // Hono alone
      expect(fast.status).toBe(200);
      expect(fast.body.equals(Buffer.from(await app.arrayBuffer()))).toBe(true);
      const appHeaders = Object.fromEntries([...app.headers].filter(([k]) => !ignore.has(k)));
      const fastHeaders = Object.fromEntries(Object.entries(fast.headers).filter(([k]) => !ignore.has(k)));
      expect(fastHeaders).toEqual(appHeaders);
      expect(fast.headers["x-request-id"]).toMatch(/^[0-9a-f-]{36}$/);
      const notModified = await get(serverB.baseUrl, path, { ...headers, "if-none-match": String(fast.headers.etag) });
      expect(notModified.status).toBe(304);
      expect(notModified.body.length).toBe(0);
    }
    // Access log and metrics name the route pattern, never the secret.
    expect(b.logs.text()).toContain('"route":"/feeds/:file"');
    expect(b.logs.text()).not.toContain(path.slice(7, 50));
    const metrics = await b.deps.metrics.registry.metrics();
    expect(metrics).toMatch(/http_requests_total\{method="GET",route="\/feeds\/:file",status="304"\} [1-9]/);
  });

  it("a rotation or revocation on one instance is a 404 on the other; a data change shows there", async () => {
    const { provider, client, feed, path } = await warmFeedOnB();
    const rotated = await expectStatus(await a.request("POST", `/api/v1/providers/${provider.id}/feeds/${feed.id}/rotate`), 200);
    await untilB(path, 404);
    const newPath = feedPath(rotated.url);
    const before = await untilB(newPath, 200);
    expect((await get(serverB.baseUrl, newPath)).status).toBe(200); // warm again
    await createSession(a, provider.id, client.id, { start: "2026-12-01T15:00:00Z" });
    const count = (r: Answer) => r.body.toString().split("BEGIN:VEVENT").length - 1;
    for (let i = 0; i < 500 && count(await get(serverB.baseUrl, newPath)) === count(before); i++) {
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    expect(count(await get(serverB.baseUrl, newPath))).toBe(count(before) + 1);
    await expectStatus(await a.request("DELETE", `/api/v1/providers/${provider.id}/feeds/${feed.id}`), 204);
    await untilB(newPath, 404);
  });

  it("a webhook source deleted on one instance is refused by the other, which knew it from a delivery", async () => {
    const { provider } = await providerWithClient(a);
    // Made through B: each test app seals secrets with a key of its own.
    const source = await createIcsWebhookSource(b, provider.id);
    const post = async () => {
      const body = envelope(calendar());
      return b.app.request(`/webhooks/ics/${source.id}`, { method: "POST", headers: signedHeaders(source.signingSecret, body), body });
    };
    await expectStatus(await post(), 202);
    await expectStatus(await post(), 202); // now answered from what B remembers
    await expectStatus(await a.request("DELETE", `/api/v1/providers/${provider.id}/calendar-sources/${source.id}`), 204);
    let status = 0;
    for (let i = 0; i < 500 && status !== 404; i++) {
      status = (await post()).status;
      if (status !== 404) await new Promise((resolve) => setTimeout(resolve, 10));
    }
    expect(status).toBe(404);
  });

  it(
    onPostgres()
      ? "a rotation while the other instance's listening connection is down is not missed"
      : "one PGlite: the other instance learns a rotation before the rotating request returns",
    async () => {
      const { provider, feed, path } = await warmFeedOnB();
      if (!database.url) {
        await expectStatus(await a.request("POST", `/api/v1/providers/${provider.id}/feeds/${feed.id}/rotate`), 200);
        expect((await get(serverB.baseUrl, path)).status).toBe(404);
        return;
      }
      const admin = postgres(database.url, { max: 1, onnotice: () => {} });
      try {
        const listeners = () =>
          admin<
            { pid: number }[]
          >`select pid from pg_stat_activity where datname = current_database() and query ilike 'listen%' and pid <> pg_backend_pid()`;
        const before = (await listeners()).map((r) => r.pid);
        expect(before.length).toBe(2);
        // Both instances lose their listening connection; the rotation's notification reaches no one.
        await admin`select pg_terminate_backend(pid) from pg_stat_activity where pid in ${admin(before)}`;
        await expectStatus(await a.request("POST", `/api/v1/providers/${provider.id}/feeds/${feed.id}/rotate`), 200);
        for (let i = 0; i < 500; i++) {
          const now = (await listeners()).map((r) => r.pid);
          if (now.length === 2 && now.every((p) => !before.includes(p))) break;
          await new Promise((resolve) => setTimeout(resolve, 10));
        }
        expect((await get(serverB.baseUrl, path)).status).toBe(404);
      } finally {
        await admin.end();
      }
    },
  );
});
