// The provider settings pages (README, Settings pages). Server-rendered HTML forms (post-redirect-get with 303),
// signed in with a web session; every verb is an existing service called with the session's
// principal. Not JSON API routes, so not in the OpenAPI document.
import { Hono } from "hono";
import { compress } from "hono/compress";
import { NONCE, secureHeaders } from "hono/secure-headers";
import { z } from "zod";
import { NotFoundError } from "../errors.js";
import { problemForError } from "../http/problem.js";
import { isAdminToken, startAdminWebSession } from "../services/admin-web-sessions.js";
import { createFeed, listFeeds, revokeFeed, rotateFeedSecret } from "../services/feeds.js";
import { listReconciliationItems } from "../services/reconciliation.js";
import { getTelehealthLink, putTelehealthLink } from "../services/telehealth-links.js";
import { endWebSession, resolveWebSession, startWebSession } from "../services/web-sessions.js";
import { renderPage } from "../web/layout.js";
import { CalendarsPage, DEFAULT_FEED_FORM, type FeedForm, type FreshFeed, sizeNoteOf } from "../web/pages/calendars.js";
import { ConfirmFeedPage, type FeedConfirmKind } from "../web/pages/confirm.js";
import { type LinkForm, LinkPage, type Refusal } from "../web/pages/link.js";
import { MessagePage } from "../web/pages/message.js";
import { OverviewPage } from "../web/pages/overview.js";
import { SIGN_IN_EXPIRED, SIGN_IN_FAILED, SignInPage } from "../web/pages/sign-in.js";
import {
  CsrfError,
  clearSessionCookie,
  clearSignInCookie,
  fromOurOrigin,
  issueSignInToken,
  parseForm,
  readSessionCookie,
  requireCsrfForm,
  requireWebSession,
  setAdminSessionCookie,
  setSessionCookie,
  signInBodyLimit,
  signInTokenMatches,
  type WebContext,
  type WebEnv,
} from "../web/session.js";
import { type Flash, flashAndRedirect, refusalOf, signedIn } from "./settings-context.js";
import { registerWorkQueueRoutes } from "./settings-work.js";

// default-src 'none': nothing loads but this page's own nonce'd style and script; forms post only here.
export const pageHeaders = secureHeaders({
  contentSecurityPolicy: {
    defaultSrc: ["'none'"],
    scriptSrc: [NONCE],
    styleSrc: [NONCE],
    imgSrc: ["'self'"],
    connectSrc: ["'self'"],
    formAction: ["'self'"],
    frameAncestors: ["'none'"],
    baseUri: ["'none'"],
  },
  // Not no-referrer: under it a browser sends "Origin: null" with every form post, and the origin
  // check below needs the real one. same-origin still sends nothing to other sites.
  referrerPolicy: "same-origin",
  xFrameOptions: "DENY",
});

const FeedIdParam = z.uuid();

async function findFeed(c: WebContext, feedId: string) {
  if (!FeedIdParam.safeParse(feedId).success) throw new NotFoundError("calendar");
  const feed = (await listFeeds(c.var.services, c.var.deps.runtime.feedCache, c.var.provider)).items.find((f) => f.id === feedId);
  if (!feed) throw new NotFoundError("calendar");
  return feed;
}

/** The saved default link, or null when there is none yet. */
const currentLink = (c: WebContext) =>
  getTelehealthLink(c.var.services, c.var.provider).catch((e: unknown) => (e instanceof NotFoundError ? null : Promise.reject(e)));

const toLinkInput = (f: LinkForm) => ({
  url: f.url.trim(),
  ...(f.instructions.trim() ? { instructions: f.instructions.trim() } : {}),
  baaSigned: f.baaSigned,
  waitingRoomEnabled: f.waitingRoomEnabled,
});

