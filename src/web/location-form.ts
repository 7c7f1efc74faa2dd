// "Where was the client?" as the settings pages ask it: a US state (or DC, a territory), or a
// country outside the US; since when; an optional label. Checked here in plain words, then handed
// to the location service, which checks again.
import { US_JURISDICTIONS } from "../domain/jurisdictions.js";
import { createIanaZone, wallMs, wallToUtc } from "../ics/timezones.js";
import type { LocationEntry } from "../services/work-queue.js";

/** The select's value for "outside the US"; never a USPS code. */
export const OUTSIDE_US = "outside";

export const STATE_OPTIONS = Object.entries(US_JURISDICTIONS)
  .map(([code, name]) => ({ code, label: `${name} (${code})` }))
  .sort((a, b) => a.label.localeCompare(b.label, "en-US"));

/** What the form posted, echoed back into the form when something is wrong. */
export type LocationFormValues = { state: string; country: string; from: string; label: string };
export type FieldErrors = Partial<Record<keyof LocationFormValues, string>>;

const regionNames = new Intl.DisplayNames(["en-US"], { type: "region", fallback: "none" });

/** An ISO 3166-1 alpha-2 code for a country typed by code ("CA") or English name ("Canada"). */
export function countryCode(input: string): string | null {
  const typed = input.trim();
  if (/^[A-Za-z]{2}$/.test(typed)) {
    const code = typed.toUpperCase();
    return regionNames.of(code) ? code : null;
  }
  const wanted = typed.toLocaleLowerCase("en-US");
  if (!wanted) return null;
  for (let a = 65; a <= 90; a++) {
    for (let b = 65; b <= 90; b++) {
      const code = String.fromCharCode(a, b);
      if (regionNames.of(code)?.toLocaleLowerCase("en-US") === wanted) return code;
    }
  }
  return null;
}

export const countryName = (code: string) => regionNames.of(code) ?? code;

/** "Nov 20, 2026" for a YYYY-MM-DD day. */
export const dayLabel = (day: string) =>
  new Intl.DateTimeFormat("en-US", { timeZone: "UTC", month: "short", day: "numeric", year: "numeric" }).format(new Date(`${day}T00:00:00Z`));

/** YYYY-MM-DD of an instant in a time zone. */
export function localDate(iso: string, timezone: string): string {
  return new Intl.DateTimeFormat("en-CA", { timeZone: timezone, year: "numeric", month: "2-digit", day: "2-digit" }).format(new Date(iso));
}

export const formValues = (form: Record<string, string>): LocationFormValues => ({
  state: (form.state ?? "").trim(),
  country: (form.country ?? "").trim(),
  from: (form.from ?? "").trim(),
  label: (form.label ?? "").trim(),
});

/**
 * The location the form describes, or the fields that are wrong. `sessionStart`, when given, bounds
 * the date: a location that begins after the session cannot be where the client was during it.
 */
export function parseLocationForm(
  v: LocationFormValues,
  ctx: { timezone: string; sessionStart?: string; outsideUsAllowed: boolean },
): { ok: true; entry: LocationEntry } | { ok: false; errors: FieldErrors } {
  const errors: FieldErrors = {};
  const entry: LocationEntry = {};
  if (v.state === OUTSIDE_US && ctx.outsideUsAllowed) {
    const code = countryCode(v.country);
    if (!v.country) errors.country = "Enter the country your client was in, for example Canada.";
    else if (!code) errors.country = "We don't know that country. Type its name in English (for example Mexico) or its two-letter code (MX).";
    else if (code === "US") errors.country = "For a place in the US, choose its state above instead.";
    else entry.country = code;
  } else if (Object.hasOwn(US_JURISDICTIONS, v.state)) {
    entry.state = v.state;
  } else {
    errors.state = "Choose the state your client was in during the session.";
  }
  const sessionDay = ctx.sessionStart ? localDate(ctx.sessionStart, ctx.timezone) : null;
  const m = /^(\d{4})-(\d{2})-(\d{2})$/.exec(v.from);
  const zone = createIanaZone(ctx.timezone);
  if (!m || !zone) {
    errors.from = "Enter a date, for example the session's date.";
  } else {
    const [y, mo, d] = [Number(m[1]), Number(m[2]), Number(m[3])];
    const wall = wallMs(y, mo, d);
    const real = new Date(wall);
    if (y < 1900 || real.getUTCMonth() + 1 !== mo || real.getUTCDate() !== d)
      errors.from = "That date doesn't exist. Use the form year-month-day, for example 2026-11-20.";
    else if (sessionDay && v.from > sessionDay)
      errors.from = `The client must have been there on the session's date (${dayLabel(sessionDay)}) or earlier.`;
    else entry.from = new Date(wallToUtc(wall, zone));
  }
  if (v.label.length > 100) errors.label = "Keep the label under 100 characters.";
  else if (v.label) entry.label = v.label;
  return Object.keys(errors).length ? { ok: false, errors } : { ok: true, entry };
}
