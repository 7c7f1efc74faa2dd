// Connecting Google and Outlook calendars from the settings pages, and the OAuth redirect endpoint.
// Mounted before the other settings pages: the "Connect" form redirects to the platform's consent
// screen, so this router's CSP allows those origins as form targets (CSP3 form-action covers redirects).
import { type Context, Hono } from "hono";
import { NONCE, secureHeaders } from "hono/secure-headers";
import { z } from "zod";
import type { Config } from "../config.js";
import { CONNECTION_KINDS } from "../domain/value-lists.js";
import { AppError, NotFoundError } from "../errors.js";
import { internalError } from "../http/problem.js";
import {
  addConnectionCalendars,
  beginConnection,
  completeConnection,
  connectionKinds,
  disconnectCalendarSource,
  listConnectionCalendars,
  redirectUriFor,
} from "../services/calendar-connections.js";
import { disableMirror, enableMirror, listMirrorChoices } from "../services/calendar-mirrors.js";
import { listCalendarSources } from "../services/calendar-sources.js";
import { getProvider } from "../services/providers.js";
import { putFlash, resolveWebSession, takeFlash } from "../services/web-sessions.js";
import { renderPage } from "../web/layout.js";
import { ConnectionsPage, FinishConnectionPage, PickCalendarsPage } from "../web/pages/connections.js";
import { MessagePage } from "../web/pages/message.js";
import {
  CsrfError,
  fromOurOrigin,
  parseForm,
  readSessionCookie,
  requireCsrfForm,
  requireWebSession,
  signInBodyLimit,
  type WebContext,
  type WebEnv,
} from "../web/session.js";

const Kind = z.enum(CONNECTION_KINDS);
const Uuid = z.uuid();
const Flash = z.object({ notice: z.string().optional() });

function pageHeaders(config: Config) {
  const consentOrigins = CONNECTION_KINDS.flatMap((k) => (config.oauth[k] ? [new URL(config.oauth[k].authorizationUrl).origin] : []));
  return secureHeaders({
    contentSecurityPolicy: {
      defaultSrc: ["'none'"],
      scriptSrc: [NONCE],
      styleSrc: [NONCE],
      imgSrc: ["'self'"],
      connectSrc: ["'self'"],
      formAction: ["'self'", ...consentOrigins],
      frameAncestors: ["'none'"],
      baseUri: ["'none'"],
    },
    referrerPolicy: "same-origin",
    xFrameOptions: "DENY",
  });
}

const back = { href: "/settings/connections", label: "Back to connected calendars" };

async function chromeOf(c: WebContext) {
  const provider = await getProvider(c.var.services, c.var.provider);
  return { provider, chrome: { providerName: provider.name, csrf: c.var.web.session.csrfToken } };
}

