// What the services need of a calendar platform that is connected with OAuth (Google, Microsoft).
// Implemented in src/ingest/adapters/ and injected, so services never import the ingestion layer.
import type { ConnectionKind } from "../domain/value-lists.js";

export type TokenSet = { accessToken: string; expiresInSeconds?: number; refreshToken?: string; scope?: string };
export type RemoteCalendar = { id: string; name: string; primary: boolean };

/**
 * A token request that failed. `revoked`: the grant is gone (RFC 6749 5.2 invalid_grant; consent
 * withdrawn) and only the provider can fix it by connecting again; `denied`: the person said no at
 * the consent screen; `failed`: anything else (network, 5xx, a malformed answer), worth retrying.
 */
export class GrantError extends Error {
  constructor(
    readonly outcome: "revoked" | "denied" | "failed",
    readonly code: string,
  ) {
    super(`oauth: ${outcome} (${code})`);
    this.name = "GrantError";
  }
}

export type ConnectionAdapter = {
  kind: ConnectionKind;
  /** Shown on the settings page: "Google Calendar", "Outlook calendar". */
  label: string;
  /** False when the operator configured no client id/secret for this platform. */
  available: boolean;
  /** Whether the platform has an RFC 7009 revocation endpoint. */
  canRevoke: boolean;
  /** `writeBack`: also the scope write-back needs (src/services/mirror-platforms.ts), asked only on opt-in. */
  authorizationUrl(input: { state: string; codeChallenge: string; redirectUri: string; writeBack?: boolean }): string;
  exchangeCode(input: { callbackUrl: URL; state: string; codeVerifier: string; redirectUri: string }): Promise<TokenSet>;
  refresh(refreshToken: string): Promise<TokenSet>;
  revoke(token: string): Promise<void>;
  listCalendars(accessToken: string): Promise<RemoteCalendar[]>;
  /** The source settings for one picked calendar (calendar id, API base URL). */
  sourceSettings(calendar: RemoteCalendar): Record<string, unknown>;
};

export type ConnectionAdapters = Record<ConnectionKind, ConnectionAdapter>;
