import { z } from "zod";

// USPS Publication 28, Appendix B (pe.usps.com/text/pub28/pub28apb.htm): the 50 states, DC and the five inhabited territories are the
// places a client can be "in a US state" for licensure (docs/rules.md, "Confirming a session", row 2). Freely associated states
// (FM, MH, PW) and military mail codes (AA, AE, AP) are deliberately absent.
export const US_JURISDICTIONS = {
  AL: "Alabama",
  AK: "Alaska",
  AZ: "Arizona",
  AR: "Arkansas",
  CA: "California",
  CO: "Colorado",
  CT: "Connecticut",
  DE: "Delaware",
  FL: "Florida",
  GA: "Georgia",
  HI: "Hawaii",
  ID: "Idaho",
  IL: "Illinois",
  IN: "Indiana",
  IA: "Iowa",
  KS: "Kansas",
  KY: "Kentucky",
  LA: "Louisiana",
  ME: "Maine",
  MD: "Maryland",
  MA: "Massachusetts",
  MI: "Michigan",
  MN: "Minnesota",
  MS: "Mississippi",
  MO: "Missouri",
  MT: "Montana",
  NE: "Nebraska",
  NV: "Nevada",
  NH: "New Hampshire",
  NJ: "New Jersey",
  NM: "New Mexico",
  NY: "New York",
  NC: "North Carolina",
  ND: "North Dakota",
  OH: "Ohio",
  OK: "Oklahoma",
  OR: "Oregon",
  PA: "Pennsylvania",
  RI: "Rhode Island",
  SC: "South Carolina",
  SD: "South Dakota",
  TN: "Tennessee",
  TX: "Texas",
  UT: "Utah",
  VT: "Vermont",
  VA: "Virginia",
  WA: "Washington",
  WV: "West Virginia",
  WI: "Wisconsin",
  WY: "Wyoming",
  // Headway treats DC as its own credentialing region (docs/rules.md, "Licensed and credentialed").
  DC: "District of Columbia",
  AS: "American Samoa",
  GU: "Guam",
  MP: "Northern Mariana Islands",
  PR: "Puerto Rico",
  VI: "U.S. Virgin Islands",
} as const satisfies Record<string, string>;

export type UsJurisdictionCode = keyof typeof US_JURISDICTIONS;

// USPS codes that look like places but are outside every US licensure jurisdiction; kept so the
// eligibility explanation can say why instead of "unknown code".
export const NON_US_USPS_CODES = {
  AA: "a military mail code (Armed Forces Americas)",
  AE: "a military mail code (Armed Forces Europe, Middle East, Africa, Canada)",
  AP: "a military mail code (Armed Forces Pacific)",
  FM: "the Federated States of Micronesia, a freely associated state",
  MH: "the Marshall Islands, a freely associated state",
  PW: "Palau, a freely associated state",
} as const satisfies Record<string, string>;

/** Trim and uppercase, so " ny" and "NY" are the same place. */
export function normalizeStateCode(input: string): string {
  return input.trim().toUpperCase();
}

/** True for the 56 US jurisdictions (50 states, DC, AS, GU, MP, PR, VI); input is normalized first. */
export function isUsJurisdiction(code: string): boolean {
  return isUsCode(normalizeStateCode(code));
}

// Object.hasOwn, not `in`: keys like "constructor" must never match the prototype.
function isUsCode(code: string): code is UsJurisdictionCode {
  return Object.hasOwn(US_JURISDICTIONS, code);
}

/** "New York (NY)" for US codes, the code itself otherwise. */
export function describeJurisdiction(code: string): string {
  const c = normalizeStateCode(code);
  return isUsCode(c) ? `${US_JURISDICTIONS[c]} (${c})` : c;
}

/**
 * Any two letters, uppercased. Whether the code is a US jurisdiction is the eligibility rule's
 * decision (docs/rules.md, "Confirming a session", row 2), so a client abroad can still record where they were.
 */
export const StateCodeSchema = z
  .string()
  .trim()
  .toUpperCase()
  .regex(/^[A-Z]{2}$/, "Use a two-letter code such as NY");