export function connectionRoutes() {
  const r = new Hono<WebEnv>();
  const headers = async (c: WebContext, next: () => Promise<void>) => {
    await pageHeaders(c.var.deps.config)(c, next);
    c.header("cache-control", "no-store");
  };
  for (const path of ["/settings/connections", "/settings/connections/*", "/oauth/*"]) r.use(path, headers);

  r.onError(async (err, c) => {
    if (err instanceof CsrfError) {
      return renderPage(
        c,
        { title: "Not accepted", status: 403 },
        <MessagePage
          heading="Not accepted"
          detail="This form had expired or came from another site, so nothing was changed. Go back, reload the page and try again."
          back={back}
        />,
      );
    }
    let problem = err instanceof AppError ? err : internalError();
    if (!(err instanceof AppError))
      c.var.deps.logger.error({ requestId: c.get("requestId"), err: { name: err.name, message: err.message, stack: err.stack } }, "unhandled error");
    if (problem.status === 404) problem = new NotFoundError("page");
    return renderPage(
      c,
      { title: problem.title, status: problem.status },
      <MessagePage heading={problem.title} detail={problem.detail} back={back} />,
    );
  });

  r.get("/settings/connections", requireWebSession, async (c) => {
    const { provider, chrome } = await chromeOf(c);
    const flash = Flash.safeParse(await takeFlash(c.var.services, c.var.web.session, c.var.web.token));
    const { items } = await listCalendarSources(c.var.services, c.var.provider);
    const mirrors = await listMirrorChoices({ deps: c.var.services, platforms: c.var.deps.runtime.mirrorPlatforms }, c.var.provider);
    const body = (
      <ConnectionsPage
        csrf={chrome.csrf}
        timezone={provider.timezone}
        kinds={connectionKinds(c.var.deps.runtime.adapters)}
        sources={items}
        mirrors={mirrors}
        notice={flash.success ? flash.data.notice : undefined}
      />
    );
    return renderPage(c, { title: "Connected calendars", current: "connections", chrome }, body);
  });

  r.post("/settings/connections/start", requireWebSession, requireCsrfForm, async (c) => {
    const f = c.var.form;
    const input = { kind: f.kind ?? "", ...(f.connectionId ? { connectionId: f.connectionId } : {}), ...(f.writeBack ? { writeBack: true } : {}) };
    const { authorizationUrl } = await beginConnection(c.var.services, c.var.deps.runtime.adapters, c.var.provider, input, {
      webSessionId: c.var.web.session.id,
    });
    return c.redirect(authorizationUrl, 303);
  });

  r.get("/settings/connections/:connectionId", requireWebSession, async (c) => {
    const connectionId = c.req.param("connectionId");
    if (!Uuid.safeParse(connectionId).success) throw new NotFoundError("calendar connection");
    const { chrome } = await chromeOf(c);
    const { connection, items } = await listConnectionCalendars(c.var.services, c.var.deps.runtime.adapters, c.var.provider, connectionId);
    const label = c.var.deps.runtime.adapters[connection.kind].label;
    return renderPage(
      c,
      { title: "Choose calendars", current: "connections", chrome },
      <PickCalendarsPage csrf={chrome.csrf} connectionId={connectionId} label={label} calendars={items} />,
    );
  });

  r.post("/settings/connections/:connectionId", requireWebSession, requireCsrfForm, async (c) => {
    const connectionId = c.req.param("connectionId");
    if (!Uuid.safeParse(connectionId).success) throw new NotFoundError("calendar connection");
    const calendarIds = Object.entries(c.var.form)
      .filter(([k]) => /^calendar_\d{1,4}$/.test(k))
      .map(([, v]) => v);
    const rt = c.var.deps.runtime;
    const { items } = await addConnectionCalendars(c.var.services, rt.adapters, rt.channels, c.var.provider, connectionId, { calendarIds });
    const notice =
      items.length === 1 ? `“${items[0]!.name ?? "Calendar"}” is connected and syncing.` : `${items.length} calendars are connected and syncing.`;
    await putFlash(c.var.services, c.var.web.session, c.var.web.token, { notice });
    return c.redirect("/settings/connections", 303);
  });

  const mirrorWorld = (c: Context<WebEnv>) => {
    const rt = c.var.deps.runtime;
    return { deps: c.var.services, adapters: rt.adapters, platforms: rt.mirrorPlatforms, channels: rt.channels };
  };

  r.post("/settings/connections/:connectionId/mirror", requireWebSession, requireCsrfForm, async (c) => {
    const connectionId = c.req.param("connectionId");
    if (!Uuid.safeParse(connectionId).success) throw new NotFoundError("calendar connection");
    await enableMirror(mirrorWorld(c), c.var.provider, connectionId, {});
    await putFlash(c.var.services, c.var.web.session, c.var.web.token, {
      notice: "Your sessions are being put in a calendar named “Telehealth sessions” in that account.",
    });
    return c.redirect("/settings/connections", 303);
  });

  r.post("/settings/connections/:connectionId/mirror/delete", requireWebSession, requireCsrfForm, async (c) => {
    const connectionId = c.req.param("connectionId");
    if (!Uuid.safeParse(connectionId).success) throw new NotFoundError("calendar connection");
    await disableMirror(mirrorWorld(c), c.var.provider, connectionId);
    await putFlash(c.var.services, c.var.web.session, c.var.web.token, {
      notice: "Sessions are no longer put in that calendar, and the calendar we created there is removed.",
    });
    return c.redirect("/settings/connections", 303);
  });

  r.post("/settings/connections/sources/:sourceId/delete", requireWebSession, requireCsrfForm, async (c) => {
    const sourceId = c.req.param("sourceId");
    if (!Uuid.safeParse(sourceId).success) throw new NotFoundError("calendar");
    const rt = c.var.deps.runtime;
    await disconnectCalendarSource(c.var.services, rt.adapters, rt.channels, c.var.provider, sourceId);
    await putFlash(c.var.services, c.var.web.session, c.var.web.token, {
      notice: "The calendar is disconnected. Sessions it changed stay as they are.",
    });
    return c.redirect("/settings/connections", 303);
  });

  // RFC 6749 4.1.2: the platform redirects here with code and state (or error). Nothing is consumed
  // yet: the browser posts the parameters back from our own page, with its settings session.
  r.get("/oauth/:kind/callback", async (c) => {
    const kind = Kind.safeParse(c.req.param("kind"));
    if (!kind.success) throw new NotFoundError("page");
    const url = new URL(c.req.url);
    if (url.search.length > 8192)
      throw new AppError(400, "oauth_state_invalid", "Connection not accepted", "This sign-in link is not valid. Start connecting again.");
    const label = c.var.deps.runtime.adapters[kind.data].label;
    if (url.searchParams.get("error")) {
      const detail =
        url.searchParams.get("error") === "access_denied"
          ? `Access to your ${label} was not granted, so nothing was connected.`
          : `${label} did not complete the connection. Start connecting again.`;
      return renderPage(c, { title: "Not connected", status: 400 }, <MessagePage heading="Not connected" detail={detail} back={back} />);
    }
    return renderPage(
      c,
      { title: "Finish connecting" },
      <FinishConnectionPage kind={kind.data} label={label} providerName={null} params={url.search.slice(1)} />,
    );
  });

  r.post("/oauth/:kind/callback", signInBodyLimit, async (c) => {
    const kind = Kind.safeParse(c.req.param("kind"));
    if (!kind.success) throw new NotFoundError("page");
    if (!fromOurOrigin(c)) throw new CsrfError();
    const token = readSessionCookie(c);
    const session = token ? await resolveWebSession(c.var.services, token) : null;
    if (!session || !token) {
      const detail = "Sign in to your settings in this browser, then connect your calendar again.";
      return renderPage(
        c,
        { title: "Sign in first", status: 401 },
        <MessagePage heading="Sign in first" detail={detail} back={{ href: "/settings/sign-in", label: "Sign in" }} />,
      );
    }
    const params = (await parseForm(c)).params ?? "";
    const callbackUrl = new URL(redirectUriFor(c.var.deps.config.publicBaseUrl, kind.data));
    callbackUrl.search = params.slice(0, 8192);
    const done = await completeConnection(c.var.services, c.var.deps.runtime.adapters, {
      kind: kind.data,
      callbackUrl,
      session: { id: session.id, providerId: session.providerId },
    });
    if (done.reconnected) {
      await putFlash(c.var.services, session, token, {
        notice: `Your ${c.var.deps.runtime.adapters[kind.data].label} is reconnected and syncing again.`,
      });
      return c.redirect("/settings/connections", 303);
    }
    return c.redirect(`/settings/connections/${done.connectionId}`, 303);
  });

  return r;
}
