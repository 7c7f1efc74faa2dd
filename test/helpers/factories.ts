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
