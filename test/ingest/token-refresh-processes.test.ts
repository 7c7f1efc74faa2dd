// Single-flight refresh across processes: two workers pull one source whose access token has
// expired at the same moment; the row lock lets exactly one refresh-grant request reach the
// authorization server (on PostgreSQL, two worker processes; on PGlite, two workers in one process).

import { spawn } from "node:child_process";
import { randomBytes, randomUUID } from "node:crypto";
import { eq } from "drizzle-orm";
import { afterAll, describe, expect, it } from "vitest";
import { calendarSources, deliveries } from "../../src/db/schema.js";
import { systemClock } from "../../src/domain/clock.js";
import { IngestWorker } from "../../src/ingest/worker.js";
import { recordDelivery } from "../../src/services/inbox.js";
import { FakeGoogleCalendar } from "../fakes/google-calendar.js";
import { FakeOAuthServer } from "../fakes/oauth-server.js";
import { makeTestApp } from "../helpers/app.js";
import { onPostgres } from "../helpers/db.js";
import { createProviderKey, providerWithClient } from "../helpers/factories.js";
import { connectCalendars } from "../helpers/oauth-flow.js";
import { webClient } from "../web/web-client.js";

const clock = { now: () => new Date(), set() {}, advance() {} };
const auth = new FakeOAuthServer("google", { accessTtlSeconds: 2 });
let deliverTo: (url: string, init: RequestInit) => Promise<Response> = async () => new Response(null, { status: 503 });
const google = new FakeGoogleCalendar({ accessToken: "unused", tokenCheck: auth.isValidAccessToken, deliver: (u, i) => deliverTo(u, i) });
await auth.start();
const googleBase = (await google.start()).baseUrl;
auth.redirectUris.add("https://cal.example.test/oauth/google/callback");
// One key for this process and the worker processes: they read what we sealed.
const env = {
  INGEST_ALLOW_PRIVATE_HOSTS: "127.0.0.1",
  ...auth.env(),
  GOOGLE_API_BASE_URL: googleBase,
  SECRETS_KEY: `shared:${randomBytes(32).toString("base64")}`,
  PUBLIC_BASE_URL: "https://cal.example.test",
};
const t = await makeTestApp({ clock: clock as never, env });
deliverTo = async (url, init) => t.app.request(new URL(url).pathname, init);

afterAll(async () => {
  await google.stop();
  await auth.stop();
});

function runWorkerProcess(url: string) {
  const child = spawn(process.execPath, ["--import", "tsx", "test/helpers/worker-process.ts"], {
    env: { ...process.env, ...env, NODE_ENV: "test", DATABASE_URL: url },
    stdio: ["pipe", "pipe", "pipe"],
  });
  let out = "";
  let err = "";
  child.stdout.on("data", (d) => (out += d));
  child.stderr.on("data", (d) => (err += d));
  const done = new Promise<{ applied: number; failed: number }>((resolve, reject) =>
    child.on("exit", (code) =>
      code === 0 ? resolve(JSON.parse(out.trim().split("\n").at(-1)!)) : reject(new Error(`worker exited ${code}: ${err}`)),
    ),
  );
  return { child, done };
}

describe("token refresh", () => {
  it(`${onPostgres() ? "two worker processes on PostgreSQL" : "two workers on one PGlite"} refreshing one source at once make exactly one refresh-grant request`, {
    timeout: 120_000,
  }, async () => {
    const { provider } = await providerWithClient(t);
    const web = webClient(t);
    await web.signIn(await createProviderKey(t, provider.id));
    google.addCalendar(`c-${randomUUID()}@example.com`, { summary: "Practice", primary: true });
    await connectCalendars(t, web, "google", ["Practice"]);
    await google.idle();
    await new IngestWorker(t.services).drain();
    const [source] = await t.database.db.select().from(calendarSources).where(eq(calendarSources.providerId, provider.id));
    expect(source!.syncToken).toBeTruthy();

    await new Promise((r) => setTimeout(r, 2100)); // the 2-second access token has expired
    auth.tokenDelayMs = 400; // a slow token endpoint: the second worker arrives while the first refreshes
    auth.accessTtlSeconds = 3600; // the refreshed token lasts the whole race
    const n = 6;
    for (let i = 0; i < n; i++)
      await recordDelivery(t.database.db, { providerId: provider.id, sourceId: source!.id, deliveryKey: `race-${i}`, kind: "pull", at: new Date() });
    const refreshes = auth.counts.refreshGrants;

    let stats: { applied: number; failed: number }[];
    if (onPostgres()) {
      const url = (t.database as { url?: string }).url!;
      const a = runWorkerProcess(url);
      const b = runWorkerProcess(url);
      await new Promise((r) => setTimeout(r, 1500));
      a.child.stdin.write("go\n");
      b.child.stdin.write("go\n");
      stats = await Promise.all([a.done, b.done]);
    } else {
      const w1 = new IngestWorker({ ...t.services, clock: systemClock });
      const w2 = new IngestWorker({ ...t.services, clock: systemClock });
      await Promise.all([w1.drain(), w2.drain()]);
      stats = [w1.stats, w2.stats];
    }
    expect(auth.counts.refreshGrants - refreshes, "one refresh-grant request").toBe(1);
    // Waiting pull notifications of one source are answered by one pull (pull coalescing), so
    // between one and n pulls applied; every notification ends done either way.
    const applied = stats.reduce((s, x) => s + x.applied, 0);
    expect(applied).toBeGreaterThanOrEqual(1);
    expect(applied).toBeLessThanOrEqual(n);
    expect(stats.reduce((s, x) => s + x.failed, 0)).toBe(0);
    const rows = await t.database.db.select().from(deliveries).where(eq(deliveries.sourceId, source!.id));
    expect(rows.filter((r) => r.deliveryKey.startsWith("race-")).every((r) => r.state === "done")).toBe(true);
  });
});
