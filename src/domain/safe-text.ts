// PostgreSQL text and jsonb cannot hold U+0000, and an unpaired UTF-16 surrogate is not a Unicode
// scalar value (RFC 8259 8.2 leaves such strings' behaviour unpredictable): both are refused at the
// JSON edge, wherever they sit in the document (keys too).

/** JSON can only carry these as \u escapes: UTF-8 decoding turns raw lone surrogates into U+FFFD. */
const SUSPECT_ESCAPE = /\\u(?:0000|d[89a-f][0-9a-f]{2})/i;

export const mayHoldUnsafeText = (rawJson: string): boolean => SUSPECT_ESCAPE.test(rawJson);

const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

export const isSafeText = (s: string): boolean => !s.includes("\u0000") && !LONE_SURROGATE.test(s);

/** The path of the first string (or key) holding NUL or a lone surrogate, or undefined. */
export function findUnsafeText(value: unknown): string | undefined {
  const stack: [unknown, string][] = [[value, ""]];
  while (stack.length > 0) {
    const [v, path] = stack.pop()!;
    if (typeof v === "string") {
      if (!isSafeText(v)) return path || "(body)";
    } else if (Array.isArray(v)) {
      for (const [i, item] of v.entries()) stack.push([item, path ? `${path}.${i}` : String(i)]);
    } else if (v && typeof v === "object") {
      for (const [k, item] of Object.entries(v)) {
        const at = path ? `${path}.${k}` : k;
        if (!isSafeText(k)) return path || "(body)";
        stack.push([item, at]);
      }
    }
  }
  return undefined;
}
