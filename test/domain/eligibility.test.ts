import { describe, expect, it } from "vitest";
import { decideEligibility, type EligibilityInput } from "../../src/domain/eligibility.js";
import { COMPACTS } from "../../src/domain/jurisdictions.js";

type Overrides = {
  state?: string | null;
  country?: string;
  modality?: EligibilityInput["modality"];
  insurance?: EligibilityInput["client"]["insurance"];
  medicare?: boolean;
  licenses?: EligibilityInput["provider"]["licenses"];
  credentialedStates?: string[];
  audioOnlyForMedicare?: boolean;
};

// Baseline: licensed and credentialed in NY, in-network client, video. Each case changes what it tests.
function input(o: Overrides = {}): EligibilityInput {
  return {
    state: o.state === undefined ? "NY" : o.state,
    ...(o.country ? { country: o.country } : {}),
    modality: o.modality ?? "video",
    client: { insurance: o.insurance ?? "in_network", medicare: o.medicare ?? false },
    provider: {
      licenses: o.licenses ?? [{ state: "NY" }],
      credentialedStates: o.credentialedStates ?? ["NY"],
    },
    policy: { audioOnlyForMedicare: o.audioOnlyForMedicare ?? true },
  };
}

const licensedOnlyNJ = { state: "NJ", licenses: [{ state: "NY" }, { state: "NJ" }], credentialedStates: ["NY"] };

