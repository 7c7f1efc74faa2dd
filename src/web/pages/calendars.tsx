import { DEFAULT_FUTURE_DAYS, DEFAULT_PAST_DAYS } from "../../domain/feed-policy.js";
import { formatInstant, PRIVACY_CHOICES, privacyLabel, subscribeLinks } from "../format.js";
import { ErrorSummary } from "./error-summary.js";
import type { Refusal } from "./link.js";

export type FeedSummary = {
  id: string;
  name: string;
  privacy: string;
  includeLink: boolean;
  includeInPerson: boolean;
  pastDays?: number;
  futureDays?: number;
  createdAt: string;
  lastFetchedAt: string | null;
  fetchCount: number;
  lastFetchBySubscriber: { google: string | null; microsoft: string | null; apple: string | null; other: string | null };
  sizeNote?: FeedSizeNote | undefined;
};

/** What a feed leaves out to stay under the size calendar apps accept (Google's reported 1 MB). */
export type FeedSizeNote = { upcomingLeftOut: number; pastLeftOut: number };

/**
 * The size note from a feed as the feed service lists it: the one place that knows its field names
 * (`omittedUpcoming`, `omittedPast`); absent while the service reports none.
 */
export function sizeNoteOf(feed: object): FeedSizeNote | undefined {
  // The feed list carries the size report under `content` (the feed service's FeedContentStatus).
  const listed = feed as { content?: object };
  const f = (listed.content ?? feed) as { omittedUpcoming?: unknown; omittedPast?: unknown };
  const upcoming = typeof f.omittedUpcoming === "number" ? f.omittedUpcoming : 0;
  const past = typeof f.omittedPast === "number" ? f.omittedPast : 0;
  return upcoming > 0 || past > 0 ? { upcomingLeftOut: upcoming, pastLeftOut: past } : undefined;
}

const plural = (n: number, one: string, many: string) => `${n} ${n === 1 ? one : many}`;

function SizeNote({ note, feedId }: { note: FeedSizeNote; feedId: string }) {
  if (note.upcomingLeftOut === 0) {
    return (
      <p class="hint" data-size-note="">
        To stay under the size calendar apps accept, this calendar leaves out your{" "}
        {plural(note.pastLeftOut, "oldest past session", "oldest past sessions")}.
      </p>
    );
  }
  return (
    <div class="card warning" role="note" aria-labelledby={`size-${feedId}`} data-size-note="">
      <h4 id={`size-${feedId}`}>Not every upcoming session fits</h4>
      <p>
        This calendar is at the size limit calendar apps accept, so it leaves out{" "}
        {plural(note.upcomingLeftOut, "upcoming session", "upcoming sessions")} (the furthest ahead)
        {note.pastLeftOut > 0 ? ` and ${plural(note.pastLeftOut, "past session", "past sessions")}` : ""}. To fit them, create a calendar that shows
        fewer days ahead, or one without the telehealth link and instructions, and stop this one.
      </p>
    </div>
  );
}

export const FRESH_FEED_ACTIONS = ["created", "rotated"] as const;
export type FreshFeedAction = (typeof FRESH_FEED_ACTIONS)[number];

/** A feed's secret URLs, carried once from the create or rotate post to this page. */
export type FreshFeed = {
  action: FreshFeedAction;
  name: string;
  url: string;
  webcalUrl: string;
  outlookSubscribeUrl: string;
  googleSubscribeUrl: string;
};

export type FeedForm = {
  name: string;
  privacy: string;
  acknowledgePhi: boolean;
  includeLink: boolean;
  includeInPerson: boolean;
  futureDays: string;
  pastDays: string;
};
export const DEFAULT_FEED_FORM: FeedForm = {
  name: "",
  privacy: "minimal",
  acknowledgePhi: false,
  includeLink: true,
  includeInPerson: true,
  futureDays: String(DEFAULT_FUTURE_DAYS),
  pastDays: String(DEFAULT_PAST_DAYS),
};

