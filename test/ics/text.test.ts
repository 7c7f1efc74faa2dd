import fc from "fast-check";
import ICAL from "ical.js";
import { describe, expect, it } from "vitest";
import {
  contentLine,
  escapeText,
  foldLine,
  joinLines,
  normalizeText,
  octetLength,
  paramValue,
  unescapeText,
  unfoldLines,
  uriValue,
} from "../../src/ics/text.js";

const strictUtf8 = new TextDecoder("utf-8", { fatal: true });
const utf8 = new TextEncoder();

const cp = (min: number, max: number) => fc.integer({ min, max }).map((c) => String.fromCodePoint(c));
/** Characters from every UTF-8 length, plus everything TEXT escaping and folding care about. */
const char = fc.oneof(
  { weight: 4, arbitrary: cp(0x20, 0x7e) }, // 1 octet
  { weight: 3, arbitrary: fc.constantFrom(";", ",", "\\", "\n", "\r\n", "\r", "\t", ":", '"', "^") },
  { weight: 2, arbitrary: cp(0x80, 0x7ff) }, // 2 octets: é, ü, Ω
  { weight: 2, arbitrary: fc.oneof(cp(0x800, 0xd7ff), cp(0xe000, 0xfffd)) }, // 3 octets: —, 日本語
  { weight: 2, arbitrary: cp(0x10000, 0x10ffff) }, // 4 octets: emoji, a surrogate pair in UTF-16
  { weight: 1, arbitrary: fc.constantFrom("\x00", "\x07", "\x1b", "\x7f", "\v", "\f") },
);
// size "max": fast-check's default size keeps strings around 5 characters, which never fold.
const text = fc.string({ unit: char, maxLength: 300, size: "max" });

/** Also lone UTF-16 surrogates, which have no UTF-8 form. */
const anyUnit = fc.oneof(
  char,
  fc.integer({ min: 0xd800, max: 0xdfff }).map((c) => String.fromCharCode(c)),
);

/**
 * The RFC 5545 3.3.11 normalisation written independently of the code under test. Lone surrogates
 * are judged in the input, so two halves around a dropped control stay two U+FFFD.
 */
