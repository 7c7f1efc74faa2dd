import { describeJurisdiction } from "../../domain/jurisdictions.js";
import { formatInstant } from "../format.js";
import { countryName, type FieldErrors, type LocationFormValues } from "../location-form.js";
import { ClientName } from "./client-name.js";
import { ErrorSummary } from "./error-summary.js";
import { LocationFields, locationSummaryItems } from "./location-fields.js";
import { Notice, type NoticeTone } from "./notice.js";

type Location = { id: string; state: string | null; label: string | null; createdAt: string } & Record<string, unknown>;
export type ClientRow = { id: string; displayName: string; initials: string; insurance: string; medicare: boolean; locations: Location[] };
export type ClientFormError = { clientId: string; values: LocationFormValues; errors: FieldErrors };

type Props = {
  csrf: string;
  timezone: string;
  today: string;
  clients: ClientRow[];
  nextCursor?: string | undefined;
  notice?: { text: string; tone?: NoticeTone | undefined } | undefined;
  formError?: ClientFormError | undefined;
  outsideUs: boolean;
};

const INSURANCE: Record<string, string> = {
  in_network: "In-network insurance",
  out_of_network: "Out-of-network insurance",
  self_pay: "Pays for themselves",
};

const dayOf = (iso: string, timezone: string) =>
  new Intl.DateTimeFormat("en-US", { timeZone: timezone, month: "short", day: "numeric", year: "numeric" }).format(new Date(iso));

/** Where a location is, in words: "New York (NY)", or a country's name outside the US. */
function placeOf(l: Location): string {
  const country = typeof l.country === "string" ? l.country : "US";
  if (country !== "US") return countryName(country);
  return l.state ? describeJurisdiction(l.state) : "Unknown";
}

/** When a location holds: its own range once locations carry one, else when it was added. */
function heldOf(l: Location, timezone: string): string {
  const from = typeof l.from === "string" ? l.from : null;
  const to = typeof l.to === "string" ? l.to : null;
  if (from && to) return `${dayOf(from, timezone)} – ${dayOf(to, timezone)}`;
  if (from) return `since ${dayOf(from, timezone)}`;
  return `added ${formatInstant(l.createdAt, timezone)}`;
}

function ClientCard({
  client,
  csrf,
  timezone,
  today,
  formError,
  outsideUs,
}: {
  client: ClientRow;
  csrf: string;
  timezone: string;
  today: string;
  formError?: ClientFormError | undefined;
  outsideUs: boolean;
}) {
  const mine = formError?.clientId === client.id ? formError : undefined;
  const values = mine?.values ?? { state: "", country: "", from: today, label: "" };
  const headingId = `client-${client.id}-title`;
  return (
    <li class="card" id={`client-${client.id}`} aria-labelledby={headingId} data-client={client.id}>
      <h2 id={headingId}>{client.initials ? `Client ${client.initials}` : "Client without initials"}</h2>
      <ClientName client={client} />
      <dl class="facts">
        <dt>Insurance</dt>
        <dd>{INSURANCE[client.insurance] ?? client.insurance}</dd>
        <dt>Medicare</dt>
        <dd>{client.medicare ? "Yes" : "No"}</dd>
      </dl>
      <h3>Where they have been</h3>
      {client.locations.length === 0 ? (
        <p class="hint">No locations yet. Sessions can't be confirmed until you add where the client was.</p>
      ) : (
        <ul class="plain" data-locations="">
          {client.locations.map((l) => (
            <li>
              {placeOf(l)}
              {l.label ? ` · ${l.label}` : ""} <span class="hint">({heldOf(l, timezone)})</span>
            </li>
          ))}
        </ul>
      )}
      <details class="correct" open={!!mine}>
        <summary>Add a location</summary>
        <form method="post" action={`/settings/clients/${client.id}/locations`} aria-label={`Add a location for client ${client.initials}`}>
          <input type="hidden" name="_csrf" value={csrf} />
          <LocationFields prefix={`cl-${client.id}`} values={values} errors={mine?.errors} outsideUs={outsideUs} />
          <div class="actions">
            <button type="submit">Add location</button>
          </div>
        </form>
      </details>
    </li>
  );
}

export function ClientsPage({ csrf, timezone, today, clients, nextCursor, notice, formError, outsideUs }: Props) {
  return (
    <>
      <h1>Clients</h1>
      <p>
        Your clients and where they have been for sessions. Licensing and billing depend on where a client physically is during each session, so add a
        location when a client travels or moves.
      </p>
      {formError && (
        <ErrorSummary heading="Nothing was saved" items={locationSummaryItems(`cl-${formError.clientId}`, formError.errors)}>
          <p>Check the marked field:</p>
        </ErrorSummary>
      )}
      {notice && <Notice text={notice.text} tone={notice.tone} />}
      {clients.length === 0 ? (
        <p>You have no clients yet.</p>
      ) : (
        <ul class="cards" aria-label="Your clients" data-clients="">
          {clients.map((client) => (
            <ClientCard client={client} csrf={csrf} timezone={timezone} today={today} formError={formError} outsideUs={outsideUs} />
          ))}
        </ul>
      )}
      {nextCursor && (
        <p>
          <a href={`/settings/clients?cursor=${encodeURIComponent(nextCursor)}`}>Next clients</a>
        </p>
      )}
    </>
  );
}
