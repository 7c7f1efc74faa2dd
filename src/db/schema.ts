// Every table carries provider_id, so the schema can be distributed by provider.
// The one exception is instance_settings, which holds operator-level state (the admin token hash).
import { type AnyColumn, type SQL, sql } from "drizzle-orm";
import { bigint, boolean, check, index, integer, jsonb, pgTable, primaryKey, text, timestamp, uniqueIndex, uuid } from "drizzle-orm/pg-core";
import { PLATFORMS } from "../domain/telehealth-link.js";
import {
  BILLING_KINDS,
  CONNECTION_KINDS,
  CONNECTION_STATUSES,
  DELIVERY_KINDS,
  DELIVERY_STATES,
  ELIGIBILITY_OUTCOMES,
  EXTERNAL_EVENT_STATUSES,
  INSURANCE_KINDS,
  MODALITIES,
  OUTBOX_STATES,
  PRIVACY_LEVELS,
  SESSION_KINDS,
  SESSION_STATUSES,
  SOURCE_KINDS,
  SOURCE_STATUSES,
} from "../domain/value-lists.js";

const ts = (name?: string) => (name ? timestamp(name, { withTimezone: true }) : timestamp({ withTimezone: true }));
const createdAt = () => ts().notNull().defaultNow();

/** `verified: false` marks a license a provider added and the network has not yet checked (docs/rules.md). */
export type License = { state: string; via?: string; verified?: boolean };

/**
 * A CHECK that the column holds one of a value list (src/domain/value-lists.ts); NULL passes, as in
 * any CHECK. The values are the list's own constants, written into the DDL as literals.
 */
