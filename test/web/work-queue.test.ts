// The open items as a work queue, in-process: each item's action resolves it from the page alone.
import { describe, expect, it } from "vitest";
import { initialsOf } from "../../src/domain/feed-policy.js";
import { expectStatus, makeTestApp } from "../helpers/app.js";
import { fixedClock } from "../helpers/clock.js";
import { createClient, createProvider, createProviderKey, createSession, setLink } from "../helpers/factories.js";
import { csrfOf, textOf, webClient } from "./web-client.js";

const t = await makeTestApp({ clock: fixedClock("2026-11-26T12:00:00Z") });
const QUEUE = "/settings/open-items";

/** A provider licensed in NY and NJ, credentialed in NY, with a compliant link, signed in. */
async function signedIn() {
  const provider = await createProvider(t);
  await setLink(t, provider.id);
  const web = webClient(t);
  await web.signIn(await createProviderKey(t, provider.id));
  return { provider, web };
}

async function addApiLocation(clientId: string, state: string) {
  await expectStatus(await t.request("POST", `/api/v1/clients/${clientId}/locations`, { body: { state, from: "2026-01-01T00:00:00Z" } }), 201);
}

const sessionOf = async (id: string) => expectStatus(await t.request("GET", `/api/v1/sessions/${id}`), 200);
const locationsOf = async (clientId: string) => (await expectStatus(await t.request("GET", `/api/v1/clients/${clientId}/locations`), 200)).items;
const kindsOn = (html: string) => [...html.matchAll(/data-kind="([^"]+)" data-session="([^"]+)"/g)].map((m) => ({ kind: m[1], session: m[2] }));
function noticeOf(html: string) {
  const m = /<p class="card (notice|warning)" role="status" data-tone="(success|warning)">([^<]*)<\/p>/.exec(html);
  return m ? [m[0], m[1], m[2], textOf(m[3]!)] : null;
}
const titleOf = (html: string) => /<title>([^<]*)<\/title>/.exec(html)![1];

