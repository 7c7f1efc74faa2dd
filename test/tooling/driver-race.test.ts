import { describe, expect, it } from "vitest";
import { isPostgresClosedSocketWrite } from "../../src/db/driver-race.js";

function errorWith(name: string, message: string, stack: string) {
  const e = new Error(message);
  e.name = name;
  e.stack = `${name}: ${message}\n${stack}`;
  return e;
}

describe("the postgres.js closed-socket write", () => {
  const frame = "    at Immediate.nextWrite (/app/node_modules/postgres/src/connection.js:255:22)";
  it("is recognized only in that exact form", () => {
    expect(isPostgresClosedSocketWrite(errorWith("TypeError", "Cannot read properties of null (reading 'write')", frame))).toBe(true);
    expect(
      isPostgresClosedSocketWrite(errorWith("TypeError", "Cannot read properties of null (reading 'write')", "    at ours (/app/src/x.ts:1:1)")),
    ).toBe(false);
    expect(isPostgresClosedSocketWrite(errorWith("TypeError", "Cannot read properties of null (reading 'end')", frame))).toBe(false);
    expect(isPostgresClosedSocketWrite(errorWith("RangeError", "Cannot read properties of null (reading 'write')", frame))).toBe(false);
    expect(isPostgresClosedSocketWrite(null)).toBe(false);
  });
});
