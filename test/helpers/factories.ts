import { randomBytes } from "node:crypto";
import { expectStatus, type TestApp } from "./app.js";

const unique = () => randomBytes(4).toString("hex");

export async function createProvider(t: TestApp, overrides: Record<string, unknown> = {}) {
  const res = await t.request("POST", "/api/v1/providers", {
    body: {
      name: `Dr Test ${unique()}`,
      timezone: "America/New_York",
      licenses: [{ state: "NY" }, { state: "NJ" }],
      credentialedStates: ["NY"],
      ...overrides,
    },
  });
  return expectStatus<{ id: string; name: string; timezone: string }>(res, 201);
}

export async function createProviderKey(t: TestApp, providerId: string) {
  const res = await t.request("POST", `/api/v1/providers/${providerId}/api-keys`, { body: {} });
  return (await expectStatus<{ id: string; token: string }>(res, 201)).token;
}

export const ZOOM_LINK = "https://zoom.us/j/1234567890";

export async function setLink(t: TestApp, providerId: string, overrides: Record<string, unknown> = {}) {
  const res = await t.request("PUT", `/api/v1/providers/${providerId}/telehealth-link`, {
    body: {
      url: ZOOM_LINK,
      instructions: "Join 5 minutes early; the waiting room admits you.",
      baaSigned: true,
      waitingRoomEnabled: true,
      ...overrides,
    },
  });
  return expectStatus(res, 200);
}

export async function createClient(t: TestApp, providerId: string, overrides: Record<string, unknown> = {}) {
  const res = await t.request("POST", `/api/v1/providers/${providerId}/clients`, {
    body: { displayName: `Client ${unique()}`, insurance: "in_network", medicare: false, ...overrides },
  });
  return expectStatus<{ id: string; displayName: string }>(res, 201);
}

export async function createSession(t: TestApp, providerId: string, clientId: string, overrides: Record<string, unknown> = {}) {
  const res = await t.request("POST", `/api/v1/providers/${providerId}/sessions`, {
    body: { clientId, start: "2026-12-01T15:00:00-05:00", durationMinutes: 50, kind: "virtual", ...overrides },
  });
  return expectStatus<{ id: string; uid: string; sequence: number; start: string; end: string; telehealthUrl?: string; status: string }>(res, 201);
}

/** A provider with a compliant link and one client: the usual starting point. */
export async function providerWithClient(t: TestApp, provider: Record<string, unknown> = {}, client: Record<string, unknown> = {}) {
  const p = await createProvider(t, provider);
  await setLink(t, p.id);
  const c = await createClient(t, p.id, client);
  return { provider: p, client: c };
}

export async function createFeed(t: TestApp, providerId: string, overrides: Record<string, unknown> = {}) {
  const res = await t.request("POST", `/api/v1/providers/${providerId}/feeds`, { body: { name: `Sessions ${unique()}`, ...overrides } });
  return expectStatus<{ id: string; url: string; webcalUrl: string; googleSubscribeUrl: string; outlookSubscribeUrl: string }>(res, 201);
}

/** The feed URL's path, for app.request(). */
export const feedPath = (url: string) => new URL(url).pathname;
