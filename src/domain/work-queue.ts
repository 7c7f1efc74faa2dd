// The order a provider works through open items in: most urgent first. Pure.
//
// Each item gets the date by which acting on it stops being useful, and the earliest comes first:
// - an ended session awaiting confirmation: its end plus the lookback in which open items chase it
//   (payers' timely-filing limits are of the same order: see the README, "Settings pages"), so the
//   oldest unconfirmed session comes first;
// - an upcoming session overlapping busy time: its start (after that the clash has happened);
// - a calendar event that uses the provider's link but is no session: like an ended session;
// - a change to a confirmed session: its start, since confirmed details can be corrected only
//   shortly after confirmation.
import type { ItemKind } from "./reconciliation.js";

const DAY_MS = 86_400_000;
/** How long after its end an unconfirmed session stays an open item (the reconciliation lookback). */
export const CONFIRMATION_LOOKBACK_DAYS = 90;

export type QueueEntry = { kind: ItemKind; start?: string; end?: string; sessionId?: string };

// Ties (same instant): what blocks billing before what only needs a look.
const KIND_RANK: Record<ItemKind, number> = {
  external_change_on_confirmed_session: 0,
  overlaps_busy_time: 1,
  needs_client_location: 2,
  client_location_required: 2,
  eligible: 3,
  private_pay_only: 3,
  needs_credentialing: 4,
  refer: 4,
  audio_only_not_allowed: 5,
  location_outside_us: 5,
  unlinked_session: 6,
  external_event_after_cancellation: 6,
  calendar_needs_reconnect: 1,
};

/** The instant after which the item can no longer be acted on usefully; +Infinity when unknown. */
export function actBy(item: QueueEntry): number {
  const start = item.start ? Date.parse(item.start) : NaN;
  const end = item.end ? Date.parse(item.end) : start;
  switch (item.kind) {
    case "overlaps_busy_time":
    case "external_change_on_confirmed_session":
      return Number.isNaN(start) ? Infinity : start;
    default:
      return Number.isNaN(end) ? Infinity : end + CONFIRMATION_LOOKBACK_DAYS * DAY_MS;
  }
}

/** A new array, most urgent first; stable for equal entries. */
export function orderByUrgency<T extends QueueEntry>(items: readonly T[]): T[] {
  return items
    .map((item, i) => ({ item, i, by: actBy(item) }))
    .sort((a, b) => a.by - b.by || KIND_RANK[a.item.kind] - KIND_RANK[b.item.kind] || a.i - b.i)
    .map((x) => x.item);
}
