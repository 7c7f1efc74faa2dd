// What every signed-in settings route shares: the page chrome, the one-time flash, refusals.
import { z } from "zod";
import { AppError, type ProblemField } from "../errors.js";
import { getProvider } from "../services/providers.js";
import { putFlash, takeFlash } from "../services/web-sessions.js";
import { FRESH_FEED_ACTIONS } from "../web/pages/calendars.js";
import type { Refusal } from "../web/pages/link.js";
import { NOTICE_TONES } from "../web/pages/notice.js";
import type { WebContext } from "../web/session.js";

export const Flash = z.object({
  notice: z.string().optional(),
  // A warning is shown as one, never as a success (e.g. a saved but non-compliant link).
  tone: z.enum(NOTICE_TONES).optional(),
  fresh: z
    .object({
      action: z.enum(FRESH_FEED_ACTIONS),
      name: z.string(),
      url: z.string(),
      webcalUrl: z.string(),
      outlookSubscribeUrl: z.string(),
      googleSubscribeUrl: z.string(),
    })
    .optional(),
});
export type Flash = z.infer<typeof Flash>;

/** A 422 from a service, as the page shows it: the stable code, its message, the failing fields. */
export function refusalOf(err: unknown): Refusal | null {
  if (!(err instanceof AppError) || err.status !== 422) return null;
  const fields = err.extra.errors as ProblemField[] | undefined;
  return { code: err.code, message: err.detail, ...(fields ? { fields } : {}) };
}

/** What every signed-in page needs; only pages that show the flash take it (it is read once). */
export async function signedIn(c: WebContext, opts: { takeFlash?: boolean } = {}) {
  const { session, token } = c.var.web;
  const provider = await getProvider(c.var.services, c.var.provider);
  const flash = Flash.safeParse(opts.takeFlash ? await takeFlash(c.var.services, session, token) : {});
  return {
    providerId: session.providerId,
    provider,
    flash: flash.success ? flash.data : ({} as Flash),
    chrome: { providerName: provider.name, csrf: session.csrfToken },
  };
}

export async function flashAndRedirect(c: WebContext, flash: Flash, to: string) {
  await putFlash(c.var.services, c.var.web.session, c.var.web.token, flash);
  return c.redirect(to, 303);
}
