import { dayLabel, type FieldErrors, type LocationFormValues, OUTSIDE_US, STATE_OPTIONS } from "../location-form.js";

const LABELS: Record<keyof LocationFormValues, string> = {
  state: "State",
  country: "Country, if outside the US",
  from: "There since",
  label: "Label (optional)",
};

/**
 * The fields of "where was the client": ids carry `prefix` so several forms live on one page. A
 * wrong field is marked aria-invalid and described by its message (WCAG 3.3.1).
 */
export function LocationFields({
  prefix,
  values,
  errors = {},
  outsideUs,
  sessionDay,
}: {
  prefix: string;
  values: LocationFormValues;
  errors?: FieldErrors | undefined;
  outsideUs: boolean;
  sessionDay?: string | undefined;
}) {
  const id = (f: keyof LocationFormValues) => `${prefix}-${f}`;
  const described = (f: keyof LocationFormValues, hint?: string) =>
    [errors[f] ? `${id(f)}-error` : null, hint ?? null].filter(Boolean).join(" ") || undefined;
  const error = (f: keyof LocationFormValues) =>
    errors[f] ? (
      <p class="error-text" id={`${id(f)}-error`}>
        {errors[f]}
      </p>
    ) : null;
  return (
    <div class="fields">
      <div class="field">
        <label for={id("state")}>{LABELS.state}</label>
        {error("state")}
        <select id={id("state")} name="state" required aria-invalid={errors.state ? "true" : undefined} aria-describedby={described("state")}>
          <option value="" selected={values.state === ""}>
            Choose where the client was…
          </option>
          {STATE_OPTIONS.map((o) => (
            <option value={o.code} selected={values.state === o.code}>
              {o.label}
            </option>
          ))}
          {outsideUs && (
            <option value={OUTSIDE_US} selected={values.state === OUTSIDE_US}>
              Outside the US
            </option>
          )}
        </select>
      </div>
      {outsideUs && (
        <div class="field">
          <label for={id("country")}>{LABELS.country}</label>
          {error("country")}
          <input
            id={id("country")}
            name="country"
            type="text"
            autocomplete="off"
            maxlength={60}
            value={values.country}
            aria-invalid={errors.country ? "true" : undefined}
            aria-describedby={described("country")}
          />
        </div>
      )}
      <div class="field">
        <label for={id("from")}>{LABELS.from}</label>
        <p class="hint" id={`${id("from")}-hint`}>
          The day the client started being there{sessionDay ? `; the session's date (${dayLabel(sessionDay)}) if you're not sure` : ""}.
        </p>
        {error("from")}
        <input
          id={id("from")}
          name="from"
          type="date"
          required
          max={sessionDay}
          value={values.from}
          aria-invalid={errors.from ? "true" : undefined}
          aria-describedby={described("from", `${id("from")}-hint`)}
        />
      </div>
      <div class="field">
        <label for={id("label")}>{LABELS.label}</label>
        <p class="hint" id={`${id("label")}-hint`}>
          For example “Home” or “College dorm”. Don't enter a street address.
        </p>
        {error("label")}
        <input
          id={id("label")}
          name="label"
          type="text"
          maxlength={100}
          value={values.label}
          aria-invalid={errors.label ? "true" : undefined}
          aria-describedby={described("label", `${id("label")}-hint`)}
        />
      </div>
    </div>
  );
}

/** The error-summary lines of a refused location form, in field order, linking to its fields. */
export function locationSummaryItems(prefix: string, errors: FieldErrors): { field: string; text: string }[] {
  return (Object.keys(LABELS) as (keyof LocationFormValues)[])
    .filter((f) => errors[f])
    .map((f) => ({ field: `${prefix}-${f}`, text: `${LABELS[f]}: ${errors[f]}` }));
}
