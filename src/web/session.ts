// Cookies, sessions and CSRF for the settings pages. The API's bearer middleware covers only
// /api/v1/*; these pages authenticate with the web session cookie instead.
import type { Context, MiddlewareHandler } from "hono";
import { getCookie, setCookie } from "hono/cookie";
import type { CookieOptions } from "hono/utils/cookie";
import type { AppEnv } from "../http/env.js";
import { limitBody } from "../http/middleware.js";
import { resolveProviderScope } from "../services/auth.js";
import { newSecret, safeEqual } from "../services/secrets.js";
import { csrfTokenMatches, resolveWebSession, WEB_SESSION_MAX_MS, type WebSession, webPrincipal } from "../services/web-sessions.js";

export type WebEnv = {
  Variables: AppEnv["Variables"] & {
    web: { session: WebSession; token: string };
    form: Record<string, string>;
    secureHeadersNonce?: string;
  };
};
export type WebContext = Context<WebEnv>;

export const SESSION_COOKIE = "thc_session";
export const SIGN_IN_COOKIE = "thc_sign_in";
export const FORM_BODY_LIMIT = 64 * 1024;

/** Secure (and the __Host- prefix, which pins Path=/ and no Domain) exactly when we are served over https. */
export function isHttps(c: Context<AppEnv> | WebContext): boolean {
  return c.var.deps.config.publicBaseUrl.startsWith("https://");
}

function cookieOptions(c: WebContext, maxAgeSeconds: number): CookieOptions {
  const secure = isHttps(c);
  return { httpOnly: true, sameSite: "Strict", path: "/", maxAge: maxAgeSeconds, ...(secure ? { secure: true, prefix: "host" } : {}) };
}

const readCookie = (c: WebContext, name: string) => getCookie(c, name, isHttps(c) ? "host" : undefined);

export const readSessionCookie = (c: WebContext) => readCookie(c, SESSION_COOKIE);

/** The operator's session (admin token) has its own cookie, beside a provider's. */
export const ADMIN_SESSION_COOKIE = "thc_admin_session";
export const readAdminSessionCookie = (c: WebContext) => readCookie(c, ADMIN_SESSION_COOKIE);
export function setAdminSessionCookie(c: WebContext, token: string) {
  setCookie(c, ADMIN_SESSION_COOKIE, token, cookieOptions(c, Math.floor(WEB_SESSION_MAX_MS / 1000)));
}
export function clearAdminSessionCookie(c: WebContext) {
  setCookie(c, ADMIN_SESSION_COOKIE, "", cookieOptions(c, 0));
}
export function setSessionCookie(c: WebContext, token: string) {
  setCookie(c, SESSION_COOKIE, token, cookieOptions(c, Math.floor(WEB_SESSION_MAX_MS / 1000)));
}
export function clearSessionCookie(c: WebContext) {
  setCookie(c, SESSION_COOKIE, "", cookieOptions(c, 0));
}

/**
 * Login CSRF: the sign-in form has no session yet, so it is a double-submit token, a random value
 * in a SameSite=Strict cookie and in the form; a cross-site post carries neither.
 */
export function issueSignInToken(c: WebContext): string {
  const token = newSecret("", 32);
  setCookie(c, SIGN_IN_COOKIE, token, cookieOptions(c, 3600));
  return token;
}
export function clearSignInCookie(c: WebContext) {
  setCookie(c, SIGN_IN_COOKIE, "", cookieOptions(c, 0));
}
export function signInTokenMatches(c: WebContext, submitted: string | undefined): boolean {
  const cookie = readCookie(c, SIGN_IN_COOKIE);
  return !!cookie && !!submitted && safeEqual(cookie, submitted);
}

/**
 * A form post must come from our own pages: Origin (when the browser sends it) must be ours, and
 * Sec-Fetch-Site must not say cross-site. "Ours" is the public base URL or the origin the request
 * reached (a proxy may rewrite one of them); an attacker's page can forge neither.
 */
export function fromOurOrigin(c: WebContext): boolean {
  const site = c.req.header("sec-fetch-site");
  if (site !== undefined && site !== "same-origin" && site !== "none") return false;
  const origin = c.req.header("origin");
  if (origin === undefined) return true;
  const ours = new Set([new URL(c.var.deps.config.publicBaseUrl).origin, new URL(c.req.url).origin]);
  return ours.has(origin);
}

/** GET pages: without a live session, go to sign-in. Sets the principal and the provider (its own) the services see. */
export const requireWebSession: MiddlewareHandler<WebEnv> = async (c, next) => {
  const token = readSessionCookie(c);
  const session = token ? await resolveWebSession(c.var.services, token) : null;
  if (!session || !token) {
    if (token) clearSessionCookie(c);
    return c.redirect("/settings/sign-in", 303);
  }
  c.set("web", { session, token });
  const principal = webPrincipal(session);
  c.set("principal", principal);
  c.set("provider", resolveProviderScope(principal, session.providerId));
  return next();
};

export class CsrfError extends Error {
  constructor() {
    super("csrf check failed");
    this.name = "CsrfError";
  }
}

/** Parses a urlencoded form (size-limited) into strings; file parts are dropped. */
export async function parseForm(c: WebContext): Promise<Record<string, string>> {
  const body = await c.req.parseBody();
  const form: Record<string, string> = {};
  for (const [k, v] of Object.entries(body)) if (typeof v === "string") form[k] = v;
  return form;
}

const bodyLimit = limitBody(FORM_BODY_LIMIT) as unknown as MiddlewareHandler<WebEnv>;

/** Every signed-in form: size limit, origin, then the session's CSRF token (constant-time). */
export const requireCsrfForm: MiddlewareHandler<WebEnv> = async (c, next) =>
  bodyLimit(c, async () => {
    if (!fromOurOrigin(c)) throw new CsrfError();
    const form = await parseForm(c);
    if (!csrfTokenMatches(c.var.web.session, form._csrf)) throw new CsrfError();
    c.set("form", form);
    await next();
  });

export const signInBodyLimit = bodyLimit;
