// Every table carries provider_id, so the schema can be distributed by provider.
// The one exception is instance_settings, which holds operator-level state (the admin token hash).
import { sql } from "drizzle-orm";
import { bigint, boolean, index, integer, jsonb, pgTable, primaryKey, text, timestamp, uniqueIndex, uuid } from "drizzle-orm/pg-core";

const ts = (name?: string) => (name ? timestamp(name, { withTimezone: true }) : timestamp({ withTimezone: true }));
const createdAt = () => ts().notNull().defaultNow();

/** `verified: false` marks a license a provider added and the network has not yet checked (docs/rules.md). */
export type License = { state: string; via?: string; verified?: boolean };

export const SOURCE_STATUSES = ["active", "needs_reconnect", "failing"] as const;
export type SourceStatus = (typeof SOURCE_STATUSES)[number];
export const DELIVERY_STATES = ["pending", "done", "failed", "rejected"] as const;
export type DeliveryState = (typeof DELIVERY_STATES)[number];

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
    platform: text().notNull(),
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
  ],
);

export const clients = pgTable(
  "clients",
  {
    id: uuid().primaryKey(),
    providerId: uuid().notNull(),
    displayName: text().notNull(),
    insurance: text().$type<"in_network" | "out_of_network" | "self_pay">().notNull(),
    medicare: boolean().notNull(),
    createdAt: createdAt(),
    updatedAt: createdAt(),
  },
  (t) => [index().on(t.providerId, t.createdAt)],
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
    kind: text().$type<"virtual" | "in_person">().notNull(),
    modality: text().$type<"video" | "audio_only">().notNull(),
    status: text().$type<"scheduled" | "cancelled" | "confirmed">().notNull(),
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
  ],
);

export const confirmations = pgTable("confirmations", {
  sessionId: uuid().primaryKey(),
  providerId: uuid().notNull(),
  clientLocationId: uuid(),
  country: text().notNull().default("US"),
  state: text(),
  label: text(),
  outcome: text().notNull(),
  row: integer().notNull(),
  billing: text(),
  linkUsed: text(),
  decision: jsonb().notNull(),
  confirmedBy: text().notNull(),
  confirmedAt: createdAt(),
});

// An ended session the provider could not see the client for and referred on instead (docs/rules.md,
// "Confirming a session", rows 4 and 6): it will never be confirmed, so it leaves the open items. At most one per session.
export const sessionReferrals = pgTable("session_referrals", {
  sessionId: uuid().primaryKey(),
  providerId: uuid().notNull(),
  clientId: uuid().notNull(),
  state: text().notNull(),
  outcome: text().notNull(),
  referredBy: text().notNull(),
  referredAt: createdAt(),
});

export const feeds = pgTable(
  "feeds",
  {
    id: uuid().primaryKey(),
    providerId: uuid().notNull(),
    name: text().notNull(),
    privacy: text().$type<"minimal" | "initials" | "full">().notNull(),
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
  (t) => [uniqueIndex().on(t.secretHash), index().on(t.providerId)],
);

export const calendarSources = pgTable(
  "calendar_sources",
  {
    id: uuid().primaryKey(),
    providerId: uuid().notNull(),
    kind: text().$type<"ics_webhook" | "ics_url" | "google" | "microsoft">().notNull(),
    // Kind-specific settings (base URL, calendar id, feed URL). Credentials live in `secrets`.
    settings: jsonb().$type<Record<string, unknown>>().notNull(),
    // Kept as given because they must be presented or used to compute an HMAC (not only checked).
    secrets: jsonb().$type<Record<string, string>>().notNull(),
    // Channel id (Google) or subscription id (Microsoft): the lookup key of inbound notifications.
    channelId: text(),
    syncToken: text(),
    etag: text(),
    lastModified: text(),
    // Health the provider sees: needs_reconnect when the grant is gone (only a person can fix it),
    // failing after repeated errors of another kind; any success makes it active again.
    status: text().$type<SourceStatus>().notNull().default("active"),
    lastSyncedAt: ts(),
    lastErrorCode: text(),
    lastErrorAt: ts(),
    consecutiveFailures: integer().notNull().default(0),
    nextPollAt: ts(),
    createdAt: createdAt(),
    deletedAt: ts(),
  },
  (t) => [index().on(t.providerId), uniqueIndex().on(t.channelId), index().on(t.kind, t.nextPollAt)],
);

// The durable inbox: a notification is recorded once (unique delivery key) and applied by a worker.
export const deliveries = pgTable(
  "deliveries",
  {
    id: bigint({ mode: "number" }).primaryKey().generatedAlwaysAsIdentity(),
    providerId: uuid().notNull(),
    sourceId: uuid().notNull(),
    deliveryKey: text().notNull(),
    kind: text().$type<"ics_payload" | "pull" | "full_resync" | "renew_channel">().notNull(),
    // Rows recorded before delivery_payload_parts existed kept their ICS here as { ics }.
    payload: jsonb().$type<Record<string, unknown>>(),
    // rejected: refused for good (malformed, over a cap); lastErrorCode says why.
    state: text().$type<DeliveryState>().notNull().default("pending"),
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
  (t) => [uniqueIndex().on(t.sourceId, t.deliveryKey), index("deliveries_pending_idx").on(t.availableAt).where(sql`${t.state} = 'pending'`)],
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
    status: text().notNull(),
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
  (t) => [primaryKey({ columns: [t.sourceId, t.externalId] }), index().on(t.providerId, t.startAt), index().on(t.sessionId)],
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

export const CONNECTION_KINDS = ["google", "microsoft"] as const;
export type ConnectionKind = (typeof CONNECTION_KINDS)[number];

// One OAuth grant (a consent at Google or Microsoft); each calendar picked from it is a source with
// settings.connectionId. Tokens are AES-256-GCM ciphertexts (src/services/secret-box.ts).
export const calendarConnections = pgTable(
  "calendar_connections",
  {
    id: uuid().primaryKey(),
    providerId: uuid().notNull(),
    kind: text().$type<ConnectionKind>().notNull(),
    accessToken: text(),
    accessTokenExpiresAt: ts(),
    refreshToken: text(),
    scope: text(),
    // connected | needs_reconnect (the grant was refused) | disconnected (tokens dropped)
    status: text().$type<"connected" | "needs_reconnect" | "disconnected">().notNull().default("connected"),
    lastErrorCode: text(),
    refreshedAt: ts(),
    createdAt: createdAt(),
    updatedAt: createdAt(),
  },
  (t) => [index().on(t.providerId)],
);

// A started authorization (RFC 6749 4.1 + RFC 7636): single use, short-lived, bound to the provider
// and the browser session that began it. Only the state's hash is kept; the verifier is sealed.
export const oauthStates = pgTable(
  "oauth_states",
  {
    id: uuid().primaryKey(),
    providerId: uuid().notNull(),
    kind: text().$type<ConnectionKind>().notNull(),
    stateHash: text().notNull(),
    codeVerifier: text().notNull(),
    webSessionId: uuid(),
    // Set when this authorization reconnects an existing grant.
    connectionId: uuid(),
    expiresAt: ts().notNull(),
    usedAt: ts(),
    createdAt: createdAt(),
  },
  (t) => [uniqueIndex().on(t.stateHash), index().on(t.providerId)],
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
