// The operator's settings pages: sign in with the admin token (on the same sign-in page as a
// provider key), list and add providers, create and revoke their API keys. Server-rendered forms,
// like the provider's pages; every verb is an existing service called as the admin principal.
import { type Context, Hono, type MiddlewareHandler } from "hono";
import { AppError, NotFoundError, type ProblemField } from "../errors.js";
import type { AppEnv } from "../http/env.js";
import { internalError } from "../http/problem.js";
import { ADMIN_PRINCIPAL, type AdminWebSession, endAdminWebSession, resolveAdminWebSession } from "../services/admin-web-sessions.js";
import { createApiKey, listApiKeys, revokeApiKey } from "../services/api-keys.js";
import { resolveProviderScope } from "../services/auth.js";
import { createProvider, getProvider, listProviders } from "../services/providers.js";
import { renderPage } from "../web/layout.js";
import { AdminProviderPage, AdminProvidersPage, DEFAULT_PROVIDER_FORM, type ProviderForm } from "../web/pages/admin.js";
import type { Refusal } from "../web/pages/link.js";
import { MessagePage } from "../web/pages/message.js";
import {
  CsrfError,
  clearAdminSessionCookie,
  fromOurOrigin,
  parseForm,
  readAdminSessionCookie,
  signInBodyLimit,
  type WebContext,
  type WebEnv,
} from "../web/session.js";
import { pageHeaders } from "./settings.js";

type AdminEnv = { Variables: WebEnv["Variables"] & { admin: AdminWebSession } };
type AdminContext = Context<AdminEnv>;

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const states = (s: string) =>
  s
    .split(/[\s,]+/)
    .filter(Boolean)
    .map((x) => x.toUpperCase());

const requireAdmin: MiddlewareHandler<AdminEnv> = async (c, next) => {
  const token = readAdminSessionCookie(c as unknown as WebContext);
  const session = token ? await resolveAdminWebSession(c.var.services, c.var.deps.adminTokenHash, token) : null;
  if (!session) {
    if (token) clearAdminSessionCookie(c as unknown as WebContext);
    return c.redirect("/settings/sign-in", 303);
  }
  c.set("admin", session);
  c.set("principal", ADMIN_PRINCIPAL);
  return next();
};

/** Every admin form: size limit, our origin, the session's CSRF token. */
const requireAdminForm: MiddlewareHandler<AdminEnv> = async (c, next) =>
  (signInBodyLimit as unknown as MiddlewareHandler<AdminEnv>)(c, async () => {
    const web = c as unknown as WebContext;
    if (!fromOurOrigin(web)) throw new CsrfError();
    const form = await parseForm(web);
    if (typeof form._csrf !== "string" || form._csrf !== c.var.admin.csrfToken) throw new CsrfError();
    c.set("form", form);
    await next();
  });

function refusalOf(err: unknown): Refusal | null {
  if (!(err instanceof AppError) || err.status !== 422) return null;
  const fields = err.extra.errors as ProblemField[] | undefined;
  return { code: err.code, message: err.detail, ...(fields ? { fields } : {}) };
}

const chrome = (c: AdminContext) => ({ providerName: "Administrator", csrf: c.var.admin.csrfToken, admin: true });
const page = (c: AdminContext) => c as unknown as WebContext;

async function providerPage(c: AdminContext, providerId: string, extra: { freshKey?: string; notice?: string } = {}) {
  if (!UUID.test(providerId)) throw new NotFoundError("provider");
  const scope = resolveProviderScope(ADMIN_PRINCIPAL, providerId);
  const provider = await getProvider(c.var.services, scope);
  const keys = await listApiKeys(c.var.services, scope);
  const body = <AdminProviderPage csrf={c.var.admin.csrfToken} provider={provider} keys={keys} {...extra} />;
  return renderPage(page(c), { title: provider.name, chrome: chrome(c) }, body);
}

/**
 * A page under /settings that does not exist: a page saying so (with the pages' security headers),
 * not the API's JSON problem. Called from the app's notFound for GET and HEAD.
 */
export async function settingsNotFoundPage(c: Context<AppEnv>): Promise<Response> {
  const web = c as unknown as WebContext;
  const problem = new NotFoundError("page");
  await pageHeaders(web, async () => {
    web.res = await renderPage(
      web,
      { title: problem.title, status: 404 },
      <MessagePage heading={problem.title} detail={problem.detail} back={{ href: "/settings", label: "Back to settings" }} />,
    );
    web.header("cache-control", "no-store");
  });
  return web.res;
}