describe("open items: resolved in place", () => {
  it("a past session without a location: add where the client was (state, date), confirm, and it goes away", async () => {
    const { provider, web } = await signedIn();
    const client = await createClient(t, provider.id);
    const s = await createSession(t, provider.id, client.id, { start: "2026-11-20T15:00:00Z" });
    const page = await (await web.get(QUEUE)).text();
    expect(kindsOn(page)).toEqual([{ kind: "needs_client_location", session: s.id }]);
    expect(page).toContain(`action="/settings/open-items/${s.id}/locate"`);
    // The date defaults to the session's own date in the provider's time zone, and cannot be later.
    expect(page).toContain(`name="from" type="date" required="" max="2026-11-20" value="2026-11-20"`);

    const res = await web.post(`${QUEUE}/${s.id}/locate`, { _csrf: csrfOf(page), state: "NY", from: "2026-11-20", label: "Home" });
    expect(res.status, await res.clone().text()).toBe(303);
    expect(res.headers.get("location")).toBe(QUEUE);
    const after = await (await web.get(QUEUE)).text();
    expect(kindsOn(after)).toEqual([]);
    const notice = noticeOf(after)!;
    expect(notice[2]).toBe("success");
    expect(notice[3]).toContain(`Confirmed ${initialsOf(client.displayName)}'s session on Nov 20, 2026: billed to the client's insurance.`);
    expect(textOf(after)).toContain("Nothing needs your attention.");
    expect(after).not.toContain(client.displayName);

    const confirmed = await sessionOf(s.id);
    expect(confirmed.status).toBe("confirmed");
    expect(confirmed.confirmation).toMatchObject({ state: "NY", outcome: "eligible", billing: "insurance" });
    expect(await locationsOf(client.id)).toMatchObject([{ state: "NY", label: "Home" }]);
  });

  it("a wrong form is a 422 that says so in the title, marks the field, and changes nothing", async () => {
    const { provider, web } = await signedIn();
    const client = await createClient(t, provider.id);
    const s = await createSession(t, provider.id, client.id, { start: "2026-11-20T15:00:00Z" });
    const csrf = csrfOf(await (await web.get(QUEUE)).text());

    for (const [form, field, message] of [
      [{ state: "", from: "2026-11-20" }, "state", "Choose the state your client was in"],
      [{ state: "ZZ", from: "2026-11-20" }, "state", "Choose the state your client was in"],
      [{ state: "NY", from: "2026-11-21" }, "from", "on the session's date (Nov 20, 2026) or earlier"],
      [{ state: "NY", from: "2026-02-31" }, "from", "That date doesn't exist"],
      [{ state: "NY", from: "yesterday" }, "from", "Enter a date"],
      [{ state: "NY", from: "2026-11-20", label: "x".repeat(101) }, "label", "under 100 characters"],
    ] as const) {
      const res = await web.post(`${QUEUE}/${s.id}/locate`, { _csrf: csrf, ...form });
      expect(res.status, JSON.stringify(form)).toBe(422);
      const html = await res.text();
      expect(titleOf(html)).toBe("Error: Open items · Telehealth calendar settings");
      expect(textOf(html)).toContain("Nothing was saved");
      const id = `loc-${s.id}-${field}`;
      expect(html).toContain(`<p class="error-text" id="${id}-error">`);
      expect(textOf(html)).toContain(message);
      const control = new RegExp(`<(input|select) id="${id}"[^>]*>`).exec(html)![0];
      expect(control).toContain('aria-invalid="true"');
      expect(control).toMatch(new RegExp(`aria-describedby="${id}-error`));
      // The error summary takes focus and links to the marked field.
      const summary = /<section[^>]*data-error-summary[^>]*>[\s\S]*?<\/section>/.exec(html)![0];
      expect(summary).toContain('tabindex="-1"');
      expect(summary).toContain(`<a href="#${id}">`);
      // What was typed stays in the form.
      if (form.state === "NY") expect(html).toMatch(/<option value="NY" selected="">/);
    }
    expect((await sessionOf(s.id)).status).toBe("scheduled");
    expect(await locationsOf(client.id)).toEqual([]);
  });

  it("a location where the provider is not licensed is kept, the session is not confirmed, and the item turns into a referral", async () => {
    const { provider, web } = await signedIn();
    const client = await createClient(t, provider.id);
    const s = await createSession(t, provider.id, client.id, { start: "2026-11-20T15:00:00Z" });
    const res = await web.submit(QUEUE, `${QUEUE}/${s.id}/locate`, { state: "CA", from: "2026-11-18" });
    expect(res.status).toBe(303);
    const html = await (await web.get(QUEUE)).text();
    const notice = noticeOf(html)!;
    expect(notice[2]).toBe("warning");
    expect(notice[3]).toContain("Location saved.");
    expect(notice[3]).toContain("can't be confirmed: Your client was in California (CA)");
    expect(notice[3]).not.toMatch(/Confirmed|Saved\./);
    expect(kindsOn(html)).toEqual([{ kind: "refer", session: s.id }]);
    expect((await sessionOf(s.id)).status).toBe("scheduled");
    expect(await locationsOf(client.id)).toMatchObject([{ state: "CA" }]);
  });

  it("mark referred: the item goes away, the session stays unconfirmed; a second post changes nothing", async () => {
    const { provider, web } = await signedIn();
    const client = await createClient(t, provider.id);
    await addApiLocation(client.id, "CA");
    const s = await createSession(t, provider.id, client.id, { start: "2026-11-20T15:00:00Z" });
    const page = await (await web.get(QUEUE)).text();
    expect(kindsOn(page)).toEqual([{ kind: "refer", session: s.id }]);
    expect(textOf(page)).toContain("Mark as referred");
    const res = await web.post(`${QUEUE}/${s.id}/refer`, { _csrf: csrfOf(page), state: "CA" });
    expect(res.status).toBe(303);
    const after = await (await web.get(QUEUE)).text();
    expect(kindsOn(after)).toEqual([]);
    expect(noticeOf(after)![3]).toContain("Marked as referred");
    expect((await sessionOf(s.id)).status).toBe("scheduled");
    expect((await expectStatus(await t.request("GET", `/api/v1/providers/${provider.id}/reconciliation`), 200)).items).toEqual([]);

    const again = await web.post(`${QUEUE}/${s.id}/refer`, { _csrf: csrfOf(page), state: "CA" });
    expect(again.status).toBe(303);
    const warned = noticeOf(await (await web.get(QUEUE)).text())!;
    expect(warned[2]).toBe("warning");
    expect(warned[3]).toContain("Nothing changed: This session is already marked as referred.");
  });

  it("a session the rules can confirm cannot be marked referred", async () => {
    const { provider, web } = await signedIn();
    const client = await createClient(t, provider.id);
    const s = await createSession(t, provider.id, client.id, { start: "2026-11-20T15:00:00Z" });
    const res = await web.submit(QUEUE, `${QUEUE}/${s.id}/refer`, { state: "NY" });
    expect(res.status).toBe(303);
    const html = await (await web.get(QUEUE)).text();
    expect(noticeOf(html)![3]).toContain("Nothing changed: Referral isn't the rule here");
    expect(kindsOn(html)).toEqual([{ kind: "needs_client_location", session: s.id }]);
  });

  it("private pay only where the rules allow it, and only once the provider says the client agreed", async () => {
    const { provider, web } = await signedIn();
    const client = await createClient(t, provider.id, { insurance: "out_of_network" });
    await addApiLocation(client.id, "NJ");
    const s = await createSession(t, provider.id, client.id, { start: "2026-11-20T15:00:00Z" });
    const page = await (await web.get(QUEUE)).text();
    expect(kindsOn(page)).toEqual([{ kind: "private_pay_only", session: s.id }]);

    const refused = await web.post(`${QUEUE}/${s.id}/confirm`, { _csrf: csrfOf(page), state: "NJ" });
    expect(refused.status).toBe(422);
    const html = await refused.text();
    expect(titleOf(html)).toMatch(/^Error: Open items/);
    expect(html).toMatch(
      new RegExp(`<input type="checkbox" id="pp-${s.id}" name="privatePay" value="yes" aria-invalid="true" aria-describedby="pp-${s.id}-error"/>`),
    );
    expect(textOf(html)).toContain("Tick this box only if your client agreed");
    expect((await sessionOf(s.id)).status).toBe("scheduled");

    const ok = await web.post(`${QUEUE}/${s.id}/confirm`, { _csrf: csrfOf(page), state: "NJ", privatePay: "yes" });
    expect(ok.status).toBe(303);
    expect(noticeOf(await (await web.get(QUEUE)).text())![3]).toContain("as private pay.");
    expect((await sessionOf(s.id)).confirmation).toMatchObject({ state: "NJ", outcome: "private_pay_only", billing: "private_pay" });
  });

  it("private pay is never offered where the rules forbid it (in-network client not credentialed there)", async () => {
    const { provider, web } = await signedIn();
    const client = await createClient(t, provider.id);
    await addApiLocation(client.id, "NJ");
    const s = await createSession(t, provider.id, client.id, { start: "2026-11-20T15:00:00Z" });
    const page = await (await web.get(QUEUE)).text();
    expect(kindsOn(page)).toEqual([{ kind: "needs_credentialing", session: s.id }]);
    expect(page).not.toContain('name="privatePay"');
    const forced = await web.post(`${QUEUE}/${s.id}/confirm`, { _csrf: csrfOf(page), state: "NJ", privatePay: "yes" });
    expect(forced.status).toBe(303);
    const notice = noticeOf(await (await web.get(QUEUE)).text())!;
    expect(notice[2]).toBe("warning");
    expect(notice[3]).toContain("can't be confirmed");
    expect((await sessionOf(s.id)).status).toBe("scheduled");
  });

  it("adding a location that allows only private pay does not choose it for the provider", async () => {
    const { provider, web } = await signedIn();
    const client = await createClient(t, provider.id, { insurance: "self_pay" });
    const s = await createSession(t, provider.id, client.id, { start: "2026-11-20T15:00:00Z" });
    await web.submit(QUEUE, `${QUEUE}/${s.id}/locate`, { state: "NJ", from: "2026-11-20" });
    const html = await (await web.get(QUEUE)).text();
    expect(noticeOf(html)![3]).toContain("can only be confirmed as private pay");
    expect(kindsOn(html)).toEqual([{ kind: "private_pay_only", session: s.id }]);
    expect((await sessionOf(s.id)).status).toBe("scheduled");
  });

  it("a ready session confirms with one button", async () => {
    const { provider, web } = await signedIn();
    const client = await createClient(t, provider.id);
    await addApiLocation(client.id, "NY");
    const s = await createSession(t, provider.id, client.id, { start: "2026-11-20T15:00:00Z" });
    const page = await (await web.get(QUEUE)).text();
    expect(kindsOn(page)).toEqual([{ kind: "eligible", session: s.id }]);
    expect((await web.post(`${QUEUE}/${s.id}/confirm`, { _csrf: csrfOf(page), state: "NY" })).status).toBe(303);
    expect((await sessionOf(s.id)).confirmation).toMatchObject({ state: "NY", billing: "insurance" });
    // The same button again (a second tab): nothing changes, and the page says so.
    expect((await web.post(`${QUEUE}/${s.id}/confirm`, { _csrf: csrfOf(page), state: "NY" })).status).toBe(303);
    expect(noticeOf(await (await web.get(QUEUE)).text())![3]).toContain("Nothing changed: This session is already confirmed.");
  });

  it("most urgent first: the oldest unconfirmed session leads, whatever order the sessions were booked in", async () => {
    const { provider, web } = await signedIn();
    const client = await createClient(t, provider.id);
    const recent = await createSession(t, provider.id, client.id, { start: "2026-11-24T15:00:00Z" });
    const old = await createSession(t, provider.id, client.id, { start: "2026-09-10T15:00:00Z" });
    const middle = await createSession(t, provider.id, client.id, { start: "2026-10-15T15:00:00Z" });
    const sameDay = await createSession(t, provider.id, client.id, { start: "2026-11-24T17:00:00Z" });
    const html = await (await web.get(QUEUE)).text();
    expect(kindsOn(html).map((k) => k.session)).toEqual([old.id, middle.id, recent.id, sameDay.id]);
    expect(html).toContain('aria-label="Open items, most urgent first"');
    // Two sessions of one client on one day still have headings of their own.
    const headings = [...html.matchAll(/<h2 id="item-\d+">([^<]*)<\/h2>/g)].map((m) => m[1]);
    expect(headings).toHaveLength(4);
    expect(new Set(headings).size).toBe(4);
  });

  it("another provider's session, or a malformed id, is a 404 and changes nothing; no CSRF token is a 403", async () => {
    const { web } = await signedIn();
    const other = await createProvider(t);
    await setLink(t, other.id);
    const theirs = await createClient(t, other.id);
    const s = await createSession(t, other.id, theirs.id, { start: "2026-11-20T15:00:00Z" });
    const csrf = csrfOf(await (await web.get(QUEUE)).text());
    for (const id of [s.id, "not-a-uuid"]) {
      for (const action of ["locate", "confirm", "refer"]) {
        const res = await web.post(`${QUEUE}/${id}/${action}`, { _csrf: csrf, state: "NY", from: "2026-11-20" });
        expect(res.status, `${action} ${id}`).toBe(404);
      }
    }
    expect(await locationsOf(theirs.id)).toEqual([]);
    const mine = await signedIn();
    const client = await createClient(t, mine.provider.id);
    const own = await createSession(t, mine.provider.id, client.id, { start: "2026-11-20T15:00:00Z" });
    expect((await mine.web.post(`${QUEUE}/${own.id}/locate`, { state: "NY", from: "2026-11-20" })).status).toBe(403);
    expect(await locationsOf(client.id)).toEqual([]);
  });
});