export function settingsRoutes() {
  const r = new Hono<WebEnv>().basePath("/settings");
  // HTML goes out gzip- or deflate-compressed when the browser accepts it (RFC 9110 12.5.3).
  r.use("*", compress());
  r.use("*", pageHeaders, async (c, next) => {
    await next();
    c.header("cache-control", "no-store");
  });

  r.onError(async (err, c) => {
    if (err instanceof CsrfError) {
      const detail = "This form had expired or came from another site, so nothing was changed. Go back, reload the page and try again.";
      return renderPage(
        c,
        { title: "Not accepted", status: 403 },
        <MessagePage heading="Not accepted" detail={detail} back={{ href: "/settings", label: "Back to settings" }} />,
      );
    }
    let problem = problemForError(err);
    if (problem.status >= 500) c.var.deps.logger.error({ requestId: c.get("requestId"), code: problem.code, err }, "request failed");
    if (problem.status === 404) problem = new NotFoundError("page");
    return renderPage(
      c,
      { title: problem.title, status: problem.status },
      <MessagePage heading={problem.title} detail={problem.detail} back={{ href: "/settings", label: "Back to settings" }} />,
    );
  });

  r.get("/sign-in", async (c) => {
    const token = readSessionCookie(c);
    if (token && (await resolveWebSession(c.var.services, token))) return c.redirect("/settings", 303);
    const notice = c.req.query("signed_out") !== undefined ? "You're signed out." : undefined;
    return renderPage(c, { title: "Sign in" }, <SignInPage csrf={issueSignInToken(c)} notice={notice} />);
  });

  r.post("/sign-in", signInBodyLimit, async (c) => {
    const form = await parseForm(c);
    if (!fromOurOrigin(c) || !signInTokenMatches(c, form._csrf)) {
      return renderPage(c, { title: "Sign in", status: 403 }, <SignInPage csrf={issueSignInToken(c)} error={SIGN_IN_EXPIRED} />);
    }
    if (isAdminToken(c.var.deps.adminTokenHash, form.apiKey ?? "")) {
      const admin = await startAdminWebSession(c.var.services, c.var.deps.adminTokenHash);
      clearSignInCookie(c);
      setAdminSessionCookie(c, admin.token);
      return c.redirect("/settings/admin", 303);
    }
    const started = await startWebSession(c.var.services, form.apiKey ?? "");
    if (!started) return renderPage(c, { title: "Sign in", status: 403 }, <SignInPage csrf={issueSignInToken(c)} error={SIGN_IN_FAILED} />);
    // A browser holds one session: signing in again ends the one it had.
    const previous = readSessionCookie(c);
    const old = previous ? await resolveWebSession(c.var.services, previous) : null;
    if (old) await endWebSession(c.var.services, old);
    clearSignInCookie(c);
    setSessionCookie(c, started.token);
    return c.redirect("/settings", 303);
  });

  r.post("/sign-out", requireWebSession, requireCsrfForm, async (c) => {
    await endWebSession(c.var.services, c.var.web.session);
    clearSessionCookie(c);
    return c.redirect("/settings/sign-in?signed_out", 303);
  });

  r.get("/", requireWebSession, async (c) => {
    const { provider, chrome } = await signedIn(c);
    const link = await currentLink(c);
    const feeds = await listFeeds(c.var.services, c.var.deps.runtime.feedCache, c.var.provider);
    const items = await listReconciliationItems(c.var.services, c.var.provider);
    const body = <OverviewPage providerName={provider.name} link={link} feedCount={feeds.items.length} openItems={items.items.length} />;
    return renderPage(c, { title: "Overview", current: "overview", chrome }, body);
  });

  r.get("/link", requireWebSession, async (c) => {
    const { provider, flash, chrome } = await signedIn(c, { takeFlash: true });
    const saved = await currentLink(c);
    const form: LinkForm = saved
      ? { url: saved.url, instructions: saved.instructions ?? "", baaSigned: saved.baaSigned, waitingRoomEnabled: saved.waitingRoomEnabled }
      : { url: "", instructions: "", baaSigned: false, waitingRoomEnabled: false };
    const body = <LinkPage csrf={chrome.csrf} timezone={provider.timezone} saved={saved} form={form} notice={flash.notice} noticeTone={flash.tone} />;
    return renderPage(c, { title: "Telehealth link", current: "link", chrome }, body);
  });

  r.post("/link", requireWebSession, requireCsrfForm, async (c) => {
    const f = c.var.form;
    // Browsers send textarea line breaks as CRLF; store plain newlines.
    const form: LinkForm = {
      url: f.url ?? "",
      instructions: (f.instructions ?? "").replace(/\r\n?/g, "\n"),
      baaSigned: f.baaSigned === "yes",
      waitingRoomEnabled: f.waitingRoomEnabled === "yes",
    };
    try {
      const saved = await putTelehealthLink(c.var.services, c.var.provider, toLinkInput(form));
      const flash: Flash = saved.compliant
        ? { notice: "Saved. Your link is compliant and ready for sessions.", tone: "success" }
        : {
            notice: "Not ready for sessions: this link is stored but not compliant, so virtual sessions can't use it yet. Fix what's missing below.",
            tone: "warning",
          };
      return await flashAndRedirect(c, flash, "/settings/link");
    } catch (err) {
      const refusal = refusalOf(err);
      if (!refusal) throw err;
      const { provider, chrome } = await signedIn(c);
      const saved = await currentLink(c);
      const body = <LinkPage csrf={chrome.csrf} timezone={provider.timezone} saved={saved} form={form} refusal={refusal} />;
      return renderPage(c, { title: "Telehealth link", current: "link", chrome, status: 422 }, body);
    }
  });

  const calendarsPage = async (c: WebContext, extra: { form?: FeedForm; refusal?: Refusal; status?: number } = {}) => {
    const { provider, flash, chrome } = await signedIn(c, { takeFlash: !extra.refusal });
    const feeds = await listFeeds(c.var.services, c.var.deps.runtime.feedCache, c.var.provider);
    const body = (
      <CalendarsPage
        csrf={chrome.csrf}
        timezone={provider.timezone}
        feeds={feeds.items.map((f) => ({ ...f, sizeNote: sizeNoteOf(f) }))}
        fresh={flash.fresh as FreshFeed | undefined}
        notice={flash.notice}
        form={extra.form ?? DEFAULT_FEED_FORM}
        refusal={extra.refusal}
      />
    );
    return renderPage(c, { title: "Calendar subscriptions", current: "calendars", chrome, status: extra.status }, body);
  };

  r.get("/calendars", requireWebSession, (c) => calendarsPage(c));

  r.post("/calendars", requireWebSession, requireCsrfForm, async (c) => {
    const f = c.var.form;
    const form: FeedForm = {
      name: f.name ?? "",
      privacy: f.privacy ?? "minimal",
      acknowledgePhi: f.acknowledgePhi === "yes",
      includeLink: f.includeLink === "yes",
      includeInPerson: f.includeInPerson === "yes",
      futureDays: (f.futureDays ?? "").trim(),
      pastDays: (f.pastDays ?? "").trim(),
    };
    const { acknowledgePhi, futureDays, pastDays, ...settings } = form;
    // A blank number keeps the service's default; anything not a whole number is refused by it.
    const days = (v: string) => (v === "" ? undefined : /^\d{1,4}$/.test(v) ? Number(v) : v);
    const input = {
      ...settings,
      ...(days(futureDays) !== undefined ? { futureDays: days(futureDays) } : {}),
      ...(days(pastDays) !== undefined ? { pastDays: days(pastDays) } : {}),
      ...(form.privacy === "full" ? { acknowledgePhi } : {}),
    };
    try {
      const feed = await createFeed(c.var.services, c.var.provider, input);
      const fresh: FreshFeed = {
        action: "created",
        name: feed.name,
        url: feed.url,
        webcalUrl: feed.webcalUrl,
        outlookSubscribeUrl: feed.outlookSubscribeUrl,
        googleSubscribeUrl: feed.googleSubscribeUrl,
      };
      return await flashAndRedirect(c, { fresh }, "/settings/calendars");
    } catch (err) {
      const refusal = refusalOf(err);
      if (!refusal) throw err;
      return calendarsPage(c, { form, refusal, status: 422 });
    }
  });

  r.get("/calendars/:feedId/:kind{rotate|revoke}", requireWebSession, async (c) => {
    const { chrome } = await signedIn(c);
    const feed = await findFeed(c, c.req.param("feedId"));
    const kind = c.req.param("kind") as FeedConfirmKind;
    const title = kind === "rotate" ? "Get a new address" : "Stop a calendar";
    return renderPage(c, { title, current: "calendars", chrome }, <ConfirmFeedPage csrf={chrome.csrf} kind={kind} feed={feed} />);
  });

  r.post("/calendars/:feedId/rotate", requireWebSession, requireCsrfForm, async (c) => {
    const feed = await findFeed(c, c.req.param("feedId"));
    const rotated = await rotateFeedSecret(c.var.services, c.var.provider, feed.id);
    const fresh: FreshFeed = {
      action: "rotated",
      name: rotated.name,
      url: rotated.url,
      webcalUrl: rotated.webcalUrl,
      outlookSubscribeUrl: rotated.outlookSubscribeUrl,
      googleSubscribeUrl: rotated.googleSubscribeUrl,
    };
    return flashAndRedirect(c, { fresh }, "/settings/calendars");
  });

  r.post("/calendars/:feedId/revoke", requireWebSession, requireCsrfForm, async (c) => {
    const feed = await findFeed(c, c.req.param("feedId"));
    await revokeFeed(c.var.services, c.var.provider, feed.id);
    return flashAndRedirect(
      c,
      { notice: `“${feed.name}” is stopped: its address no longer works. Remove it from your calendar apps too.` },
      "/settings/calendars",
    );
  });

  registerWorkQueueRoutes(r);

  return r;
}
