// A local OAuth 2.0 authorization server in the shape of Google's and the Microsoft identity
// platform's: RFC 6749 4.1 (authorization code), RFC 7636 (PKCE, S256 required here), RFC 6749 6
// (refresh; Microsoft rotates, Google keeps the refresh token), RFC 7009 revocation (Google only).
// Error bodies as each platform sends them (Google "Token has been expired or revoked.", Entra
// AADSTS codes in error_codes). Counts every request, so tests can prove single-flight refresh.
import { createHash, randomBytes } from "node:crypto";
import type { Server } from "node:http";
import { serve } from "@hono/node-server";
import { type Context, Hono } from "hono";

type Grant = { id: number; scope: string; revoked: boolean };
type Code = { clientId: string; redirectUri: string; challenge: string; grant: Grant; offline: boolean; expiresMs: number; used: boolean };

export class FakeOAuthServer {
  readonly counts = { authorize: 0, authorizationCodeGrants: 0, refreshGrants: 0, revocations: 0, invalidGrants: 0 };
  /** Every code_verifier the token endpoint received (only it should ever see one). */
  readonly verifiersReceived: string[] = [];
  /** Registered redirect URIs (exact match, RFC 6749 3.1.2 / RFC 9700 2.1). */
  readonly redirectUris = new Set<string>();
  /** Access token lifetime in seconds (expires_in). */
  accessTtlSeconds: number;
  /** Delay before the token endpoint answers, to widen races. */
  tokenDelayMs = 0;
  /** The next authorization is refused with access_denied, as when the person clicks "Cancel". */
  denyNext = false;
  readonly clientId = `client-${randomBytes(6).toString("hex")}`;
  readonly clientSecret = `secret-${randomBytes(16).toString("hex")}`;
  readonly app = new Hono();
  private readonly codes = new Map<string, Code>();
  private readonly accessTokens = new Map<string, { grant: Grant; expiresMs: number }>();
  private readonly refreshTokens = new Map<string, Grant>();
  private readonly issued: string[] = [];
  private grants = 0;
  private server?: Server;
  private origin = "";

  constructor(
    readonly platform: "google" | "microsoft",
    private readonly opts: { now?: () => Date; accessTtlSeconds?: number } = {},
  ) {
    this.accessTtlSeconds = opts.accessTtlSeconds ?? 3600;
    this.routes();
  }

  private now = () => (this.opts.now ? this.opts.now() : new Date()).getTime();

  async start(): Promise<{ authorizationUrl: string; tokenUrl: string; revocationUrl: string }> {
    const port = await new Promise<number>((resolve) => {
      this.server = serve({ fetch: this.app.fetch, port: 0, hostname: "127.0.0.1" }, (info) => resolve(info.port)) as Server;
    });
    this.origin = `http://127.0.0.1:${port}`;
    return this.endpoints();
  }

  endpoints() {
    return { authorizationUrl: `${this.origin}/authorize`, tokenUrl: `${this.origin}/token`, revocationUrl: `${this.origin}/revoke` };
  }

  /** The env keys our server reads for this platform. */
  env(): Record<string, string> {
    const e = this.endpoints();
    const p = this.platform === "google" ? "GOOGLE" : "MICROSOFT";
    return {
      [`${p}_OAUTH_CLIENT_ID`]: this.clientId,
      [`${p}_OAUTH_CLIENT_SECRET`]: this.clientSecret,
      [`${p}_OAUTH_AUTHORIZATION_URL`]: e.authorizationUrl,
      [`${p}_OAUTH_TOKEN_URL`]: e.tokenUrl,
      ...(this.platform === "google" ? { GOOGLE_OAUTH_REVOCATION_URL: e.revocationUrl } : {}),
    };
  }