describe("clients page", () => {
  it("lists each client by initials with their locations; a location can be added; a wrong one is marked", async () => {
    const { provider, web } = await signedIn();
    const a = await createClient(t, provider.id, { displayName: "Jane van Doe", medicare: true });
    const b = await createClient(t, provider.id, { displayName: "Sam Roe", insurance: "self_pay" });
    await addApiLocation(a.id, "NJ");
    const page = await (await web.get("/settings/clients")).text();
    const text = textOf(page);
    expect(text).toContain("Client J.V.D.");
    expect(text).toContain("Client S.R.");
    expect(text).toContain("New Jersey (NJ)");
    expect(text).toContain("Pays for themselves");
    expect(page).toContain('<p data-client-name="">Jane van Doe</p>');
    for (const h of page.matchAll(/<h2[^>]*>([^<]*)<\/h2>/g)) expect(h[1]).not.toMatch(/Jane|Sam/);

    const bad = await web.post(`/settings/clients/${b.id}/locations`, { _csrf: csrfOf(page), state: "", from: "2026-12-01" });
    expect(bad.status).toBe(422);
    const badHtml = await bad.text();
    expect(titleOf(badHtml)).toMatch(/^Error: Clients/);
    expect(badHtml).toMatch(new RegExp(`<select id="cl-${b.id}-state"[^>]*aria-invalid="true"`));
    expect(badHtml).toMatch(
      new RegExp(
        `<details class="correct" open=""><summary>Add a location</summary><form method="post" action="/settings/clients/${b.id}/locations"`,
      ),
    );

    // A future trip is allowed here (no session bounds the date).
    const ok = await web.post(`/settings/clients/${b.id}/locations`, { _csrf: csrfOf(page), state: "PA", from: "2026-12-20", label: "Winter break" });
    expect(ok.status).toBe(303);
    expect(ok.headers.get("location")).toBe(`/settings/clients#client-${b.id}`);
    const after = textOf(await (await web.get("/settings/clients")).text());
    expect(after).toContain("Location added for S.R.");
    expect(after).toContain("Pennsylvania (PA) · Winter break");
    expect(await locationsOf(b.id)).toMatchObject([{ state: "PA", label: "Winter break" }]);
  });

  it("another provider's client is a 404", async () => {
    const { web } = await signedIn();
    const other = await createProvider(t);
    const theirs = await createClient(t, other.id);
    const csrf = csrfOf(await (await web.get("/settings/clients")).text());
    expect((await web.post(`/settings/clients/${theirs.id}/locations`, { _csrf: csrf, state: "NY", from: "2026-11-20" })).status).toBe(404);
    expect(await locationsOf(theirs.id)).toEqual([]);
  });

  it("client names never reach the logs", async () => {
    const { provider, web } = await signedIn();
    const client = await createClient(t, provider.id, { displayName: "Quentin Logworthy" });
    const s = await createSession(t, provider.id, client.id, { start: "2026-11-20T15:00:00Z" });
    await web.submit(QUEUE, `${QUEUE}/${s.id}/locate`, { state: "NY", from: "2026-11-20" });
    await web.get("/settings/clients");
    expect(t.logs.text()).not.toContain("Logworthy");
  });
});
