import { REFERABLE_OUTCOMES } from "../../domain/value-lists.js";
import type { QueueItem } from "../../services/work-queue.js";
import { formatRange } from "../format.js";
import { type FieldErrors, type LocationFormValues, localDate } from "../location-form.js";
import { ClientName } from "./client-name.js";
import { ErrorSummary } from "./error-summary.js";
import { LocationFields, locationSummaryItems } from "./location-fields.js";
import { Notice, type NoticeTone } from "./notice.js";

// The short "what to do" for each kind; the item's own `action` says it in full.
const TODO: Record<string, string> = {
  needs_client_location: "Add a client location",
  client_location_required: "Add a client location",
  needs_credentialing: "Begin credentialing or refer",
  refer: "Refer",
  private_pay_only: "Private pay",
  eligible: "Confirm",
  location_outside_us: "Cannot be confirmed",
  audio_only_not_allowed: "Cannot be confirmed",
  unlinked_session: "Add as a session",
  overlaps_busy_time: "Reschedule",
  external_change_on_confirmed_session: "Check your calendar",
  calendar_needs_reconnect: "Reconnect",
};

export const todoLabel = (kind: string) => TODO[kind] ?? "Review";

const NEEDS_LOCATION = new Set(["needs_client_location", "client_location_required"]);
const REFERABLE = new Set<string>(REFERABLE_OUTCOMES);

/** A form on this page that was refused: which item, which action, what was typed, what is wrong. */
export type ItemFormError = {
  sessionId: string;
  action: "locate" | "confirm";
  values?: LocationFormValues;
  errors: FieldErrors & { privatePay?: string };
};

type Props = {
  csrf: string;
  timezone: string;
  items: QueueItem[];
  notice?: { text: string; tone?: NoticeTone | undefined } | undefined;
  formError?: ItemFormError | undefined;
  outsideUs: boolean;
};

// Date and time, so two items of one client on one day still have different headings.
const shortDate = (iso: string, timezone: string) =>
  new Intl.DateTimeFormat("en-US", {
    timeZone: timezone,
    month: "short",
    day: "numeric",
    year: "numeric",
    hour: "numeric",
    minute: "2-digit",
  }).format(new Date(iso));

function Csrf({ csrf }: { csrf: string }) {
  return <input type="hidden" name="_csrf" value={csrf} />;
}

function LocateForm({
  item,
  csrf,
  timezone,
  outsideUs,
  formError,
  button,
}: {
  item: QueueItem;
  csrf: string;
  timezone: string;
  outsideUs: boolean;
  formError?: ItemFormError | undefined;
  button: string;
}) {
  const sid = item.sessionId!;
  const sessionDay = localDate(item.start!, timezone);
  const mine = formError?.sessionId === sid && formError.action === "locate" ? formError : undefined;
  const values = mine?.values ?? { state: "", country: "", from: sessionDay, label: "" };
  return (
    <form method="post" action={`/settings/open-items/${sid}/locate`} class="inline-form" aria-label={`Where the client was: ${button}`}>
      <Csrf csrf={csrf} />
      <LocationFields prefix={`loc-${sid}`} values={values} errors={mine?.errors} outsideUs={outsideUs} sessionDay={sessionDay} />
      <div class="actions">
        <button type="submit">{button}</button>
      </div>
    </form>
  );
}

