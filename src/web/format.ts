// Words and dates for the settings pages. Instants are stored in UTC; they are shown in the
// provider's own IANA time zone.
import type { Platform } from "../domain/telehealth-link.js";
import type { Privacy } from "../domain/value-lists.js";

const PLATFORM_NAMES: Record<Platform, string> = {
  zoom: "Zoom",
  doxy_me: "Doxy.me",
  google_meet: "Google Meet",
  microsoft_teams: "Microsoft Teams",
  webex: "Webex",
  vsee: "VSee",
  therapynotes: "TherapyNotes Telehealth",
  other: "Another platform",
};

export const platformName = (platform: string) => (Object.hasOwn(PLATFORM_NAMES, platform) ? PLATFORM_NAMES[platform as Platform] : platform);

export const PRIVACY_CHOICES = [
  { value: "minimal", label: "No client names", hint: 'Events read "Telehealth session". Recommended.' },
  { value: "initials", label: "Client initials", hint: 'Events read "Telehealth session: J.D."' },
  { value: "full", label: "Full client names", hint: "Events show each client's name." },
] as const satisfies ReadonlyArray<{ value: Privacy; label: string; hint: string }>;

export const privacyLabel = (privacy: string) => PRIVACY_CHOICES.find((p) => p.value === privacy)?.label ?? privacy;

const dateTimeFormat = (timezone: string) =>
  new Intl.DateTimeFormat("en-US", {
    timeZone: timezone,
    year: "numeric",
    month: "short",
    day: "numeric",
    hour: "numeric",
    minute: "2-digit",
    timeZoneName: "short",
  });

export function formatInstant(iso: string | null | undefined, timezone: string): string {
  if (!iso) return "not yet";
  return dateTimeFormat(timezone).format(new Date(iso));
}

/** "Dec 1, 2026, 3:00 PM – 3:50 PM EST"; the end's date is repeated only when it differs. */
export function formatRange(start: string | undefined, end: string | undefined, timezone: string): string | null {
  if (!start) return null;
  if (!end) return formatInstant(start, timezone);
  const fmt = dateTimeFormat(timezone);
  return fmt.formatRange(new Date(start), new Date(end));
}

/**
 * Subscribe links for a feed URL: Apple by webcal://, Outlook's addfromweb (personal and work
 * accounts), and Google's add-by-URL page, where the address is pasted. Google's one-click `cid=`
 * link (the API's googleSubscribeUrl) is offered second only: it is undocumented and reported both
 * to fail and to subscribe an empty calendar.
 */
export function subscribeLinks(feed: { url: string; webcalUrl: string; outlookSubscribeUrl: string; googleSubscribeUrl: string; name: string }) {
  const query = `url=${encodeURIComponent(feed.url)}&name=${encodeURIComponent(feed.name)}`;
  return {
    apple: feed.webcalUrl,
    outlookPersonal: feed.outlookSubscribeUrl,
    outlookWork: `https://outlook.office.com/calendar/0/addfromweb?${query}`,
    googleAddByUrl: "https://calendar.google.com/calendar/u/0/r/settings/addbyurl",
    googleOneClick: feed.googleSubscribeUrl,
  };
}
