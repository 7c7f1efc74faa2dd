// Connecting Google and Outlook calendars in a real browser (Debian's Chromium via playwright-core):
// the settings page's Connect button, the local fake authorization server's consent (automatic),
// back through our callback, picking a calendar, and a change in the fake calendar reaching the session.

import type { Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { IngestWorker } from "../../src/ingest/worker.js";
import { FakeGoogleCalendar } from "../fakes/google-calendar.js";
import { FakeMicrosoftGraph } from "../fakes/microsoft-graph.js";
import { FakeOAuthServer } from "../fakes/oauth-server.js";
import { expectStatus, makeTestApp } from "../helpers/app.js";
import { launchChromium, listenOnLoopback } from "../helpers/browser.js";
import { DAY, fixedClock, HOUR } from "../helpers/clock.js";
import { createProviderKey, createSession, providerWithClient } from "../helpers/factories.js";

const START = "2026-11-26T12:00:00Z";
const clock = fixedClock(START);

const http = await listenOnLoopback();
const base = http.base;

const googleAuth = new FakeOAuthServer("google", { now: () => clock.now() });
const msAuth = new FakeOAuthServer("microsoft", { now: () => clock.now() });
// Pushes travel over HTTP to our server, as Google and Graph send them.
const google = new FakeGoogleCalendar({
  accessToken: "unused",
  tokenCheck: googleAuth.isValidAccessToken,
  now: () => clock.now(),
  allowInsecureAddresses: true,
});
const graph = new FakeMicrosoftGraph({
  accessToken: "unused",
  tokenCheck: msAuth.isValidAccessToken,
  now: () => clock.now(),
  allowInsecureUrls: true,
});
await googleAuth.start();
await msAuth.start();
const googleBase = (await google.start()).baseUrl;
const graphBase = (await graph.start()).baseUrl;
googleAuth.redirectUris.add(`${base}/oauth/google/callback`);
msAuth.redirectUris.add(`${base}/oauth/microsoft/callback`);
const t = await makeTestApp({
  clock,
  env: {
    INGEST_ALLOW_PRIVATE_HOSTS: "127.0.0.1",
    PUBLIC_BASE_URL: base,
    ...googleAuth.env(),
    ...msAuth.env(),
    GOOGLE_API_BASE_URL: googleBase,
    MICROSOFT_GRAPH_BASE_URL: graphBase,
  },
});
http.serveApp(t.app);
const worker = new IngestWorker(t.services);

let browser: Awaited<ReturnType<typeof launchChromium>>;
let page: Page;
let browserErrors: string[];

beforeAll(async () => {
  browser = await launchChromium();
  ({ page, errors: browserErrors } = browser);
});

afterAll(async () => {
  await browser?.close();
  for (const f of [google, graph]) await f.stop();
  for (const f of [googleAuth, msAuth]) await f.stop();
  await http.close();
});

const plus = (iso: string, ms: number) => new Date(Date.parse(iso) + ms).toISOString();
const text = async () => (await page.locator("main").innerText()).replace(/\s+/g, " ");

async function signIn(key: string) {
  await browser.context.clearCookies();
  await page.goto(`${base}/settings/sign-in`);
  await page.getByLabel(/key/i).fill(key);
  await page.keyboard.press("Enter");
  await page.waitForURL(`${base}/settings`);
}

async function settle() {
  await google.idle();
  await graph.idle();
  await worker.drain();
}

async function connectInBrowser(button: string, calendarLabel: RegExp) {
  await page.getByRole("navigation", { name: "Settings sections" }).getByRole("link", { name: "Connected calendars", exact: true }).click();
  await page.getByRole("button", { name: button }).click();
  // The fake consents at once and sends the browser back to our callback.
  await page.waitForURL(/\/oauth\/(google|microsoft)\/callback\?/);
  await page.getByRole("button", { name: "Finish connecting" }).click();
  await page.waitForURL(/\/settings\/connections\/[0-9a-f-]{36}$/);
  const box = page.getByLabel(calendarLabel);
  if (!(await box.isChecked())) await box.check();
  await page.getByRole("button", { name: "Sync the selected calendars" }).click();
  await page.waitForURL(`${base}/settings/connections`);
  expect(await text()).toContain("is connected and syncing");
}

describe("connecting calendars in Chromium", () => {
  it("Google: sign in, Connect Google Calendar, consent, pick a calendar; a change in it reaches the session", async () => {
    browserErrors.length = 0;
    const { provider, client } = await providerWithClient(t);
    const calendarId = `therapist-${Date.now()}@example.com`;
    google.addCalendar(calendarId, { summary: "Therapy practice", primary: true });
    google.addCalendar(`holidays-${Date.now()}@example.com`, { summary: "Holidays" });
    const session = await createSession(t, provider.id, client.id, { start: plus(START, 3 * DAY) });
    const ev = google.insertEvent(calendarId, {
      iCalUID: session.uid,
      summary: "Session",
      start: { dateTime: session.start },
      end: { dateTime: session.end },
    });

    await signIn(await createProviderKey(t, provider.id));
    await connectInBrowser("Connect Google Calendar", /Therapy practice/);
    await settle();
    await page.reload();
    expect(await text()).toMatch(/Therapy practice.*Syncing/);

    google.patchEvent(calendarId, String(ev.id), { start: { dateTime: plus(session.start, HOUR) }, end: { dateTime: plus(session.end, HOUR) } });
    await settle();
    const moved = await expectStatus<{ start: string }>(await t.request("GET", `/api/v1/sessions/${session.id}`), 200);
    expect(moved.start).toBe(plus(session.start, HOUR));
    expect(browserErrors).toEqual([]);
  });

  it("Outlook: sign in, Connect Outlook calendar, consent, pick a calendar; a change in it reaches the session", async () => {
    browserErrors.length = 0;
    const { provider, client } = await providerWithClient(t);
    const session = await createSession(t, provider.id, client.id, { start: plus(START, 4 * DAY) });
    const ev = graph.insertEvent({ iCalUId: session.uid, subject: "Session", start: session.start, end: session.end } as never);

    await signIn(await createProviderKey(t, provider.id));
    await connectInBrowser("Connect Outlook calendar", /^Calendar \(main calendar\)/);
    await settle();
    await page.reload();
    expect(await text()).toMatch(/Calendar.*Syncing/);

    graph.patchEvent(String(ev.id), { start: plus(session.start, 2 * HOUR), end: plus(session.end, 2 * HOUR) } as never);
    await settle();
    const moved = await expectStatus<{ start: string }>(await t.request("GET", `/api/v1/sessions/${session.id}`), 200);
    expect(moved.start).toBe(plus(session.start, 2 * HOUR));
    expect(browserErrors).toEqual([]);
  });
});