const oneOf = (name: string, column: AnyColumn, values: readonly string[]): ReturnType<typeof check> =>
  check(name, sql`${column} in (${sql.raw(values.map((v) => `'${v.replaceAll("'", "''")}'`).join(", "))})` as SQL);

export const instanceSettings = pgTable("instance_settings", {
  key: text().primaryKey(),
  value: text().notNull(),
  updatedAt: createdAt(),
});

export const providers = pgTable("providers", {
  // The provider's id is the distribution key of every other table.
  id: uuid().primaryKey(),
  name: text().notNull(),
  timezone: text().notNull(),
  licenses: jsonb().$type<License[]>().notNull(),
  credentialedStates: jsonb().$type<string[]>().notNull(),
  // Bumped in every transaction that changes what a feed shows; feed caches key on it.
  dataVersion: bigint({ mode: "number" }).notNull().default(1),
  createdAt: createdAt(),
  updatedAt: createdAt(),
});

export const apiKeys = pgTable(
  "api_keys",
  {
    id: uuid().primaryKey(),
    providerId: uuid().notNull(),
    tokenHash: text().notNull(),
    prefix: text().notNull(),
    label: text(),
    createdAt: createdAt(),
    revokedAt: ts(),
  },
  (t) => [uniqueIndex().on(t.tokenHash), index().on(t.providerId)],
);

// One row per attested platform and version: a change makes a new row and retires the old one, so a
// session keeps pointing at the attestation (and instructions) it was booked with (docs/rules.md).
export const telehealthLinks = pgTable(
  "telehealth_platform_links",
  {
    id: uuid().primaryKey().defaultRandom(),
    providerId: uuid().notNull(),
    /** The platform, or for "other" the host: one current link per key. */
    platformKey: text().notNull(),
    url: text().notNull(),
    platform: text({ enum: PLATFORMS }).notNull(),
    instructions: text(),
    baaSigned: boolean().notNull(),
    waitingRoomEnabled: boolean().notNull(),
    compliant: boolean().notNull(),
    isDefault: boolean().notNull().default(false),
    updatedAt: createdAt(),
    retiredAt: ts(),
  },
  (t) => [
    index().on(t.providerId),
    uniqueIndex("telehealth_platform_links_current_key").on(t.providerId, t.platformKey).where(sql`${t.retiredAt} is null`),
    uniqueIndex("telehealth_platform_links_one_default").on(t.providerId).where(sql`${t.isDefault} and ${t.retiredAt} is null`),
    oneOf("telehealth_platform_links_platform_check", t.platform, PLATFORMS),
  ],
);

export const clients = pgTable(
  "clients",
  {
    id: uuid().primaryKey(),
    providerId: uuid().notNull(),
    displayName: text().notNull(),
    insurance: text({ enum: INSURANCE_KINDS }).notNull(),
    medicare: boolean().notNull(),
    createdAt: createdAt(),
    updatedAt: createdAt(),
  },
  (t) => [index().on(t.providerId, t.createdAt), oneOf("clients_insurance_check", t.insurance, INSURANCE_KINDS)],
);

export const clientLocations = pgTable(
  "client_locations",
  {
    id: uuid().primaryKey(),
    providerId: uuid().notNull(),
    clientId: uuid().notNull(),
    /** ISO 3166-1 alpha-2; a state code is only read as a US state when this is "US". */
    country: text().notNull().default("US"),
    state: text(),
    label: text(),
    // Holds from validFrom until validTo, or, open-ended, until a later location begins (docs/rules.md).
    validFrom: ts().notNull().defaultNow(),
    validTo: ts(),
    createdAt: createdAt(),
    archivedAt: ts(),
  },
  (t) => [index().on(t.clientId, t.createdAt), index().on(t.clientId, t.validFrom)],
);

export const sessions = pgTable(
  "sessions",
  {
    id: uuid().primaryKey(),
    providerId: uuid().notNull(),
    clientId: uuid().notNull(),
    uid: text().notNull(),
    sequence: integer().notNull().default(0),
    startAt: ts().notNull(),
    endAt: ts().notNull(),
    kind: text({ enum: SESSION_KINDS }).notNull(),
    modality: text({ enum: MODALITIES }).notNull(),
    status: text({ enum: SESSION_STATUSES }).notNull(),
    // The session's own link, resolved when it is booked (docs/rules.md): a new default reaches it only
    // while it is upcoming and unconfirmed, and only if it follows the default.
    telehealthUrl: text(),
    telehealthLinkId: uuid(),
    linkFollowsDefault: boolean().notNull().default(false),
    // An external recurring instance this session stands for, matched by original start (RFC 5545 3.8.4.4 RECURRENCE-ID).
    externalUid: text(),
    externalRecurrenceId: ts(),
    cancelledAt: ts(),
    createdAt: createdAt(),
    updatedAt: createdAt(),
  },
  (t) => [
    uniqueIndex().on(t.uid),
    index().on(t.providerId, t.startAt),
    index().on(t.providerId, t.updatedAt),
    uniqueIndex().on(t.providerId, t.externalUid, t.externalRecurrenceId).where(sql`${t.externalUid} is not null`),
    oneOf("sessions_kind_check", t.kind, SESSION_KINDS),
    oneOf("sessions_modality_check", t.modality, MODALITIES),
    oneOf("sessions_status_check", t.status, SESSION_STATUSES),
  ],
);

export const confirmations = pgTable(
  "confirmations",
  {
    sessionId: uuid().primaryKey(),
    providerId: uuid().notNull(),
    clientLocationId: uuid(),
    country: text().notNull().default("US"),
    state: text(),
    label: text(),
    outcome: text({ enum: ELIGIBILITY_OUTCOMES }).notNull(),
    row: integer().notNull(),
    billing: text({ enum: BILLING_KINDS }),
    linkUsed: text(),
    decision: jsonb().notNull(),
    confirmedBy: text().notNull(),
    confirmedAt: createdAt(),
  },
  (t) => [oneOf("confirmations_outcome_check", t.outcome, ELIGIBILITY_OUTCOMES), oneOf("confirmations_billing_check", t.billing, BILLING_KINDS)],
);

// An ended session the provider could not see the client for and referred on instead (docs/rules.md,
// "Confirming a session", rows 4 and 6): it will never be confirmed, so it leaves the open items. At most one per session.
export const sessionReferrals = pgTable(
  "session_referrals",
  {
    sessionId: uuid().primaryKey(),
    providerId: uuid().notNull(),
    clientId: uuid().notNull(),
    state: text().notNull(),
    outcome: text({ enum: ELIGIBILITY_OUTCOMES }).notNull(),
    referredBy: text().notNull(),
    referredAt: createdAt(),
  },
  (t) => [oneOf("session_referrals_outcome_check", t.outcome, ELIGIBILITY_OUTCOMES)],
);

export const feeds = pgTable(
  "feeds",
  {
    id: uuid().primaryKey(),
    providerId: uuid().notNull(),
    name: text().notNull(),
    privacy: text({ enum: PRIVACY_LEVELS }).notNull(),
    includeLink: boolean().notNull(),
    includeInPerson: boolean().notNull(),
    pastDays: integer().notNull(),
    futureDays: integer().notNull(),
    secretHash: text().notNull(),
    createdAt: createdAt(),
    updatedAt: createdAt(),
    revokedAt: ts(),
    lastFetchedAt: ts(),
    fetchCount: bigint({ mode: "number" }).notNull().default(0),
    lastFetchByKind: jsonb().$type<Record<string, string>>().notNull().default({}),
  },
  (t) => [uniqueIndex().on(t.secretHash), index().on(t.providerId), oneOf("feeds_privacy_check", t.privacy, PRIVACY_LEVELS)],
);

export const calendarSources = pgTable(
  "calendar_sources",
  {
    id: uuid().primaryKey(),
    providerId: uuid().notNull(),
    kind: text({ enum: SOURCE_KINDS }).notNull(),
    // Kind-specific settings (base URL, calendar id, feed URL). Credentials live in `secrets`.
    settings: jsonb().$type<Record<string, unknown>>().notNull(),
    // Kept as given because they must be presented or used to compute an HMAC (not only checked).
    secrets: jsonb().$type<Record<string, string>>().notNull(),
    // Channel id (Google) or subscription id (Microsoft): the lookup key of inbound notifications.
    channelId: text(),
    syncToken: text(),
    etag: text(),
    lastModified: text(),
    status: text({ enum: SOURCE_STATUSES }).notNull().default("active"),
    lastSyncedAt: ts(),
    lastErrorCode: text(),
    lastErrorAt: ts(),
    consecutiveFailures: integer().notNull().default(0),
    nextPollAt: ts(),
    createdAt: createdAt(),
    deletedAt: ts(),
  },
  (t) => [
    index().on(t.providerId),
    uniqueIndex().on(t.channelId),
    index().on(t.kind, t.nextPollAt),
    oneOf("calendar_sources_kind_check", t.kind, SOURCE_KINDS),
    oneOf("calendar_sources_status_check", t.status, SOURCE_STATUSES),
  ],
);

// The durable inbox: a notification is recorded once (unique delivery key) and applied by a worker.
export const deliveries = pgTable(
  "deliveries",
  {
    id: bigint({ mode: "number" }).primaryKey().generatedAlwaysAsIdentity(),
    providerId: uuid().notNull(),
    sourceId: uuid().notNull(),
    deliveryKey: text().notNull(),
    kind: text({ enum: DELIVERY_KINDS }).notNull(),
    // Rows recorded before delivery_payload_parts existed kept their ICS here as { ics }.
    payload: jsonb().$type<Record<string, unknown>>(),
    state: text({ enum: DELIVERY_STATES }).notNull().default("pending"),
    attempts: integer().notNull().default(0),
    availableAt: createdAt(),
    receivedAt: createdAt(),
    processedAt: ts(),
    lastErrorCode: text(),
    // While a worker holds it: no other delivery of the same source is claimed until then.
    claimedUntil: ts(),
    // Events of an applied delivery that could not be read, with why (the rest applied).
    setAside: jsonb().$type<Array<{ externalId: string; reason: string }>>(),
  },
  (t) => [
    uniqueIndex().on(t.sourceId, t.deliveryKey),
    index("deliveries_pending_idx").on(t.availableAt).where(sql`${t.state} = 'pending'`),
    oneOf("deliveries_kind_check", t.kind, DELIVERY_KINDS),
    oneOf("deliveries_state_check", t.state, DELIVERY_STATES),
  ],
);

// The ICS an ics_payload delivery carries, in parts of at most PAYLOAD_PART_CHARS (src/services/inbox.ts),
// written and read one statement per part: on the embedded database each statement runs on the
// event loop, and one 2 MiB value held it for ~100 ms. Recorded in the transaction that records the delivery.
export const deliveryPayloadParts = pgTable(
  "delivery_payload_parts",
  {
    deliveryId: bigint({ mode: "number" })
      .notNull()
      .references(() => deliveries.id, { onDelete: "cascade" }),
    part: integer().notNull(),
    text: text().notNull(),
  },
  (t) => [primaryKey({ columns: [t.deliveryId, t.part] })],
);

// The last known state of each external event, per source: busy time, unlinked sessions and the
// "older sequence never overwrites newer" rule (RFC 5545 3.8.7.4 SEQUENCE) read it.
export const externalEvents = pgTable(
  "external_events",
  {
    providerId: uuid().notNull(),
    sourceId: uuid().notNull(),
    externalId: text().notNull(),
    uid: text(),
    recurrenceId: ts(),
    status: text({ enum: EXTERNAL_EVENT_STATUSES }).notNull(),
    startAt: ts(),
    endAt: ts(),
    sequence: integer().notNull(),
    externalUpdatedAt: ts(),
    busy: boolean().notNull(),
    providerLink: text(),
    sessionId: uuid(),
    seenAt: createdAt(),
    // A deletion that would cancel a session, held until the provider's other sources have had a
    // pass: the same event showing up in another watched calendar is a move, not a cancellation.
    cancellationHeldAt: ts(),
  },
  (t) => [
    primaryKey({ columns: [t.sourceId, t.externalId] }),
    index().on(t.providerId, t.startAt),
    index().on(t.sessionId),
    // Held cancellations are looked for every 30 s and after each delivery that holds one; few rows
    // hold one at a time, so the index holds only those.
    index("external_events_held_idx").on(t.providerId).where(sql`${t.cancellationHeldAt} is not null`),
    oneOf("external_events_status_check", t.status, EXTERNAL_EVENT_STATUSES),
  ],
);

export const auditEvents = pgTable(
  "audit_events",
  {
    id: bigint({ mode: "number" }).primaryKey().generatedAlwaysAsIdentity(),
    providerId: uuid().notNull(),
    actor: text().notNull(),
    action: text().notNull(),
    subjectId: text(),
    data: jsonb().$type<Record<string, unknown>>(),
    at: createdAt(),
  },
  (t) => [index().on(t.providerId, t.at)],
);

// Browser sessions of the settings pages (README, Settings pages). The cookie carries a 256-bit token; only its hash
// is kept. A session lives only while its API key does: every request joins api_keys.
export const webSessions = pgTable(
  "web_sessions",
  {
    id: uuid().primaryKey(),
    providerId: uuid().notNull(),
    apiKeyId: uuid().notNull(),
    tokenHash: text().notNull(),
    csrfToken: text().notNull(),
    // A one-time message for the next page (a new feed URL), sealed with a key derived from the
    // cookie token, so the database alone cannot open it.
    flash: text(),
    createdAt: createdAt(),
    lastSeenAt: ts().notNull(),
    expiresAt: ts().notNull(),
  },
  (t) => [uniqueIndex().on(t.tokenHash), index().on(t.apiKeyId), index().on(t.providerId, t.expiresAt)],
);

// One OAuth grant (a consent at Google or Microsoft); each calendar picked from it is a source with
// settings.connectionId. Tokens are AES-256-GCM ciphertexts (src/services/secret-box.ts).
export const calendarConnections = pgTable(
  "calendar_connections",
  {
    id: uuid().primaryKey(),
    providerId: uuid().notNull(),
    kind: text({ enum: CONNECTION_KINDS }).notNull(),
    accessToken: text(),
    accessTokenExpiresAt: ts(),
    refreshToken: text(),
    scope: text(),
    status: text({ enum: CONNECTION_STATUSES }).notNull().default("connected"),
    lastErrorCode: text(),
    refreshedAt: ts(),
    createdAt: createdAt(),
    updatedAt: createdAt(),
  },
  (t) => [
    index().on(t.providerId),
    oneOf("calendar_connections_kind_check", t.kind, CONNECTION_KINDS),
    oneOf("calendar_connections_status_check", t.status, CONNECTION_STATUSES),
  ],
);

// A started authorization (RFC 6749 4.1 + RFC 7636): single use, short-lived, bound to the provider
// and the browser session that began it. Only the state's hash is kept; the verifier is sealed.
export const oauthStates = pgTable(
  "oauth_states",
  {
    id: uuid().primaryKey(),
    providerId: uuid().notNull(),
    kind: text({ enum: CONNECTION_KINDS }).notNull(),
    stateHash: text().notNull(),
    codeVerifier: text().notNull(),
    webSessionId: uuid(),
    // Set when this authorization reconnects an existing grant.
    connectionId: uuid(),
    expiresAt: ts().notNull(),
    usedAt: ts(),
    createdAt: createdAt(),
  },
  (t) => [uniqueIndex().on(t.stateHash), index().on(t.providerId), oneOf("oauth_states_kind_check", t.kind, CONNECTION_KINDS)],
);

// The operator's browser sessions of the settings pages, opened with the admin token. Only the
// cookie token's hash is kept, with the hash of the admin token it was opened with: a new
// ADMIN_TOKEN ends every such session.
export const adminWebSessions = pgTable(
  "admin_web_sessions",
  {
    id: uuid().primaryKey(),
    tokenHash: text().notNull(),
    adminTokenHash: text().notNull(),
    csrfToken: text().notNull(),
    createdAt: createdAt(),
    lastSeenAt: ts().notNull(),
    expiresAt: ts().notNull(),
  },
  (t) => [uniqueIndex().on(t.tokenHash), index().on(t.expiresAt)],
);

// Write-back: a calendar we created in a connected account, kept equal to the provider's sessions.
// At most one live mirror per connection (turning it off sets disabledAt and removes the calendar).
export const calendarMirrors = pgTable(
  "calendar_mirrors",
  {
    id: uuid().primaryKey(),
    providerId: uuid().notNull(),
    connectionId: uuid().notNull(),
    kind: text({ enum: CONNECTION_KINDS }).notNull(),
    // The same content rules as a feed (src/domain/feed-policy.ts).
    privacy: text({ enum: PRIVACY_LEVELS }).notNull(),
    includeLink: boolean().notNull(),
    remoteCalendarId: text(),
    status: text({ enum: SOURCE_STATUSES }).notNull().default("active"),
    lastPushAt: ts(),
    lastErrorCode: text(),
    lastErrorAt: ts(),
    lastRepairAt: ts(),
    createdAt: createdAt(),
    disabledAt: ts(),
  },
  (t) => [
    index().on(t.providerId),
    uniqueIndex("calendar_mirrors_one_live").on(t.connectionId).where(sql`${t.disabledAt} is null`),
    oneOf("calendar_mirrors_kind_check", t.kind, CONNECTION_KINDS),
    oneOf("calendar_mirrors_privacy_check", t.privacy, PRIVACY_LEVELS),
    oneOf("calendar_mirrors_status_check", t.status, SOURCE_STATUSES),
  ],
);

// What we last wrote for a session into a mirror: the platform's id and etag (If-Match, echo
// suppression) and a hash of the content (nothing to send when it did not change).
export const mirroredEvents = pgTable(
  "mirrored_events",
  {
    providerId: uuid().notNull(),
    mirrorId: uuid().notNull(),
    sessionId: uuid().notNull(),
    remoteEventId: text().notNull(),
    etag: text(),
    contentHash: text(),
    // The event was removed on purpose (a cancelled session): drift repair leaves it gone.
    removed: boolean().notNull().default(false),
    pushedAt: ts().notNull(),
  },
  (t) => [primaryKey({ columns: [t.mirrorId, t.sessionId] }), index().on(t.mirrorId, t.remoteEventId)],
);

// The transactional outbox: written in the transaction that changes what a calendar shows for a
// session. One row per (mirror, session), re-armed by each change (`version` moves); the worker
// always sends the session's current state, so a later change supersedes an earlier one in order.
export const mirrorOutbox = pgTable(
  "mirror_outbox",
  {
    id: bigint({ mode: "number" }).primaryKey().generatedAlwaysAsIdentity(),
    providerId: uuid().notNull(),
    mirrorId: uuid().notNull(),
    sessionId: uuid().notNull(),
    version: integer().notNull().default(1),
    state: text({ enum: OUTBOX_STATES }).notNull().default("pending"),
    attempts: integer().notNull().default(0),
    // null: as soon as possible (the writing transaction has no clock of its own).
    nextAttemptAt: ts(),
    claimedUntil: ts(),
    lastErrorCode: text(),
    createdAt: createdAt(),
    updatedAt: createdAt(),
  },
  (t) => [
    uniqueIndex().on(t.mirrorId, t.sessionId),
    index("mirror_outbox_pending_idx").on(t.nextAttemptAt).where(sql`${t.state} = 'pending'`),
    oneOf("mirror_outbox_state_check", t.state, OUTBOX_STATES),
  ],
);
