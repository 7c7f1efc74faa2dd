// The settings pages' work queue: open items resolved in place, and the client list with locations.
// Routes only read the form, call a service and pick the words; the rules live in the services.
import type { Hono } from "hono";
import { z } from "zod";
import type { EligibilityDecision } from "../domain/eligibility.js";
import { initialsOf } from "../domain/feed-policy.js";
import { StateCodeSchema } from "../domain/jurisdictions.js";
import { AppError, NotFoundError } from "../errors.js";
import { addLocation, getClient } from "../services/clients.js";
import { getSession } from "../services/sessions.js";
import {
  addLocationAndConfirm,
  confirmFromQueue,
  LOCATION_SUPPORTS,
  listClientsWithLocations,
  listWorkQueue,
  type QueueOutcome,
  referFromQueue,
  toLocationInput,
} from "../services/work-queue.js";
import { renderPage } from "../web/layout.js";
import { type FieldErrors, formValues, type LocationFormValues, localDate, parseLocationForm } from "../web/location-form.js";
import { type ClientFormError, ClientsPage } from "../web/pages/clients.js";
import { type ItemFormError, OpenItemsPage } from "../web/pages/open-items.js";
import type { WebContext, WebEnv } from "../web/session.js";
import { requireCsrfForm, requireWebSession } from "../web/session.js";
import { type Flash, flashAndRedirect, refusalOf, signedIn } from "./settings-context.js";

const IdParam = z.uuid();
const QUEUE = "/settings/open-items";
const CLIENTS = "/settings/clients";

function idParam(c: WebContext, name: string, what: string): string {
  const id = c.req.param(name);
  if (!id || !IdParam.safeParse(id).success) throw new NotFoundError(what);
  return id;
}

const LOCATION_FIELD_PATHS = new Set<keyof LocationFormValues>(["state", "country", "from", "label"]);

/** A service's 422 on a location, as errors on the form's own fields (anything else on the state). */
function fieldErrorsOf(err: unknown): FieldErrors | null {
  const refusal = refusalOf(err);
  if (!refusal) return null;
  const errors: FieldErrors = {};
  for (const f of refusal.fields ?? []) {
    const path = f.path as keyof LocationFormValues;
    errors[LOCATION_FIELD_PATHS.has(path) ? path : "state"] ??= f.message;
  }
  if (Object.keys(errors).length === 0) errors.state = refusal.message;
  return errors;
}

async function queuePage(c: WebContext, extra: { formError?: ItemFormError; status?: number } = {}) {
  const { provider, flash, chrome } = await signedIn(c, { takeFlash: !extra.formError });
  const { items } = await listWorkQueue(c.var.services, c.var.provider);
  const notice = flash.notice ? { text: flash.notice, tone: flash.tone } : undefined;
  const body = (
    <OpenItemsPage
      csrf={chrome.csrf}
      timezone={provider.timezone}
      items={items}
      notice={notice}
      formError={extra.formError}
      outsideUs={LOCATION_SUPPORTS.country}
    />
  );
  return renderPage(c, { title: "Open items", current: "open-items", chrome, status: extra.status }, body);
}

/** "J.D.'s session on Nov 20, 2026": initials only, never the name, in anything that is stored. */
async function sessionPhrase(c: WebContext, session: { clientId: string; start: string }, timezone: string) {
  const client = await getClient(c.var.services, c.var.principal, session.clientId);
  const who = initialsOf(client.displayName) || "your client";
  const day = new Intl.DateTimeFormat("en-US", { timeZone: timezone, month: "short", day: "numeric", year: "numeric" }).format(
    new Date(session.start),
  );
  return `${who}'s session on ${day}`;
}

function outcomeFlash(outcome: QueueOutcome, what: string, locationSaved: boolean): Flash {
  const d: EligibilityDecision = outcome.decision;
  const saved = locationSaved ? "Location saved. " : "";
  switch (outcome.kind) {
    case "confirmed":
      return {
        tone: "success",
        notice: `${saved}Confirmed ${what}: ${d.billing === "private_pay" ? "as private pay" : "billed to the client's insurance"}.`,
      };
    case "private_pay_needs_agreement":
      return {
        tone: "warning",
        notice: `${saved}${what} can only be confirmed as private pay. ${d.explanation} Confirm it below once your client has agreed.`,
      };
    case "not_confirmable":
      return { tone: "warning", notice: `${saved}${what} can't be confirmed: ${d.explanation} ${d.action}` };
  }
}

/** A conflict (already confirmed, a stale page) is told on the list, not on a dead-end page. */
async function orConflict(c: WebContext, to: string, run: () => Promise<Response>): Promise<Response> {
  try {
    return await run();
  } catch (err) {
    if (err instanceof AppError && err.status === 409) return flashAndRedirect(c, { tone: "warning", notice: `Nothing changed: ${err.detail}` }, to);
    throw err;
  }
}

/**
 * An open item's action that names the state the client was in (confirm, refer): a missing or
 * unknown state means the page was out of date, and a conflict is told on the list.
 */