describe("decideEligibility: the confirmation table (docs/rules.md)", () => {
  it.each<[string, Overrides, { row: number; outcome: string; confirmable: boolean; billing?: string; state?: string; country?: string }]>([
    // Row 1
    ["no location", { state: null }, { row: 1, outcome: "client_location_required", confirmable: false }],
    ["blank location", { state: "  " }, { row: 1, outcome: "client_location_required", confirmable: false }],
    // Row 2
    ["military AE", { state: "AE" }, { row: 2, outcome: "location_outside_us", confirmable: false, state: "AE" }],
    ["military ap, lowercase", { state: "ap" }, { row: 2, outcome: "location_outside_us", confirmable: false, state: "AP" }],
    ["freely associated FM", { state: "FM" }, { row: 2, outcome: "location_outside_us", confirmable: false }],
    ["foreign code", { state: "FR" }, { row: 2, outcome: "location_outside_us", confirmable: false }],
    ["not a code at all", { state: "California" }, { row: 2, outcome: "location_outside_us", confirmable: false }],
    // Row 3
    ["audio-only, not Medicare", { modality: "audio_only" }, { row: 3, outcome: "audio_only_not_allowed", confirmable: false }],
    [
      "audio-only, Medicare, policy off",
      { modality: "audio_only", medicare: true, audioOnlyForMedicare: false },
      { row: 3, outcome: "audio_only_not_allowed", confirmable: false },
    ],
    [
      "audio-only, Medicare, policy on",
      { modality: "audio_only", medicare: true },
      { row: 5, outcome: "eligible", confirmable: true, billing: "insurance" },
    ],
    // Row 4
    ["not licensed", { state: "CA" }, { row: 4, outcome: "refer", confirmable: false, state: "CA" }],
    [
      "credentialed but not licensed still refers",
      { state: "CA", credentialedStates: ["NY", "CA"] },
      { row: 4, outcome: "refer", confirmable: false },
    ],
    ["not licensed, self-pay: no private pay either", { state: "CA", insurance: "self_pay" }, { row: 4, outcome: "refer", confirmable: false }],
    ["unknown compact name", { state: "CO", licenses: [{ state: "CO", via: "IMLC" }] }, { row: 4, outcome: "refer", confirmable: false }],
    // Row 5
    ["credentialed, in-network", {}, { row: 5, outcome: "eligible", confirmable: true, billing: "insurance", state: "NY" }],
    ["credentialed, self-pay", { insurance: "self_pay" }, { row: 5, outcome: "eligible", confirmable: true, billing: "private_pay" }],
    ["credentialed, out-of-network", { insurance: "out_of_network" }, { row: 5, outcome: "eligible", confirmable: true, billing: "insurance" }],
    [
      "credentialed, Medicare marked self-pay bills insurance",
      { insurance: "self_pay", medicare: true },
      { row: 5, outcome: "eligible", confirmable: true, billing: "insurance" },
    ],
    [
      "lowercase, padded codes",
      { state: " ny ", licenses: [{ state: "ny" }], credentialedStates: ["Ny"] },
      { row: 5, outcome: "eligible", confirmable: true, state: "NY" },
    ],
    ["DC", { state: "DC", licenses: [{ state: "DC" }], credentialedStates: ["DC"] }, { row: 5, outcome: "eligible", confirmable: true, state: "DC" }],
    [
      "Puerto Rico",
      { state: "PR", licenses: [{ state: "PR" }], credentialedStates: ["PR"] },
      { row: 5, outcome: "eligible", confirmable: true, state: "PR" },
    ],
    [
      "PSYPACT privilege + on the credentialed list: a compact never counts as credentialing",
      { state: "CO", licenses: [{ state: "NY" }, { state: "CO", via: "PSYPACT" }], credentialedStates: ["CO"] },
      { row: 6, outcome: "needs_credentialing", confirmable: false },
    ],
    [
      "full license + compact privilege in the same state, credentialed: the full license carries it",
      { state: "CO", licenses: [{ state: "CO" }, { state: "CO", via: "PSYPACT" }], credentialedStates: ["CO"] },
      { row: 5, outcome: "eligible", confirmable: true, billing: "insurance" },
    ],
    [
      "an unverified license never bills, even when credentialed",
      { state: "NJ", licenses: [{ state: "NJ", verified: false }], credentialedStates: ["NJ"], insurance: "out_of_network" },
      { row: 4, outcome: "refer", confirmable: false },
    ],
    [
      "CA in Canada is never California",
      { state: "CA", country: "CA", licenses: [{ state: "CA" }], credentialedStates: ["CA"] },
      { row: 2, outcome: "location_outside_us", confirmable: false, country: "CA" },
    ],
    [
      "Puerto Rico given as its country code is the territory",
      { state: null, country: "PR", licenses: [{ state: "PR" }], credentialedStates: ["PR"] },
      { row: 5, outcome: "eligible", confirmable: true, state: "PR" },
    ],
    // Row 6
    ["licensed, not credentialed, in-network", licensedOnlyNJ, { row: 6, outcome: "needs_credentialing", confirmable: false, state: "NJ" }],
    [
      "licensed, not credentialed, Medicare (out-of-network flag ignored)",
      { ...licensedOnlyNJ, insurance: "out_of_network", medicare: true },
      { row: 6, outcome: "needs_credentialing", confirmable: false },
    ],
    [
      "DC is its own region: licensed in DC, credentialed only in MD",
      { state: "DC", licenses: [{ state: "DC" }, { state: "MD" }], credentialedStates: ["MD"] },
      { row: 6, outcome: "needs_credentialing", confirmable: false, state: "DC" },
    ],
    // Row 7
    [
      "licensed, not credentialed, out-of-network",
      { ...licensedOnlyNJ, insurance: "out_of_network" },
      { row: 7, outcome: "private_pay_only", confirmable: true, billing: "private_pay" },
    ],
    [
      "licensed, not credentialed, self-pay",
      { ...licensedOnlyNJ, insurance: "self_pay" },
      { row: 7, outcome: "private_pay_only", confirmable: true, billing: "private_pay" },
    ],
    [
      "compact privilege only, self-pay",
      { state: "CO", licenses: [{ state: "NY" }, { state: "CO", via: "psypact" }], insurance: "self_pay" },
      { row: 7, outcome: "private_pay_only", confirmable: true, billing: "private_pay" },
    ],
  ])("%s", (_, overrides, expected) => {
    const decision = decideEligibility(input(overrides));
    expect(decision).toMatchObject(expected);
    expect(decision.explanation.length).toBeGreaterThan(20);
    expect(decision.action.length).toBeGreaterThan(10);
    if (!decision.confirmable) expect(decision.billing).toBeUndefined();
  });

  describe("first matching row wins", () => {
    it.each<[string, Overrides, number]>([
      ["no location beats audio-only and not licensed", { state: null, modality: "audio_only", licenses: [] }, 1],
      ["outside US beats audio-only", { state: "AE", modality: "audio_only" }, 2],
      ["audio-only beats not licensed", { state: "CA", modality: "audio_only" }, 3],
      ["not licensed beats credentialed", { state: "CA", credentialedStates: ["CA"] }, 4],
      ["credentialed beats in-network needs_credentialing", { state: "NJ", licenses: [{ state: "NJ" }], credentialedStates: ["NJ"] }, 5],
      ["Medicare needs credentialing even if out-of-network", { ...licensedOnlyNJ, insurance: "self_pay", medicare: true }, 6],
    ])("%s", (_, overrides, row) => {
      expect(decideEligibility(input(overrides)).row).toBe(row);
    });
  });

  it("names the state in plain words", () => {
    expect(decideEligibility(input({ state: "CA" })).explanation).toContain("California (CA)");
    expect(decideEligibility(input({ state: "CA" })).action).toContain("California (CA)");
    expect(decideEligibility(input(licensedOnlyNJ)).action).toContain("New Jersey (NJ)");
    expect(decideEligibility(input({ state: "AE" })).explanation).toMatch(/military/);
    expect(decideEligibility(input({ state: "PW" })).explanation).toMatch(/Palau/);
    expect(decideEligibility(input({ modality: "audio_only", medicare: true, audioOnlyForMedicare: false })).explanation).toMatch(/Medicare/);
  });

  it("checks compact membership when a dated member table is supplied", () => {
    const compacts = { ...COMPACTS, PSYPACT: { ...COMPACTS.PSYPACT, members: new Set(["CO", "NY"]) } };
    const privilege = (state: string) => input({ state, licenses: [{ state: "NY" }, { state, via: "PSYPACT" }], credentialedStates: [state] });
    // Licensed through the privilege (row 6, not row 4), never credentialed through it.
    expect(decideEligibility(privilege("CO"), compacts).row).toBe(6);
    expect(decideEligibility(privilege("CA"), compacts)).toMatchObject({ row: 4, outcome: "refer" });
  });
});
