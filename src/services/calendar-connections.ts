// Connecting Google and Outlook calendars with OAuth 2.0 (RFC 6749 4.1) and PKCE (RFC 7636, S256):
// begin (state + verifier kept server-side), complete at the callback (state single-use, short-lived,
// bound to the provider and browser session that began it), pick calendars (each becomes a source),
// and keep access tokens fresh (single-flight per grant across processes: a row lock).
import { createHash, randomBytes, randomUUID } from "node:crypto";
import { and, eq, isNull, lt, sql } from "drizzle-orm";
import { z } from "zod";
import type { Executor } from "../db/client.js";
import { calendarConnections, calendarSources, oauthStates } from "../db/schema.js";
import { withTransaction } from "../db/tx.js";
import { CONNECTION_KINDS, type ConnectionKind } from "../domain/value-lists.js";
import { AppError, NotFoundError, parseInput, UnprocessableError } from "../errors.js";
import { recordAudit } from "./audit.js";
import type { ProviderScope } from "./auth.js";
import { deleteCalendarSource, insertSourceAndRegister, type PushChannelRegistry, recordSourceFailure, type SourceRow } from "./calendar-sources.js";
import { type ConnectionAdapters, GrantError, type RemoteCalendar, type TokenSet } from "./connection-adapters.js";
import type { Principal, ServiceDeps } from "./deps.js";
import { recordDelivery } from "./inbox.js";
import { loadProvider } from "./providers.js";
import { openSecret, sealSecret } from "./secret-box.js";
import { hashSecret } from "./secrets.js";

/** RFC 6749 4.1.2 recommends codes live at most 10 minutes; the state need not outlive one. */
export const OAUTH_STATE_TTL_MS = 10 * 60_000;
/** An access token is refreshed this long before it expires (at most half its lifetime). */
const REFRESH_MARGIN_MS = 60_000;

export const BeginConnectionSchema = z.strictObject({
  kind: z.enum(CONNECTION_KINDS),
  connectionId: z.uuid().optional().describe("Reconnect this existing connection instead of making a new one"),
  writeBack: z
    .boolean()
    .optional()
    .describe('Also ask for the scope that lets this server keep a calendar of its own there ("Put my sessions in this calendar")'),
});
export const PickCalendarsSchema = z.strictObject({ calendarIds: z.array(z.string().min(1).max(2048)).min(1).max(50) });

export type ConnectionRow = typeof calendarConnections.$inferSelect;

export const redirectUriFor = (publicBaseUrl: string, kind: ConnectionKind) => `${publicBaseUrl}/oauth/${kind}/callback`;

const pkceChallenge = (verifier: string) => createHash("sha256").update(verifier).digest("base64url");

/** Which platforms can be connected here (a kind without credentials shows as unavailable). */
export function connectionKinds(adapters: ConnectionAdapters) {
  return CONNECTION_KINDS.map((kind) => ({
    kind,
    label: adapters[kind].label,
    available: adapters[kind].available,
    canRevoke: adapters[kind].canRevoke,
  }));
}

export async function beginConnection(
  deps: ServiceDeps,
  adapters: ConnectionAdapters,
  scope: ProviderScope,
  input: unknown,
  opts: { webSessionId?: string } = {},
): Promise<{ authorizationUrl: string; expiresAt: string }> {
  const { providerId } = scope;
  const data = parseInput(BeginConnectionSchema, input);
  const adapter = adapters[data.kind];
  if (!adapter.available) {
    throw new UnprocessableError("connection_kind_unavailable", `${adapter.label} connections are not set up on this server.`, { field: "kind" });
  }
  await loadProvider(deps.db, providerId);
  if (data.connectionId) await loadConnection(deps.db, providerId, data.connectionId, data.kind);
  const now = deps.clock.now();
  const state = randomBytes(32).toString("base64url");
  // RFC 7636 4.1: 43-128 unreserved characters; 32 random bytes base64url-encoded are 43.
  const verifier = randomBytes(32).toString("base64url");
  const expiresAt = new Date(now.getTime() + OAUTH_STATE_TTL_MS);
  // Started authorizations are kept a day past expiry (a late callback gets "expired", not "unknown").
  await deps.db
    .delete(oauthStates)
    .where(and(eq(oauthStates.providerId, providerId), lt(oauthStates.expiresAt, new Date(now.getTime() - 86_400_000))));
  await deps.db.insert(oauthStates).values({
    id: randomUUID(),
    providerId,
    kind: data.kind,
    stateHash: hashSecret(state),
    codeVerifier: sealSecret(deps.config.secretKeys, verifier, "code_verifier"),
    webSessionId: opts.webSessionId ?? null,
    connectionId: data.connectionId ?? null,
    expiresAt,
    createdAt: now,
  });
  const authorizationUrl = adapter.authorizationUrl({
    state,
    codeChallenge: pkceChallenge(verifier),
    redirectUri: redirectUriFor(deps.config.publicBaseUrl, data.kind),
    ...(data.writeBack ? { writeBack: true } : {}),
  });
  return { authorizationUrl, expiresAt: expiresAt.toISOString() };
}