function ItemActions({
  item,
  csrf,
  timezone,
  outsideUs,
  formError,
}: {
  item: QueueItem;
  csrf: string;
  timezone: string;
  outsideUs: boolean;
  formError?: ItemFormError | undefined;
}) {
  const sid = item.sessionId;
  if (!sid || !item.start) return null;
  if (NEEDS_LOCATION.has(item.kind)) {
    return <LocateForm item={item} csrf={csrf} timezone={timezone} outsideUs={outsideUs} formError={formError} button="Add location and confirm" />;
  }
  const state = item.decision?.state;
  if (!item.decision || !state) return null;
  const mine = formError?.sessionId === sid ? formError : undefined;
  const place = <input type="hidden" name="state" value={state} />;
  let main = null;
  if (item.kind === "eligible") {
    main = (
      <form method="post" action={`/settings/open-items/${sid}/confirm`}>
        <Csrf csrf={csrf} />
        {place}
        <div class="actions">
          <button type="submit">{item.decision.billing === "private_pay" ? "Confirm (private pay)" : "Confirm session"}</button>
        </div>
      </form>
    );
  } else if (item.kind === "private_pay_only") {
    const err = mine?.action === "confirm" ? mine.errors.privatePay : undefined;
    const cid = `pp-${sid}`;
    main = (
      <form method="post" action={`/settings/open-items/${sid}/confirm`}>
        <Csrf csrf={csrf} />
        {place}
        {err && (
          <p class="error-text" id={`${cid}-error`}>
            {err}
          </p>
        )}
        <div class="check">
          <input
            type="checkbox"
            id={cid}
            name="privatePay"
            value="yes"
            aria-invalid={err ? "true" : undefined}
            aria-describedby={err ? `${cid}-error` : undefined}
          />
          <label for={cid}>My client agreed to pay for this session themselves (private pay).</label>
        </div>
        <div class="actions">
          <button type="submit">Confirm as private pay</button>
        </div>
      </form>
    );
  } else if (REFERABLE.has(item.kind)) {
    main = (
      <form method="post" action={`/settings/open-items/${sid}/refer`}>
        <Csrf csrf={csrf} />
        {place}
        <p class="hint">Once you've referred your client, mark it here: the session won't be confirmed or billed, and leaves this list.</p>
        <div class="actions">
          <button type="submit" class="secondary">
            Mark as referred
          </button>
        </div>
      </form>
    );
  }
  // The decision rests on the location on file; if it is wrong, the right one can be added here.
  const correcting = mine?.action === "locate";
  return (
    <>
      {main}
      <details class="correct" open={correcting}>
        <summary>Client was somewhere else?</summary>
        <LocateForm item={item} csrf={csrf} timezone={timezone} outsideUs={outsideUs} formError={formError} button="Save location and confirm" />
      </details>
    </>
  );
}

export function OpenItemsPage({ csrf, timezone, items, notice, formError, outsideUs }: Props) {
  return (
    <>
      <h1>Open items</h1>
      <p>
        Sessions that still need something from you, most urgent first: where the client was, credentialing, a referral or private pay, and calendar
        events that don't match your sessions. An item goes away as soon as its cause is fixed.
      </p>
      {formError && (
        <ErrorSummary
          heading="Nothing was saved"
          items={
            formError.action === "locate"
              ? locationSummaryItems(`loc-${formError.sessionId}`, formError.errors)
              : formError.errors.privatePay
                ? [{ field: `pp-${formError.sessionId}`, text: `Private pay: ${formError.errors.privatePay}` }]
                : []
          }
        >
          <p>Check the marked field:</p>
        </ErrorSummary>
      )}
      {notice && <Notice text={notice.text} tone={notice.tone} />}
      {items.length === 0 ? (
        <p class="card notice" role="status">
          Nothing needs your attention.
        </p>
      ) : (
        <ol class="cards" aria-label="Open items, most urgent first" data-open-items="">
          {items.map((item, i) => {
            const when = formatRange(item.start, item.end, timezone);
            const who = item.client?.initials || (item.client ? "Client" : "Calendar event");
            const heading = `${who}${item.start ? `, ${shortDate(item.start, timezone)}` : ""}: ${item.title}`;
            return (
              <li class="card" aria-labelledby={`item-${i}`} data-kind={item.kind} data-session={item.sessionId}>
                <p>
                  <span class="badge">{todoLabel(item.kind)}</span>
                </p>
                <h2 id={`item-${i}`}>{heading}</h2>
                {item.client && <ClientName client={item.client} />}
                {when && <p class="hint">{when}</p>}
                <p>
                  <strong>What to do:</strong> {item.action}
                </p>
                {item.detail && <p class="hint">Why: {item.detail}</p>}
                <ItemActions item={item} csrf={csrf} timezone={timezone} outsideUs={outsideUs} formError={formError} />
              </li>
            );
          })}
        </ol>
      )}
    </>
  );
}
