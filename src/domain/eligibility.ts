import {
  type CompactTable,
  describeCountry,
  describeJurisdiction,
  isCredentialedIn,
  isLicensedIn,
  isUsJurisdiction,
  isVerified,
  jurisdictionOf,
  type LicenseEntry,
  NON_US_USPS_CODES,
  normalizeStateCode,
} from "./jurisdictions.js";
import type { Billing, ClientInsurance, EligibilityOutcome, Modality } from "./value-lists.js";

export type EligibilityInput = {
  /** USPS code of where the client physically was during the session; null = not given. */
  state: string | null;
  /** ISO 3166-1 country of that place; default US. Outside the US, `state` is never read as a US state. */
  country?: string;
  modality: Modality;
  client: { insurance: ClientInsurance; medicare: boolean };
  provider: { licenses: readonly LicenseEntry[]; credentialedStates: readonly string[] };
  policy: { audioOnlyForMedicare: boolean };
};

export type EligibilityDecision = {
  /** The row of the confirmation table (docs/rules.md) that fired; rows are tried top-down and the first match wins. */
  row: 1 | 2 | 3 | 4 | 5 | 6 | 7;
  outcome: EligibilityOutcome;
  confirmable: boolean;
  billing?: Billing;
  /** The normalized location code, whenever one was given. */
  state?: string;
  /** The country, when the client was outside the US. */
  country?: string;
  /** Which rule fired, in words a therapist understands, naming the state. */
  explanation: string;
  /** What to do next. */
  action: string;
};

/** May this telehealth session be confirmed, and how is it billed? The table in docs/rules.md. */
export function decideEligibility(input: EligibilityInput, compacts?: CompactTable): EligibilityDecision {
  const where = jurisdictionOf({ country: input.country ?? "US", state: input.state });
  // Row 2 for a country outside the US: whatever the state field says, it is not a US state.
  if (!where.us) {
    const place = describeCountry(where.country);
    return {
      row: 2,
      outcome: "location_outside_us",
      confirmable: false,
      country: where.country,
      ...(input.state ? { state: normalizeStateCode(input.state) } : {}),
      explanation: `Your client was in ${place}, outside the US. Sessions can only be confirmed when the client is in a US state, DC or a US territory.`,
      action: "Check the client's location. If they were abroad, the session can't be confirmed here; contact support for a manual review.",
    };
  }
  // Row 1. A blank string is as good as no location.
  if (where.state === null || where.state.trim() === "") {
    return {
      row: 1,
      outcome: "client_location_required",
      confirmable: false,
      explanation:
        "We don't know which state your client was in during this session. Licensing and billing " +
        "depend on where the client is physically located, not where they live.",
      action: "Add the state your client was in during the session, then confirm it.",
    };
  }

  const state = where.state;
  const place = describeJurisdiction(state);

  // Row 2: military mail codes and freely associated states are not US jurisdictions.
  if (!isUsJurisdiction(state)) {
    const known = Object.hasOwn(NON_US_USPS_CODES, state) ? NON_US_USPS_CODES[state as keyof typeof NON_US_USPS_CODES] : undefined;
    return {
      row: 2,
      outcome: "location_outside_us",
      confirmable: false,
      state,
      explanation:
        (known === undefined ? `"${state}" is not a US state, DC or US territory.` : `${state} is ${known}, not a US state, DC or US territory.`) +
        " Sessions can only be confirmed when the client is in the US.",
      action:
        "Check the client's location. If they were abroad (including on a military base), the " +
        "session can't be confirmed here; contact support for a manual review.",
    };
  }

  // Row 3. Medicare sessions may be audio-only, behind a policy flag (docs/rules.md).
  if (input.modality === "audio_only" && !(input.client.medicare && input.policy.audioOnlyForMedicare)) {
    return {
      row: 3,
      outcome: "audio_only_not_allowed",
      confirmable: false,
      state,
      explanation: input.client.medicare
        ? "Audio-only sessions are currently not allowed on the network, even for Medicare clients."
        : "Audio-only sessions are only allowed for Medicare clients; sessions need both audio and video.",
      action: "If the session used video, change it to video and confirm it; otherwise it can't be confirmed.",
    };
  }

  // Row 4: without a license (or compact privilege) in S there is no private pay either.
  if (!isLicensedIn(input.provider.licenses, state, compacts)) {
    const pending = input.provider.licenses.some((l) => normalizeStateCode(l.state) === state && !isVerified(l));
    return {
      row: 4,
      outcome: "refer",
      confirmable: false,
      state,
      explanation:
        (pending
          ? `Your client was in ${place}. The license you added there is waiting for the network to verify it, and until then it doesn't count. `
          : `Your client was in ${place}, and you don't hold a license or compact privilege there. `) +
        "You can't see them while they're in that state, including as private pay.",
      action: `Refer the client to a provider licensed in ${place}.`,
    };
  }

  // A compact privilege never counts as credentialing, and an unverified license never bills.
  const credentialed = isCredentialedIn(input.provider.licenses, input.provider.credentialedStates, state);

  // Row 5. Medicare is insurance and can't be private pay (docs/rules.md, "Confirming a session"), whatever `insurance` says.
  if (credentialed) {
    const privatePay = input.client.insurance === "self_pay" && !input.client.medicare;
    return {
      row: 5,
      outcome: "eligible",
      confirmable: true,
      billing: privatePay ? "private_pay" : "insurance",
      state,
      explanation:
        `You're licensed and credentialed in ${place}, where your client was, so this session ` +
        (privatePay ? "can be confirmed as private pay (the client isn't using insurance)." : "can be billed to the client's insurance."),
      action: `Confirm the session with ${place} as the client's location.`,
    };
  }

  // Row 6: the network supports the plan, so private pay is not an option.
  if (input.client.insurance === "in_network" || input.client.medicare) {
    const who = input.client.medicare ? "a Medicare client" : "a client whose insurance is in-network";
    return {
      row: 6,
      outcome: "needs_credentialing",
      confirmable: false,
      state,
      explanation:
        `You're licensed in ${place} but not credentialed there on the network. ` +
        `Because this is ${who}, the session can't be billed to insurance or seen as private pay.`,
      action: `Begin credentialing in ${place}, or refer the client to a network provider credentialed there.`,
    };
  }

  // Row 7.
  return {
    row: 7,
    outcome: "private_pay_only",
    confirmable: true,
    billing: "private_pay",
    state,
    explanation:
      `You're licensed in ${place} but not credentialed there on the network. Your client is ` +
      (input.client.insurance === "self_pay" ? "paying for themselves" : "out-of-network") +
      ", so you can see them as private pay.",
    action: `Confirm the session as private pay with ${place} as the client's location, or begin credentialing in ${place}.`,
  };
}
