// Calendar subscriptions page: the window a feed shows, and the note when a feed is over its size.
import { describe, expect, it } from "vitest";
import { CalendarsPage, DEFAULT_FEED_FORM, type FeedSummary, sizeNoteOf } from "../../src/web/pages/calendars.js";
import { expectStatus, makeTestApp } from "../helpers/app.js";
import { fixedClock } from "../helpers/clock.js";
import { createProvider, createProviderKey } from "../helpers/factories.js";
import { textOf, webClient } from "./web-client.js";

const t = await makeTestApp({ clock: fixedClock("2026-11-26T12:00:00Z") });

describe("calendar subscriptions", () => {
  it("a calendar can show fewer days; a wrong number is marked on its field and creates nothing", async () => {
    const provider = await createProvider(t);
    const web = webClient(t);
    await web.signIn(await createProviderKey(t, provider.id));
    const bad = await web.submit("/settings/calendars", "/settings/calendars", { name: "Short", futureDays: "0", pastDays: "7" });
    expect(bad.status).toBe(422);
    const html = await bad.text();
    expect(html).toContain('<p class="error-text" id="futureDays-error">Enter a whole number of days from 1 to 730.</p>');
    expect(/<input id="futureDays"[^>]*>/.exec(html)![0]).toMatch(/aria-invalid="true" aria-describedby="futureDays-error days-hint"/);
    expect(/<input id="pastDays"[^>]*>/.exec(html)![0]).not.toContain("aria-invalid");
    expect(/<title>Error: Calendar subscriptions/.test(html)).toBe(true);
    expect((await expectStatus(await t.request("GET", `/api/v1/providers/${provider.id}/feeds`), 200)).items).toEqual([]);

    expect(
      (await web.submit("/settings/calendars", "/settings/calendars", { name: "Short", futureDays: "60", pastDays: "7", includeLink: "yes" })).status,
    ).toBe(303);
    const feeds = await expectStatus(await t.request("GET", `/api/v1/providers/${provider.id}/feeds`), 200);
    expect(feeds.items).toMatchObject([{ name: "Short", futureDays: 60, pastDays: 7 }]);
    expect(textOf(await (await web.get("/settings/calendars")).text())).toContain("Days shown 7 back, 60 ahead");
  });

  it("a feed that leaves upcoming sessions out says how many and how to fix it; none is said when nothing is left out", async () => {
    const feed: FeedSummary = {
      id: "f1",
      name: "Busy",
      privacy: "minimal",
      includeLink: true,
      includeInPerson: true,
      createdAt: "2026-11-01T00:00:00Z",
      lastFetchedAt: null,
      fetchCount: 0,
      lastFetchBySubscriber: { google: null, microsoft: null, apple: null, other: null },
    };
    const render = async (extra: object) =>
      textOf(
        String(
          await (
            <CalendarsPage csrf="x" timezone="UTC" feeds={[{ ...feed, sizeNote: sizeNoteOf({ ...feed, ...extra }) }]} form={DEFAULT_FEED_FORM} />
          ).toString(),
        ),
      );
    const over = await render({ omittedUpcoming: 68, omittedPast: 120 });
    expect(over).toContain("Not every upcoming session fits");
    expect(over).toContain("leaves out 68 upcoming sessions (the furthest ahead) and 120 past sessions");
    expect(over).toContain("fewer days ahead, or one without the telehealth link");
    expect(await render({ omittedUpcoming: 0, omittedPast: 3 })).toContain("leaves out your 3 oldest past sessions");
    expect(await render({})).not.toMatch(/leaves out/);
  });
});

