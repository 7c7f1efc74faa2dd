import { randomBytes, randomUUID } from "node:crypto";
import { sessions } from "../../src/db/schema.js";
import { withTransaction } from "../../src/db/tx.js";
import { bumpFeedVersion } from "../../src/services/providers.js";
import { type JsonBody, ok } from "./api-client.js";
import type { TestApp } from "./app.js";

const unique = () => randomBytes(4).toString("hex");

export async function createProvider(t: TestApp, overrides: Partial<JsonBody<"/api/v1/providers", "post">> = {}) {
  return ok(
    t.api.POST("/api/v1/providers", {
      body: {
        name: `Dr Test ${unique()}`,
        timezone: "America/New_York",
        licenses: [{ state: "NY" }, { state: "NJ" }],
        credentialedStates: ["NY"],
        ...overrides,
      },
    }),
    201,
  );
}

export async function createProviderKey(t: TestApp, providerId: string) {
  return (await ok(t.api.POST("/api/v1/providers/{id}/api-keys", { params: { path: { id: providerId } }, body: {} }), 201)).token;
}

export const ZOOM_LINK = "https://zoom.us/j/1234567890";

export async function setLink(t: TestApp, providerId: string, overrides: Partial<JsonBody<"/api/v1/providers/{id}/telehealth-link", "put">> = {}) {
  return ok(
    t.api.PUT("/api/v1/providers/{id}/telehealth-link", {
      params: { path: { id: providerId } },
      body: {
        url: ZOOM_LINK,
        instructions: "Join 5 minutes early; the waiting room admits you.",
        baaSigned: true,
        waitingRoomEnabled: true,
        ...overrides,
      },
    }),
  );
}

export async function createClient(t: TestApp, providerId: string, overrides: Partial<JsonBody<"/api/v1/providers/{id}/clients", "post">> = {}) {
  return ok(
    t.api.POST("/api/v1/providers/{id}/clients", {
      params: { path: { id: providerId } },
      body: { displayName: `Client ${unique()}`, insurance: "in_network", medicare: false, ...overrides },
    }),
    201,
  );
}

export async function createSession(
  t: TestApp,
  providerId: string,
  clientId: string,
  overrides: Partial<JsonBody<"/api/v1/providers/{id}/sessions", "post">> = {},
) {
  return ok(
    t.api.POST("/api/v1/providers/{id}/sessions", {
      params: { path: { id: providerId } },
      body: { clientId, start: "2026-12-01T15:00:00-05:00", durationMinutes: 50, kind: "virtual", ...overrides },
    }),
    201,
  );
}

/** A provider with a compliant link and one client: the usual starting point. */
export async function providerWithClient(
  t: TestApp,
  provider: Parameters<typeof createProvider>[1] = {},
  client: Parameters<typeof createClient>[2] = {},
) {
  const p = await createProvider(t, provider);
  await setLink(t, p.id);
  const c = await createClient(t, p.id, client);
  return { provider: p, client: c };
}

export async function createFeed(t: TestApp, providerId: string, overrides: Partial<JsonBody<"/api/v1/providers/{id}/feeds", "post">> = {}) {
  return ok(
    t.api.POST("/api/v1/providers/{id}/feeds", { params: { path: { id: providerId } }, body: { name: `Sessions ${unique()}`, ...overrides } }),
    201,
  );
}

/** The feed URL's path, for app.request(). */
export const feedPath = (url: string) => new URL(url).pathname;

/**
 * Hundreds of 50-minute video sessions starting at `starts` (epoch ms), written straight to the
 * database (the API would take minutes) in one transaction that marks the provider's feeds changed,
 * as a service does.
 */
export async function insertManySessions(
  t: TestApp,
  w: { providerId: string; clientId: string; link: { id: string; url: string } },
  starts: number[],
) {
  const rows = starts.map((start) => ({
    id: randomUUID(),
    providerId: w.providerId,
    clientId: w.clientId,
    uid: `${randomUUID()}@telehealth-calendar`,
    startAt: new Date(start),
    endAt: new Date(start + 50 * 60_000),
    kind: "virtual" as const,
    modality: "video" as const,
    status: "scheduled" as const,
    telehealthUrl: w.link.url,
    telehealthLinkId: w.link.id,
    linkFollowsDefault: true,
  }));
  await withTransaction(t.database.db, async (tx) => {
    await tx.insert(sessions).values(rows);
    await bumpFeedVersion(tx, w.providerId, []);
  });
  return rows;
}
