// A value list is declared once (README, House rules): every other mention derives from that
// declaration (`z.enum(LIST)`, `(typeof LIST)[number]`). This reads the source for lists written out
// by hand, as a union of string literals, a literal `z.enum([...])` or a literal array, and fails when
// the same set of values is written out in two places.
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, relative } from "node:path";
import { describe, expect, it } from "vitest";

const ROOT = join(import.meta.dirname, "../..");
const LITERAL = String.raw`"[A-Za-z0-9_.:-]+"`;
const LISTS = [
  // "a" | "b" | ...
  new RegExp(String.raw`${LITERAL}(?:\s*\|\s*${LITERAL})+`, "g"),
  // ["a", "b", ...]
  new RegExp(String.raw`\[\s*${LITERAL}(?:\s*,\s*${LITERAL})+\s*,?\s*\]`, "g"),
];

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? sourceFiles(join(dir, e.name)) : /\.tsx?$/.test(e.name) ? [join(dir, e.name)] : [],
  );
}

function declaredLists(files: string[]): Map<string, string[]> {
  const places = new Map<string, string[]>();
  for (const file of files) {
    const text = readFileSync(file, "utf8");
    for (const pattern of LISTS) {
      for (const m of text.matchAll(pattern)) {
        const values = [...new Set(m[0].match(new RegExp(LITERAL, "g")) ?? [])].sort();
        if (values.length < 2) continue;
        const line = text.slice(0, m.index).split("\n").length;
        const key = values.join(" ");
        places.set(key, [...(places.get(key) ?? []), `${relative(ROOT, file)}:${line}`]);
      }
    }
  }
  return places;
}

describe("value lists", () => {
  it("are each written out once in src", () => {
    const twice = [...declaredLists(sourceFiles(join(ROOT, "src"))).entries()].filter(([, where]) => where.length > 1);
    expect(Object.fromEntries(twice)).toEqual({});
  });

  it("the scan finds a list written out again, in any of the three forms and any order", () => {
    const dir = mkdtempSync(join(tmpdir(), "value-lists-"));
    try {
      const file = join(dir, "sample.ts");
      writeFileSync(
        file,
        [
          'export const LEVELS = ["minimal", "initials", "full"] as const;',
          'type Level = "full" | "minimal"\n  | "initials";',
          'const Level = z.enum([\n  "initials",\n  "minimal",\n  "full",\n]);',
          'const single: "only" = "only";',
        ].join("\n"),
      );
      const lists = [...declaredLists([file]).entries()].map(([values, where]) => [values, where.map((w) => Number(w.split(":").pop())).sort()]);
      expect(lists).toEqual([['"full" "initials" "minimal"', [1, 2, 4]]]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