// The page's own words for a refused field (the service's messages name types, not people's words).
const FIELD_MESSAGES: Record<string, string> = {
  name: "Enter a name of up to 100 characters.",
  privacy: "Choose what events show about clients.",
  acknowledgePhi: "To show clients' full names, tick “I understand, and I have a BAA with that calendar provider”, or choose another option above.",
  futureDays: "Enter a whole number of days from 1 to 730.",
  pastDays: "Enter a whole number of days from 0 to 365.",
};

/** The form fields in page order, with the words the page shows for them. */
const FIELD_LABELS: Record<string, string> = {
  name: "Name",
  privacy: "What events show about clients",
  acknowledgePhi: "Full names need your agreement",
  futureDays: "Days ahead",
  pastDays: "Days back",
};

/** Refusals that concern one field without listing it, by their stable code. */
const CODE_FIELDS: Record<string, string> = { phi_acknowledgement_required: "acknowledgePhi" };

/** The fields a refusal marks, in page order. */
function refusedFields(refusal: Refusal | undefined): string[] {
  if (!refusal) return [];
  const paths = new Set((refusal.fields ?? []).map((f) => f.path));
  const byCode = CODE_FIELDS[refusal.code];
  if (byCode) paths.add(byCode);
  return Object.keys(FIELD_LABELS).filter((f) => paths.has(f));
}

const NEW_WINDOW = <span class="vh"> (opens in a new window)</span>;

type Props = { csrf: string; timezone: string; feeds: FeedSummary[]; fresh?: FreshFeed; notice?: string; form: FeedForm; refusal?: Refusal };

const GOOGLE_DELAY = "Google Calendar refreshes subscribed calendars on its own schedule: changes can take up to 24 hours to show there.";

function FreshFeedPanel({ fresh }: { fresh: FreshFeed }) {
  const links = subscribeLinks(fresh);
  return (
    <section class="card secret" aria-labelledby="fresh-title">
      <h2 id="fresh-title">{fresh.action === "created" ? `Your new calendar “${fresh.name}” is ready` : `New address for “${fresh.name}”`}</h2>
      <p role="status">
        <strong>Copy this address now: it is shown only this once.</strong> Keep it private: anyone who has it can see your schedule. If you lose it,
        get a new address from the list below.
        {fresh.action === "rotated" && " The old address has stopped working; subscribe again with this one."}
      </p>
      <label for="feed-url">Calendar address</label>
      <div class="copy-row">
        <input id="feed-url" type="text" readonly value={fresh.url} data-feed-url="" />
        <button type="button" class="secondary" data-copy="feed-url" data-status="copy-status" hidden>
          Copy
        </button>
      </div>
      <p class="hint" id="copy-status" role="status" aria-live="polite"></p>
      <h3>Add it to your calendar</h3>
      <div class="actions">
        <a class="button" href={links.apple}>
          Apple Calendar
        </a>
        <a class="button" href={links.outlookPersonal} target="_blank" rel="noopener noreferrer">
          Outlook.com{NEW_WINDOW}
        </a>
        <a class="button" href={links.outlookWork} target="_blank" rel="noopener noreferrer">
          Outlook (work or school){NEW_WINDOW}
        </a>
      </div>
      <p class="hint">Outlook for Mac can't subscribe to calendars by address: use Apple Calendar on a Mac.</p>
      <h3>Google Calendar</h3>
      <ol class="steps">
        <li>Copy the address above.</li>
        <li>
          <a
            class="button secondary"
            href={links.googleAddByUrl}
            target="_blank"
            rel="noopener noreferrer"
            data-copy-first="feed-url"
            data-status="copy-status"
          >
            Open Google Calendar's “From URL” page{NEW_WINDOW}
          </a>
        </li>
        <li>Paste the address and choose “Add calendar”.</li>
      </ol>
      <p class="hint">
        Or try Google's one-click link:{" "}
        <a href={links.googleOneClick} target="_blank" rel="noopener noreferrer">
          add to Google Calendar directly{NEW_WINDOW}
        </a>
        . Google doesn't document it, and for some accounts it adds an empty calendar or nothing: if so, use the steps above.
      </p>
      <p class="hint">{GOOGLE_DELAY}</p>
    </section>
  );
}

