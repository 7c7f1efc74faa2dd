// Unauthenticated failures are limited per client address: after the burst, 429 with Retry-After,
// before any work is done; other addresses are unaffected; tokens come back at the configured rate.
import { randomBytes } from "node:crypto";
import { describe, expect, it } from "vitest";
import { rateLimitKey } from "../../src/http/client-address.js";
import { expectStatus, makeTestApp } from "../helpers/app.js";
import { fixedClock } from "../helpers/clock.js";
import { createFeed, createProvider, feedPath } from "../helpers/factories.js";
import { createIcsWebhookSource, envelope, signedHeaders } from "../helpers/webhooks.js";

const clock = fixedClock("2026-11-26T12:00:00Z");
const t = await makeTestApp({ clock, env: { RATE_LIMIT_BURST: "5", RATE_LIMIT_PER_MINUTE: "6" } });
const provider = await createProvider(t);
const feed = await createFeed(t, provider.id);

/** app.request with the socket address @hono/node-server would give (c.env.incoming.socket). */
const from = (address: string) => ({ incoming: { socket: { remoteAddress: address } } });
const randomFeed = () => `/feeds/${randomBytes(32).toString("base64url")}.ics`;
const get = (path: string, address: string, headers: Record<string, string> = {}) => t.app.request(path, { headers }, from(address));

describe("bad feed secrets", () => {
  it("after the burst from one address: 429 with Retry-After, even for a good secret; another address is unaffected", async () => {
    const attacker = "203.0.113.7";
    for (let i = 0; i < 5; i++) expect((await get(randomFeed(), attacker)).status).toBe(404);
    const limited = await get(randomFeed(), attacker);
    expect((await expectStatus(limited, 429)).code).toBe("rate_limited");
    expect(limited.headers.get("content-type")).toMatch(/problem\+json/);
    expect(Number(limited.headers.get("retry-after"))).toBeGreaterThanOrEqual(1);
    // Limited before the lookup: a good secret from the same address is no oracle.
    expect((await get(feedPath(feed.url), attacker)).status).toBe(429);

    const subscriber = "198.51.100.20";
    const ok = await get(feedPath(feed.url), subscriber);
    expect(ok.status, await ok.clone().text()).toBe(200);
    expect(await ok.text()).toContain("BEGIN:VCALENDAR");

    // 6 tokens a minute: after 10 s one more try, and only one.
    clock.advance(10_000);
    expect((await get(randomFeed(), attacker)).status).toBe(404);
    expect((await get(randomFeed(), attacker)).status).toBe(429);
  });

  it("successes cost nothing", async () => {
    const busy = "198.51.100.99";
    for (let i = 0; i < 20; i++) expect((await get(feedPath(feed.url), busy)).status).toBe(200);
  });

  it("an IPv6 client is limited by its /64, whatever address it takes inside it", async () => {
    for (let i = 0; i < 5; i++) expect((await get(randomFeed(), `2001:db8:1:2::${(i + 1).toString(16)}`)).status).toBe(404);
    expect((await get(randomFeed(), "2001:db8:1:2:ffff::9")).status).toBe(429);
    expect((await get(feedPath(feed.url), "2001:db8:1:3::1")).status).toBe(200);
  });
});

describe("bad API keys and bad webhook signatures count too", () => {
  it("random bearer tokens: 401 five times, then 429; the admin from elsewhere is unaffected", async () => {
    const a = "192.0.2.50";
    const api = (address: string, token: string) =>
      t.app.request(`/api/v1/providers/${provider.id}`, { headers: { authorization: `Bearer ${token}` } }, from(address));
    for (let i = 0; i < 5; i++) expect((await api(a, `guess-${i}`)).status).toBe(401);
    expect((await api(a, "guess-6")).status).toBe(429);
    expect((await api("192.0.2.51", t.adminToken)).status).toBe(200);
  });

  it("bad webhook signatures: 401 five times, then 429; the real sender elsewhere is unaffected", async () => {
    const source = await createIcsWebhookSource(t, provider.id);
    const body = envelope("BEGIN:VCALENDAR\r\nEND:VCALENDAR\r\n");
    const forged = { ...signedHeaders(source.signingSecret, body), "webhook-signature": `v1,${randomBytes(32).toString("base64")}` };
    const post = (address: string, headers: Record<string, string>) =>
      t.app.request(`/webhooks/ics/${source.id}`, { method: "POST", headers, body }, from(address));
    for (let i = 0; i < 5; i++) expect((await post("192.0.2.60", forged)).status).toBe(401);
    const limited = await post("192.0.2.60", forged);
    expect(limited.status).toBe(429);
    expect(limited.headers.get("retry-after")).toMatch(/^\d+$/);
    expect((await post("192.0.2.61", signedHeaders(source.signingSecret, body))).status).toBe(202);
  });
});

describe("the client address", () => {
  it("X-Forwarded-For is ignored unless proxies are trusted", async () => {
    const t2 = await makeTestApp({ env: { RATE_LIMIT_BURST: "2", TRUSTED_PROXY_HOPS: "1" }, database: t.database });
    const viaProxy = (client: string, path = randomFeed()) =>
      t2.app.request(path, { headers: { "x-forwarded-for": `10.9.9.9, ${client}` } }, from("10.0.0.1"));
    expect((await viaProxy("203.0.113.80")).status).toBe(404);
    expect((await viaProxy("203.0.113.80")).status).toBe(404);
    expect((await viaProxy("203.0.113.80")).status).toBe(429);
    // The proxy's own address and the forged leftmost entry are not what is limited.
    expect((await viaProxy("203.0.113.81", feedPath(feed.url))).status).toBe(200);

    // Untrusted: a client cannot escape its limit by sending X-Forwarded-For.
    const direct = (xff: string) => get(randomFeed(), "203.0.113.90", { "x-forwarded-for": xff });
    for (let i = 0; i < 5; i++) expect((await direct(`198.18.0.${i}`)).status).toBe(404);
    expect((await direct("198.18.0.200")).status).toBe(429);
  });

  it.each([
    ["203.0.113.1", "203.0.113.1"],
    ["::ffff:203.0.113.1", "203.0.113.1"],
    ["2001:db8::1", "2001:db8:0:0::/64"],
    ["2001:0db8:0000:0000:abcd::1", "2001:db8:0:0::/64"],
    ["fe80::1%eth0", "fe80:0:0:0::/64"],
    ["not-an-ip", "invalid"],
    [undefined, "unknown"],
  ])("%s is limited as %s", (address, key) => {
    expect(rateLimitKey(address)).toBe(key);
  });
});