function expectedText(s: string): string {
  return s
    .replace(/[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g, "\ufffd")
    .replace(/\r\n?/g, "\n")
    .replace(/[\x00-\x08\x0b-\x1f\x7f]/g, "");
}

/** Physical lines as bytes, split on CRLF in the encoded stream (so a split character shows). */
function physicalLines(doc: string): Uint8Array[] {
  const bytes = utf8.encode(doc);
  const lines: Uint8Array[] = [];
  let start = 0;
  for (let i = 0; i + 1 < bytes.length; i++) {
    if (bytes[i] === 0x0d && bytes[i + 1] === 0x0a) {
      lines.push(bytes.subarray(start, i));
      start = i + 2;
      i++;
    }
  }
  expect(start, "document must end with CRLF").toBe(bytes.length);
  return lines;
}

function checkWire(doc: string): void {
  expect(doc.endsWith("\r\n")).toBe(true);
  expect(doc.replace(/\r\n/g, ""), "no bare CR or LF").not.toMatch(/[\r\n]/);
  const lines = physicalLines(doc);
  lines.forEach((line, i) => {
    expect(line.length, `line ${i} octets`).toBeLessThanOrEqual(75);
    // RFC 5545 3.1: a fold never splits a UTF-8 sequence, so each physical line decodes on its own.
    expect(() => strictUtf8.decode(line), `line ${i} is whole UTF-8`).not.toThrow();
  });
}

describe("escapeText / unescapeText", () => {
  it.each([
    ["plain", "plain"],
    ["a;b,c\\d", "a\\;b\\,c\\\\d"],
    ["line1\nline2", "line1\\nline2"],
    ["crlf\r\nand cr\rend", "crlf\\nand cr\\nend"],
    ["tab\tkept", "tab\tkept"],
    ["bell\x07 esc\x1b del\x7f nul\x00 gone", "bell esc del nul gone"],
    ['colon: and "quotes" stay', 'colon: and "quotes" stay'],
    ["\\n literal", "\\\\n literal"],
    ["lone \ud800 high, lone \udc00 low", "lone \ufffd high\\, lone \ufffd low"],
    ["pair 😀 kept", "pair 😀 kept"],
  ])("escapeText(%j) = %j", (input, escaped) => {
    expect(escapeText(input)).toBe(escaped);
  });

  it("leaves text with nothing to escape unchanged, whatever its script", () => {
    const s = "Session with J. D. — 日本語 😀";
    expect(escapeText(s)).toBe(s);
  });

  it.each([
    ["a\\;b\\,c\\\\d\\nx\\Ny", "a;b,c\\d\nx\ny"],
    ["\\\\n", "\\n"],
    ["unknown \\q kept", "unknown \\q kept"],
  ])("unescapeText(%j) = %j", (input, plain) => {
    expect(unescapeText(input)).toBe(plain);
  });

  it("property: unescapeText(escapeText(s)) is s after CR, control and surrogate normalisation", () => {
    fc.assert(
      fc.property(fc.string({ unit: anyUnit, maxLength: 300, size: "max" }), (s) => {
        const escaped = escapeText(s);
        expect(escaped).not.toMatch(/[\r\n\x00-\x08\x0b-\x1f\x7f]/);
        expect(escaped).not.toMatch(/(^|[^\\])(\\\\)*[;,]/); // every ; and , preceded by an odd run of \
        expect(unescapeText(escaped)).toBe(expectedText(s));
        expect(normalizeText(s)).toBe(expectedText(s));
      }),
      { numRuns: 500 },
    );
  });
});

describe("foldLine", () => {
  it("leaves a line of exactly 75 ASCII octets alone and folds 76", () => {
    expect(foldLine("A".repeat(75))).toBe("A".repeat(75));
    expect(foldLine("A".repeat(76))).toBe("A".repeat(75) + "\r\n A");
  });

  it("counts the continuation's leading space: 75 + 74 + 74 content octets per line", () => {
    const folded = foldLine("B".repeat(75 + 74 + 74 + 1));
    expect(folded.split("\r\n").map((l) => l.length)).toEqual([75, 75, 75, 2]);
  });

  it("moves a 4-octet character that would straddle octet 75 to the next line", () => {
    // 72 + 4 = 76 > 75, so the emoji starts the continuation.
    expect(foldLine("A".repeat(72) + "😀" + "z")).toBe("A".repeat(72) + "\r\n 😀z");
    expect(foldLine("A".repeat(71) + "😀")).toBe("A".repeat(71) + "😀");
  });

  it("counts 2- and 3-octet characters as such", () => {
    const folded = foldLine("é".repeat(40)); // 80 octets: 37 é (74) fit, the 38th would reach 76
    expect(folded).toBe("é".repeat(37) + "\r\n " + "é".repeat(3));
    const cjk = foldLine("日".repeat(26)); // 78 octets: 25 fit (75)
    expect(cjk).toBe("日".repeat(25) + "\r\n 日");
  });

  it("does not end a physical line with the backslash of an escape", () => {
    const line = "X".repeat(74) + "\\n" + "tail";
    expect(foldLine(line)).toBe("X".repeat(74) + "\r\n \\ntail");
    const even = "X".repeat(73) + "\\\\" + "tail"; // an escaped backslash may end the line
    expect(foldLine(even)).toBe("X".repeat(73) + "\\\\\r\n tail");
  });

  it("property: unfolding restores the line; physical lines fit and keep UTF-8 whole", () => {
    fc.assert(
      fc.property(fc.string({ unit: char, maxLength: 400, size: "max" }), (raw) => {
        const line = raw.replace(/[\r\n]/g, " ");
        const folded = foldLine(line);
        checkWire(folded + "\r\n");
        expect(unfoldLines(folded + "\r\n")).toEqual([line]);
        for (const cont of folded.split("\r\n").slice(1)) expect(cont.startsWith(" ")).toBe(true);
      }),
      { numRuns: 500 },
    );
  });

  it("property: a folded line never ends inside a backslash escape", () => {
    const escapeHeavy = fc.string({
      unit: fc.constantFrom("\\", ",", ";", "\n", "a", "é", "😀"),
      maxLength: 300,
      size: "max",
    });
    fc.assert(
      fc.property(escapeHeavy, (s) => {
        const physical = contentLine("DESCRIPTION", undefined, escapeText(s)).split("\r\n");
        for (const p of physical) expect(/\\+$/.exec(p)?.[0].length ?? 0).toSatisfy((n: number) => n % 2 === 0);
      }),
      { numRuns: 300 },
    );
  });
});

describe("content lines end to end", () => {
  it("property: escape + fold + CRLF, then unfold + unescape returns the text; ical.js agrees", () => {
    fc.assert(
      fc.property(text, (s) => {
        const doc = joinLines([
          "BEGIN:VCALENDAR",
          "VERSION:2.0",
          "PRODID:-//test//EN",
          "BEGIN:VEVENT",
          "UID:x@test",
          "DTSTAMP:20260101T000000Z",
          contentLine("DESCRIPTION", undefined, escapeText(s)),
          "END:VEVENT",
          "END:VCALENDAR",
        ]);
        checkWire(doc);
        const description = unfoldLines(doc).find((l) => l.startsWith("DESCRIPTION:"))!;
        expect(unescapeText(description.slice("DESCRIPTION:".length))).toBe(expectedText(s));
        const vevent = new ICAL.Component(ICAL.parse(doc)).getFirstSubcomponent("vevent")!;
        expect(vevent.getFirstPropertyValue("description")).toBe(expectedText(s));
      }),
      { numRuns: 300 },
    );
  });

  it("property: octetLength equals the UTF-8 encoder's length, lone surrogates included", () => {
    fc.assert(
      fc.property(fc.string({ unit: anyUnit, maxLength: 200, size: "max" }), (s) => {
        expect(octetLength(s)).toBe(utf8.encode(s).length);
      }),
      { numRuns: 500 },
    );
  });

  it("joinLines ends with CRLF and writes nothing for no lines", () => {
    expect(joinLines(["A", "B"])).toBe("A\r\nB\r\n");
    expect(joinLines([])).toBe("");
  });

  it("unfoldLines accepts HTAB continuations and bare LF (feeds in the wild)", () => {
    expect(unfoldLines("A:1\r\n\t2\r\nB:3\n 4\nC:5")).toEqual(["A:12", "B:34", "C:5"]);
  });

  it("contentLine writes parameters: comma lists, quoting, RFC 6868 for DQUOTE and newlines", () => {
    expect(contentLine("CONFERENCE", { VALUE: "URI", FEATURE: ["AUDIO", "VIDEO"], LABEL: "Join" }, "https://x.test/a")).toBe(
      "CONFERENCE;VALUE=URI;FEATURE=AUDIO,VIDEO;LABEL=Join:https://x.test/a",
    );
    expect(paramValue("Dr. Smith, PhD")).toBe('"Dr. Smith, PhD"');
    expect(paramValue('Say "hi"\nnow ^')).toBe("Say ^'hi^'^nnow ^^");
    const cn = contentLine("ORGANIZER", { CN: 'A "B", C' }, "mailto:a@b.test");
    const prop = ICAL.Property.fromString(cn);
    expect(prop.getParameter("cn")).toBe('A "B", C');
  });

  it("uriValue percent-encodes what would break the line and leaves the rest verbatim", () => {
    expect(uriValue("https://zoom.us/j/1?pwd=a,b;c")).toBe("https://zoom.us/j/1?pwd=a,b;c");
    expect(uriValue("https://x.test/a b\r\nX-EVIL:1")).toBe("https://x.test/a%20b%0D%0AX-EVIL:1");
  });
});
