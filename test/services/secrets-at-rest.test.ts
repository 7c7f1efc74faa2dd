// Credentials at rest: a PGlite data directory on disk never holds a token the fake issued, in any
// file (heap, WAL); and key rotation: new writes use the newest key, old keys still decrypt, and
// the re-encrypt command moves everything to the newest key (and hashes or seals legacy clear values).
import { randomBytes, randomUUID } from "node:crypto";
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { eq } from "drizzle-orm";
import { afterAll, describe, expect, it } from "vitest";
import { openDatabase } from "../../src/db/client.js";
import { migrate } from "../../src/db/migrate.js";
import { calendarConnections, calendarSources } from "../../src/db/schema.js";
import { IngestWorker } from "../../src/ingest/worker.js";
import { openSecret, parseSecretKeys, sealedKeyId, sealSecret } from "../../src/services/secret-box.js";
import { reencryptSecrets } from "../../src/services/secret-rotation.js";
import { hashSecret } from "../../src/services/secrets.js";
import { FakeGoogleCalendar } from "../fakes/google-calendar.js";
import { FakeOAuthServer } from "../fakes/oauth-server.js";
import { makeTestApp } from "../helpers/app.js";
import { fixedClock } from "../helpers/clock.js";
import { createProviderKey, providerWithClient } from "../helpers/factories.js";
import { connectCalendars } from "../helpers/oauth-flow.js";
import { calendar, icsUtc, postIcs, vevent } from "../helpers/webhooks.js";
import { webClient } from "../web/web-client.js";

const keyLine = (id: string) => `${id}:${randomBytes(32).toString("base64")}`;
const clock = fixedClock("2026-11-26T12:00:00Z");
const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

function filesUnder(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const p = join(dir, name);
    return statSync(p).isDirectory() ? filesUnder(p) : [p];
  });
}

describe("a PGlite data directory on disk", () => {
  it("holds none of the fake's token strings after connecting, syncing and refreshing", { timeout: 180_000 }, async () => {
    const dataDir = mkdtempSync(join(tmpdir(), "thc-pglite-"));
    dirs.push(dataDir);
    const database = await openDatabase({ kind: "pglite", dataDir });
    await migrate(database);
    const auth = new FakeOAuthServer("google", { now: () => clock.now(), accessTtlSeconds: 2 });
    await auth.start();
    let deliverTo: (req: Request) => Promise<Response> = async () => new Response(null, { status: 503 });
    const google = new FakeGoogleCalendar({
      accessToken: "unused",
      tokenCheck: auth.isValidAccessToken,
      now: () => clock.now(),
      deliver: (url, init) => deliverTo(new Request(url, init)),
    });
    const googleBase = (await google.start()).baseUrl;
    auth.redirectUris.add("https://cal.example.test/oauth/google/callback");
    const t = await makeTestApp({
      clock,
      database,
      env: { INGEST_ALLOW_PRIVATE_HOSTS: "127.0.0.1", ...auth.env(), GOOGLE_API_BASE_URL: googleBase },
    });
    deliverTo = async (req) => t.app.request(`${new URL(req.url).pathname}`, { method: req.method, headers: req.headers, body: await req.text() });
    try {
      const { provider } = await providerWithClient(t);
      const web = webClient(t);
      await web.signIn(await createProviderKey(t, provider.id));
      google.addCalendar(`c-${randomUUID()}@example.com`, { summary: "Practice", primary: true });
      await connectCalendars(t, web, "google", ["Practice"]);
      const worker = new IngestWorker(t.services);
      await google.idle();
      await worker.drain();
      clock.advance(5000); // expired: the next pull refreshes, storing a new access token
      await google.notifyAll("exists");
      await worker.drain();
      expect(auth.counts.refreshGrants).toBe(1);
    } finally {
      await database.close();
      await google.stop();
      await auth.stop();
    }
    const secrets = [...auth.issuedSecrets().filter((s) => !s.startsWith("code-")), ...auth.verifiersReceived];
    expect(secrets.length).toBeGreaterThanOrEqual(4);
    const files = filesUnder(dataDir);
    expect(files.length).toBeGreaterThan(50);
    for (const f of files) {
      const bytes = readFileSync(f);
      for (const s of secrets) expect(bytes.includes(Buffer.from(s)), `${f} holds a token in clear`).toBe(false);
    }
  });
});

