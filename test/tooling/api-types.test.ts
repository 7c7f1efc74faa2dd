import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { API_TYPES_FILE, renderApiTypes } from "../tools/api-document.js";

describe("the typed client's types", () => {
  it("match the API document the app serves (after changing a route: npm run api:types, and commit)", async () => {
    const committed = readFileSync(API_TYPES_FILE, "utf8").split("\n");
    const fresh = (await renderApiTypes()).split("\n");
    const at = Array.from({ length: Math.max(committed.length, fresh.length) }, (_, i) => i).find((i) => committed[i] !== fresh[i]);
    const where = at === undefined ? "" : `line ${at + 1}: committed ${JSON.stringify(committed[at])}, generated ${JSON.stringify(fresh[at])}`;
    expect(at, `${API_TYPES_FILE} is stale (${where}): run npm run api:types`).toBeUndefined();
  });
});
