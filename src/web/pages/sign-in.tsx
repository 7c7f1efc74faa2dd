type Props = { csrf: string; error?: string; notice?: string };

export function SignInPage({ csrf, error, notice }: Props) {
  return (
    <>
      <h1>Sign in</h1>
      {notice && (
        <p class="card notice" role="status">
          {notice}
        </p>
      )}
      {error && (
        <div class="card problem" role="alert">
          <p>{error}</p>
        </div>
      )}
      <form method="post" action="/settings/sign-in" class="card">
        <input type="hidden" name="_csrf" value={csrf} />
        <label for="apiKey">Your API key</label>
        <p class="hint" id="apiKey-hint">
          It starts with <code>thk_</code>; your practice administrator gives it to you. You enter it once here: this browser then stays signed in for
          up to 12 hours, and signs out after 30 minutes without use. The practice administrator signs in here with the admin token, to add providers
          and their keys.
        </p>
        <input id="apiKey" name="apiKey" type="password" autocomplete="off" spellcheck={false} required aria-describedby="apiKey-hint" />
        <div class="actions">
          <button type="submit">Sign in</button>
        </div>
      </form>
    </>
  );
}

/** The same words for an unknown, revoked or non-provider key: the page never tells which. */
export const SIGN_IN_FAILED = "That API key didn't work. Check that you copied all of it, or ask your practice administrator for a new one.";
export const SIGN_IN_EXPIRED = "This sign-in form had expired or came from another site. Please try again.";
