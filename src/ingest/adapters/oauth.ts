// The OAuth 2.0 authorization code flow with PKCE (RFC 6749 4.1, RFC 7636 S256) and refresh
// (RFC 6749 6), through oauth4webapi. Every endpoint comes from configuration; every request goes
// through the injected fetch, with a timeout. Errors never carry tokens.
import * as oauth from "oauth4webapi";
import { GrantError, type TokenSet } from "../../services/connection-adapters.js";

export type OAuthEndpoints = {
  clientId: string;
  clientSecret: string;
  authorizationUrl: string;
  tokenUrl: string;
  revocationUrl: string | undefined;
};

const TIMEOUT_MS = 15_000;

export function createOAuthClient(cfg: OAuthEndpoints, fetchFn: typeof fetch) {
  const as: oauth.AuthorizationServer = {
    issuer: new URL(cfg.authorizationUrl).origin,
    authorization_endpoint: cfg.authorizationUrl,
    token_endpoint: cfg.tokenUrl,
    ...(cfg.revocationUrl ? { revocation_endpoint: cfg.revocationUrl } : {}),
  };
  const client: oauth.Client = { client_id: cfg.clientId };
  const auth = oauth.ClientSecretPost(cfg.clientSecret);
  // http:// only ever appears with local test servers; production config refuses it.
  const insecure = [cfg.tokenUrl, cfg.revocationUrl ?? ""].some((u) => u.startsWith("http://"));
  const opts = () => ({
    [oauth.customFetch]: fetchFn as never,
    [oauth.allowInsecureRequests]: insecure,
    signal: AbortSignal.timeout(TIMEOUT_MS),
  });

  const toTokenSet = (r: oauth.TokenEndpointResponse): TokenSet => ({
    accessToken: r.access_token,
    ...(typeof r.expires_in === "number" ? { expiresInSeconds: r.expires_in } : {}),
    ...(r.refresh_token ? { refreshToken: r.refresh_token } : {}),
    ...(r.scope ? { scope: r.scope } : {}),
  });

  return {
    authorizationUrl(input: { state: string; codeChallenge: string; redirectUri: string; scope: string; extra?: Record<string, string> }): string {
      const url = new URL(cfg.authorizationUrl);
      url.searchParams.set("response_type", "code");
      url.searchParams.set("client_id", cfg.clientId);
      url.searchParams.set("redirect_uri", input.redirectUri);
      url.searchParams.set("scope", input.scope);
      url.searchParams.set("state", input.state);
      url.searchParams.set("code_challenge", input.codeChallenge);
      url.searchParams.set("code_challenge_method", "S256");
      for (const [k, v] of Object.entries(input.extra ?? {})) url.searchParams.set(k, v);
      return url.href;
    },

    async exchangeCode(input: { callbackUrl: URL; state: string; codeVerifier: string; redirectUri: string }): Promise<TokenSet> {
      let params: URLSearchParams;
      try {
        params = oauth.validateAuthResponse(as, client, input.callbackUrl, input.state);
      } catch (err) {
        // RFC 6749 4.1.2.1: access_denied when the person refused.
        if (err instanceof oauth.AuthorizationResponseError) throw new GrantError(err.error === "access_denied" ? "denied" : "failed", err.error);
        throw new GrantError("failed", "invalid_callback");
      }
      return toTokenSet(
        await call(
          () => oauth.authorizationCodeGrantRequest(as, client, auth, params, input.redirectUri, input.codeVerifier, opts()),
          (res) => oauth.processAuthorizationCodeResponse(as, client, res),
        ),
      );
    },

    async refresh(refreshToken: string): Promise<TokenSet> {
      return toTokenSet(
        await call(
          () => oauth.refreshTokenGrantRequest(as, client, auth, refreshToken, opts()),
          (res) => oauth.processRefreshTokenResponse(as, client, res),
        ),
      );
    },

    /** RFC 7009: the server answers 200 even for a token it does not know. */
    async revoke(token: string): Promise<void> {
      if (!cfg.revocationUrl) return;
      await call(
        () => oauth.revocationRequest(as, client, auth, token, opts()),
        (res) => oauth.processRevocationResponse(res),
      );
    },
  };
}

async function call<T>(send: () => Promise<Response>, process: (res: Response) => Promise<T>): Promise<T> {
  let res: Response;
  try {
    res = await send();
  } catch {
    throw new GrantError("failed", "network");
  }
  try {
    return await process(res);
  } catch (err) {
    if (err instanceof oauth.ResponseBodyError) {
      // RFC 6749 5.2: invalid_grant = the code or refresh token is invalid, expired or revoked.
      // Entra adds interaction_required / consent_required when only a person can fix it.
      const revoked = ["invalid_grant", "interaction_required", "consent_required"].includes(err.error);
      throw new GrantError(revoked ? "revoked" : "failed", err.error.slice(0, 64).replace(/[^a-z_]/gi, "") || "oauth_error");
    }
    throw new GrantError("failed", "invalid_token_response");
  }
}
