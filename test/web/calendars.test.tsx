// Calendar subscriptions page: the window a feed shows, and the note when a feed is over its size.
import { describe, expect, it } from "vitest";
import { expectStatus, makeTestApp } from "../helpers/app.js";
import { fixedClock } from "../helpers/clock.js";
import { createProvider, createProviderKey } from "../helpers/factories.js";
import { CalendarsPage, DEFAULT_FEED_FORM, sizeNoteOf, type FeedSummary } from "../../src/web/pages/calendars.js";
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

    expect((await web.submit("/settings/calendars", "/settings/calendars", { name: "Short", futureDays: "60", pastDays: "7", includeLink: "yes" })).status).toBe(303);
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
      textOf(String(await (<CalendarsPage csrf="x" timezone="UTC" feeds={[{ ...feed, sizeNote: sizeNoteOf({ ...feed, ...extra }) }]} form={DEFAULT_FEED_FORM} />).toString()));
    const over = await render({ omittedUpcoming: 68, omittedPast: 120 });
    expect(over).toContain("Not every upcoming session fits");
    expect(over).toContain("leaves out 68 upcoming sessions (the furthest ahead) and 120 past sessions");
    expect(over).toContain("fewer days ahead, or one without the telehealth link");
    expect(await render({ omittedUpcoming: 0, omittedPast: 3 })).toContain("leaves out your 3 oldest past sessions");
    expect(await render({})).not.toMatch(/leaves out/);
  });
});
