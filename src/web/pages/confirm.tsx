export type FeedConfirmKind = "rotate" | "revoke";
type Props = { csrf: string; kind: FeedConfirmKind; feed: { id: string; name: string } };

const TEXT = {
  rotate: {
    heading: (name: string) => `Get a new address for “${name}”?`,
    body: [
      "The current address stops working at once. Every calendar subscribed with it (Google, Outlook, Apple) stops updating until you subscribe again with the new address, which you'll see on the next page, once.",
      "Do this if you lost the address or it may have reached someone who shouldn't have it.",
    ],
    button: "Yes, get a new address",
  },
  revoke: {
    heading: (name: string) => `Stop the calendar “${name}”?`,
    body: [
      "Its address stops working at once and can't be turned back on. Calendar apps subscribed to it stop updating.",
      "Remove the subscription from your calendar apps too, or they keep showing the sessions they already have.",
    ],
    button: "Yes, stop this calendar",
  },
} as const;

/** The confirmation step before rotating or revoking a feed: a plain form, no script needed. */
export function ConfirmFeedPage({ csrf, kind, feed }: Props) {
  const t = TEXT[kind];
  return (
    <>
      <h1>{t.heading(feed.name)}</h1>
      <form method="post" action={`/settings/calendars/${feed.id}/${kind}`} class="card warning">
        <input type="hidden" name="_csrf" value={csrf} />
        {t.body.map((p) => (
          <p>{p}</p>
        ))}
        <div class="actions">
          <button type="submit" class={kind === "revoke" ? "danger" : undefined}>
            {t.button}
          </button>
          <a class="button secondary" href="/settings/calendars">
            Cancel
          </a>
        </div>
      </form>
    </>
  );
}