const stateRefused = (code: string, detail: string) => new AppError(400, code, "Connection not accepted", detail);

/**
 * The callback: `session` is the browser's signed-in settings session (required: a connection lands
 * only with the provider that began it, RFC 6749 10.12). Returns the connection to pick calendars from.
 */
export async function completeConnection(
  deps: ServiceDeps,
  adapters: ConnectionAdapters,
  input: { kind: ConnectionKind; callbackUrl: URL; session: { id: string; providerId: string } },
): Promise<{ connectionId: string; providerId: string; reconnected: boolean }> {
  const state = input.callbackUrl.searchParams.get("state");
  if (!state || state.length > 512) throw stateRefused("oauth_state_invalid", "This sign-in link is not valid. Start connecting again.");
  const now = deps.clock.now();
  const [row] = await deps.db
    .select()
    .from(oauthStates)
    .where(eq(oauthStates.stateHash, hashSecret(state)));
  if (!row || row.kind !== input.kind) throw stateRefused("oauth_state_invalid", "This sign-in link is not valid. Start connecting again.");
  if (row.providerId !== input.session.providerId || (row.webSessionId !== null && row.webSessionId !== input.session.id)) {
    throw new AppError(
      403,
      "oauth_state_other_session",
      "Connection not accepted",
      "This connection was started by someone else, so nothing was connected.",
    );
  }
  if (row.usedAt) throw stateRefused("oauth_state_used", "This sign-in link was already used. Start connecting again.");
  if (row.expiresAt <= now) throw stateRefused("oauth_state_expired", "This sign-in link expired. Start connecting again.");
  // Single use, also against a concurrent second callback with the same state.
  const claimed = await deps.db
    .update(oauthStates)
    .set({ usedAt: now })
    .where(and(eq(oauthStates.id, row.id), isNull(oauthStates.usedAt)))
    .returning({ id: oauthStates.id });
  if (claimed.length === 0) throw stateRefused("oauth_state_used", "This sign-in link was already used. Start connecting again.");

  const adapter = adapters[input.kind];
  let tokens: TokenSet;
  try {
    tokens = await adapter.exchangeCode({
      callbackUrl: input.callbackUrl,
      state,
      codeVerifier: openSecret(deps.config.secretKeys, row.codeVerifier, "code_verifier"),
      redirectUri: redirectUriFor(deps.config.publicBaseUrl, input.kind),
    });
  } catch (err) {
    if (err instanceof GrantError && err.outcome === "denied")
      throw stateRefused("oauth_access_denied", `Access to your ${adapter.label} was not granted, so nothing was connected.`);
    deps.logger.warn({ kind: input.kind, code: err instanceof GrantError ? err.code : "internal" }, "oauth code exchange failed");
    throw new AppError(502, "oauth_exchange_failed", "Bad gateway", `${adapter.label} did not complete the connection. Try again in a moment.`);
  }
  if (!tokens.refreshToken) {
    // Without one the connection would stop within the hour (Google: access_type=offline; Microsoft: offline_access).
    throw new AppError(502, "oauth_no_refresh_token", "Bad gateway", `${adapter.label} did not grant lasting access. Try connecting again.`);
  }
  const keys = deps.config.secretKeys;
  const sealed = {
    accessToken: sealSecret(keys, tokens.accessToken, "access_token"),
    accessTokenExpiresAt: expiryOf(now, tokens.expiresInSeconds),
    refreshToken: sealSecret(keys, tokens.refreshToken, "refresh_token"),
    scope: tokens.scope ?? null,
    status: "connected" as const,
    lastErrorCode: null,
    refreshedAt: now,
    updatedAt: now,
  };
  return withTransaction(deps.db, async (tx) => {
    const principal: Principal = { kind: "provider", providerId: row.providerId, keyId: "web" };
    if (row.connectionId) {
      const updated = await tx
        .update(calendarConnections)
        .set(sealed)
        .where(and(eq(calendarConnections.id, row.connectionId), eq(calendarConnections.providerId, row.providerId)))
        .returning({ id: calendarConnections.id });
      if (updated.length > 0) {
        // Reconnecting resumes: every source of the grant is healthy again and merges a full sync.
        const sources = await tx
          .update(calendarSources)
          .set({ status: "active", consecutiveFailures: 0 })
          .where(
            and(
              eq(calendarSources.providerId, row.providerId),
              isNull(calendarSources.deletedAt),
              sql`${calendarSources.settings}->>'connectionId' = ${row.connectionId}`,
            ),
          )
          .returning();
        for (const s of sources)
          await recordDelivery(tx, {
            providerId: s.providerId,
            sourceId: s.id,
            deliveryKey: `reconnected:${now.toISOString()}`,
            kind: "full_resync",
            at: now,
          });
        await recordAudit(tx, {
          providerId: row.providerId,
          principal,
          action: "calendar_connection.reconnected",
          subjectId: row.connectionId,
          at: now,
          data: { kind: input.kind },
        });
        return { connectionId: row.connectionId, providerId: row.providerId, reconnected: true };
      }
    }
    const id = randomUUID();
    await tx.insert(calendarConnections).values({ id, providerId: row.providerId, kind: input.kind, ...sealed, createdAt: now });
    await recordAudit(tx, {
      providerId: row.providerId,
      principal,
      action: "calendar_connection.created",
      subjectId: id,
      at: now,
      data: { kind: input.kind },
    });
    return { connectionId: id, providerId: row.providerId, reconnected: false };
  });
}