function FeedCard({ feed, timezone }: { feed: FeedSummary; timezone: string }) {
  const by = feed.lastFetchBySubscriber;
  return (
    <li class="card" aria-labelledby={`feed-${feed.id}`}>
      <h3 id={`feed-${feed.id}`}>{feed.name}</h3>
      {feed.sizeNote && <SizeNote note={feed.sizeNote} feedId={feed.id} />}
      <dl class="facts">
        <dt>Events show</dt>
        <dd>{privacyLabel(feed.privacy)}</dd>
        <dt>Telehealth link</dt>
        <dd>{feed.includeLink ? "Included" : "Not included"}</dd>
        <dt>In-person sessions</dt>
        <dd>{feed.includeInPerson ? "Shown" : "Not shown"}</dd>
        {feed.futureDays !== undefined && (
          <>
            <dt>Days shown</dt>
            <dd>
              {feed.pastDays} back, {feed.futureDays} ahead
            </dd>
          </>
        )}
        <dt>Created</dt>
        <dd>{formatInstant(feed.createdAt, timezone)}</dd>
      </dl>
      <h4 class="hint">Last fetched</h4>
      <dl class="facts">
        <dt>Google</dt>
        <dd>{formatInstant(by.google, timezone)}</dd>
        <dt>Microsoft</dt>
        <dd>{formatInstant(by.microsoft, timezone)}</dd>
        <dt>Apple</dt>
        <dd>{formatInstant(by.apple, timezone)}</dd>
        {by.other && (
          <>
            <dt>Other apps</dt>
            <dd>{formatInstant(by.other, timezone)}</dd>
          </>
        )}
        <dt>Fetches</dt>
        <dd>{feed.fetchCount}</dd>
      </dl>
      <div class="actions">
        <a class="button secondary" href={`/settings/calendars/${feed.id}/rotate`}>
          Get a new address<span class="vh"> for “{feed.name}”</span>…
        </a>
        <a class="button secondary" href={`/settings/calendars/${feed.id}/revoke`}>
          Stop this calendar<span class="vh"> (“{feed.name}”)</span>…
        </a>
      </div>
    </li>
  );
}

