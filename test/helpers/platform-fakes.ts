// Starting the Google Calendar and Microsoft Graph fakes for a test: a fresh access token, the app's
// clock, and push notifications delivered to the app in process (the platform's POST to
// https://cal.example.test/webhooks/... lands in app.request()).
import { randomBytes } from "node:crypto";
import { FakeGoogleCalendar } from "../fakes/google-calendar.js";
import { FakeMicrosoftGraph } from "../fakes/microsoft-graph.js";
import type { TestApp } from "./app.js";

/** Hands a fake's outgoing webhook to the app, keeping only the path and query of its URL. */
export function deliverTo(t: TestApp) {
  return async (url: string, init: RequestInit) => {
    const u = new URL(url);
    return t.app.request(`${u.pathname}${u.search}`, init);
  };
}

export type Started<F> = { fake: F; apiBaseUrl: string; accessToken: string };

/** Google access tokens look like `ya29.…`; the fake accepts only the one it was made with. */
export async function startGoogleFake(t: TestApp): Promise<Started<FakeGoogleCalendar>> {
  const accessToken = `ya29.${randomBytes(24).toString("base64url")}`;
  const fake = new FakeGoogleCalendar({ accessToken, now: () => t.clock.now(), deliver: deliverTo(t) });
  return { fake, accessToken, apiBaseUrl: (await fake.start()).baseUrl };
}

/** Microsoft access tokens are JWTs; the fake accepts only the one it was made with. */
export async function startGraphFake(t: TestApp): Promise<Started<FakeMicrosoftGraph>> {
  const accessToken = `eyJ0eXAiOiJKV1Qi.${randomBytes(24).toString("base64url")}`;
  const fake = new FakeMicrosoftGraph({ accessToken, now: () => t.clock.now(), deliver: deliverTo(t) });
  return { fake, accessToken, apiBaseUrl: (await fake.start()).baseUrl };
}