async function stateAction(
  c: WebContext,
  run: (input: { sessionId: string; state: string; what: () => Promise<string> }) => Promise<Response>,
): Promise<Response> {
  const sessionId = idParam(c, "sessionId", "session");
  const { provider } = await signedIn(c);
  const session = await getSession(c.var.services, c.var.principal, sessionId);
  const state = StateCodeSchema.safeParse(c.var.form.state ?? "");
  if (!state.success)
    return flashAndRedirect(c, { tone: "warning", notice: "Nothing changed: this page was out of date. Here is the current list." }, QUEUE);
  return orConflict(c, QUEUE, () => run({ sessionId, state: state.data, what: () => sessionPhrase(c, session, provider.timezone) }));
}

export function registerWorkQueueRoutes(r: Hono<WebEnv>) {
  r.get("/open-items", requireWebSession, (c) => queuePage(c));

  r.post("/open-items/:sessionId/locate", requireWebSession, requireCsrfForm, async (c) => {
    const sessionId = idParam(c, "sessionId", "session");
    const { provider } = await signedIn(c);
    const session = await getSession(c.var.services, c.var.principal, sessionId);
    const values = formValues(c.var.form);
    const parsed = parseLocationForm(values, {
      timezone: provider.timezone,
      sessionStart: session.start,
      outsideUsAllowed: LOCATION_SUPPORTS.country,
    });
    if (!parsed.ok) return queuePage(c, { formError: { sessionId, action: "locate", values, errors: parsed.errors }, status: 422 });
    return orConflict(c, QUEUE, async () => {
      try {
        const outcome = await addLocationAndConfirm(c.var.services, c.var.principal, sessionId, parsed.entry);
        return await flashAndRedirect(c, outcomeFlash(outcome, await sessionPhrase(c, session, provider.timezone), true), QUEUE);
      } catch (err) {
        const errors = fieldErrorsOf(err);
        if (!errors) throw err;
        return queuePage(c, { formError: { sessionId, action: "locate", values, errors }, status: 422 });
      }
    });
  });

  r.post("/open-items/:sessionId/confirm", requireWebSession, requireCsrfForm, (c) =>
    stateAction(c, async ({ sessionId, state, what }) => {
      const outcome = await confirmFromQueue(c.var.services, c.var.principal, sessionId, {
        state,
        privatePayAgreed: c.var.form.privatePay === "yes",
      });
      if (outcome.kind === "private_pay_needs_agreement") {
        const errors = {
          privatePay: "Tick this box only if your client agreed to pay for the session themselves; otherwise begin credentialing or refer them.",
        };
        return queuePage(c, { formError: { sessionId, action: "confirm", errors }, status: 422 });
      }
      return flashAndRedirect(c, outcomeFlash(outcome, await what(), false), QUEUE);
    }),
  );

  r.post("/open-items/:sessionId/refer", requireWebSession, requireCsrfForm, (c) =>
    stateAction(c, async ({ sessionId, state, what }) => {
      await referFromQueue(c.var.services, c.var.principal, sessionId, { state });
      return flashAndRedirect(
        c,
        { tone: "success", notice: `Marked as referred: ${await what()} won't be confirmed and has left your open items.` },
        QUEUE,
      );
    }),
  );

  const clientsPage = async (c: WebContext, extra: { formError?: ClientFormError; status?: number } = {}) => {
    const { provider, flash, chrome } = await signedIn(c, { takeFlash: !extra.formError });
    const cursor = c.req.query("cursor");
    const page = await listClientsWithLocations(c.var.services, c.var.provider, { limit: 50, ...(cursor ? { cursor } : {}) });
    const notice = flash.notice ? { text: flash.notice, tone: flash.tone } : undefined;
    const body = (
      <ClientsPage
        csrf={chrome.csrf}
        timezone={provider.timezone}
        today={localDate(c.var.services.clock.now().toISOString(), provider.timezone)}
        clients={page.items}
        nextCursor={page.nextCursor}
        notice={notice}
        formError={extra.formError}
        outsideUs={LOCATION_SUPPORTS.country}
      />
    );
    return renderPage(c, { title: "Clients", current: "clients", chrome, status: extra.status }, body);
  };

  r.get("/clients", requireWebSession, (c) => clientsPage(c));

  r.post("/clients/:clientId/locations", requireWebSession, requireCsrfForm, async (c) => {
    const clientId = idParam(c, "clientId", "client");
    const { provider } = await signedIn(c);
    const client = await getClient(c.var.services, c.var.principal, clientId);
    const values = formValues(c.var.form);
    const parsed = parseLocationForm(values, { timezone: provider.timezone, outsideUsAllowed: LOCATION_SUPPORTS.country });
    if (!parsed.ok) return clientsPage(c, { formError: { clientId, values, errors: parsed.errors }, status: 422 });
    try {
      await addLocation(c.var.services, c.var.principal, client.id, toLocationInput(parsed.entry));
    } catch (err) {
      const errors = fieldErrorsOf(err);
      if (!errors) throw err;
      return clientsPage(c, { formError: { clientId, values, errors }, status: 422 });
    }
    const who = initialsOf(client.displayName) || "your client";
    return flashAndRedirect(c, { tone: "success", notice: `Location added for ${who}.` }, `${CLIENTS}#client-${client.id}`);
  });
}