function expiryOf(now: Date, expiresInSeconds: number | undefined): Date {
  // RFC 6749 5.1: expires_in is RECOMMENDED; without it assume Google's and Graph's usual hour.
  return new Date(now.getTime() + (expiresInSeconds ?? 3600) * 1000);
}

async function loadConnection(db: Executor, providerId: string, id: string, kind?: ConnectionKind): Promise<ConnectionRow> {
  const [c] = await db
    .select()
    .from(calendarConnections)
    .where(and(eq(calendarConnections.id, id), eq(calendarConnections.providerId, providerId)));
  if (!c || (kind && c.kind !== kind)) throw new NotFoundError("calendar connection");
  return c;
}

export function toConnectionView(c: ConnectionRow) {
  return { id: c.id, providerId: c.providerId, kind: c.kind, status: c.status, lastErrorCode: c.lastErrorCode, createdAt: c.createdAt.toISOString() };
}

export async function listConnections(deps: ServiceDeps, scope: ProviderScope) {
  const { providerId } = scope;
  await loadProvider(deps.db, providerId);
  const rows = await deps.db
    .select()
    .from(calendarConnections)
    .where(eq(calendarConnections.providerId, providerId))
    .orderBy(calendarConnections.createdAt);
  return { items: rows.map(toConnectionView) };
}

/** The account's calendars, each marked when it is already a source. */
export async function listConnectionCalendars(deps: ServiceDeps, adapters: ConnectionAdapters, scope: ProviderScope, connectionId: string) {
  const { providerId } = scope;
  const conn = await loadConnection(deps.db, providerId, connectionId);
  const token = await accessTokenForConnection(deps, adapters, conn.id).catch((err: unknown) => {
    if (err instanceof CredentialsError) {
      throw err.code === "token_refresh_failed"
        ? new AppError(502, "calendar_list_failed", "Bad gateway", `${adapters[conn.kind].label} did not renew access. Try again in a moment.`)
        : new AppError(409, "connection_needs_reconnect", "Conflict", `Reconnect your ${adapters[conn.kind].label} first.`);
    }
    throw err;
  });
  let calendars: RemoteCalendar[];
  try {
    calendars = await adapters[conn.kind].listCalendars(token);
  } catch (err) {
    deps.logger.warn({ kind: conn.kind, error: (err as Error).name }, "calendar list failed");
    throw new AppError(
      502,
      "calendar_list_failed",
      "Bad gateway",
      `${adapters[conn.kind].label} did not list your calendars. Try again in a moment.`,
    );
  }
  const live = await sourcesOfConnection(deps.db, providerId, conn.id);
  const taken = new Set(live.map((s) => String(s.settings.calendarId)));
  return { connection: toConnectionView(conn), items: calendars.map((c) => ({ ...c, connected: taken.has(c.id) })) };
}

const sourcesOfConnection = (db: Executor, providerId: string, connectionId: string) =>
  db
    .select()
    .from(calendarSources)
    .where(
      and(
        eq(calendarSources.providerId, providerId),
        isNull(calendarSources.deletedAt),
        sql`${calendarSources.settings}->>'connectionId' = ${connectionId}`,
      ),
    );