describe("key rotation", () => {
  it("seals under the newest key, opens with any listed key, refuses an unknown one and a moved ciphertext", () => {
    const old = parseSecretKeys(keyLine("old"));
    const both = parseSecretKeys(`${keyLine("new")},${keyLine("old")}`);
    expect(old.ok && both.ok).toBe(true);
    if (!old.ok || !both.ok) return;
    const ring = [both.keys[0]!, old.keys[0]!];
    const sealedOld = sealSecret(old.keys, "refresh-1", "refresh_token");
    expect(sealedKeyId(sealedOld)).toBe("old");
    expect(openSecret(ring, sealedOld, "refresh_token")).toBe("refresh-1");
    const sealedNew = sealSecret(ring, "refresh-2", "refresh_token");
    expect(sealedKeyId(sealedNew)).toBe("new");
    expect(() => openSecret(old.keys, sealedNew, "refresh_token")).toThrow(/unknown_key/);
    expect(() => openSecret(ring, sealedNew, "access_token")).toThrow(/corrupt/);
    expect(parseSecretKeys("k:short").ok).toBe(false);
  });

  it("the re-encrypt command moves every credential to the newest key; the app then runs without the old one", async () => {
    const oldKey = keyLine("k2025");
    const newKey = keyLine("k2026");
    const before = await makeTestApp({ clock, env: { SECRETS_KEY: oldKey } });
    const { provider } = await providerWithClient(before);
    const created = await before.request("POST", `/api/v1/providers/${provider.id}/calendar-sources`, { body: { kind: "ics_webhook" } });
    const hook = (await created.json()) as { id: string; signingSecret: string };
    const keys = before.config.secretKeys;
    const connectionId = randomUUID();
    await before.database.db.insert(calendarConnections).values({
      id: connectionId,
      providerId: provider.id,
      kind: "google",
      accessToken: sealSecret(keys, "ya29.access", "access_token"),
      refreshToken: sealSecret(keys, "1//refresh", "refresh_token"),
      accessTokenExpiresAt: clock.now(),
    });
    // A source written by an earlier version: channel token in clear.
    const legacyId = randomUUID();
    await before.database.db.insert(calendarSources).values({
      id: legacyId,
      providerId: provider.id,
      kind: "google",
      settings: {},
      secrets: { channelToken: "legacy-token", accessToken: "ya29.legacy" },
    });

    const after = await makeTestApp({ clock, database: before.database, env: { SECRETS_KEY: `${newKey},${oldKey}` } });
    const { rewritten } = await reencryptSecrets(after.database.db, after.config.secretKeys);
    expect(rewritten).toBeGreaterThanOrEqual(3);
    expect((await reencryptSecrets(after.database.db, after.config.secretKeys)).rewritten, "a second run has nothing to do").toBe(0);

    const only = await makeTestApp({ clock, database: before.database, env: { SECRETS_KEY: newKey } });
    const newest = only.config.secretKeys;
    const [conn] = await only.database.db.select().from(calendarConnections).where(eq(calendarConnections.id, connectionId));
    expect(sealedKeyId(conn!.refreshToken!)).toBe("k2026");
    expect(openSecret(newest, conn!.refreshToken!, "refresh_token")).toBe("1//refresh");
    expect(openSecret(newest, conn!.accessToken!, "access_token")).toBe("ya29.access");
    const [legacy] = await only.database.db.select().from(calendarSources).where(eq(calendarSources.id, legacyId));
    expect(legacy!.secrets).toEqual({ channelTokenHash: hashSecret("legacy-token"), accessToken: expect.stringMatching(/^enc1\.k2026\./) });
    // The webhook signing secret, re-sealed, still verifies deliveries with only the new key.
    const now = new Date().toISOString();
    const res = await postIcs(
      only,
      hook.id,
      hook.signingSecret,
      calendar(vevent({ UID: "x@elsewhere", DTSTART: icsUtc(now), DTEND: icsUtc(now), SEQUENCE: 0, DTSTAMP: icsUtc(now) })),
    );
    expect(res.status, await res.clone().text()).toBe(202);
  });
});