  async stop(): Promise<void> {
    const server = this.server;
    if (!server) return;
    this.server = undefined;
    await new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    });
  }

  /** For the resource-server fakes: a live access token of a grant not revoked. */
  isValidAccessToken = (token: string): boolean => {
    const t = this.accessTokens.get(token);
    return !!t && !t.grant.revoked && t.expiresMs > this.now();
  };

  /** Every token string this server ever issued (codes, access and refresh tokens). */
  issuedSecrets(): string[] {
    return [...this.issued];
  }

  /** Every access token stops working now (the resource server then answers 401); grants stay. */
  expireAccessTokens(): void {
    for (const t of this.accessTokens.values()) t.expiresMs = 0;
  }

  /** The person withdraws consent (or an admin revokes it): every token of every grant stops working. */
  revokeAll(): void {
    for (const g of this.refreshTokens.values()) g.revoked = true;
  }

  private issue(prefix: string): string {
    const v = `${prefix}${randomBytes(24).toString("base64url")}`;
    this.issued.push(v);
    return v;
  }

  private routes(): void {
    this.app.get("/authorize", (c) => this.authorize(c));
    this.app.post("/token", (c) => this.token(c));
    if (this.platform === "google") this.app.post("/revoke", (c) => this.revoke(c));
  }

  private authorize(c: Context): Response {
    this.counts.authorize++;
    const q = new URL(c.req.url).searchParams;
    const clientId = q.get("client_id");
    const redirectUri = q.get("redirect_uri") ?? "";
    // RFC 6749 4.1.2.1: a bad client or redirect URI is shown to the person, never redirected to.
    if (clientId !== this.clientId || !this.redirectUris.has(redirectUri)) return c.text("Error 400: redirect_uri_mismatch", 400);
    const back = (params: Record<string, string>) => {
      const u = new URL(redirectUri);
      for (const [k, v] of Object.entries(params)) u.searchParams.set(k, v);
      const state = q.get("state");
      if (state !== null) u.searchParams.set("state", state);
      return c.redirect(u.href, 302);
    };
    if (q.get("response_type") !== "code") return back({ error: "unsupported_response_type" });
    const challenge = q.get("code_challenge") ?? "";
    if (q.get("code_challenge_method") !== "S256" || !/^[A-Za-z0-9_-]{43}$/.test(challenge))
      return back({ error: "invalid_request", error_description: "PKCE S256 required" });
    const scope = q.get("scope") ?? "";
    if (!scope) return back({ error: "invalid_scope" });
    if (this.denyNext) {
      this.denyNext = false;
      return back({ error: "access_denied" });
    }
    const offline = this.platform === "google" ? q.get("access_type") === "offline" : scope.split(" ").includes("offline_access");
    const code = this.issue("code-");
    const grant: Grant = { id: ++this.grants, scope, revoked: false };
    this.codes.set(code, { clientId, redirectUri, challenge, grant, offline, expiresMs: this.now() + 10 * 60_000, used: false });
    return back({ code });
  }

  private invalidGrant(c: Context, kind: "revoked" | "code" | "verifier"): Response {
    this.counts.invalidGrants++;
    if (this.platform === "google") {
      const description = kind === "revoked" ? "Token has been expired or revoked." : kind === "verifier" ? "Invalid code verifier." : "Bad Request";
      return c.json({ error: "invalid_grant", error_description: description }, 400);
    }
    const code = kind === "revoked" ? 50173 : kind === "verifier" ? 501481 : 54005;
    return c.json(
      {
        error: "invalid_grant",
        error_description: `AADSTS${code}: the grant is not valid.`,
        error_codes: [code],
        trace_id: "00000000-0000-0000-0000-000000000000",
        correlation_id: "00000000-0000-0000-0000-000000000000",
      },
      400,
    );
  }

  private async token(c: Context): Promise<Response> {
    if (this.tokenDelayMs) await new Promise((r) => setTimeout(r, this.tokenDelayMs));
    c.header("cache-control", "no-store"); // RFC 6749 5.1
    const form = new URLSearchParams(await c.req.text());
    let clientId = form.get("client_id");
    let secret = form.get("client_secret");
    const basic = c.req.header("authorization");
    if (basic?.startsWith("Basic "))
      [clientId, secret] = Buffer.from(basic.slice(6), "base64").toString().split(":").map(decodeURIComponent) as [string, string];
    if (clientId !== this.clientId || secret !== this.clientSecret) return c.json({ error: "invalid_client" }, 401);
    const grantType = form.get("grant_type");
    if (grantType === "authorization_code") {
      this.counts.authorizationCodeGrants++;
      const code = this.codes.get(form.get("code") ?? "");
      const verifier = form.get("code_verifier") ?? "";
      if (verifier) this.verifiersReceived.push(verifier);
      if (!code || code.used || code.expiresMs <= this.now() || code.clientId !== clientId || code.redirectUri !== form.get("redirect_uri")) {
        // RFC 6749 4.1.2: a reused code SHOULD revoke what it issued.
        if (code?.used) code.grant.revoked = true;
        return this.invalidGrant(c, "code");
      }
      code.used = true;
      if (createHash("sha256").update(verifier).digest("base64url") !== code.challenge) return this.invalidGrant(c, "verifier");
      return c.json(this.tokenResponse(code.grant, code.offline));
    }
    if (grantType === "refresh_token") {
      this.counts.refreshGrants++;
      const rt = form.get("refresh_token") ?? "";
      const grant = this.refreshTokens.get(rt);
      if (!grant || grant.revoked) return this.invalidGrant(c, "revoked");
      // Microsoft returns a new refresh token each time (the old stays valid); Google keeps it.
      return c.json(this.tokenResponse(grant, this.platform === "microsoft"));
    }
    return c.json({ error: "unsupported_grant_type" }, 400);
  }

  private tokenResponse(grant: Grant, withRefresh: boolean) {
    const access = this.issue(this.platform === "google" ? "ya29." : "eyJ0eXAi.");
    this.accessTokens.set(access, { grant, expiresMs: this.now() + this.accessTtlSeconds * 1000 });
    const body: Record<string, unknown> = { access_token: access, token_type: "Bearer", expires_in: this.accessTtlSeconds, scope: grant.scope };
    if (withRefresh) {
      const rt = this.issue(this.platform === "google" ? "1//" : "M.R3_");
      this.refreshTokens.set(rt, grant);
      body.refresh_token = rt;
    }
    return body;
  }

  /** RFC 7009 2.2: 200 whether or not the token was known. */
  private async revoke(c: Context): Promise<Response> {
    this.counts.revocations++;
    const form = new URLSearchParams(await c.req.text());
    const token = form.get("token") ?? "";
    const grant = this.refreshTokens.get(token) ?? this.accessTokens.get(token)?.grant;
    if (grant) grant.revoked = true;
    return c.body(null, 200);
  }
}