/** Each picked calendar becomes a source with its push channel; one already connected is skipped. */
export async function addConnectionCalendars(
  deps: ServiceDeps,
  adapters: ConnectionAdapters,
  channels: PushChannelRegistry,
  scope: ProviderScope,
  connectionId: string,
  input: unknown,
) {
  const { calendarIds } = parseInput(PickCalendarsSchema, input);
  const { connection, items } = await listConnectionCalendars(deps, adapters, scope, connectionId);
  const byId = new Map(items.map((c) => [c.id, c]));
  const unknown = calendarIds.filter((id) => !byId.has(id));
  if (unknown.length)
    throw new UnprocessableError("calendar_not_in_account", "Pick calendars from the list of this account.", { field: "calendarIds" });
  const created = [];
  for (const id of new Set(calendarIds)) {
    const cal = byId.get(id)!;
    if (cal.connected) continue;
    const settings = { name: cal.name, connectionId, ...adapters[connection.kind].sourceSettings(cal) };
    created.push(
      await insertSourceAndRegister(deps, scope, { kind: connection.kind, settings, secrets: {} }, channels, (row) =>
        sourceWithCredentials(deps, adapters, row),
      ),
    );
  }
  return { items: created };
}

// --- Access tokens ------------------------------------------------------------------------------

/** A failed token refresh, for the worker: the grant is gone (reconnect) or the attempt failed (retry). */
export class CredentialsError extends Error {
  constructor(readonly code: "grant_revoked" | "token_refresh_failed" | "credentials_unreadable") {
    super(code);
    this.name = "CredentialsError";
  }
}

/**
 * A valid access token for the grant. Refreshed when it expires within the margin, or when
 * `staleToken` (one the API just refused with 401) is still the stored one. The refresh runs under a
 * row lock (SELECT ... FOR UPDATE), so across every process one grant is refreshed once: a rotating
 * refresh token is never spent twice (RFC 9700 4.14.2), and a new one is stored whenever returned.
 */
export async function accessTokenForConnection(
  deps: ServiceDeps,
  adapters: ConnectionAdapters,
  connectionId: string,
  staleToken?: string,
): Promise<string> {
  const keys = deps.config.secretKeys;
  const fresh = (c: ConnectionRow, now: Date): string | null => {
    if (!c.accessToken || !c.accessTokenExpiresAt) return null;
    const lifetime = c.accessTokenExpiresAt.getTime() - (c.refreshedAt ?? c.createdAt).getTime();
    const margin = Math.min(REFRESH_MARGIN_MS, Math.max(0, lifetime / 2));
    if (c.accessTokenExpiresAt.getTime() - margin <= now.getTime()) return null;
    const token = openSecret(keys, c.accessToken, "access_token");
    return token === staleToken ? null : token;
  };
  const [first] = await deps.db.select().from(calendarConnections).where(eq(calendarConnections.id, connectionId));
  if (!first || first.status === "disconnected") throw new CredentialsError("grant_revoked");
  if (first.status === "needs_reconnect") throw new CredentialsError("grant_revoked");
  const quick = fresh(first, deps.clock.now());
  if (quick) return quick;

  type Outcome = { ok: true; token: string } | { ok: false; revoked: boolean; code: string };
  const outcome = await withTransaction(deps.db, async (tx): Promise<Outcome> => {
    const [c] = await tx.select().from(calendarConnections).where(eq(calendarConnections.id, connectionId)).for("update");
    if (c?.status !== "connected" || !c.refreshToken) return { ok: false, revoked: true, code: "grant_revoked" };
    const now = deps.clock.now();
    const current = fresh(c, now);
    if (current) return { ok: true, token: current }; // another worker refreshed while we waited
    let tokens: TokenSet;
    try {
      tokens = await adapters[c.kind].refresh(openSecret(keys, c.refreshToken, "refresh_token"));
    } catch (err) {
      if (err instanceof GrantError && err.outcome === "revoked") return { ok: false, revoked: true, code: err.code };
      return { ok: false, revoked: false, code: err instanceof GrantError ? err.code : "internal" };
    }
    await tx
      .update(calendarConnections)
      .set({
        accessToken: sealSecret(keys, tokens.accessToken, "access_token"),
        accessTokenExpiresAt: expiryOf(now, tokens.expiresInSeconds),
        // RFC 6749 6: a new refresh token replaces the old one.
        ...(tokens.refreshToken ? { refreshToken: sealSecret(keys, tokens.refreshToken, "refresh_token") } : {}),
        refreshedAt: now,
        updatedAt: now,
      })
      .where(eq(calendarConnections.id, c.id));
    return { ok: true, token: tokens.accessToken };
  });
  if (outcome.ok) return outcome.token;
  if (outcome.revoked) {
    await markNeedsReconnect(deps, connectionId, outcome.code);
    throw new CredentialsError("grant_revoked");
  }
  deps.logger.warn({ connectionId, code: outcome.code }, "access token refresh failed");
  throw new CredentialsError("token_refresh_failed");
}

