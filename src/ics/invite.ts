// A single-session invitation (.ics attachment or download) for confirmations and reminders,
// built with the `ics` package and then corrected: see refold().
import { createEvent, type EventAttributes } from "ics";
import type { Modality } from "../domain/value-lists.js";
import { conferenceLine, type FeedEventStatus } from "./feed.js";
import { CRLF, escapeText, foldLine, normalizeText, uriValue } from "./text.js";

export type InvitationInput = {
  uid: string;
  sequence: number;
  start: Date;
  end: Date;
  /** DTSTAMP; passed in so the same session state gives the same bytes. */
  stamp: Date;
  title: string;
  url?: string;
  instructions?: string;
  modality: Modality;
  /** Without an email there is no cal-address for ORGANIZER, hence no METHOD either (see below). */
  organizer: { name: string; email?: string };
  status: FeedEventStatus;
  /** Adds X-GOOGLE-CONFERENCE, as the feed does for Meet links. */
  googleMeet?: boolean;
  prodId?: string;
};

export const DEFAULT_INVITATION_PRODID = "-//Telehealth Calendar//Invitation//EN";

/**
 * The invitation cannot be written: `ics` rejected the input (its yup schema, e.g. its URL regex), or
 * the times or UID break RFC 5545. Thrown rather than returned: every field was already validated by
 * the domain rules (docs/rules.md, "Telehealth links" and "Sessions"), so this is a mismatch between our rules and the library's, a bug
 * to surface as a 500, not an outcome a caller can act on. The library's message stays in `cause`
 * (it can quote input values) and never in `message`.
 */
export class InvitationRenderError extends Error {
  override readonly name = "InvitationRenderError";
  constructor(cause: unknown) {
    super("ics could not render the invitation", { cause });
  }
}

// `ics` accepts and uses `timestamp` (DTSTAMP) but its typings omit it; without it DTSTAMP is
// Date.now() and the bytes change on every request.
type Attributes = EventAttributes & { timestamp: number };

/** The invitation, CRLF line ends including the last one, no physical line over 75 octets. */
export function renderInvitation(input: InvitationInput): string {
  const url = input.url === undefined ? undefined : uriValue(input.url);
  const email = input.organizer.email;
  let description: string | undefined;
  if (url !== undefined) description = input.instructions ? url + "\n" + input.instructions : url;
  else if (input.instructions) description = input.instructions;

  const attrs: Attributes = {
    productId: input.prodId ?? DEFAULT_INVITATION_PRODID,
    // RFC 5546 3.2.1: PUBLISH requires ORGANIZER, and `ics` writes an ORGANIZER without a value when
    // there is no email ("ORGANIZER;CN=x", no colon: not a content line). So METHOD only with email;
    // `undefined` overrides the library's default PUBLISH.
    method: email ? "PUBLISH" : undefined,
    uid: input.uid,
    sequence: input.sequence,
    // Epoch milliseconds are read as instants and written as UTC; a date array would be read in
    // the server's TZ (the `ics` package's "local" input type).
    timestamp: input.stamp.getTime(),
    start: input.start.getTime(),
    startInputType: "utc",
    startOutputType: "utc",
    end: input.end.getTime(),
    endInputType: "utc",
    endOutputType: "utc",
    // `ics` escapes TEXT itself (\\ \; \, \n) but keeps lone CRs and other controls: normalise first.
    title: normalizeText(input.title),
    status: input.status,
    classification: "PRIVATE",
    transp: "OPAQUE",
  };
  if (description !== undefined) attrs.description = normalizeText(description);
  if (url !== undefined) {
    attrs.url = url;
    attrs.location = url;
  }
  if (email) {
    // `ics` quotes CN and writes an embedded DQUOTE as \" which RFC 5545 3.2 does not allow; a
    // parameter value cannot hold DQUOTE or controls at all.
    const name = normalizeText(input.organizer.name).replace(/"/g, "'").replace(/\n/g, " ");
    attrs.organizer = { name, email: uriValue(email) };
  }
  // Checked here because `ics` does not: it would write a DTEND before DTSTART (RFC 5545 3.8.2.2),
  // and it writes UID without TEXT escaping, so a UID needing escapes would be misread.
  if (!(input.end.getTime() > input.start.getTime())) {
    throw new InvitationRenderError(new RangeError("end must be after start"));
  }
  if (input.uid.length === 0 || escapeText(input.uid) !== input.uid) {
    throw new InvitationRenderError(new RangeError("uid must be non-empty plain text"));
  }

  const { error, value } = createEvent(attrs);
  if (error || value === null) throw new InvitationRenderError(error);

  const extra: string[] = [];
  if (url !== undefined) {
    // `ics` has no RFC 7986 CONFERENCE, so it is added here as the feed writes it.
    extra.push(conferenceLine(url, input.modality));
    if (input.googleMeet) extra.push("X-GOOGLE-CONFERENCE:" + url);
  }
  return refold(value, extra);
}

/**
 * Measured defect: `ics` folds by code points, 75 characters per line whatever their size, so a line
 * of 4-octet characters can reach 300 octets (we saw 145 octets for a mixed-script SUMMARY, and 87 in an earlier measurement),
 * while RFC 5545 3.1 counts octets. invite.test.ts keeps a canary on the raw output. Unfold its output (it continues with HTAB) and fold again with our
 * octet-aware foldLine. `extraEventLines` go in just before END:VEVENT.
 */
function refold(ics: string, extraEventLines: readonly string[]): string {
  const lines = ics.replace(/\r?\n[ \t]/g, "").split(/\r?\n/);
  if (lines[lines.length - 1] === "") lines.pop();
  let out = "";
  for (const line of lines) {
    if (line === "END:VEVENT") for (const x of extraEventLines) out += foldLine(x) + CRLF;
    out += foldLine(line) + CRLF;
  }
  return out;
}
