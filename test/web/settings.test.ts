// The settings pages in-process: sign-in, cookies, CSRF, sessions, and each page's behaviour.
import { describe, expect, it } from "vitest";
import { initialsOf } from "../../src/domain/feed-policy.js";
import { expectStatus, makeTestApp } from "../helpers/app.js";
import { fixedClock, MINUTE } from "../helpers/clock.js";
import { createClient, createProvider, createProviderKey, createSession, feedPath, setLink } from "../helpers/factories.js";
import { csrfOf, textOf, webClient } from "./web-client.js";

const clock = fixedClock("2026-11-26T12:00:00Z");
const t = await makeTestApp({ clock });

async function signedInProvider() {
  const provider = await createProvider(t);
  const key = await createProviderKey(t, provider.id);
  const web = webClient(t);
  await web.signIn(key);
  return { provider, key, web };
}

const sessionRows = (providerId: string) => t.database.db.query.webSessions.findMany({ where: (s, { eq }) => eq(s.providerId, providerId) });

describe("sign-in", () => {
  it("without a session, pages redirect (303) to the sign-in form", async () => {
    for (const path of ["/settings", "/settings/link", "/settings/calendars", "/settings/open-items", "/settings/clients"]) {
      const res = await t.app.request(path);
      expect(res.status, path).toBe(303);
      expect(res.headers.get("location")).toBe("/settings/sign-in");
    }
    const form = await t.app.request("/settings/sign-in");
    expect(form.status).toBe(200);
    expect(form.headers.get("content-type")).toMatch(/^text\/html/);
    const html = await form.text();
    expect(html).toMatch(/^<!doctype html>/);
    expect(html).toContain('<label for="apiKey">');
  });

  it("a wrong or revoked key cannot sign in; both read the same and set no session", async () => {
    const provider = await createProvider(t);
    const revoked = await createProviderKey(t, provider.id);
    const keys = await expectStatus(await t.request("GET", `/api/v1/providers/${provider.id}/api-keys`), 200);
    await expectStatus(await t.request("DELETE", `/api/v1/providers/${provider.id}/api-keys/${keys.items[0].id}`), 204);
    const messages = new Set<string>();
    for (const apiKey of [`thk_${"A".repeat(43)}`, revoked, ""]) {
      const web = webClient(t);
      const res = await web.submit("/settings/sign-in", "/settings/sign-in", { apiKey });
      expect(res.status).toBe(403);
      const text = textOf(await res.text());
      messages.add(/That API key didn't work[^.]*\./.exec(text)?.[0] ?? text);
      expect([...web.jar.keys()].some((k) => k.includes("thc_session"))).toBe(false);
    }
    expect(messages).toEqual(new Set(["That API key didn't work."]));
    expect(await sessionRows(provider.id)).toHaveLength(0);
  });

  it("a provider key signs in: the cookie is HttpOnly, Secure, SameSite=Strict, __Host-, and only its hash is stored", async () => {
    const provider = await createProvider(t);
    const key = await createProviderKey(t, provider.id);
    const web = webClient(t);
    const res = await web.signIn(key);
    expect(res.headers.get("location")).toBe("/settings");
    const cookie = res.headers.getSetCookie().find((c) => c.startsWith("__Host-thc_session="))!;
    expect(cookie).toBeDefined();
    const attrs = cookie.split(";").map((a) => a.trim().toLowerCase());
    expect(attrs).toEqual(expect.arrayContaining(["httponly", "secure", "samesite=strict", "path=/", "max-age=43200"]));
    expect(attrs.some((a) => a.startsWith("domain="))).toBe(false);
    const token = cookie.split(";")[0]!.split("=")[1]!;
    const rows = await sessionRows(provider.id);
    expect(rows).toHaveLength(1);
    expect(JSON.stringify(rows)).not.toContain(token);
    expect(JSON.stringify(rows)).not.toContain(key);
    // The sign-in form's token cookie is gone once used.
    expect(res.headers.getSetCookie().some((c) => c.startsWith("__Host-thc_sign_in=;"))).toBe(true);
    const page = await web.get("/settings");
    expect(page.status).toBe(200);
    expect(textOf(await page.text())).toContain(`Settings for ${provider.name}`);
  });

  it("served over http (PUBLIC_BASE_URL http://), the cookie is not Secure and has no __Host- prefix", async () => {
    const plain = await makeTestApp({ env: { PUBLIC_BASE_URL: "http://localhost:8787" } });
    const provider = await createProvider(plain);
    const web = webClient(plain);
    const res = await web.signIn(await createProviderKey(plain, provider.id));
    const cookie = res.headers.getSetCookie().find((c) => c.startsWith("thc_session="))!;
    expect(cookie).toBeDefined();
    expect(cookie).toMatch(/HttpOnly/);
    expect(cookie).toMatch(/SameSite=Strict/);
    expect(cookie).not.toMatch(/Secure/i);
  });

  it("the sign-in form is CSRF-protected too: no token, a wrong token or another origin is refused", async () => {
    const provider = await createProvider(t);
    const key = await createProviderKey(t, provider.id);
    const web = webClient(t);
    const html = await (await web.get("/settings/sign-in")).text();
    expect((await web.post("/settings/sign-in", { apiKey: key })).status).toBe(403);
    expect((await web.post("/settings/sign-in", { apiKey: key, _csrf: "x".repeat(43) })).status).toBe(403);
    expect((await web.post("/settings/sign-in", { apiKey: key, _csrf: csrfOf(html) }, { origin: "https://evil.example" })).status).toBe(403);
    expect(await sessionRows(provider.id)).toHaveLength(0);
    // A fresh browser without the form's cookie cannot reuse a token seen elsewhere.
    expect((await webClient(t).post("/settings/sign-in", { apiKey: key, _csrf: csrfOf(html) })).status).toBe(403);
  });
});

describe("CSRF on signed-in forms", () => {
  it("a form post without the CSRF token is refused with 403 and changes nothing", async () => {
    const { provider, web } = await signedInProvider();
    const form = { url: "https://zoom.us/j/1234567890", baaSigned: "yes", waitingRoomEnabled: "yes" };
    const res = await web.post("/settings/link", form);
    expect(res.status).toBe(403);
    expect(res.headers.get("content-type")).toMatch(/^text\/html/);
    expect(textOf(await res.text())).toContain("nothing was changed");
    expect((await t.request("GET", `/api/v1/providers/${provider.id}/telehealth-link`)).status).toBe(404);
    expect((await web.post("/settings/calendars", { name: "x" })).status).toBe(403);
    expect((await web.post("/settings/sign-out", {})).status).toBe(403);
  });

  it("a wrong token, or the right token from another origin or a cross-site fetch, is refused", async () => {
    const { provider, web } = await signedInProvider();
    const csrf = csrfOf(await (await web.get("/settings/link")).text());
    const form = { url: "https://zoom.us/j/1234567890", baaSigned: "yes", waitingRoomEnabled: "yes" };
    expect((await web.post("/settings/link", { ...form, _csrf: csrf.slice(0, -1) + (csrf.endsWith("A") ? "B" : "A") })).status).toBe(403);
    expect((await web.post("/settings/link", { ...form, _csrf: csrf }, { origin: "https://evil.example" })).status).toBe(403);
    expect((await web.post("/settings/link", { ...form, _csrf: csrf }, { origin: "null" })).status).toBe(403);
    expect((await web.post("/settings/link", { ...form, _csrf: csrf }, { "sec-fetch-site": "cross-site" })).status).toBe(403);
    // Another session's token is not this session's.
    const other = await signedInProvider();
    const otherCsrf = csrfOf(await (await other.web.get("/settings/link")).text());
    expect((await web.post("/settings/link", { ...form, _csrf: otherCsrf })).status).toBe(403);
    expect((await t.request("GET", `/api/v1/providers/${provider.id}/telehealth-link`)).status).toBe(404);
    // The same post from our own origin goes through.
    const ok = await web.post("/settings/link", { ...form, _csrf: csrf }, { origin: "https://cal.example.test", "sec-fetch-site": "same-origin" });
    expect(ok.status, await ok.clone().text()).toBe(303);
  });
});

describe("web sessions", () => {
  it("revoking the API key ends its web sessions at once", async () => {
    const { provider, web } = await signedInProvider();
    expect((await web.get("/settings")).status).toBe(200);
    const keys = await expectStatus(await t.request("GET", `/api/v1/providers/${provider.id}/api-keys`), 200);
    await expectStatus(await t.request("DELETE", `/api/v1/providers/${provider.id}/api-keys/${keys.items[0].id}`), 204);
    const res = await web.get("/settings");
    expect(res.status).toBe(303);
    expect(res.headers.get("location")).toBe("/settings/sign-in");
    expect(await sessionRows(provider.id)).toHaveLength(0);
  });

  it("ends after 30 idle minutes, and after 12 hours however active", async () => {
    try {
      const { web } = await signedInProvider();
      clock.advance(29 * MINUTE);
      expect((await web.get("/settings")).status).toBe(200);
      clock.advance(30 * MINUTE);
      expect((await web.get("/settings")).status).toBe(303);

      const busy = await signedInProvider();
      for (let i = 0; i < 24; i++) {
        clock.advance(29 * MINUTE);
        expect((await busy.web.get("/settings/link")).status).toBe(200);
      }
      clock.advance(25 * MINUTE); // 12 h 1 min since sign-in, 25 min idle
      expect((await busy.web.get("/settings/link")).status).toBe(303);
    } finally {
      clock.set("2026-11-26T12:00:00Z");
    }
  });

  it("sign-out ends the session on the server: a replayed cookie no longer works", async () => {
    const { provider, web } = await signedInProvider();
    const saved = new Map(web.jar);
    const res = await web.submit("/settings", "/settings/sign-out", {});
    expect(res.status).toBe(303);
    expect(res.headers.get("location")).toBe("/settings/sign-in?signed_out");
    expect(res.headers.getSetCookie().some((c) => /^__Host-thc_session=;.*Max-Age=0/i.test(c))).toBe(true);
    expect(await sessionRows(provider.id)).toHaveLength(0);
    const replay = webClient(t);
    for (const [k, v] of saved) replay.jar.set(k, v);
    expect((await replay.get("/settings")).status).toBe(303);
    expect(textOf(await (await web.get("/settings/sign-in?signed_out")).text())).toContain("You're signed out.");
  });
});

describe("pages", () => {
  it("carry a strict Content-Security-Policy with a per-response nonce, and are never cached", async () => {
    const { web } = await signedInProvider();
    const a = await web.get("/settings/calendars");
    const b = await web.get("/settings/calendars");
    const csp = a.headers.get("content-security-policy")!;
    expect(csp).toMatch(/default-src 'none'/);
    expect(csp).toMatch(/script-src 'nonce-[A-Za-z0-9+/=_-]+'/);
    expect(csp).toMatch(/style-src 'nonce-/);
    expect(csp).toMatch(/frame-ancestors 'none'/);
    expect(csp).toMatch(/form-action 'self'/);
    expect(csp).toMatch(/base-uri 'none'/);
    expect(csp).not.toMatch(/unsafe-inline|unsafe-eval/);
    expect(b.headers.get("content-security-policy")).not.toBe(csp);
    const nonce = /'nonce-([^']+)'/.exec(csp)![1]!;
    const html = await a.text();
    expect(html).toContain(`<script nonce="${nonce}">`);
    expect(html).not.toMatch(/\son[a-z]+=/i); // no inline event handlers
    expect(html).not.toMatch(/\sstyle="/i);
    expect(a.headers.get("cache-control")).toBe("no-store");
    expect(a.headers.get("referrer-policy")).toBe("same-origin");
    expect(a.headers.get("x-content-type-options")).toBe("nosniff");
    expect(a.headers.get("x-frame-options")).toBe("DENY");
    for (const path of ["/settings", "/settings/sign-in", "/settings/link", "/settings/open-items"]) {
      const res = await web.get(path);
      expect(res.headers.get("content-security-policy"), path).toMatch(/^default-src 'none'/);
      expect(res.headers.get("cache-control"), path).toBe("no-store");
    }
  });

  it("a form over 64 KiB is refused with 413 before it is read", async () => {
    const { provider, web } = await signedInProvider();
    const csrf = csrfOf(await (await web.get("/settings/link")).text());
    const res = await web.post("/settings/link", { _csrf: csrf, url: "https://zoom.us/j/1234567890", instructions: "x".repeat(70_000) });
    expect(res.status).toBe(413);
    expect(res.headers.get("content-type")).toMatch(/^text\/html/);
    expect((await t.request("GET", `/api/v1/providers/${provider.id}/telehealth-link`)).status).toBe(404);
  });

  it("every field has a label", async () => {
    const { web } = await signedInProvider();
    for (const path of ["/settings/link", "/settings/calendars"]) {
      const html = await (await web.get(path)).text();
      const ids = [...html.matchAll(/<(?:input|textarea|select)\b(?![^>]*type="hidden")[^>]*\bid="([^"]+)"/g)].map((m) => m[1]!);
      const fields = [...html.matchAll(/<(?:input|textarea|select)\b(?![^>]*type="hidden")/g)];
      expect(ids.length, path).toBe(fields.length);
      for (const id of ids) expect(html, `${path} #${id}`).toContain(`for="${id}"`);
    }
  });

  it("telehealth link: a refused link shows its code's message (422); a good one saves (303) and shows the verdict", async () => {
    const { provider, web } = await signedInProvider();
    const refused = await web.submit("/settings/link", "/settings/link", {
      url: "http://zoom.us/j/1234567890",
      baaSigned: "yes",
      waitingRoomEnabled: "yes",
    });
    expect(refused.status).toBe(422);
    const refusedText = textOf(await refused.text());
    expect(refusedText).toContain("This link can't be used");
    expect(refusedText).toContain("must be secure and start with https://");
    expect(refusedText).toContain("insecure_scheme");
    expect(refusedText).toContain("Nothing was saved.");

    const saved = await web.submit("/settings/link", "/settings/link", {
      url: "https://zoom.us/j/1234567890",
      instructions: "Join early.\r\nUse headphones.",
      waitingRoomEnabled: "yes",
    });
    expect(saved.status).toBe(303);
    expect(saved.headers.get("location")).toBe("/settings/link");
    const linkHtml = await (await web.get("/settings/link")).text();
    const text = textOf(linkHtml);
    // A stored but non-compliant link is a warning, never a success notice.
    expect(text).toContain("Not ready for sessions: this link is stored but not compliant");
    expect(text).not.toContain("Saved");
    expect(linkHtml).toMatch(/<p class="card warning" role="status" data-tone="warning">Not ready for sessions/);
    expect(linkHtml).not.toContain('class="card notice"');
    expect(text).toContain("Platform Zoom");
    expect(text).toContain("Not compliant yet");
    expect(text).toContain("business associate agreement");
    expect(text).toContain("Meetings > Personal Meeting ID > Edit > Waiting Room");
    const api = await expectStatus(await t.request("GET", `/api/v1/providers/${provider.id}/telehealth-link`), 200);
    expect(api).toMatchObject({
      url: "https://zoom.us/j/1234567890",
      instructions: "Join early.\nUse headphones.",
      baaSigned: false,
      compliant: false,
    });

    await web.submit("/settings/link", "/settings/link", { url: "https://zoom.us/j/1234567890", baaSigned: "yes", waitingRoomEnabled: "yes" });
    const good = textOf(await (await web.get("/settings/link")).text());
    expect(good).toContain("Compliant: ready for sessions");
    // The notice is shown once.
    expect(good).toContain("Saved. Your link is compliant");
    expect(textOf(await (await web.get("/settings/link")).text())).not.toContain("Saved.");
  });

  it("a new feed's URL is shown once, never in a redirect or in the database in clear; rotate and revoke", async () => {
    const { provider, web } = await signedInProvider();
    await setLink(t, provider.id);
    const created = await web.submit("/settings/calendars", "/settings/calendars", {
      name: "Telehealth sessions",
      privacy: "minimal",
      includeLink: "yes",
    });
    expect(created.status).toBe(303);
    expect(created.headers.get("location")).toBe("/settings/calendars");
    const html = await (await web.get("/settings/calendars")).text();
    const url = /id="feed-url" type="text" readonly="" value="([^"]+)"/.exec(html)?.[1];
    expect(url).toMatch(/^https:\/\/cal\.example\.test\/feeds\/[A-Za-z0-9_-]{43}\.ics$/);
    const secret = /feeds\/(.+)\.ics/.exec(url!)![1]!;
    expect(html).toContain(`href="webcal://cal.example.test/feeds/${secret}.ics"`);
    expect(html).toContain(`https://outlook.live.com/calendar/0/addfromweb?url=${encodeURIComponent(url!)}`.replace(/&/g, "&amp;"));
    expect(html).toContain("https://calendar.google.com/calendar/u/0/r/settings/addbyurl");
    // Google's one-click link, as the API returns it, comes second to the documented add-by-URL page.
    const api = await expectStatus(await t.request("GET", `/api/v1/providers/${provider.id}/feeds`), 200);
    expect(api.items).toHaveLength(1);
    const cid = `https://calendar.google.com/calendar/r?cid=${encodeURIComponent(url!)}`;
    expect(html).toContain(`href="${cid}"`);
    expect(html.indexOf(cid)).toBeGreaterThan(html.indexOf("https://calendar.google.com/calendar/u/0/r/settings/addbyurl"));
    expect(textOf(html)).toContain("Google doesn't document it");
    expect(textOf(html)).toContain("up to 24 hours");
    expect(JSON.stringify(await sessionRows(provider.id))).not.toContain(secret);
    expect((await t.app.request(feedPath(url!))).status).toBe(200);

    // Shown once: the next view has the feed but not its address.
    const again = await (await web.get("/settings/calendars")).text();
    expect(again).not.toContain(secret);
    expect(textOf(again)).toContain("Telehealth sessions");

    const feeds = await expectStatus(await t.request("GET", `/api/v1/providers/${provider.id}/feeds`), 200);
    const feedId = feeds.items[0].id;
    const confirm = await web.get(`/settings/calendars/${feedId}/rotate`);
    expect(textOf(await confirm.text())).toContain("stops working at once");
    const rotated = await web.submit(`/settings/calendars/${feedId}/rotate`, `/settings/calendars/${feedId}/rotate`, {});
    expect(rotated.status).toBe(303);
    const newUrl = /id="feed-url" type="text" readonly="" value="([^"]+)"/.exec(await (await web.get("/settings/calendars")).text())?.[1];
    expect(newUrl).toBeDefined();
    expect(newUrl).not.toBe(url);
    expect((await t.app.request(feedPath(url!))).status).toBe(404);
    expect((await t.app.request(feedPath(newUrl!))).status).toBe(200);

    const revoked = await web.submit(`/settings/calendars/${feedId}/revoke`, `/settings/calendars/${feedId}/revoke`, {});
    expect(revoked.status).toBe(303);
    expect(textOf(await (await web.get("/settings/calendars")).text())).toContain("“Telehealth sessions” is stopped");
    expect((await t.app.request(feedPath(newUrl!))).status).toBe(404);
    expect((await web.get(`/settings/calendars/${feedId}/rotate`)).status).toBe(404);
  });

  it("full client names need the PHI acknowledgement", async () => {
    const { provider, web } = await signedInProvider();
    const refused = await web.submit("/settings/calendars", "/settings/calendars", { name: "Named", privacy: "full" });
    expect(refused.status).toBe(422);
    const text = textOf(await refused.text());
    expect(text).toContain("The calendar was not created");
    expect(text).toContain("health information");
    const ok = await web.submit("/settings/calendars", "/settings/calendars", { name: "Named", privacy: "full", acknowledgePhi: "yes" });
    expect(ok.status).toBe(303);
    const feeds = await expectStatus(await t.request("GET", `/api/v1/providers/${provider.id}/feeds`), 200);
    expect(feeds.items).toMatchObject([{ name: "Named", privacy: "full", includeLink: false, includeInPerson: false }]);
  });

  it("another provider's feed, or a malformed id, is the same 404 page", async () => {
    const a = await signedInProvider();
    const b = await createProvider(t);
    const feed = await expectStatus(await t.request("POST", `/api/v1/providers/${b.id}/feeds`, { body: { name: "B's" } }), 201);
    for (const id of [feed.id, "not-a-uuid", "00000000-0000-4000-8000-000000000000"]) {
      const page = await a.web.get(`/settings/calendars/${id}/rotate`);
      expect(page.status, id).toBe(404);
      expect(page.headers.get("content-type")).toMatch(/^text\/html/);
    }
    const csrf = csrfOf(await (await a.web.get("/settings/calendars")).text());
    expect((await a.web.post(`/settings/calendars/${feed.id}/revoke`, { _csrf: csrf })).status).toBe(404);
    expect((await t.app.request(feedPath(feed.url))).status).toBe(200);
  });

  it("open items: ended sessions with what to do for each", async () => {
    const { provider, web } = await signedInProvider();
    await setLink(t, provider.id);
    const noLocation = await createClient(t, provider.id);
    const inNetwork = await createClient(t, provider.id);
    const selfPay = await createClient(t, provider.id, { insurance: "self_pay" });
    const elsewhere = await createClient(t, provider.id);
    for (const [client, state] of [
      [inNetwork, "NJ"],
      [selfPay, "NJ"],
      [elsewhere, "CA"],
    ] as const) {
      await expectStatus(await t.request("POST", `/api/v1/clients/${client.id}/locations`, { body: { state, from: "2026-11-01T00:00:00Z" } }), 201);
    }
    // One provider's sessions may not overlap: one per hour.
    let hour = 15;
    for (const c of [noLocation, inNetwork, selfPay, elsewhere]) await createSession(t, provider.id, c.id, { start: `2026-11-20T${hour++}:00:00Z` });
    const html = await (await web.get("/settings/open-items")).text();
    const kinds = [...html.matchAll(/data-kind="([^"]+)"/g)].map((m) => m[1]);
    expect(kinds.sort()).toEqual(["needs_client_location", "needs_credentialing", "private_pay_only", "refer"]);
    const text = textOf(html);
    for (const todo of ["Add a client location", "Begin credentialing or refer", "Private pay", "Refer"]) expect(text).toContain(todo);
    expect(text).toContain("Nov 20, 2026");
    // Each client by initials in the heading; the full name only inside the closed disclosure.
    const localTimes = ["10:00 AM", "11:00 AM", "12:00 PM", "1:00 PM"];
    for (const [i, c] of [noLocation, inNetwork, selfPay, elsewhere].entries()) {
      expect(text).toContain(`${initialsOf(c.displayName)}, Nov 20, 2026, ${localTimes[i]}:`);
      expect(html).toMatch(
        new RegExp(`<details class="reveal"><summary>Show the client&#39;s name</summary><p data-client-name="">${c.displayName}</p></details>`),
      );
      for (const h of html.matchAll(/<h2[^>]*>([^<]*)<\/h2>/g)) expect(h[1]).not.toContain(c.displayName);
    }
  });

  it("logs carry route patterns only: never the API key, the cookie, the CSRF token or a feed secret", async () => {
    const { provider, key, web } = await signedInProvider();
    await web.submit("/settings/calendars", "/settings/calendars", { name: "Logged?" });
    const html = await (await web.get("/settings/calendars")).text();
    const secret = /feeds\/([A-Za-z0-9_-]{43})\.ics/.exec(html)![1]!;
    const logs = t.logs.text();
    expect(logs).not.toContain(key);
    expect(logs).not.toContain(secret);
    for (const value of web.jar.values()) expect(logs).not.toContain(value);
    expect(logs).not.toContain(csrfOf(html));
    expect(logs).not.toContain(provider.id);
    expect(logs).toContain('"method":"GET","route":"/settings/calendars"');
    expect(logs).toContain('"method":"POST","route":"/settings/calendars"');
    expect(logs).toContain('"route":"/settings/sign-in"');
  });

  it("an unknown settings path is the app's 404; a wrong method its 405", async () => {
    const { web } = await signedInProvider();
    expect((await web.get("/settings/nope")).status).toBe(404);
    const put = await web.request("PUT", "/settings/link");
    expect(put.status).toBe(405);
    expect(put.headers.get("allow")).toContain("POST");
  });
});
