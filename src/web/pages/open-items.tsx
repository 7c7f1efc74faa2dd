import { formatRange } from "../format.js";

/** The shape listReconciliationItems answers (SPEC 6); only what the page shows. */
export type OpenItem = { kind: string; sessionId?: string; start?: string; end?: string; title: string; action: string; detail?: string };

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

type Props = { timezone: string; items: OpenItem[] };

export function OpenItemsPage({ timezone, items }: Props) {
  return (
    <>
      <h1>Open items</h1>
      <p>
        Sessions that still need something from you: where the client was, credentialing, a referral or private pay, and calendar
        events that don't match your sessions. An item goes away as soon as its cause is fixed.
      </p>
      {items.length === 0 ? (
        <p class="card notice" role="status">
          Nothing needs your attention.
        </p>
      ) : (
        <ul class="cards" aria-label="Open items" data-open-items="">
          {items.map((item, i) => {
            const when = formatRange(item.start, item.end, timezone);
            return (
              <li class="card" aria-labelledby={`item-${i}`} data-kind={item.kind}>
                <p>
                  <span class="badge">{todoLabel(item.kind)}</span>
                </p>
                <h2 id={`item-${i}`}>{item.title}</h2>
                {when && <p class="hint">{when}</p>}
                <p>
                  <strong>What to do:</strong> {item.action}
                </p>
                {item.detail && <p class="hint">Why: {item.detail}</p>}
              </li>
            );
          })}
        </ul>
      )}
    </>
  );
}