describe("calendar subscriptions: accessibility", () => {
  it("a refused full-names calendar names the checkbox in plain words, marks it, and its error summary links to it", async () => {
    const provider = await createProvider(t);
    const web = webClient(t);
    await web.signIn(await createProviderKey(t, provider.id));
    const res = await web.submit("/settings/calendars", "/settings/calendars", { name: "Named", privacy: "full" });
    expect(res.status).toBe(422);
    const html = await res.text();
    expect(html).toMatch(/<title>Error: /);
    expect(textOf(html)).not.toContain("acknowledgePhi");
    const summary = /<section[^>]*data-error-summary[^>]*>[\s\S]*?<\/section>/.exec(html)![0];
    expect(summary).toContain('tabindex="-1"');
    expect(summary).toContain('<a href="#acknowledgePhi">Full names need your agreement: To show clients&#39; full names, tick');
    expect(/<input type="checkbox" id="acknowledgePhi"[^>]*>/.exec(html)![0]).toMatch(/aria-invalid="true" aria-describedby="acknowledgePhi-error"/);
    expect(html).toContain('id="acknowledgePhi-error"');
    expect((await expectStatus(await t.request("GET", `/api/v1/providers/${provider.id}/feeds`), 200)).items).toEqual([]);
  });

  it("repeated actions name their calendar; new-window links say so; privacy hints are read once", async () => {
    const provider = await createProvider(t);
    const web = webClient(t);
    await web.signIn(await createProviderKey(t, provider.id));
    for (const name of ["Mornings", "Evenings"]) {
      expect((await web.submit("/settings/calendars", "/settings/calendars", { name })).status).toBe(303);
    }
    const fresh = await (await web.get("/settings/calendars")).text();
    const blank = [...fresh.matchAll(/<a [^>]*target="_blank"[^>]*>([\s\S]*?)<\/a>/g)];
    expect(blank.length).toBeGreaterThan(0);
    for (const [, inner] of blank) expect(textOf(inner!)).toContain("(opens in a new window)");

    // Accessible names of the links: their text with the tags dropped, as a screen reader reads it.
    const names = [...fresh.matchAll(/<a [^>]*>([\s\S]*?)<\/a>/g)].map(([, inner]) =>
      inner!
        .replace(/<[^>]+>/g, "")
        .replace(/\s+/g, " ")
        .trim(),
    );
    expect(names).toEqual(
      expect.arrayContaining([
        "Get a new address for “Mornings”…",
        "Get a new address for “Evenings”…",
        "Stop this calendar (“Mornings”)…",
        "Stop this calendar (“Evenings”)…",
      ]),
    );
    expect(fresh).not.toMatch(/type="radio"[^>]*aria-describedby/);
  });

  it("serves a favicon, and compresses the HTML when the browser accepts gzip", async () => {
    const icon = await t.app.request("/favicon.ico");
    expect(icon.status).toBe(200);
    expect(icon.headers.get("content-type")).toBe("image/svg+xml");
    expect(await icon.text()).toMatch(/^<svg /);

    const plain = await t.app.request("/settings/sign-in");
    expect(plain.headers.get("content-encoding")).toBeNull();
    const html = await plain.text();
    expect(html).toContain('<link rel="icon" href="/favicon.ico"');
    const zipped = await t.app.request("/settings/sign-in", { headers: { "accept-encoding": "gzip" } });
    expect(zipped.status).toBe(200);
    expect(zipped.headers.get("content-encoding")).toBe("gzip");
    const { gunzipSync } = await import("node:zlib");
    const bytes = Buffer.from(await zipped.arrayBuffer());
    expect(bytes.length).toBeLessThan(Buffer.byteLength(html));
    expect(gunzipSync(bytes).toString()).toContain("<!doctype html>");
  });
});

describe("the size note from the feed list", () => {
  it("reads the feed service's content report", () => {
    expect(sizeNoteOf({ content: { omittedUpcoming: 3, omittedPast: 12 } })).toEqual({ upcomingLeftOut: 3, pastLeftOut: 12 });
    expect(sizeNoteOf({ content: { omittedUpcoming: 0, omittedPast: 0 } })).toBeUndefined();
  });
});
