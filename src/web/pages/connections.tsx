import type { ConnectionKind, SourceStatus } from "../../domain/value-lists.js";
import type { MirrorChoice } from "../../services/calendar-mirrors.js";
import { formatInstant } from "../format.js";

export type KindChoice = { kind: ConnectionKind; label: string; available: boolean; canRevoke: boolean };
export type SourceHealth = {
  id: string;
  kind: string;
  name: string | null;
  connectionId?: string;
  status: SourceStatus;
  lastSuccessAt: string | null;
  lastErrorCode: string | null;
  lastErrorAt: string | null;
};

const KIND_LABELS: Record<string, string> = {
  google: "Google Calendar",
  microsoft: "Outlook calendar",
  ics_url: "Calendar address (ICS)",
  ics_webhook: "Webhook (ICS)",
};
export const sourceKindLabel = (kind: string) => KIND_LABELS[kind] ?? kind;

const STATUS_TEXT = { active: "Syncing", needs_reconnect: "Needs reconnecting", failing: "Failing" } as const;

// What a provider can do about an error code; the code itself is shown too, for support.
const ERROR_TEXT: Record<string, string> = {
  grant_revoked: "Access was withdrawn or expired at the calendar service.",
  upstream_auth: "The calendar service refused our access.",
  token_refresh_failed: "The calendar service did not renew access; we keep trying.",
  calendar_gone: "The calendar no longer exists.",
};

type PageProps = { csrf: string; timezone: string; kinds: KindChoice[]; sources: SourceHealth[]; mirrors?: MirrorChoice[]; notice?: string };

const MIRROR_STATUS_TEXT = { active: "Up to date", needs_reconnect: "Paused: needs reconnecting", failing: "Failing" } as const;

/** "Put my sessions in this calendar", per connected account: on/off, last push, anything stuck. */
function MirrorsSection({ csrf, timezone, mirrors }: { csrf: string; timezone: string; mirrors: MirrorChoice[] }) {
  if (mirrors.length === 0) return null;
  return (
    <section aria-labelledby="mirrors-title">
      <h2 id="mirrors-title">Sessions in your calendar</h2>
      <p>
        We can keep a calendar of our own in a connected account (“Telehealth sessions”) with every session, updated within seconds of a change. It
        shows what your feeds show at the “minimal” level: no client names.
      </p>
      <ul class="cards" aria-label="Sessions written to your calendars">
        {mirrors.map((m) => (
          <li class="card" data-mirror-connection={m.connectionId} data-mirrored={m.mirror ? "yes" : "no"}>
            <h3>{sourceKindLabel(m.kind)}</h3>
            {m.mirror ? (
              <>
                <dl class="facts">
                  <dt>Sessions</dt>
                  <dd>
                    <span class="badge">{`Mirrored · ${MIRROR_STATUS_TEXT[m.mirror.status]}`}</span>
                  </dd>
                  <dt>Last push</dt>
                  <dd>{m.mirror.lastPushAt ? formatInstant(m.mirror.lastPushAt, timezone) : "Not yet"}</dd>
                  <dt>Waiting</dt>
                  <dd>{m.mirror.pending === 0 ? "Nothing" : `${m.mirror.pending} change(s)`}</dd>
                  {m.mirror.stuck > 0 && (
                    <>
                      <dt>Stuck</dt>
                      <dd data-stuck={m.mirror.stuck}>
                        {`${m.mirror.stuck} change(s) keep failing; we keep trying.`}{" "}
                        {m.mirror.lastErrorCode && <code>{m.mirror.lastErrorCode}</code>}
                      </dd>
                    </>
                  )}
                </dl>
                <form method="post" action={`/settings/connections/${m.connectionId}/mirror/delete`}>
                  <input type="hidden" name="_csrf" value={csrf} />
                  <button type="submit" class="secondary">
                    Stop putting sessions there (removes our calendar)
                  </button>
                </form>
              </>
            ) : !m.supported ? (
              <p class="hint">Not available for this kind of calendar yet.</p>
            ) : m.canWrite ? (
              <form method="post" action={`/settings/connections/${m.connectionId}/mirror`}>
                <input type="hidden" name="_csrf" value={csrf} />
                <button type="submit">Put my sessions in this calendar</button>
              </form>
            ) : (
              <form method="post" action="/settings/connections/start">
                <input type="hidden" name="_csrf" value={csrf} />
                <input type="hidden" name="kind" value={m.kind} />
                <input type="hidden" name="connectionId" value={m.connectionId} />
                <input type="hidden" name="writeBack" value="on" />
                <button type="submit">Allow putting my sessions in this calendar</button>
              </form>
            )}
          </li>
        ))}
      </ul>
    </section>
  );
}

