import { readFileSync } from "node:fs";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  assessTelehealthLink,
  checkTelehealthLink,
  findLinksInText,
  LINK_REJECTION_CODES,
  type LinkRejectionCode,
  PLATFORMS,
  type Platform,
  sameMeetingLink,
} from "../../src/domain/telehealth-link.js";

type Case =
  | { url: string; ok: true; platform: Platform; normalized?: string; note?: string }
  | { url: string; ok: false; code: LinkRejectionCode; note?: string };

const cases = JSON.parse(readFileSync(new URL("../../fixtures/telehealth-links.json", import.meta.url), "utf8")) as Case[];

// The > 2,048-character case is generated here rather than stored in the fixture.
const tooLong: Case = { url: `https://zoom.us/j/123456789?pwd=${"a".repeat(2048)}`, ok: false, code: "url_too_long" };
const table = [...cases, tooLong];

describe("checkTelehealthLink over fixtures/telehealth-links.json", () => {
  it("has at least 70 cases covering every platform and rejection code", () => {
    expect(cases.length).toBeGreaterThanOrEqual(70);
    expect(new Set(table.flatMap((c) => (c.ok ? [c.platform] : [])))).toEqual(new Set(PLATFORMS));
    expect(new Set(table.flatMap((c) => (c.ok ? [] : [c.code])))).toEqual(new Set(LINK_REJECTION_CODES));
  });

  it.each(table.map((c) => [JSON.stringify(c.url.length > 120 ? `${c.url.slice(0, 60)}...` : c.url), c] as const))("%s", (_, c) => {
    const got = checkTelehealthLink(c.url);
    if (c.ok) {
      expect(got, JSON.stringify(got)).toMatchObject({ ok: true, platform: c.platform });
      if (got.ok) {
        if (c.normalized !== undefined) expect(got.url).toBe(c.normalized);
        expect(got.url.startsWith("https://")).toBe(true);
        expect(got.url).not.toContain("#");
      }
    } else {
      expect(got, JSON.stringify(got)).toMatchObject({ ok: false, code: c.code });
      if (!got.ok) expect(got.message.length).toBeGreaterThan(20);
    }
  });

  it("warns that an unrecognized host can't be checked", () => {
    const got = checkTelehealthLink("https://example-telehealth.com/room/42");
    expect(got.ok && got.warnings.join(" ")).toMatch(/don't recognise example-telehealth\.com/);
  });

  it("never echoes the query (it may hold a passcode) in a rejection message", () => {
    const got = checkTelehealthLink("https://zoom.us.evil.com/j/123456789?pwd=SECRETPWD");
    expect(got.ok).toBe(false);
    expect(JSON.stringify(got)).not.toContain("SECRETPWD");
  });
});

describe("assessTelehealthLink", () => {
  const zoom = "https://zoom.us/j/123456789?pwd=abc";

  it.each([
    [true, true, true, 0],
    [false, true, false, 1],
    [true, false, false, 1],
    [false, false, false, 2],
  ])("baaSigned=%s waitingRoomEnabled=%s -> compliant=%s with %i attestation warnings", (baa, wr, compliant, n) => {
    const got = assessTelehealthLink({ url: zoom, baaSigned: baa, waitingRoomEnabled: wr });
    expect(got).toMatchObject({ ok: true, platform: "zoom", url: zoom, compliant });
    if (!got.ok) return;
    expect(got.warnings).toHaveLength(n);
    if (!baa) expect(got.warnings.join(" ")).toMatch(/business associate agreement \(BAA\)/);
    if (!wr) expect(got.warnings.join(" ")).toMatch(/waiting room/);
  });

  it.each([
    ["https://zoom.us/j/123456789", /Meetings > Personal Meeting ID > Edit > Waiting Room/],
    ["https://doxy.me/drsmith", /on by default/],
    ["https://meet.google.com/abc-defg-hij", /Host controls > Quick access off/],
    ["https://teams.microsoft.com/meet/2345678901234", /lobby/],
    ["https://acme.webex.com/meet/jdoe", /lobby/],
    ["https://vsee.com/u/drsmith", /waiting room/],
    ["https://www.therapyportal.com/p/acme/telehealth/", /waiting room/],
    ["https://example.com/room", /waiting room or lobby/],
  ])("gives waiting-room steps for %s", (url, help) => {
    const got = assessTelehealthLink({ url, baaSigned: true, waitingRoomEnabled: true });
    expect(got.ok && got.waitingRoomHelp).toMatch(help);
  });

  it("keeps the platform's own warnings and passes rejections through", () => {
    const meet = assessTelehealthLink({ url: "https://meet.google.com/abc-defg-hij", baaSigned: true, waitingRoomEnabled: true });
    expect(meet.ok && meet.compliant).toBe(true);
    expect(meet.ok && meet.warnings.join(" ")).toMatch(/Workspace/);
    expect(assessTelehealthLink({ url: "facetime:+15551234567", baaSigned: true, waitingRoomEnabled: true })).toMatchObject({
      ok: false,
      code: "facetime_not_accepted",
    });
  });
});

describe("findLinksInText", () => {
  it.each([
    ["Join Zoom: https://zoom.us/j/123456789?pwd=abc.", ["https://zoom.us/j/123456789?pwd=abc"]],
    ["(https://doxy.me/drsmith)", ["https://doxy.me/drsmith"]],
    ["see https://en.wikipedia.org/wiki/Foo_(bar), ok", ["https://en.wikipedia.org/wiki/Foo_(bar)"]],
    ['<a href="https://acme.webex.com/acme/j.php?MTID=m1&amp;x=2">Join</a>', ["https://acme.webex.com/acme/j.php?MTID=m1&x=2"]],
    ["<https://meet.google.com/abc-defg-hij>", ["https://meet.google.com/abc-defg-hij"]],
    ["a http://old.example.com/x and HTTPS://ZOOM.US/j/123456789!", ["http://old.example.com/x", "HTTPS://ZOOM.US/j/123456789"]],
    ["twice https://doxy.me/a https://doxy.me/a", ["https://doxy.me/a"]],
    ["line1\\nhttps://doxy.me/a\\nline2", ["https://doxy.me/a"]],
    [
      "https://nam02.safelinks.protection.outlook.com/?url=https%3A%2F%2Fzoom.us%2Fj%2F123456789%3Fpwd%3Dx&data=05",
      ["https://zoom.us/j/123456789?pwd=x"],
    ],
    ["https://www.google.com/url?q=https://doxy.me/drsmith&sa=D", ["https://doxy.me/drsmith"]],
    ["no links here, zoom.us/j/123456789 or tel:+15551234567", []],
    ["", []],
  ])("%j", (text, expected) => {
    expect(findLinksInText(text)).toEqual(expected);
  });
});

describe("sameMeetingLink", () => {
  it.each([
    ["https://zoom.us/j/123456789?pwd=abc", "https://us02web.zoom.us/j/123456789", true],
    ["https://zoom.us/j/123456789?pwd=abc", "https://zoom.us/j/123456789?pwd=other#x", true],
    ["https://zoom.us/j/123456789", "https://app.zoom.us/wc/join/123456789", true],
    ["https://zoom.us/j/123456789", "https://zoom.us/j/987654321", false],
    ["https://zoom.us/j/1612345678", "https://agency.zoomgov.com/j/1612345678", false],
    ["https://zoom.us/my/DrJones", "https://us04web.zoom.us/my/drjones/", true],
    ["https://doxy.me/DrSmith", "http://doxy.me/drsmith/", true],
    ["https://doxy.me/drsmith", "https://doxy.me/drsmyth", false],
    ["https://meet.google.com/abc-defg-hij", "https://meet.google.com/ABC-DEFG-HIJ?authuser=1", true],
    ["https://teams.microsoft.com/meet/2345678901234?p=a", "https://teams.microsoft.com/meet/2345678901234", true],
    [
      "https://teams.microsoft.com/l/meetup-join/19%3ameeting_X%40thread.v2/0?context=a",
      "https://teams.microsoft.com/l/meetup-join/19%3Ameeting_X%40thread.v2/0?context=b",
      true,
    ],
    ["https://acme.webex.com/acme/j.php?MTID=m1", "https://acme.webex.com/acme/j.php?MTID=m2", false],
    ["https://Example.com./room/?b=2&a=1#x", "https://www.example.com/room?a=1&b=2", true],
    ["https://example.com/room", "https://example.com/Room", false],
    ["https://meet.jit.si/a", "https://meet.jit.si/a/", true],
    ["not a link", "not a link", false],
    ["https://zoom.us/j/123456789", "tel:123456789", false],
  ])("%s ~ %s -> %s", (a, b, expected) => {
    expect(sameMeetingLink(a, b)).toBe(expected);
    expect(sameMeetingLink(b, a)).toBe(expected);
  });
});

describe("properties", () => {
  const assertShape = (raw: string) => {
    const got = checkTelehealthLink(raw);
    if (got.ok) {
      expect(PLATFORMS).toContain(got.platform);
      // Normalizing is idempotent: the stored link checks to itself.
      expect(checkTelehealthLink(got.url)).toEqual(got);
    } else {
      expect(LINK_REJECTION_CODES).toContain(got.code);
    }
  };

  it("checkTelehealthLink never throws on arbitrary strings", () => {
    fc.assert(
      fc.property(fc.string({ unit: "binary", maxLength: 300 }), (s) => assertShape(s)),
      { numRuns: 2000 },
    );
  });

  it("checkTelehealthLink never throws on URL-like strings and is idempotent when it accepts", () => {
    const url = fc.oneof(
      fc.webUrl({ validSchemes: ["https", "http"], withQueryParameters: true, withFragments: true }),
      fc.tuple(fc.constantFrom("https://", "HTTPS://", "https://zoom.us", "https://doxy.me/"), fc.string({ maxLength: 60 })).map(([a, b]) => a + b),
    );
    fc.assert(
      fc.property(url, (s) => assertShape(s)),
      { numRuns: 2000 },
    );
  });

  it("findLinksInText and sameMeetingLink never throw", () => {
    fc.assert(
      fc.property(fc.string({ unit: "grapheme", maxLength: 200 }), fc.string({ maxLength: 80 }), (text, other) => {
        for (const link of findLinksInText(text)) expect(typeof sameMeetingLink(link, other)).toBe("boolean");
      }),
    );
  });
});
