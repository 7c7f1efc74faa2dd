// WCAG 2.1 contrast of the focus outline against every background it can appear on (1.4.11: >= 3:1).
// Colours are read from the stylesheet itself, so a change to either side is checked.
import { describe, expect, it } from "vitest";
import { STYLE } from "../../src/web/assets.js";

/** Relative luminance of an sRGB colour, WCAG 2.1 definition. */
function luminance(hex: string): number {
  const [r, g, b] = [1, 3, 5].map((i) => {
    const c = parseInt(hex.slice(i, i + 2), 16) / 255;
    return c <= 0.04045 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4;
  });
  return 0.2126 * r! + 0.7152 * g! + 0.0722 * b!;
}

function contrastRatio(a: string, b: string): number {
  const [hi, lo] = [luminance(a), luminance(b)].sort((x, y) => y - x);
  return (hi! + 0.05) / (lo! + 0.05);
}

/** The declarations of the first rule whose selector list is exactly `selector`. */
function rule(selector: string): string {
  const escaped = selector.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
  const m = new RegExp(`(?:^|\\n)${escaped}\\{([^}]*)\\}`).exec(STYLE);
  if (!m) throw new Error(`no rule for ${selector}`);
  return m[1]!;
}
const colourOf = (decls: string, prop: string) => {
  const m = new RegExp(`(?:^|;)${prop}:[^;]*?#([0-9a-f]{6}|[0-9a-f]{3})\\b`).exec(decls);
  if (!m) throw new Error(`no ${prop} colour in ${decls}`);
  const hex = m[1]!;
  return "#" + (hex.length === 3 ? [...hex].map((d) => d + d).join("") : hex);
};

describe("focus outline contrast (WCAG 1.4.11)", () => {
  it("computes contrast ratios as WCAG defines them", () => {
    expect(contrastRatio("#000000", "#ffffff")).toBeCloseTo(21, 5);
    expect(contrastRatio("#ffffff", "#ffffff")).toBe(1);
    expect(contrastRatio("#777777", "#ffffff")).toBeCloseTo(4.48, 2);
    // The colour this replaced, as the accessibility review measured it.
    expect(contrastRatio("#f5a623", "#ffffff")).toBeCloseTo(2.03, 2);
  });

  const focusSelector = STYLE.split("\n")
    .find((l) => l.startsWith("a:focus-visible,"))!
    .split("{")[0]!;
  const outline = colourOf(rule(focusSelector), "outline");
  const headerOutline = colourOf(rule("header :focus-visible,.skip:focus-visible"), "outline-color");

  const lightBackgrounds: Record<string, string> = {
    "page background": colourOf(rule("body"), "background"),
    "card (white)": colourOf(rule(".card"), "background"),
    navigation: colourOf(rule("nav"), "background"),
    "warning box": colourOf(rule(".warning"), "background"),
    "notice box": colourOf(rule(".notice"), "background"),
    "error box": colourOf(rule(".problem"), "background"),
    "text field": colourOf(rule("input[type=text],input[type=url],input[type=password],input[type=date],select,textarea"), "background"),
    badge: colourOf(rule(".badge"), "background"),
  };

  it.each(Object.entries(lightBackgrounds))("the outline is at least 3:1 against the %s", (_name, background) => {
    expect(contrastRatio(outline, background)).toBeGreaterThanOrEqual(3);
  });

  it("in the header (and the skip link over it) the outline is at least 3:1 against the header", () => {
    expect(contrastRatio(headerOutline, colourOf(rule("header"), "background"))).toBeGreaterThanOrEqual(3);
  });
});