// Interstate compacts that give a privilege (or multistate license) to practise in another member
// state (docs/rules.md, "Licensed and credentialed"). IMLC is absent on purpose: it issues ordinary full licenses.
//
// Membership changes every legislative session and public sources give only counts (PSYPACT ~42
// jurisdictions per a 2026-05 third-party count; Social Work Compact 30 states by 2025; the
// Counseling Compact's first privileges from AZ and MN), not lists we could verify. A wrong list
// would turn away a provider holding a real privilege, and the compact commissions only grant
// privileges for member states, so `members: null` means "trust the privilege entry". Operators can
// pass a dated table with member sets to isLicensedIn.
export type CompactId = "PSYPACT" | "COUNSELING_COMPACT" | "SOCIAL_WORK_COMPACT";

export type Compact = {
  name: string;
  profession: string;
  /** Member jurisdictions (USPS codes) when known and dated; null = no membership data. */
  members: ReadonlySet<string> | null;
};

export type CompactTable = Readonly<Record<string, Compact>>;

export const COMPACTS: Readonly<Record<CompactId, Compact>> = {
  PSYPACT: { name: "PSYPACT", profession: "psychologists", members: null },
  COUNSELING_COMPACT: {
    name: "Counseling Compact",
    profession: "licensed professional counselors",
    members: null,
  },
  SOCIAL_WORK_COMPACT: {
    name: "Social Work Licensure Compact (ASWB)",
    profession: "social workers",
    members: null,
  },
};

/**
 * A full license in `state`, or (with `via`) a compact privilege to practise there. `verified: false`
 * is a license the provider added that the network has not checked yet: it counts for nothing.
 */
export type LicenseEntry = { state: string; via?: string; verified?: boolean };

export const isVerified = (license: LicenseEntry) => license.verified !== false;

/**
 * Licensed = a verified full license in S, or a verified compact privilege valid for S
 * (docs/rules.md, "Licensed and credentialed"). A `via` naming a compact we don't know does not
 * count: it may be a typo, or IMLC/NLC, which are not privileges.
 */
export function isLicensedIn(licenses: readonly LicenseEntry[], state: string, compacts: CompactTable = COMPACTS): boolean {
  const s = normalizeStateCode(state);
  return licenses.some((license) => {
    if (normalizeStateCode(license.state) !== s || !isVerified(license)) return false;
    if (license.via === undefined) return true;
    const id = license.via.trim().toUpperCase();
    const compact = Object.hasOwn(compacts, id) ? compacts[id] : undefined;
    if (compact === undefined) return false;
    return compact.members === null || compact.members.has(s);
  });
}

/**
 * The network credentials providers under their full state license: a compact privilege is never
 * compatible with credentialing (docs/rules.md), so credentialing counts only beside a verified
 * full license in S.
 */
export function isCredentialedIn(licenses: readonly LicenseEntry[], credentialedStates: readonly string[], state: string): boolean {
  const s = normalizeStateCode(state);
  if (!credentialedStates.some((c) => normalizeStateCode(c) === s)) return false;
  return hasFullLicenseIn(licenses, s);
}

/** A verified full license (not a compact privilege) in `state`. */
export function hasFullLicenseIn(licenses: readonly LicenseEntry[], state: string): boolean {
  const s = normalizeStateCode(state);
  return licenses.some((l) => normalizeStateCode(l.state) === s && l.via === undefined && isVerified(l));
}

/** ISO 3166-1 alpha-2 codes of the territories, which are US jurisdictions under their own code. */
const TERRITORY_COUNTRIES = new Set(["PR", "GU", "VI", "AS", "MP"]);

export const CountryCodeSchema = z
  .string()
  .trim()
  .toUpperCase()
  .regex(/^[A-Z]{2}$/, "Use an ISO 3166-1 two-letter country code such as US or CA");

/**
 * Where a client was, as the rules read it: the US jurisdiction code, or the country outside the US.
 * A state code is read as a US state only when the country is the US ("CA" in Canada is never
 * California); a territory given as its own country code (PR) is that territory.
 */
export function jurisdictionOf(place: {
  country: string;
  state: string | null;
}): { us: true; state: string | null } | { us: false; country: string } {
  const country = normalizeStateCode(place.country);
  if (country === "US") return { us: true, state: place.state === null ? null : normalizeStateCode(place.state) };
  if (TERRITORY_COUNTRIES.has(country)) return { us: true, state: country };
  return { us: false, country };
}

/** "Canada (CA)" for a country code. Intl with a fixed locale, so the words never depend on the host. */
export function describeCountry(code: string): string {
  let name: string | undefined;
  try {
    name = new Intl.DisplayNames(["en"], { type: "region" }).of(code);
  } catch {
    name = undefined;
  }
  return name && name !== code ? `${name} (${code})` : code;
}
