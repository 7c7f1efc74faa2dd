// The operator's first steps in a browser: "/" leads to the settings pages, the admin token signs in
// there, and creates a provider and the API key that provider then signs in with.
import { describe, expect, it } from "vitest";
import { expectStatus, makeTestApp } from "../helpers/app.js";
import { fixedClock, MINUTE } from "../helpers/clock.js";
import { createProvider } from "../helpers/factories.js";
import { csrfOf, textOf, webClient } from "./web-client.js";

const clock = fixedClock("2026-11-26T12:00:00Z");
const t = await makeTestApp({ clock });

async function signedInAdmin() {
  const web = webClient(t);
  const res = await web.submit("/settings/sign-in", "/settings/sign-in", { apiKey: t.adminToken });
  expect(res.status, await res.clone().text()).toBe(303);
  expect(res.headers.get("location")).toBe("/settings/admin");
  return web;
}

describe("a newcomer's way in", () => {
  it("/ redirects to /settings", async () => {
    const res = await t.app.request("/");
    expect(res.status).toBe(302);
    expect(res.headers.get("location")).toBe("/settings");
  });

  it.each(["/settings/nope", "/settings/calendars/nope/nope/nope", "/settings/admin/nope", "/settings/admin/providers/not-a-uuid"])(
    "%s is a friendly HTML 404",
    async (path) => {
      const web = await signedInAdmin();
      for (const client of [web, webClient(t)]) {
        const res = await client.get(path);
        // Unknown pages are 404 whether signed in or not; admin pages ask for sign-in first.
        if (res.status === 303) {
          expect(res.headers.get("location")).toBe("/settings/sign-in");
          continue;
        }
        expect(res.status).toBe(404);
        expect(res.headers.get("content-type")).toMatch(/^text\/html/);
        const text = textOf(await res.text());
        expect(text).toContain("No such page.");
        expect(text).toMatch(/Back to (settings|providers)/);
      }
    },
  );
});

describe("the admin's settings pages", () => {
  it("the admin token signs in; the session cookie is HttpOnly, SameSite=Strict, __Host-; only its hash is stored", async () => {
    const web = webClient(t);
    const res = await web.submit("/settings/sign-in", "/settings/sign-in", { apiKey: t.adminToken });
    expect(res.status).toBe(303);
    const cookie = res.headers.getSetCookie().find((c) => c.startsWith("__Host-thc_admin_session="))!;
    expect(cookie).toMatch(/HttpOnly/);
    expect(cookie).toMatch(/SameSite=Strict/);
    expect(cookie).toMatch(/Secure/);
    const token = cookie.split(";")[0]!.split("=")[1]!;
    const rows = await t.database.db.query.adminWebSessions.findMany();
    expect(rows.some((r) => r.tokenHash === token)).toBe(false);
    const page = await web.get("/settings/admin");
    expect(page.status).toBe(200);
    expect(textOf(await page.text())).toContain("Add a provider");
  });

  it("without an admin session, admin pages redirect to sign-in, and a provider key cannot reach them", async () => {
    expect((await t.app.request("/settings/admin")).headers.get("location")).toBe("/settings/sign-in");
    const provider = await createProvider(t);
    const key = await expectStatus<{ token: string }>(await t.request("POST", `/api/v1/providers/${provider.id}/api-keys`, { body: {} }), 201);
    const web = webClient(t);
    await web.signIn(key.token);
    const res = await web.get("/settings/admin");
    expect(res.status).toBe(303);
    expect(res.headers.get("location")).toBe("/settings/sign-in");
  });

  it("creates a provider and an API key, shown once, with which the provider signs in", async () => {
    const web = await signedInAdmin();
    const name = `Dr Admin ${Date.now()}`;
    const created = await web.submit("/settings/admin", "/settings/admin/providers", {
      name,
      timezone: "America/Chicago",
      licenses: "il, wi",
      credentialedStates: "IL",
    });
    expect(created.status, await created.clone().text()).toBe(303);
    const providerPath = created.headers.get("location")!;
    expect(providerPath).toMatch(/^\/settings\/admin\/providers\/[0-9a-f-]{36}$/);
    const providerId = providerPath.split("/").pop()!;
    const api = await expectStatus(await t.request("GET", `/api/v1/providers/${providerId}`), 200);
    expect(api).toMatchObject({ name, timezone: "America/Chicago", licenses: [{ state: "IL" }, { state: "WI" }], credentialedStates: ["IL"] });

    expect(textOf(await (await web.get("/settings/admin")).text())).toContain(name);

    const keyPage = await web.submit(providerPath, `${providerPath}/api-keys`, { label: "Front desk" });
    expect(keyPage.status).toBe(200);
    expect(keyPage.headers.get("cache-control")).toBe("no-store");
    const html = await keyPage.text();
    const token = /id="fresh-key" type="text" readonly="" value="(thk_[^"]+)"/.exec(html)?.[1];
    expect(token, html.slice(0, 2000)).toBeDefined();
    // Shown once: the provider's page does not show it again.
    expect(await (await web.get(providerPath)).text()).not.toContain(token!);

    const provider = webClient(t);
    const signedIn = await provider.signIn(token!);
    expect(signedIn.headers.get("location")).toBe("/settings");
    expect(textOf(await (await provider.get("/settings")).text())).toContain(`Settings for ${name}`);
  });

  it("a refused provider shows the reason and keeps the form; nothing is created", async () => {
    const web = await signedInAdmin();
    const before = (await t.database.db.query.providers.findMany()).length;
    const res = await web.submit("/settings/admin", "/settings/admin/providers", {
      name: "Dr Nowhere",
      timezone: "America/Chicago",
      licenses: "IL",
      credentialedStates: "TX",
    });
    expect(res.status).toBe(422);
    const text = textOf(await res.text());
    expect(text).toContain("none for TX");
    expect((await t.database.db.query.providers.findMany()).length).toBe(before);
  });

  it("revokes a key from the page; a form without the CSRF token changes nothing", async () => {
    const web = await signedInAdmin();
    const provider = await createProvider(t);
    const key = await expectStatus<{ id: string; token: string }>(
      await t.request("POST", `/api/v1/providers/${provider.id}/api-keys`, { body: {} }),
      201,
    );
    const path = `/settings/admin/providers/${provider.id}/api-keys/${key.id}/revoke`;
    expect((await web.post(path, { _csrf: "forged" })).status).toBe(403);
    expect((await t.request("GET", `/api/v1/providers/${provider.id}`, { token: key.token })).status).toBe(200);
    const page = await web.get(`/settings/admin/providers/${provider.id}`);
    const res = await web.post(path, { _csrf: csrfOf(await page.text()) });
    expect(res.status).toBe(200);
    expect((await t.request("GET", `/api/v1/providers/${provider.id}`, { token: key.token })).status).toBe(401);
  });

  it("the session ends after 30 idle minutes and on sign-out", async () => {
    const web = await signedInAdmin();
    clock.advance(31 * MINUTE);
    expect((await web.get("/settings/admin")).status).toBe(303);
    const again = await signedInAdmin();
    const page = await again.get("/settings/admin");
    const out = await again.post("/settings/admin/sign-out", { _csrf: csrfOf(await page.text()) });
    expect(out.status).toBe(303);
    expect((await again.get("/settings/admin")).status).toBe(303);
  });
});