function CreateForm({ csrf, form, refusal }: { csrf: string; form: FeedForm; refusal?: Refusal }) {
  const refused = refusedFields(refusal);
  const fieldError = (name: string) => (refused.includes(name) ? FIELD_MESSAGES[name] : undefined);
  const invalid = (name: string) => (fieldError(name) ? "true" : undefined);
  const describedBy = (name: string, hint?: string) =>
    [fieldError(name) ? `${name}-error` : null, hint ?? null].filter(Boolean).join(" ") || undefined;
  return (
    <form method="post" action="/settings/calendars" class="card" aria-labelledby="create-title">
      <h2 id="create-title">Create a calendar subscription</h2>
      <input type="hidden" name="_csrf" value={csrf} />
      <label for="name">Name</label>
      <p class="hint" id="name-hint">
        Your calendar app shows it as the calendar's name, e.g. “Telehealth sessions”.
      </p>
      {fieldError("name") && (
        <p class="error-text" id="name-error">
          {fieldError("name")}
        </p>
      )}
      <input
        id="name"
        name="name"
        type="text"
        required
        maxlength={100}
        value={form.name}
        aria-invalid={invalid("name")}
        aria-describedby={describedBy("name", "name-hint")}
      />
      <fieldset>
        <legend>What events show about clients</legend>
        {PRIVACY_CHOICES.map((p) => (
          <div class="choice">
            <input type="radio" id={`privacy-${p.value}`} name="privacy" value={p.value} checked={form.privacy === p.value} />
            <label for={`privacy-${p.value}`}>
              {p.label}{" "}
              <span class="hint" id={`privacy-${p.value}-hint`}>
                {p.hint}
              </span>
            </label>
          </div>
        ))}
        <div class="card warning" id="phi-warning">
          <p>
            <strong>Full names are protected health information.</strong> They end up in Google's, Microsoft's or Apple's cloud, and on every device
            that shows your calendar. Choose full names only if you have a business associate agreement (BAA) with the calendar provider you will
            subscribe from.
          </p>
          {fieldError("acknowledgePhi") && (
            <p class="error-text" id="acknowledgePhi-error">
              {fieldError("acknowledgePhi")}
            </p>
          )}
          <div class="check">
            <input
              type="checkbox"
              id="acknowledgePhi"
              name="acknowledgePhi"
              value="yes"
              checked={form.acknowledgePhi}
              aria-invalid={invalid("acknowledgePhi")}
              aria-describedby={describedBy("acknowledgePhi")}
            />
            <label for="acknowledgePhi">I understand, and I have a BAA with that calendar provider (needed only for full names).</label>
          </div>
        </div>
      </fieldset>
      <fieldset>
        <legend>What events include</legend>
        <div class="check">
          <input type="checkbox" id="includeLink" name="includeLink" value="yes" checked={form.includeLink} />
          <label for="includeLink">My telehealth link and instructions for clients</label>
        </div>
        <div class="check">
          <input type="checkbox" id="includeInPerson" name="includeInPerson" value="yes" checked={form.includeInPerson} />
          <label for="includeInPerson">In-person sessions too</label>
        </div>
      </fieldset>
      <fieldset>
        <legend>Which days it shows</legend>
        <p class="hint" id="days-hint">
          Fewer days keep a busy calendar under the size calendar apps accept.
        </p>
        {(["futureDays", "pastDays"] as const).map((name) => (
          <>
            <label for={name}>{name === "futureDays" ? "Days ahead" : "Days back"}</label>
            {fieldError(name) && (
              <p class="error-text" id={`${name}-error`}>
                {fieldError(name)}
              </p>
            )}
            <input
              id={name}
              name={name}
              type="text"
              inputmode="numeric"
              value={form[name]}
              aria-invalid={invalid(name)}
              aria-describedby={describedBy(name, "days-hint")}
            />
          </>
        ))}
      </fieldset>
      <div class="actions">
        <button type="submit">Create calendar</button>
      </div>
    </form>
  );
}

/** The error summary of a refused create: each marked field, linked. */
function CreateRefusal({ refusal }: { refusal: Refusal }) {
  const fields = refusedFields(refusal);
  const items = fields.map((f) => ({
    field: f === "privacy" ? `privacy-${PRIVACY_CHOICES[0].value}` : f,
    text: `${FIELD_LABELS[f]}: ${FIELD_MESSAGES[f]}`,
  }));
  return (
    <ErrorSummary heading="The calendar was not created" items={items}>
      <p>{fields.length > 0 ? "Nothing was saved. Check these fields:" : refusal.message}</p>
    </ErrorSummary>
  );
}

export function CalendarsPage({ csrf, timezone, feeds, fresh, notice, form, refusal }: Props) {
  return (
    <>
      <h1>Calendar subscriptions</h1>
      <p>
        Subscribe from Google Calendar, Outlook or Apple Calendar to see your sessions there, with your telehealth link in each event. Subscribed
        calendars update by themselves.
      </p>
      {notice && (
        <p class="card notice" role="status">
          {notice}
        </p>
      )}
      {refusal && <CreateRefusal refusal={refusal} />}
      {fresh && <FreshFeedPanel fresh={fresh} />}
      <h2>Your calendars</h2>
      {feeds.length === 0 ? (
        <p>You have no calendar subscriptions yet.</p>
      ) : (
        <>
          <p class="hint">
            A calendar's address is shown only when you create it or get a new one. Lost it? Get a new address: the old one stops working at once.{" "}
            {GOOGLE_DELAY}
          </p>
          <ul class="cards" aria-label="Your calendars" data-feed-list="">
            {feeds.map((f) => (
              <FeedCard feed={f} timezone={timezone} />
            ))}
          </ul>
        </>
      )}
      <CreateForm csrf={csrf} form={form} refusal={refusal} />
    </>
  );
}
