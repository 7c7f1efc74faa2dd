import { platformName } from "../format.js";

type Props = {
  providerName: string;
  link: { platform: string; compliant: boolean } | null;
  feedCount: number;
  openItems: number | null;
};

export function OverviewPage({ providerName, link, feedCount, openItems }: Props) {
  return (
    <>
      <h1>Settings for {providerName}</h1>
      <section class="card" aria-labelledby="ov-link">
        <h2 id="ov-link">Telehealth link</h2>
        {link ? (
          <p>
            {platformName(link.platform)}:{" "}
            {link.compliant ? <span class="badge ok">Ready for sessions</span> : <span class="badge bad">Not compliant yet</span>}
          </p>
        ) : (
          <p>
            <span class="badge bad">Not set</span> Virtual sessions need a compliant link.
          </p>
        )}
        <a href="/settings/link">Manage your telehealth link</a>
      </section>
      <section class="card" aria-labelledby="ov-cal">
        <h2 id="ov-cal">Calendar subscriptions</h2>
        <p>{feedCount === 0 ? "None yet." : `${feedCount} active ${feedCount === 1 ? "subscription" : "subscriptions"}.`}</p>
        <a href="/settings/calendars">Manage calendar subscriptions</a>
      </section>
      <section class="card" aria-labelledby="ov-items">
        <h2 id="ov-items">Open items</h2>
        <p>
          {openItems === null
            ? "See the sessions that still need something from you."
            : openItems === 0
              ? "Nothing needs your attention."
              : `${openItems} ${openItems === 1 ? "item needs" : "items need"} your attention.`}
        </p>
        <a href="/settings/open-items">See open items</a>
      </section>
    </>
  );
}
