// The fixed lists of values the server stores and accepts, each declared once. The database holds
// them as CHECK constraints (src/db/schema.ts), the API as zod enums (`z.enum(LIST)`), the code as
// the types below; a value added here reaches all three, through a generated migration for the first.

/** How much of the client a feed's events show (README, Feeds). */
export const PRIVACY_LEVELS = ["minimal", "initials", "full"] as const;
export type Privacy = (typeof PRIVACY_LEVELS)[number];

export const SESSION_KINDS = ["virtual", "in_person"] as const;
export type SessionKind = (typeof SESSION_KINDS)[number];

/** Audio-only is for Medicare clients, behind a network policy (docs/rules.md). */
export const MODALITIES = ["video", "audio_only"] as const;
export type Modality = (typeof MODALITIES)[number];

export const SESSION_STATUSES = ["scheduled", "cancelled", "confirmed"] as const;
export type SessionStatus = (typeof SESSION_STATUSES)[number];

export const INSURANCE_KINDS = ["in_network", "out_of_network", "self_pay"] as const;
export type ClientInsurance = (typeof INSURANCE_KINDS)[number];

/** One per row of the confirmation table (docs/rules.md), in row order. */
export const ELIGIBILITY_OUTCOMES = [
  "client_location_required",
  "location_outside_us",
  "audio_only_not_allowed",
  "refer",
  "eligible",
  "needs_credentialing",
  "private_pay_only",
] as const;
export type EligibilityOutcome = (typeof ELIGIBILITY_OUTCOMES)[number];

/** The outcomes after which referring the client on is what the rules ask for. */
export const REFERABLE_OUTCOMES = ["refer", "needs_credentialing"] as const satisfies readonly EligibilityOutcome[];

export const BILLING_KINDS = ["insurance", "private_pay"] as const;
export type Billing = (typeof BILLING_KINDS)[number];

/** OAuth grants: Google Calendar and Microsoft Graph. */
export const CONNECTION_KINDS = ["google", "microsoft"] as const;
export type ConnectionKind = (typeof CONNECTION_KINDS)[number];

/** connected | needs_reconnect (the grant was refused) | disconnected (tokens dropped). */
export const CONNECTION_STATUSES = ["connected", "needs_reconnect", "disconnected"] as const;
export type ConnectionStatus = (typeof CONNECTION_STATUSES)[number];

/** One ingestion adapter per kind; the OAuth kinds read through a connection. */
export const SOURCE_KINDS = ["ics_webhook", "ics_url", ...CONNECTION_KINDS] as const;
export type SourceKind = (typeof SOURCE_KINDS)[number];

/**
 * Health the provider sees, of a source and of a write-back mirror alike: needs_reconnect when the
 * grant is gone (only a person can fix it), failing after repeated errors of another kind; any
 * success makes it active again.
 */
export const SOURCE_STATUSES = ["active", "needs_reconnect", "failing"] as const;
export type SourceStatus = (typeof SOURCE_STATUSES)[number];

export const DELIVERY_KINDS = ["ics_payload", "pull", "full_resync", "renew_channel"] as const;
export type DeliveryKind = (typeof DELIVERY_KINDS)[number];

/** rejected: refused for good (malformed, over a cap); the delivery's lastErrorCode says why. */
export const DELIVERY_STATES = ["pending", "done", "failed", "rejected"] as const;
export type DeliveryState = (typeof DELIVERY_STATES)[number];

/** A write-back outbox row: done when the platform has the session's latest content. */
export const OUTBOX_STATES = ["pending", "done", "failed"] as const;
export type OutboxState = (typeof OUTBOX_STATES)[number];

/** RFC 5545 3.8.1.11 STATUS of a VEVENT, lower-cased; Google and Graph map onto the same three. */
export const EXTERNAL_EVENT_STATUSES = ["confirmed", "tentative", "cancelled"] as const;
export type ExternalEventStatus = (typeof EXTERNAL_EVENT_STATUSES)[number];