/** The grant is gone: the connection and every source of it need the provider. Nothing is cancelled. */
async function markNeedsReconnect(deps: ServiceDeps, connectionId: string, reason: string): Promise<void> {
  const now = deps.clock.now();
  const [c] = await deps.db
    .update(calendarConnections)
    .set({ status: "needs_reconnect", lastErrorCode: reason, updatedAt: now })
    .where(and(eq(calendarConnections.id, connectionId), eq(calendarConnections.status, "connected")))
    .returning();
  if (!c) return;
  for (const s of await sourcesOfConnection(deps.db, c.providerId, c.id)) await recordSourceFailure(deps.db, s.id, "grant_revoked", now, "reconnect");
  deps.logger.warn({ connectionId, kind: c.kind, code: reason }, "calendar connection needs reconnecting");
}

/**
 * The source as the platform clients need it: `secrets.accessToken` in clear, in memory only. The
 * copy must never be written back (savePushChannel re-reads the row).
 */
export async function sourceWithCredentials(
  deps: ServiceDeps,
  adapters: ConnectionAdapters,
  source: SourceRow,
  staleToken?: string,
): Promise<SourceRow> {
  if (source.kind !== "google" && source.kind !== "microsoft") return source;
  const connectionId = typeof source.settings.connectionId === "string" ? source.settings.connectionId : null;
  let accessToken: string;
  if (connectionId) {
    accessToken = await accessTokenForConnection(deps, adapters, connectionId, staleToken);
  } else {
    const sealed = source.secrets.accessToken;
    if (!sealed) throw new CredentialsError("credentials_unreadable");
    try {
      accessToken = openSecret(deps.config.secretKeys, sealed, "access_token");
    } catch {
      throw new CredentialsError("credentials_unreadable");
    }
  }
  return { ...source, secrets: { ...source.secrets, accessToken } };
}

/**
 * After a source is deleted: when it was the grant's last calendar, revoke the grant where the
 * platform can (Google, RFC 7009) and drop our tokens either way (Microsoft has no revocation endpoint).
 */
export async function releaseConnectionIfUnused(deps: ServiceDeps, adapters: ConnectionAdapters, source: SourceRow): Promise<void> {
  const connectionId = typeof source.settings.connectionId === "string" ? source.settings.connectionId : null;
  if (!connectionId) return;
  if ((await sourcesOfConnection(deps.db, source.providerId, connectionId)).length > 0) return;
  const [c] = await deps.db.select().from(calendarConnections).where(eq(calendarConnections.id, connectionId));
  if (!c || c.status === "disconnected") return;
  const adapter = adapters[c.kind];
  if (adapter.canRevoke && c.refreshToken) {
    // Revoking the refresh token revokes the grant (RFC 7009 2.1); best effort.
    await adapter
      .revoke(openSecret(deps.config.secretKeys, c.refreshToken, "refresh_token"))
      .catch((err: unknown) =>
        deps.logger.warn({ connectionId, code: err instanceof GrantError ? err.code : "internal" }, "grant revocation failed"),
      );
  }
  const now = deps.clock.now();
  await deps.db
    .update(calendarConnections)
    .set({ status: "disconnected", accessToken: null, refreshToken: null, accessTokenExpiresAt: null, updatedAt: now })
    .where(eq(calendarConnections.id, connectionId));
}

/** Push-channel calls with the source's access token (the registry itself never sees sealed secrets). */
export function credentialedChannels(deps: ServiceDeps, adapters: ConnectionAdapters, channels: PushChannelRegistry): PushChannelRegistry {
  return {
    register: async (s) => channels.register(await sourceWithCredentials(deps, adapters, s)),
    release: async (s) => channels.release(await sourceWithCredentials(deps, adapters, s)),
  };
}

/** Deletes a source: its channel stops, and a grant left without calendars is revoked. */
export async function disconnectCalendarSource(
  deps: ServiceDeps,
  adapters: ConnectionAdapters,
  channels: PushChannelRegistry,
  scope: ProviderScope,
  sourceId: string,
): Promise<void> {
  const deleted = await deleteCalendarSource(deps, scope, sourceId, credentialedChannels(deps, adapters, channels));
  await releaseConnectionIfUnused(deps, adapters, deleted);
}
