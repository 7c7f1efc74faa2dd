// The world of a write-back test: the OAuth fake and the platform fake (its push notifications
// delivered to the app in process), the app configured against both, the ingestion worker and the
// write-back worker, and `settle` to run them until nothing is left.
import { MirrorWorker } from "../../src/ingest/mirror-worker.js";
import { IngestWorker } from "../../src/ingest/worker.js";
import { FakeGoogleCalendar } from "../fakes/google-calendar.js";
import { FakeMicrosoftGraph } from "../fakes/microsoft-graph.js";
import { FakeOAuthServer } from "../fakes/oauth-server.js";
import { makeTestApp, type TestApp } from "./app.js";
import type { TestClock } from "./clock.js";

/** The public base URL the tests' app believes it has (the OAuth redirect URI is built on it). */
const BASE = "https://cal.example.test";

type Fakes = { google: FakeGoogleCalendar; microsoft: FakeMicrosoftGraph };

export async function writeBackWorld<K extends keyof Fakes>(kind: K, clock: TestClock) {
  let t: TestApp | undefined;
  const deliver = async (url: string, init: RequestInit) => {
    const u = new URL(url);
    return t!.app.request(`${u.pathname}${u.search}`, init);
  };
  const auth = new FakeOAuthServer(kind, { now: () => clock.now() });
  const common = { accessToken: "unused", tokenCheck: auth.isValidAccessToken, now: () => clock.now(), deliver };
  const fake = (kind === "google" ? new FakeGoogleCalendar(common) : new FakeMicrosoftGraph(common)) as Fakes[K];
  await auth.start();
  const apiBase = (await fake.start()).baseUrl;
  auth.redirectUris.add(`${BASE}/oauth/${kind}/callback`);
  const app = await makeTestApp({
    clock,
    env: {
      INGEST_ALLOW_PRIVATE_HOSTS: "127.0.0.1",
      ...auth.env(),
      ...(kind === "google" ? { GOOGLE_API_BASE_URL: apiBase } : { MICROSOFT_GRAPH_BASE_URL: apiBase }),
    },
  });
  t = app;
  const ingest = new IngestWorker(app.services);
  const mirrorWorker = new MirrorWorker(app.services);
  return {
    t: app,
    auth,
    fake,
    apiBaseUrl: apiBase,
    ingest,
    mirrorWorker,
    db: app.database.db,
    /** Delivers everything due: outbox writes, then the notifications they caused, then ingestion. */
    async settle() {
      for (let i = 0; i < 5; i++) {
        const n = await mirrorWorker.drain();
        await fake.idle();
        const m = await ingest.drain();
        if (n === 0 && m === 0) break;
      }
    },
    async stop() {
      await fake.stop();
      await auth.stop();
    },
  };
}