export function settingsAdminRoutes() {
  const r = new Hono<AdminEnv>().basePath("/settings/admin");
  r.use("*", pageHeaders as unknown as MiddlewareHandler<AdminEnv>, async (c, next) => {
    await next();
    c.header("cache-control", "no-store");
  });

  r.onError(async (err, c) => {
    const back = { href: "/settings/admin", label: "Back to providers" };
    if (err instanceof CsrfError) {
      const detail = "This form had expired or came from another site, so nothing was changed. Go back, reload the page and try again.";
      return renderPage(page(c), { title: "Not accepted", status: 403 }, <MessagePage heading="Not accepted" detail={detail} back={back} />);
    }
    if (!(err instanceof AppError)) {
      c.var.deps.logger.error({ requestId: c.get("requestId"), err: { name: err.name, message: err.message, stack: err.stack } }, "unhandled error");
    }
    const problem = err instanceof AppError ? (err.status === 404 ? new NotFoundError("page") : err) : internalError();
    return renderPage(
      page(c),
      { title: problem.title, status: problem.status },
      <MessagePage heading={problem.title} detail={problem.detail} back={back} />,
    );
  });

  r.get("/", requireAdmin, async (c) => {
    const providers = await listProviders(c.var.services, ADMIN_PRINCIPAL);
    const body = <AdminProvidersPage csrf={c.var.admin.csrfToken} providers={providers} form={DEFAULT_PROVIDER_FORM} />;
    return renderPage(page(c), { title: "Providers", chrome: chrome(c) }, body);
  });

  r.post("/providers", requireAdmin, requireAdminForm, async (c) => {
    const f = c.var.form;
    const form: ProviderForm = {
      name: f.name ?? "",
      timezone: f.timezone ?? "",
      licenses: f.licenses ?? "",
      credentialedStates: f.credentialedStates ?? "",
    };
    const input = {
      name: form.name.trim(),
      timezone: form.timezone.trim(),
      licenses: states(form.licenses).map((state) => ({ state })),
      credentialedStates: states(form.credentialedStates),
    };
    try {
      const created = await createProvider(c.var.services, ADMIN_PRINCIPAL, input);
      return c.redirect(`/settings/admin/providers/${created.id}`, 303);
    } catch (err) {
      const refusal = refusalOf(err);
      if (!refusal) throw err;
      const providers = await listProviders(c.var.services, ADMIN_PRINCIPAL);
      const body = <AdminProvidersPage csrf={c.var.admin.csrfToken} providers={providers} form={form} refusal={refusal} />;
      return renderPage(page(c), { title: "Providers", chrome: chrome(c), status: 422 }, body);
    }
  });

  r.get("/providers/:id", requireAdmin, (c) => providerPage(c, c.req.param("id")));

  // The new key is shown in this response only (no redirect: it is never stored to show again).
  r.post("/providers/:id/api-keys", requireAdmin, requireAdminForm, async (c) => {
    const providerId = c.req.param("id");
    if (!UUID.test(providerId)) throw new NotFoundError("provider");
    const label = (c.var.form.label ?? "").trim();
    const created = await createApiKey(c.var.services, resolveProviderScope(ADMIN_PRINCIPAL, providerId), label ? { label } : {});
    return providerPage(c, providerId, { freshKey: created.token });
  });

  r.post("/providers/:id/api-keys/:keyId/revoke", requireAdmin, requireAdminForm, async (c) => {
    const providerId = c.req.param("id");
    const keyId = c.req.param("keyId");
    if (!UUID.test(providerId) || !UUID.test(keyId)) throw new NotFoundError("key");
    await revokeApiKey(c.var.services, resolveProviderScope(ADMIN_PRINCIPAL, providerId), keyId);
    return providerPage(c, providerId, { notice: "The key is revoked: it no longer works, and its browser sessions have ended." });
  });

  r.post("/sign-out", requireAdmin, requireAdminForm, async (c) => {
    await endAdminWebSession(c.var.services, c.var.admin);
    clearAdminSessionCookie(c as unknown as WebContext);
    return c.redirect("/settings/sign-in?signed_out", 303);
  });

  return r;
}