/** Connect Google and Outlook calendars (OAuth consent) and see every source's health. */
export function ConnectionsPage({ csrf, timezone, kinds, sources, mirrors = [], notice }: PageProps) {
  return (
    <>
      <h1>Connected calendars</h1>
      <p>
        Connect the calendar you already use, so changes you make there (a moved or cancelled session, busy time) reach your sessions here. We ask for
        read-only access.
      </p>
      {notice && (
        <p class="card notice" role="status">
          {notice}
        </p>
      )}
      <section class="card" aria-labelledby="connect-title">
        <h2 id="connect-title">Connect a calendar</h2>
        <div class="actions">
          {kinds.map((k) =>
            k.available ? (
              <form method="post" action="/settings/connections/start">
                <input type="hidden" name="_csrf" value={csrf} />
                <input type="hidden" name="kind" value={k.kind} />
                <button type="submit">{k.kind === "google" ? "Connect Google Calendar" : "Connect Outlook calendar"}</button>
              </form>
            ) : null,
          )}
          {kinds.map((k) =>
            k.available ? (
              <form method="post" action="/settings/connections/start">
                <input type="hidden" name="_csrf" value={csrf} />
                <input type="hidden" name="kind" value={k.kind} />
                <input type="hidden" name="writeBack" value="on" />
                <button type="submit" class="secondary">
                  {`Put my sessions in ${k.kind === "google" ? "Google Calendar" : "Outlook"} (connect with write access)`}
                </button>
              </form>
            ) : null,
          )}
          {kinds.map((k) =>
            k.available ? null : (
              <p class="hint" data-unavailable={k.kind}>
                {k.label}: not available on this server yet (the operator has not set it up).
              </p>
            ),
          )}
        </div>
      </section>
      <h2>Your calendars</h2>
      {sources.length === 0 ? (
        <p>No calendars connected yet.</p>
      ) : (
        <ul class="cards" aria-label="Connected calendars">
          {sources.map((s) => (
            <li class="card" aria-labelledby={`source-${s.id}`} data-source={s.id} data-status={s.status}>
              <h3 id={`source-${s.id}`}>{s.name ?? sourceKindLabel(s.kind)}</h3>
              <dl class="facts">
                <dt>Kind</dt>
                <dd>{sourceKindLabel(s.kind)}</dd>
                <dt>Status</dt>
                <dd>
                  <span class="badge">{STATUS_TEXT[s.status]}</span>
                </dd>
                <dt>Last synced</dt>
                <dd>{s.lastSuccessAt ? formatInstant(s.lastSuccessAt, timezone) : "Not yet"}</dd>
                {s.lastErrorCode && (
                  <>
                    <dt>Last problem</dt>
                    <dd>
                      {ERROR_TEXT[s.lastErrorCode] ?? "The last sync did not complete."} <code>{s.lastErrorCode}</code>
                      {s.lastErrorAt && <> · {formatInstant(s.lastErrorAt, timezone)}</>}
                    </dd>
                  </>
                )}
              </dl>
              <div class="actions">
                {s.status === "needs_reconnect" && s.connectionId && (s.kind === "google" || s.kind === "microsoft") && (
                  <form method="post" action="/settings/connections/start">
                    <input type="hidden" name="_csrf" value={csrf} />
                    <input type="hidden" name="kind" value={s.kind} />
                    <input type="hidden" name="connectionId" value={s.connectionId} />
                    <button type="submit">{`Reconnect your ${sourceKindLabel(s.kind)}`}</button>
                  </form>
                )}
                <form method="post" action={`/settings/connections/sources/${s.id}/delete`}>
                  <input type="hidden" name="_csrf" value={csrf} />
                  <button type="submit" class="secondary" aria-label={`Disconnect ${s.name ?? sourceKindLabel(s.kind)}`}>
                    Disconnect
                  </button>
                </form>
              </div>
            </li>
          ))}
        </ul>
      )}
      <MirrorsSection csrf={csrf} timezone={timezone} mirrors={mirrors} />
    </>
  );
}

type PickProps = {
  csrf: string;
  connectionId: string;
  label: string;
  calendars: { id: string; name: string; primary: boolean; connected: boolean }[];
};

/** After consent: which of the account's calendars to sync. */
export function PickCalendarsPage({ csrf, connectionId, label, calendars }: PickProps) {
  const open = calendars.filter((c) => !c.connected);
  return (
    <>
      <h1>{`Choose calendars from your ${label}`}</h1>
      <form method="post" action={`/settings/connections/${connectionId}`} class="card">
        <input type="hidden" name="_csrf" value={csrf} />
        <fieldset>
          <legend>Calendars to sync</legend>
          {calendars.map((c, i) => (
            <div class="check">
              <input type="checkbox" id={`cal-${i}`} name={`calendar_${i}`} value={c.id} checked={c.primary && !c.connected} disabled={c.connected} />
              <label for={`cal-${i}`}>
                {c.name}
                {c.primary ? " (main calendar)" : ""}
                {c.connected ? " (already connected)" : ""}
              </label>
            </div>
          ))}
        </fieldset>
        <div class="actions">
          <button type="submit" disabled={open.length === 0}>
            Sync the selected calendars
          </button>
          <a class="button secondary" href="/settings/connections">
            Not now
          </a>
        </div>
      </form>
    </>
  );
}

type FinishProps = { kind: string; label: string; providerName: string | null; params: string };

/**
 * The last step after consent: a same-origin form post, so the settings session cookie (SameSite=Strict,
 * not sent on the cross-site redirect back from the consent screen) proves who is connecting.
 */
export function FinishConnectionPage({ kind, label, params }: FinishProps) {
  return (
    <>
      <h1>{`Finish connecting your ${label}`}</h1>
      <form method="post" action={`/oauth/${kind}/callback`} class="card">
        <input type="hidden" name="params" value={params} />
        <p>Your calendar service sent you back here. Finish to choose which calendars to sync.</p>
        <div class="actions">
          <button type="submit">Finish connecting</button>
        </div>
      </form>
    </>
  );
}
