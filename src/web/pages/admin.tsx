// The operator's pages: providers and their API keys. A provider key is what a therapist signs in
// with; it is shown once, here, and stored only as a hash.
import type { ApiKeyView } from "../../services/api-keys.js";
import type { ProviderView } from "../../services/providers.js";
import { formatInstant } from "../format.js";
import type { Refusal } from "./link.js";

export type ProviderForm = { name: string; timezone: string; licenses: string; credentialedStates: string };
export const DEFAULT_PROVIDER_FORM: ProviderForm = { name: "", timezone: "America/New_York", licenses: "", credentialedStates: "" };

function RefusalCard({ refusal }: { refusal: Refusal }) {
  return (
    <div class="card problem" role="alert">
      <p>{refusal.message}</p>
      {refusal.fields && (
        <ul>
          {refusal.fields.map((f) => (
            <li>
              {f.path ? `${f.path}: ` : ""}
              {f.message}
            </li>
          ))}
        </ul>
      )}
    </div>
  );
}

type ProvidersProps = { csrf: string; providers: ProviderView[]; form: ProviderForm; refusal?: Refusal };

export function AdminProvidersPage({ csrf, providers, form, refusal }: ProvidersProps) {
  return (
    <>
      <h1>Providers</h1>
      <section class="card" aria-labelledby="providers-title">
        <h2 id="providers-title">All providers</h2>
        {providers.length === 0 ? (
          <p>None yet: add the first one below.</p>
        ) : (
          <ul>
            {providers.map((p) => (
              <li>
                <a href={`/settings/admin/providers/${p.id}`}>{p.name}</a> <span class="hint">({p.timezone})</span>
              </li>
            ))}
          </ul>
        )}
      </section>
      {refusal && <RefusalCard refusal={refusal} />}
      <form method="post" action="/settings/admin/providers" class="card" aria-labelledby="new-provider-title">
        <h2 id="new-provider-title">Add a provider</h2>
        <input type="hidden" name="_csrf" value={csrf} />
        <label for="name">Name</label>
        <input id="name" name="name" type="text" required maxlength={200} value={form.name} />
        <label for="timezone">Time zone</label>
        <p class="hint" id="timezone-hint">
          An IANA time zone, such as <code>America/New_York</code>.
        </p>
        <input id="timezone" name="timezone" type="text" required value={form.timezone} aria-describedby="timezone-hint" />
        <label for="licenses">Licensed in</label>
        <p class="hint" id="licenses-hint">
          State codes separated by spaces or commas, such as <code>NY NJ</code>. Licenses through a compact are set with the API.
        </p>
        <input id="licenses" name="licenses" type="text" required value={form.licenses} aria-describedby="licenses-hint" />
        <label for="credentialedStates">Credentialed in</label>
        <p class="hint" id="credentialed-hint">
          State codes where the network has credentialed this provider; each must be a licensed state.
        </p>
        <input id="credentialedStates" name="credentialedStates" type="text" value={form.credentialedStates} aria-describedby="credentialed-hint" />
        <div class="actions">
          <button type="submit">Add provider</button>
        </div>
      </form>
    </>
  );
}

type ProviderProps = { csrf: string; provider: ProviderView; keys: ApiKeyView[]; freshKey?: string; notice?: string };

export function AdminProviderPage({ csrf, provider, keys, freshKey, notice }: ProviderProps) {
  const live = keys.filter((k) => k.revokedAt === null);
  return (
    <>
      <p>
        <a href="/settings/admin">All providers</a>
      </p>
      <h1>{provider.name}</h1>
      {notice && (
        <p class="card notice" role="status">
          {notice}
        </p>
      )}
      {freshKey && (
        <section class="card secret" aria-labelledby="fresh-key-title">
          <h2 id="fresh-key-title">New API key</h2>
          <p role="status">
            <strong>Copy this key now: it is shown only this once.</strong> Give it to {provider.name}: it signs them in to these settings pages and
            works as <code>Authorization: Bearer</code> for the API, for this provider only.
          </p>
          <label for="fresh-key">API key</label>
          <input id="fresh-key" type="text" readonly value={freshKey} />
        </section>
      )}
      <section class="card" aria-labelledby="provider-facts">
        <h2 id="provider-facts">Details</h2>
        <dl class="facts">
          <dt>Provider id</dt>
          <dd>
            <code>{provider.id}</code>
          </dd>
          <dt>Time zone</dt>
          <dd>{provider.timezone}</dd>
          <dt>Licensed in</dt>
          <dd>{provider.licenses.map((l) => (l.via ? `${l.state} (${l.via})` : l.state)).join(", ") || "none"}</dd>
          <dt>Credentialed in</dt>
          <dd>{provider.credentialedStates.join(", ") || "none"}</dd>
        </dl>
      </section>
      <section class="card" aria-labelledby="keys-title">
        <h2 id="keys-title">API keys</h2>
        {live.length === 0 ? (
          <p>No key yet: create one to let this provider sign in.</p>
        ) : (
          <ul>
            {live.map((k) => (
              <li>
                <code>{k.prefix}…</code> {k.label ?? ""} <span class="hint">created {formatInstant(k.createdAt, provider.timezone)}</span>
                <form method="post" action={`/settings/admin/providers/${provider.id}/api-keys/${k.id}/revoke`}>
                  <input type="hidden" name="_csrf" value={csrf} />
                  <button type="submit" class="secondary">
                    Revoke
                  </button>
                </form>
              </li>
            ))}
          </ul>
        )}
        <form method="post" action={`/settings/admin/providers/${provider.id}/api-keys`}>
          <input type="hidden" name="_csrf" value={csrf} />
          <label for="label">Label (optional)</label>
          <input id="label" name="label" type="text" maxlength={100} />
          <div class="actions">
            <button type="submit">Create an API key</button>
          </div>
        </form>
      </section>
    </>
  );
}
