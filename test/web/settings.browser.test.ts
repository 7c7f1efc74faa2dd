// The settings pages in a real browser: Debian's Chromium driven by playwright-core, against the
// real app served over HTTP on 127.0.0.1. One browser for the file. Screenshots of every page at
// 1280 and 375 px go to artifacts/screenshots/ (git-ignored).

import { mkdirSync, readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import type { Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { expectStatus, makeTestApp } from "../helpers/app.js";
import { launchChromium, listenOnLoopback } from "../helpers/browser.js";
import { fixedClock } from "../helpers/clock.js";
import { createClient, createProvider, createProviderKey, createSession } from "../helpers/factories.js";

const SHOTS = fileURLToPath(new URL("../../artifacts/screenshots/", import.meta.url));
const http = await listenOnLoopback();
const base = http.base;
const t = await makeTestApp({ clock: fixedClock("2026-11-26T12:00:00Z"), env: { PUBLIC_BASE_URL: base } });
http.serveApp(t.app);

let browser: Awaited<ReturnType<typeof launchChromium>>;
let page: Page;
// A CSP violation or a script error shows up here; the pages must have none.
let browserErrors: string[];

beforeAll(async () => {
  mkdirSync(SHOTS, { recursive: true });
  browser = await launchChromium();
  ({ page, errors: browserErrors } = browser);
  await browser.context.grantPermissions(["clipboard-read", "clipboard-write"], { origin: base });
});

afterAll(async () => {
  await browser?.close();
  await http.close();
});

// axe-core's own bundle, evaluated in the page through the DevTools protocol: the pages' CSP
// (script nonces only) stays as it is, and the test sees what a user's browser sees.
const AXE_SOURCE = readFileSync(createRequire(import.meta.url).resolve("axe-core/axe.min.js"), "utf8");

/** axe-core at WCAG 2.0/2.1 A and AA: no violations on the page as it stands. */
async function checkAxe(name: string) {
  if (!(await page.evaluate(() => "axe" in window))) await page.evaluate(AXE_SOURCE);
  const violations = await page.evaluate(async () => {
    const axe = (
      window as unknown as {
        axe: { run: (ctx: Document, opts: object) => Promise<{ passes: unknown[]; violations: { id: string; nodes: { target: unknown[] }[] }[] }> };
      }
    ).axe;
    const result = await axe.run(document, { runOnly: { type: "tag", values: ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"] } });
    return {
      rulesPassed: result.passes.length,
      found: result.violations.map((v) => `${v.id}: ${v.nodes.map((n) => n.target.join(" ")).join(", ")}`),
    };
  });
  expect(violations.rulesPassed, `${name}: axe-core ran`).toBeGreaterThan(10);
  expect(violations.found, `${name}: axe-core violations`).toEqual([]);
}

/** Screenshots at 1280 and 375 px; at 320 px nothing may scroll sideways (readable on a small phone). */
async function shoot(name: string) {
  await checkAxe(name);
  await page.setViewportSize({ width: 320, height: 700 });
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
  expect(overflow, `${name} scrolls sideways at 320 px`).toBeLessThanOrEqual(0);
  await page.evaluate(() => (document.activeElement as HTMLElement | null)?.blur());
  for (const width of [1280, 375]) {
    await page.setViewportSize({ width, height: 800 });
    await page.screenshot({ path: join(SHOTS, `${name}-${width}.png`), fullPage: true });
  }
  await page.setViewportSize({ width: 1280, height: 800 });
}

/** Every visible field has a label, and Tab reaches every control (radios: the checked one). */
async function checkAccessible(name: string) {
  const unlabelled = await page.evaluate(() =>
    [...document.querySelectorAll<HTMLInputElement>("input:not([type=hidden]), textarea, select")]
      .filter((el) => !el.labels || el.labels.length === 0)
      .map((el) => el.id || el.name),
  );
  expect(unlabelled, `${name}: fields without a label`).toEqual([]);
  const controls = await page.evaluate(() => {
    // What is on screen: the inside of a closed disclosure is not, until it is opened.
    const els = [...document.querySelectorAll<HTMLElement>("a[href], button, input:not([type=hidden]), textarea, select, summary")].filter(
      (el) => !el.hidden && el.checkVisibility() && !(el instanceof HTMLInputElement && el.type === "radio" && !el.checked),
    );
    els.forEach((el, i) => {
      el.setAttribute("data-probe", String(i));
    });
    const reached: string[] = [];
    (window as unknown as { reached: string[] }).reached = reached;
    document.addEventListener("focusin", (e) => reached.push((e.target as HTMLElement).getAttribute("data-probe") ?? ""));
    (document.activeElement as HTMLElement | null)?.blur();
    return els.map((_, i) => String(i));
  });
  // A date field takes one Tab per part (month, day, year) in Chromium.
  const presses = controls.length + 3 + 2 * (await page.locator("input[type=date]:visible").count());
  for (let i = 0; i < presses; i++) await page.keyboard.press("Tab");
  const reached = new Set(await page.evaluate(() => (window as unknown as { reached: string[] }).reached.filter(Boolean)));
  expect([...reached].sort(), `${name}: controls Tab does not reach`).toEqual([...controls].sort());
}

const navTo = (name: string) => page.getByRole("navigation", { name: "Settings sections" }).getByRole("link", { name, exact: true }).click();
const text = async () => (await page.locator("main").innerText()).replace(/\s+/g, " ");

async function signIn(key: string) {
  await page.goto(`${base}/settings`);
  expect(new URL(page.url()).pathname).toBe("/settings/sign-in");
  // Keyboard only: Tab to the key field, type, Enter.
  for (let i = 0; i < 10 && (await page.evaluate(() => document.activeElement?.id)) !== "apiKey"; i++) await page.keyboard.press("Tab");
  await page.keyboard.type(key);
  await page.keyboard.press("Enter");
  await page.waitForURL(`${base}/settings`);
}

// A loaded machine (several suites share two cores) can take 30 s over the first walk-through.
describe("settings pages in Chromium", { timeout: 120_000 }, () => {
  it("sign in, refuse then accept a link, create a feed and fetch it, rotate (old URL 404), sign out", async () => {
    browserErrors.length = 0;
    const provider = await createProvider(t, { name: "Dr Ada Browser" });
    const key = await createProviderKey(t, provider.id);

    await page.goto(`${base}/settings`);
    await shoot("sign-in");
    await checkAccessible("sign-in");
    await page.fill("#apiKey", `thk_${"x".repeat(43)}`);
    await page.click("button[type=submit]");
    expect(await text()).toContain("That API key didn't work.");
    await checkAxe("sign-in-refused");

    await signIn(key);
    expect(await text()).toContain("Settings for Dr Ada Browser");
    await shoot("overview");

    // Telehealth link: a refused link, then a compliant one.
    await navTo("Telehealth link");
    await page.fill("#url", "http://zoom.us/j/1234567890");
    await page.getByRole("button", { name: "Check and save" }).click();
    const refused = await text();
    expect(refused).toContain("This link can't be used");
    expect(refused).toContain("must be secure and start with https://");
    expect(await page.inputValue("#url")).toBe("http://zoom.us/j/1234567890");
    // Focus is on the error summary, which links to the marked field.
    expect(await page.evaluate(() => document.activeElement?.hasAttribute("data-error-summary"))).toBe(true);
    expect(await page.getAttribute("#url", "aria-invalid")).toBe("true");
    expect(await page.title()).toMatch(/^Error: /);
    await shoot("link-refused");

    await page.fill("#url", "https://zoom.us/j/1234567890");
    await page.fill("#instructions", "Join 5 minutes early; I'll admit you from the waiting room.");
    await page.check("#baaSigned");
    await page.check("#waitingRoomEnabled");
    await page.getByRole("button", { name: "Check and save" }).click();
    await page.waitForURL(`${base}/settings/link`);
    const verdict = await text();
    expect(verdict).toContain("Compliant: ready for sessions");
    expect(verdict).toContain("Zoom");
    expect(verdict).toContain("Meetings > Personal Meeting ID > Edit > Waiting Room");
    await checkAccessible("link");
    await shoot("link-compliant");

    // A feed: create, read its URL from the page, fetch it.
    await navTo("Calendar subscriptions");
    // Full names without the agreement: refused, focus on the summary, its link leads to the checkbox.
    await page.fill("#name", "Named");
    await page.check("#privacy-full");
    await page.getByRole("button", { name: "Create calendar" }).click();
    expect(await page.evaluate(() => document.activeElement?.hasAttribute("data-error-summary"))).toBe(true);
    expect(await page.title()).toMatch(/^Error: /);
    expect(await text()).not.toContain("acknowledgePhi");
    await shoot("calendars-refused-full-names");
    await page.getByRole("link", { name: /^Full names need your agreement/ }).click();
    expect(await page.evaluate(() => document.activeElement?.id)).toBe("acknowledgePhi");
    await page.check("#privacy-minimal");
    await page.fill("#name", "Telehealth sessions");
    await page.getByRole("button", { name: "Create calendar" }).click();
    await page.waitForURL(`${base}/settings/calendars`);
    const url = await page.inputValue("#feed-url");
    expect(url).toMatch(new RegExp(`^${base}/feeds/[A-Za-z0-9_-]{43}\\.ics$`));
    expect(await page.getAttribute("a:has-text('Apple Calendar')", "href")).toBe(url.replace(/^http:/, "webcal:"));
    expect(await page.getAttribute("a:has-text('Outlook.com')", "href")).toContain(`addfromweb?url=${encodeURIComponent(url)}`);
    expect(await page.getAttribute("a[data-copy-first]", "href")).toBe("https://calendar.google.com/calendar/u/0/r/settings/addbyurl");
    await page.getByRole("button", { name: "Copy" }).click();
    await expect.poll(() => page.locator("#copy-status").innerText()).toBe("Copied.");
    expect(await page.evaluate(() => navigator.clipboard.readText())).toBe(url);
    await checkAccessible("calendars-new");
    await shoot("calendars-new-feed");

    const fetched = await fetch(url, { headers: { "user-agent": "Google-Calendar-Importer" } });
    expect(fetched.status).toBe(200);
    expect(fetched.headers.get("content-type")).toMatch(/^text\/calendar/);
    expect(await fetched.text()).toContain("BEGIN:VCALENDAR");
    await t.deps.runtime.fetchRecorder.flush();

    // Shown once: after a reload the address is gone, the fetch statistics are there.
    await page.reload();
    expect(await page.locator("#feed-url").count()).toBe(0);
    expect(await page.content()).not.toContain(url);
    const listed = await text();
    expect(listed).toContain("Google Nov 26, 2026, 7:00 AM EST");
    expect(listed).toContain("up to 24 hours");
    await shoot("calendars-list");

    // Rotate, with its confirmation step; the old URL answers 404.
    await page.getByRole("link", { name: /^Get a new address for “Telehealth sessions” ?…$/ }).click();
    expect(await text()).toContain("stops working at once");
    await checkAccessible("rotate-confirm");
    await shoot("calendars-rotate-confirm");
    await page.getByRole("button", { name: "Yes, get a new address" }).click();
    await page.waitForURL(`${base}/settings/calendars`);
    const rotatedUrl = await page.inputValue("#feed-url");
    expect(rotatedUrl).not.toBe(url);
    expect((await fetch(url)).status).toBe(404);
    expect((await fetch(rotatedUrl)).status).toBe(200);

    // Sign out: back at the form, and the pages are closed again.
    await page.getByRole("button", { name: "Sign out" }).click();
    await page.waitForURL(`${base}/settings/sign-in?signed_out`);
    expect(await text()).toContain("You're signed out.");
    await shoot("signed-out");
    await page.goto(`${base}/settings/calendars`);
    expect(new URL(page.url()).pathname).toBe("/settings/sign-in");
    expect(browserErrors).toEqual([]);
  });

  it("open items show what to do for each ended session", async () => {
    browserErrors.length = 0;
    await browser.context.clearCookies();
    const provider = await createProvider(t, { name: "Dr Open Items" });
    const key = await createProviderKey(t, provider.id);
    await expectStatus(
      await t.request("PUT", `/api/v1/providers/${provider.id}/telehealth-link`, {
        body: { url: "https://doxy.me/dropenitems", baaSigned: true, waitingRoomEnabled: true },
      }),
      200,
    );
    const clients = [
      await createClient(t, provider.id),
      await createClient(t, provider.id),
      await createClient(t, provider.id, { insurance: "self_pay" }),
      await createClient(t, provider.id),
    ];
    for (const [client, state] of [
      [clients[1]!, "NJ"],
      [clients[2]!, "NJ"],
      [clients[3]!, "CA"],
    ] as const) {
      await expectStatus(await t.request("POST", `/api/v1/clients/${client.id}/locations`, { body: { state, from: "2026-11-01T00:00:00Z" } }), 201);
    }
    for (const [i, client] of clients.entries()) await createSession(t, provider.id, client.id, { start: `2026-11-2${i}T15:00:00Z` });

    await signIn(key);
    expect(await text()).toContain("4 items need your attention.");
    await navTo("Open items");
    const items = await text();
    for (const todo of ["Add a client location", "Begin credentialing or refer", "Private pay", "Refer"]) expect(items).toContain(todo);
    await checkAccessible("open-items");
    await shoot("open-items");
    expect(browserErrors).toEqual([]);
  });

  it("an open item for a past session without a location is resolved from the page alone: add the location, confirm, gone", async () => {
    browserErrors.length = 0;
    await browser.context.clearCookies();
    const provider = await createProvider(t, { name: "Dr Work Queue" });
    const key = await createProviderKey(t, provider.id);
    await expectStatus(
      await t.request("PUT", `/api/v1/providers/${provider.id}/telehealth-link`, {
        body: { url: "https://doxy.me/drworkqueue", baaSigned: true, waitingRoomEnabled: true },
      }),
      200,
    );
    const client = await createClient(t, provider.id, { displayName: "Maria Alvarez" });
    const other = await createClient(t, provider.id, { displayName: "Tom Ng" });
    await expectStatus(await t.request("POST", `/api/v1/clients/${other.id}/locations`, { body: { state: "CA" } }), 201);
    const session = await createSession(t, provider.id, client.id, { start: "2026-11-20T15:00:00Z" });
    const older = await createSession(t, provider.id, other.id, { start: "2026-11-02T15:00:00Z" });

    await signIn(key);
    await navTo("Open items");
    // Most urgent first: the older session leads.
    expect(await page.locator("[data-open-items] > li").evaluateAll((els) => els.map((e) => e.getAttribute("data-session")))).toEqual([
      older.id,
      session.id,
    ]);
    const item = page.locator(`li[data-session="${session.id}"]`);
    await expect.poll(() => item.getByRole("heading", { level: 2 }).innerText()).toBe("M.A., Nov 20, 2026, 10:00 AM: Client location needed");
    // The name stays hidden until asked for.
    expect(await item.locator("[data-client-name]").isVisible()).toBe(false);
    await item.getByText("Show the client's name").click();
    expect(await item.locator("[data-client-name]").innerText()).toBe("Maria Alvarez");
    await checkAccessible("open-items-queue");
    await shoot("open-items-queue");

    // From the page alone: where the client was, since when (the session's date by default), confirm.
    expect(await page.inputValue(`#loc-${session.id}-from`)).toBe("2026-11-20");
    await page.selectOption(`#loc-${session.id}-state`, { label: "New York (NY)" });
    await page.fill(`#loc-${session.id}-label`, "Home");
    await item.getByRole("button", { name: "Add location and confirm" }).click();
    await page.waitForURL(`${base}/settings/open-items`);
    const status = page.getByRole("status").first();
    expect(await status.getAttribute("data-tone")).toBe("success");
    expect(await status.innerText()).toContain("Confirmed M.A.'s session on Nov 20, 2026: billed to the client's insurance.");
    expect(await page.locator(`li[data-session="${session.id}"]`).count()).toBe(0);
    expect(await page.locator("[data-open-items] > li").count()).toBe(1);
    await shoot("open-items-resolved");

    const confirmed = await expectStatus(await t.request("GET", `/api/v1/sessions/${session.id}`), 200);
    expect(confirmed.status).toBe("confirmed");
    expect(confirmed.confirmation).toMatchObject({ state: "NY", outcome: "eligible" });

    // The client list shows the new location.
    await navTo("Clients");
    const card = page.locator(`li[data-client="${client.id}"]`);
    expect(await card.innerText()).toContain("New York (NY) · Home");
    await checkAccessible("clients");
    await shoot("clients");
    expect(browserErrors).toEqual([]);
  });
});
