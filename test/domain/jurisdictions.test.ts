import { describe, expect, it } from "vitest";
import {
  COMPACTS,
  describeJurisdiction,
  isLicensedIn,
  isUsJurisdiction,
  normalizeStateCode,
  StateCodeSchema,
  US_JURISDICTIONS,
} from "../../src/domain/jurisdictions.js";

describe("US_JURISDICTIONS", () => {
  it("has 50 states, DC and 5 territories", () => {
    expect(Object.keys(US_JURISDICTIONS)).toHaveLength(56);
    for (const code of ["DC", "AS", "GU", "MP", "PR", "VI"]) expect(US_JURISDICTIONS).toHaveProperty(code);
    expect(US_JURISDICTIONS.PR).toBe("Puerto Rico");
  });
});

describe("isUsJurisdiction", () => {
  it.each([
    ["NY", true],
    ["ny", true],
    [" ca ", true],
    ["DC", true],
    ["PR", true],
    ["VI", true],
    ["GU", true],
    ["AS", true],
    ["MP", true],
    ["AA", false],
    ["AE", false],
    ["AP", false],
    ["FM", false],
    ["MH", false],
    ["PW", false],
    ["XX", false],
    ["", false],
    ["NEW YORK", false],
    ["constructor", false],
    ["__proto__", false],
  ])("%j -> %s", (code, expected) => {
    expect(isUsJurisdiction(code)).toBe(expected);
  });
});

describe("normalizeStateCode / describeJurisdiction", () => {
  it("trims and uppercases", () => {
    expect(normalizeStateCode("  ny\n")).toBe("NY");
  });
  it("names US codes and leaves others as codes", () => {
    expect(describeJurisdiction("dc")).toBe("District of Columbia (DC)");
    expect(describeJurisdiction("ae")).toBe("AE");
  });
});

describe("StateCodeSchema", () => {
  it.each([
    ["NY", "NY"],
    [" ny ", "NY"],
    ["AE", "AE"],
    ["FR", "FR"],
  ])("accepts %j as %j", (raw, parsed) => {
    expect(StateCodeSchema.parse(raw)).toBe(parsed);
  });

  it.each(["", "N", "NYC", "N1", "12", "New York", 12, null])("rejects %j", (raw) => {
    expect(StateCodeSchema.safeParse(raw).success).toBe(false);
  });
});

describe("isLicensedIn", () => {
  it.each<[string, { state: string; via?: string }[], string, boolean]>([
    ["full license", [{ state: "NY" }], "NY", true],
    ["license in another state", [{ state: "NJ" }], "NY", false],
    ["no licenses", [], "NY", false],
    ["case and whitespace", [{ state: " ny" }], "Ny ", true],
    ["PSYPACT privilege (no membership data)", [{ state: "CO", via: "PSYPACT" }], "CO", true],
    ["Counseling Compact privilege", [{ state: "AZ", via: "COUNSELING_COMPACT" }], "AZ", true],
    ["Social Work multistate license", [{ state: "KS", via: "social_work_compact" }], "KS", true],
    ["privilege is for its own state only", [{ state: "CO", via: "PSYPACT" }], "UT", false],
    ["unknown compact does not count", [{ state: "CO", via: "IMLC" }], "CO", false],
    ["prototype key is not a compact", [{ state: "CO", via: "constructor" }], "CO", false],
  ])("%s", (_, licenses, state, expected) => {
    expect(isLicensedIn(licenses, state)).toBe(expected);
  });

  it("uses membership data when a table provides it", () => {
    const compacts = { ...COMPACTS, PSYPACT: { ...COMPACTS.PSYPACT, members: new Set(["CO"]) } };
    expect(isLicensedIn([{ state: "CO", via: "PSYPACT" }], "CO", compacts)).toBe(true);
    expect(isLicensedIn([{ state: "CA", via: "PSYPACT" }], "CA", compacts)).toBe(false);
    // A full license never depends on compact membership.
    expect(isLicensedIn([{ state: "CA" }], "CA", compacts)).toBe(true);
  });
});
