import type { ProblemField } from "../../errors.js";
import { formatInstant, platformName } from "../format.js";
import { ErrorSummary } from "./error-summary.js";
import { Notice, type NoticeTone } from "./notice.js";

export type SavedLink = {
  url: string;
  platform: string;
  instructions: string | null;
  compliant: boolean;
  warnings: string[];
  waitingRoomHelp?: string;
  updatedAt: string;
};

export type LinkForm = { url: string; instructions: string; baaSigned: boolean; waitingRoomEnabled: boolean };
/** A refused link: the 422's stable code and its message, or the failing fields. */
export type Refusal = { code: string; message: string; fields?: ProblemField[] };

type Props = {
  csrf: string;
  timezone: string;
  saved: SavedLink | null;
  form: LinkForm;
  refusal?: Refusal;
  notice?: string;
  noticeTone?: NoticeTone;
};

const FIELD_NAMES: Record<string, string> = { url: "Meeting link", instructions: "Instructions for clients" };

function RefusalCard({ refusal, hasSaved }: { refusal: Refusal; hasSaved: boolean }) {
  const items = refusal.fields?.length
    ? refusal.fields.map((f) => ({ field: FIELD_NAMES[f.path] ? f.path : "url", text: `${FIELD_NAMES[f.path] ?? "Meeting link"}: ${f.message}` }))
    : [{ field: "url", text: "Go to the meeting link" }];
  return (
    <ErrorSummary heading="This link can't be used" items={items}>
      <p>{refusal.message}</p>
      <p class="hint">
        Reason code: <code>{refusal.code}</code>. {hasSaved ? "Your current link below is unchanged." : "Nothing was saved."}
      </p>
    </ErrorSummary>
  );
}

function Verdict({ saved, timezone }: { saved: SavedLink; timezone: string }) {
  return (
    <section class={`card ${saved.compliant ? "notice" : "warning"}`} aria-labelledby="verdict-title">
      <h2 id="verdict-title">Your current link</h2>
      <dl class="facts">
        <dt>Link</dt>
        <dd>{saved.url}</dd>
        <dt>Platform</dt>
        <dd>{platformName(saved.platform)}</dd>
        <dt>Status</dt>
        <dd>{saved.compliant ? <span class="badge ok">Compliant: ready for sessions</span> : <span class="badge bad">Not compliant yet</span>}</dd>
        <dt>Updated</dt>
        <dd>{formatInstant(saved.updatedAt, timezone)}</dd>
      </dl>
      {saved.warnings.length > 0 && (
        <>
          <h3>{saved.compliant ? "Please note" : "What's missing"}</h3>
          <ul class="plain">
            {saved.warnings.map((w) => (
              <li>{w}</li>
            ))}
          </ul>
        </>
      )}
      {saved.waitingRoomHelp && (
        <>
          <h3>Waiting room in {platformName(saved.platform)}</h3>
          <p>{saved.waitingRoomHelp}</p>
        </>
      )}
    </section>
  );
}

export function LinkPage({ csrf, timezone, saved, form, refusal, notice, noticeTone }: Props) {
  const fieldError = (name: string) => refusal?.fields?.find((f) => f.path === name);
  // A refusal without fields is about the link itself (e.g. insecure_scheme): the URL field is marked.
  const urlRefused = Boolean(refusal && (fieldError("url") || !refusal.fields?.length));
  return (
    <>
      <h1>Telehealth link</h1>
      <p>
        Your default link goes into session reminders, confirmations, your clients' appointments page and every event of your subscribed calendars.
      </p>
      {notice && <Notice text={notice} tone={noticeTone} />}
      {refusal && <RefusalCard refusal={refusal} hasSaved={saved !== null} />}
      {saved && <Verdict saved={saved} timezone={timezone} />}
      <form method="post" action="/settings/link" class="card" aria-labelledby="link-form-title">
        <h2 id="link-form-title">{saved ? "Change your link" : "Set your link"}</h2>
        <input type="hidden" name="_csrf" value={csrf} />
        <label for="url">Meeting link</label>
        <p class="hint" id="url-hint">
          Paste the invitation link of your personal meeting room, e.g. https://zoom.us/j/1234567890 or https://doxy.me/yourname.
        </p>
        {urlRefused && (
          <p class="error-text" id="url-error">
            {fieldError("url")?.message ?? refusal!.message}
          </p>
        )}
        <input
          id="url"
          name="url"
          type="text"
          inputmode="url"
          autocomplete="off"
          spellcheck={false}
          required
          value={form.url}
          aria-invalid={urlRefused ? "true" : undefined}
          aria-describedby={urlRefused ? "url-error url-hint" : "url-hint"}
        />
        <label for="instructions">Instructions for clients (optional)</label>
        <p class="hint" id="instructions-hint">
          Shown under the link, e.g. "Join 5 minutes early; I'll let you in from the waiting room." Up to 2,000 characters.
        </p>
        <textarea id="instructions" name="instructions" maxlength={2000} aria-describedby="instructions-hint">
          {form.instructions}
        </textarea>
        <fieldset>
          <legend>Your platform</legend>
          <div class="check">
            <input type="checkbox" id="baaSigned" name="baaSigned" value="yes" checked={form.baaSigned} />
            <label for="baaSigned">I have a signed business associate agreement (BAA) with this video platform.</label>
          </div>
          <div class="check">
            <input type="checkbox" id="waitingRoomEnabled" name="waitingRoomEnabled" value="yes" checked={form.waitingRoomEnabled} />
            <label for="waitingRoomEnabled">The waiting room (or lobby) is on, so clients wait until I let them in.</label>
          </div>
        </fieldset>
        <div class="actions">
          <button type="submit">Check and save</button>
        </div>
      </form>
    </>
  );
}
