// Which telehealth links (docs/rules.md, "Telehealth links") a provider may use. Pure: no I/O, never throws on input.
// URL shapes and platform facts come from each platform's own help pages (Zoom, Doxy.me, Google Meet,
// Microsoft Teams, Webex, VSee, TherapyNotes) and the HHS OCR telehealth notices on BAAs.

export const PLATFORMS = ["zoom", "doxy_me", "google_meet", "microsoft_teams", "webex", "vsee", "therapynotes", "other"] as const;
export type Platform = (typeof PLATFORMS)[number];

export const LINK_REJECTION_CODES = [
  "insecure_scheme",
  "not_a_url",
  "facetime_not_accepted",
  "phone_not_accepted",
  "app_scheme",
  "consumer_platform",
  "not_a_meeting_link",
  "lookalike_host",
  "url_too_long",
  "userinfo_not_allowed",
  "ip_address_host",
  "local_host",
  "backslash_in_url",
] as const;
export type LinkRejectionCode = (typeof LINK_REJECTION_CODES)[number];

export type LinkRejection = { ok: false; code: LinkRejectionCode; message: string };
/** Which email program's wrapper was taken off the link before it was checked. */
export const LINK_WRAPPERS = ["outlook_safe_links", "google_redirect"] as const;
export type LinkWrapper = (typeof LINK_WRAPPERS)[number];
export type LinkCheck = { ok: true; url: string; platform: Platform; warnings: string[]; unwrappedFrom?: LinkWrapper } | LinkRejection;
export type LinkAssessment =
  | { ok: true; url: string; platform: Platform; compliant: boolean; warnings: string[]; waitingRoomHelp?: string; unwrappedFrom?: LinkWrapper }
  | LinkRejection;

export const MAX_LINK_LENGTH = 2048;

const reject = (code: LinkRejectionCode, message: string): LinkRejection => ({ ok: false, code, message });

const NOT_A_URL = "This doesn't look like a web link. Copy the full meeting link from your video platform; it starts with https://.";
const NOT_A_MEETING = "Copy the invitation link of your meeting or personal room instead.";
const PERSONAL_ROOM = "This is a permanent personal room: keep its waiting room on so one client never walks into another's session.";

const FACETIME_SCHEMES = new Set(["facetime", "facetime-audio", "facetime-group"]);
const PHONE_SCHEMES = new Set(["tel", "telprompt", "sms", "smsto", "mms", "callto"]);
// Schemes that open a native app instead of a web page (Zoom's zoommtg: launcher, Teams' msteams:, and the like).
const APP_SCHEMES = new Set([
  "zoommtg",
  "zoomus",
  "zoomphonecall",
  "msteams",
  "ms-teams",
  "skype",
  "webex",
  "wbx",
  "ciscowebex",
  "whatsapp",
  "vsee",
  "sip",
  "sips",
  "intent",
  "discord",
  "slack",
]);

// Consumer services with no BAA, and public-facing services (OCR 2020).
const CONSUMER_HOSTS: ReadonlyArray<readonly [domain: string, name: string]> = [
  ["teams.live.com", "Microsoft Teams free/personal (teams.live.com)"],
  ["skype.com", "Skype"],
  ["whatsapp.com", "WhatsApp"],
  ["wa.me", "WhatsApp"],
  ["meet.jit.si", "Public Jitsi Meet (meet.jit.si)"],
  ["messenger.com", "Facebook Messenger"],
  ["m.me", "Facebook Messenger"],
  ["facebook.com", "Facebook"],
  ["discord.com", "Discord"],
  ["discord.gg", "Discord"],
  ["duo.google.com", "Google Duo"],
  ["youtube.com", "YouTube"],
  ["youtu.be", "YouTube"],
  ["twitch.tv", "Twitch"],
];

// We can't see where a shortened or wrapped link goes, so we can't check it.
const SHORTENERS = ["bit.ly", "tinyurl.com", "goo.gl", "g.co", "t.co", "ow.ly", "is.gd", "buff.ly", "rebrand.ly", "cutt.ly", "shorturl.at", "aka.ms"];

// Domains whose names phishing links imitate; a host that contains one as labels without being it
// (zoom.us.evil.com) is a lookalike (docs/rules.md, "Telehealth links").
const PLATFORM_DOMAINS = ["zoom.us", "zoom.com", "zoomgov.com", "doxy.me", "webex.com", "vsee.com", "vsee.me", "therapyportal.com"];
const EMBEDDED_DOMAINS = [
  ...PLATFORM_DOMAINS,
  "meet.google.com",
  "teams.microsoft.com",
  "teams.microsoft.us",
  "facetime.apple.com",
  "teams.live.com",
];

const isUnder = (host: string, domain: string): boolean => host === domain || host.endsWith(`.${domain}`);

// `key` identifies the meeting for sameMeetingLink; absent where the generic URL comparison is right.
type ShapeOk = { ok: true; platform: Platform; warnings: string[]; key?: string };
type Shape = ShapeOk | LinkRejection;
type Inspected = { ok: true; normalized: string; shape: ShapeOk } | LinkRejection;

const WRAPPER_NAMES: Record<LinkWrapper, string> = {
  outlook_safe_links: "Outlook Safe Links",
  google_redirect: "Google's redirect (google.com/url)",
};

/**
 * Is `raw` an acceptable telehealth link, and on which platform (docs/rules.md, "Telehealth links")?
 * A link wrapped by an email program is unwrapped first, and the answer says so.
 */
export function checkTelehealthLink(raw: string): LinkCheck {
  const unwrapped = unwrapLink(raw.trim());
  const r = inspectLink(unwrapped ? unwrapped.inner : raw);
  if (!r.ok) return r;
  const warnings = [...r.shape.warnings];
  if (unwrapped) {
    warnings.unshift(
      `Your link was wrapped by ${WRAPPER_NAMES[unwrapped.wrapper]}; we took the wrapper off and checked the meeting link inside. Use ${r.normalized}.`,
    );
  }
  return { ok: true, url: r.normalized, platform: r.shape.platform, warnings, ...(unwrapped ? { unwrappedFrom: unwrapped.wrapper } : {}) };
}

/** The link inside an Outlook Safe Links or google.com/url wrapper (one level), else null. */
function unwrapLink(text: string): { inner: string; wrapper: LinkWrapper } | null {
  if (!/^https:\/\//i.test(text) || /[\s\\]/.test(text)) return null;
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    return null;
  }
  const host = url.hostname.replace(/\.$/, "");
  let inner: string | null = null;
  let wrapper: LinkWrapper | null = null;
  if (isUnder(host, "safelinks.protection.outlook.com") && (url.pathname === "/" || url.pathname === "")) {
    inner = url.searchParams.get("url");
    wrapper = "outlook_safe_links";
  } else if ((host === "google.com" || host === "www.google.com") && url.pathname === "/url") {
    inner = url.searchParams.get("q") ?? url.searchParams.get("url");
    wrapper = "google_redirect";
  }
  if (inner === null || wrapper === null || inner.trim() === "") return null;
  return { inner: inner.trim(), wrapper };
}

function inspectLink(raw: string): Inspected {
  const text = raw.trim();
  if (text === "") return reject("not_a_url", NOT_A_URL);
  if (text.length > MAX_LINK_LENGTH) {
    return reject("url_too_long", "This link is longer than 2,048 characters. Copy your meeting's short invitation link instead.");
  }
  // The URL parser turns "\" into "/", so a link with one may open somewhere other than it reads.
  if (text.includes("\\")) {
    return reject(
      "backslash_in_url",
      "This link has a backslash (\\) in it, which no video platform uses and which browsers read as a different address. Copy the link again directly from your video platform.",
    );
  }
  // The URL parser silently deletes tabs and newlines; a link that needs that is not one a therapist
  // copied from their platform.
  if (/[\s\u0000-\u001f\u007f]/u.test(text)) {
    return reject("not_a_url", "This link has spaces or line breaks in it. Paste only the meeting link itself.");
  }
  const scheme = /^([a-z][a-z0-9+.-]*):/i.exec(text)?.[1]?.toLowerCase();
  if (scheme === undefined) {
    return reject("not_a_url", "This link is missing https:// at the start. Copy the full meeting link from your video platform.");
  }
  if (FACETIME_SCHEMES.has(scheme)) return facetime();
  if (PHONE_SCHEMES.has(scheme)) {
    return reject(
      "phone_not_accepted",
      "Phone calls and text messages are not accepted for sessions. Paste your video platform's meeting link (https://...).",
    );
  }
  if (APP_SCHEMES.has(scheme)) {
    return reject("app_scheme", "This link opens an app directly and won't work for every client. Paste the https:// invitation link instead.");
  }
  if (scheme === "http") {
    return reject(
      "insecure_scheme",
      "The link must be secure and start with https://, not http://. Your platform's invitation link should already be https://.",
    );
  }
  // Require the slashes: WHATWG would also accept "https:zoom.us", which no platform hands out.
  if (scheme !== "https" || !/^https:\/\//i.test(text)) return reject("not_a_url", NOT_A_URL);

  let url: URL;
  try {
    url = new URL(text);
  } catch {
    return reject("not_a_url", NOT_A_URL);
  }
  // Checked on the raw authority too: "https://@zoom.us" parses with an empty, dropped userinfo.
  const authority = text.slice("https://".length).split(/[/?#]/, 1)[0] ?? "";
  if (url.username !== "" || url.password !== "" || authority.includes("@")) {
    return reject(
      "userinfo_not_allowed",
      "Links with a name or password before the address (name@...) are not accepted, because they can hide where the link really goes.",
    );
  }
  if (url.port !== "") {
    // No rejection code fits better; platforms never hand out links with a port.
    return reject("not_a_url", "Meeting links don't include a port number (like :8443). Copy the link exactly as your platform shows it.");
  }

  // WHATWG has already lowercased the host and rewritten decimal/hex IPv4 forms as dotted quads.
  const host = url.hostname.endsWith(".") ? url.hostname.slice(0, -1) : url.hostname;
  // Only one trailing dot is the DNS root; anything else is an empty label.
  if (host === "" || host.startsWith(".") || host.endsWith(".") || host.includes("..")) return reject("not_a_url", NOT_A_URL);
  if (host.startsWith("[") || /^\d+\.\d+\.\d+\.\d+$/.test(host)) {
    return reject("ip_address_host", "Links to a bare IP address are not accepted. Use your platform's meeting link with its normal web address.");
  }
  if (!host.includes(".") || ["localhost", "local", "internal", "localdomain", "home.arpa", "lan"].some((d) => isUnder(host, d))) {
    return reject("local_host", "This address only works inside a private network (like localhost or a .local name), so clients can't reach it.");
  }
  if (host.split(".").some((label) => label.startsWith("xn--"))) {
    return reject(
      "lookalike_host",
      "This address uses international or look-alike characters, a common trick to imitate a real site. Copy the link directly from your video platform.",
    );
  }

  const normalized = `https://${host}${url.pathname}${url.search}`;
  if (normalized.length > MAX_LINK_LENGTH) {
    return reject("url_too_long", "This link is longer than 2,048 characters. Copy your meeting's short invitation link instead.");
  }
  const shape = classify(host, url);
  if (!shape.ok) return shape;
  return { ok: true, normalized, shape };
}

function facetime(): LinkRejection {
  return reject(
    "facetime_not_accepted",
    "FaceTime is not accepted for sessions: Apple does not sign a HIPAA business associate agreement (BAA). Use a compliant platform such as Zoom, Doxy.me or Google Meet (Workspace).",
  );
}

function classify(host: string, url: URL): Shape {
  // One trailing slash is cosmetic on every platform we match.
  const path = url.pathname.length > 1 ? url.pathname.replace(/\/$/, "") : "";
  if (host === "facetime.apple.com") return facetime();
  const consumer = CONSUMER_HOSTS.find(([d]) => isUnder(host, d));
  if (consumer !== undefined) {
    return reject(
      "consumer_platform",
      `${consumer[1]} is a consumer service without a HIPAA business associate agreement (BAA), so it can't be used for sessions.`,
    );
  }
  if (SHORTENERS.some((d) => isUnder(host, d))) {
    return reject("not_a_meeting_link", `This is a shortened link, so we can't see which meeting it opens. ${NOT_A_MEETING}`);
  }
  if (isUnder(host, "safelinks.protection.outlook.com") || (isUnder(host, "google.com") && path === "/url")) {
    // Reached only when the wrapper holds no link we could take out.
    return reject("not_a_meeting_link", `This link was wrapped by your email program and has no meeting link inside. ${NOT_A_MEETING}`);
  }

  if (isUnder(host, "zoom.us") || isUnder(host, "zoom.com")) return zoom(path, "zoom");
  if (isUnder(host, "zoomgov.com")) return zoom(path, "zoomgov");
  if (isUnder(host, "doxy.me")) return doxy(path);
  if (host === "meet.google.com") return meet(path);
  if (host === "teams.microsoft.com" || isUnder(host, "teams.microsoft.us")) return teams(host, path);
  if (isUnder(host, "webex.com")) return webex(host, path, url);
  if (isUnder(host, "vsee.com") || isUnder(host, "vsee.me")) {
    if (path === "" && url.search === "") return reject("not_a_meeting_link", `This is VSee's home page, not a room. ${NOT_A_MEETING}`);
    // VSee room shapes are unverified, so any path on its hosts is accepted.
    return { ok: true, platform: "vsee", warnings: [] };
  }
  if (isUnder(host, "therapyportal.com")) {
    // clients join through the practice portal's telehealth page.
    if (/^\/p\/[a-z0-9-]+\/telehealth$/i.test(path)) return { ok: true, platform: "therapynotes", warnings: [] };
    return reject(
      "not_a_meeting_link",
      `This is not your TherapyNotes client portal telehealth page (therapyportal.com/p/<practice>/telehealth/). ${NOT_A_MEETING}`,
    );
  }

  const imitated = imitatedPlatformDomain(host);
  if (imitated !== null) {
    return reject("lookalike_host", `The address ${host} imitates ${imitated} but isn't it. Copy the link directly from your video platform.`);
  }
  return {
    ok: true,
    platform: "other",
    warnings: [
      `We don't recognise ${host}, so we can't check that this is a private meeting on a HIPAA-compliant platform. Make sure it is, and that a waiting room is on.`,
    ],
  };
}

// Brand names as they appear in a host's labels; a brand inside someone else's domain (zoom-us.com,
// zoom.us-meeting.com) is a lookalike (docs/rules.md, "Telehealth links").
const BRANDS: ReadonlyArray<readonly [brand: string, domain: string]> = [
  ["zoom", "zoom.us"],
  ["zoomgov", "zoomgov.com"],
  ["doxy", "doxy.me"],
  ["doxyme", "doxy.me"],
  ["webex", "webex.com"],
  ["vsee", "vsee.com"],
  ["therapyportal", "therapyportal.com"],
  ["facetime", "facetime.apple.com"],
];

// Unicode TR39 "confusables" that survive in ASCII hostnames: what a reader takes each sequence for.
const CONFUSABLES: ReadonlyArray<readonly [RegExp, string]> = [
  [/rn/g, "m"],
  [/vv/g, "w"],
  [/0/g, "o"],
  [/[1|]/g, "l"],
  [/5/g, "s"],
];

const skeleton = (s: string) => CONFUSABLES.reduce((acc, [re, to]) => acc.replace(re, to), s).replace(/[il]/g, "l");

/** Levenshtein distance, stopping early once it exceeds `max`. */
function editDistance(a: string, b: string, max: number): number {
  if (Math.abs(a.length - b.length) > max) return max + 1;
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const cur = [i];
    let best = i;
    for (let j = 1; j <= b.length; j++) {
      const v = Math.min(prev[j]! + 1, cur[j - 1]! + 1, prev[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
      cur.push(v);
      best = Math.min(best, v);
    }
    if (best > max) return max + 1;
    prev = cur;
  }
  return prev[b.length]!;
}

/**
 * The known platform domain `host` imitates, or null. Called only for hosts that are not a known
 * platform. Three tests: a known domain embedded as labels (zoom.us.evil.com) or glued on (evilzoom.us);
 * a brand name as a label or hyphenated part of another registrable domain (zoom-us.com,
 * zoom.us-meeting.com); a registrable domain one edit or a confusable away from a known one (zoorn.us,
 * zo0m.us, zooom.us).
 */
export function imitatedPlatformDomain(host: string): string | null {
  const labels = `.${host}.`;
  const embedded = EMBEDDED_DOMAINS.find((d) => labels.includes(`.${d}.`)) ?? PLATFORM_DOMAINS.find((d) => host.endsWith(d));
  if (embedded !== undefined) return embedded;
  const parts = host.split(".");
  // The registrable domain, approximated as the last two labels (every known platform domain has two).
  const registrable = parts.slice(-2).join(".");
  const tokens = host.split(/[.-]/);
  for (const [brand, domain] of BRANDS) {
    if (tokens.includes(brand) || registrable.replace(/-/g, "").startsWith(domain.replace(/\./g, "") + ".")) return domain;
  }
  for (const domain of PLATFORM_DOMAINS) {
    if (registrable === domain) continue;
    if (skeleton(registrable) === skeleton(domain)) return domain;
    // One edit on a domain of 7+ characters: short names would catch unrelated sites.
    if (domain.length >= 7 && editDistance(registrable, domain, 1) <= 1) return domain;
  }
  return null;
}

function zoom(path: string, family: "zoom" | "zoomgov"): Shape {
  const m = /^\/(?:j|wc\/join)\/(\d{9,11})$|^\/wc\/(\d{9,11})\/join$/.exec(path);
  const id = m?.[1] ?? m?.[2];
  if (id !== undefined) return { ok: true, platform: "zoom", warnings: [], key: `${family}:${id}` };
  const alias = /^\/my\/([a-z0-9][a-z0-9._-]{0,63})$/i.exec(path)?.[1];
  if (alias !== undefined) return { ok: true, platform: "zoom", warnings: [PERSONAL_ROOM], key: `${family}-my:${alias.toLowerCase()}` };
  if (path.startsWith("/w/")) return reject("not_a_meeting_link", `This is a Zoom webinar link; webinars are not private sessions. ${NOT_A_MEETING}`);
  // /s/ is the host's start link and can carry the host's sign-in token: never give it to a client.
  if (path.startsWith("/s/"))
    return reject(
      "not_a_meeting_link",
      "This is your Zoom start link, meant only for you as host. Copy the meeting's join link (zoom.us/j/...) instead.",
    );
  return reject(
    "not_a_meeting_link",
    `This Zoom link is not a meeting (zoom.us/j/<meeting ID>) or personal link (zoom.us/my/<name>). ${NOT_A_MEETING}`,
  );
}

// Not rooms: Doxy.me's own pages (unverified list, from the site's navigation).
const DOXY_PAGES = new Set(["sign-in", "signin", "sign-up", "signup", "login", "pricing", "en", "es", "account"]);

function doxy(path: string): Shape {
  // /<room> or /<clinic>/<room>.
  const m = /^\/([a-z0-9._-]+)(\/[a-z0-9._-]+)?$/i.exec(path);
  if (m === null || DOXY_PAGES.has((m[1] ?? "").toLowerCase())) {
    return reject("not_a_meeting_link", `This is not a Doxy.me room link (doxy.me/<your room>). ${NOT_A_MEETING}`);
  }
  return { ok: true, platform: "doxy_me", warnings: [PERSONAL_ROOM], key: `doxy:${path.toLowerCase()}` };
}

function meet(path: string): Shape {
  // 10 letters in 3-4-3; /lookup/ nicknames are temporary, /new creates a meeting.
  const code = /^\/([a-z]{3}-[a-z]{4}-[a-z]{3})$/i.exec(path)?.[1];
  if (code !== undefined) {
    return {
      ok: true,
      platform: "google_meet",
      warnings: ["Google signs a BAA only for paid Google Workspace accounts; a Meet link from a free Gmail account is not compliant."],
      key: `meet:${code.toLowerCase()}`,
    };
  }
  if (path.startsWith("/lookup/"))
    return reject("not_a_meeting_link", `Google Meet nickname links make a new, temporary code each time. ${NOT_A_MEETING}`);
  if (path === "/new") return reject("not_a_meeting_link", `meet.google.com/new starts a new meeting every time it's opened. ${NOT_A_MEETING}`);
  return reject("not_a_meeting_link", `This is not a Google Meet meeting link (meet.google.com/abc-defg-hij). ${NOT_A_MEETING}`);
}

function teams(host: string, path: string): Shape {
  const warnings = ["Microsoft signs a BAA only for qualifying Microsoft 365 business plans."];
  if (/^\/l\/meetup-join\/[^/]/.test(path)) return { ok: true, platform: "microsoft_teams", warnings, key: `teams:${decodePath(path)}` };
  const id = /^\/meet\/(\d+)$/.exec(path)?.[1];
  if (id !== undefined && host === "teams.microsoft.com") {
    return { ok: true, platform: "microsoft_teams", warnings, key: `teams-meet:${id}` };
  }
  return reject("not_a_meeting_link", `This is not a Teams meeting invitation link (teams.microsoft.com/l/meetup-join/...). ${NOT_A_MEETING}`);
}

function webex(host: string, path: string, url: URL): Shape {
  // <site>.webex.com/meet/<user> or /join/<user> (personal rooms), /<site>/j.php?MTID=.
  const site = host.slice(0, -".webex.com".length);
  if (host !== "webex.com" && site !== "www") {
    if (/^\/(?:meet|join)\/[a-z0-9._-]+$/i.test(path)) {
      return { ok: true, platform: "webex", warnings: [PERSONAL_ROOM], key: `webex:${host}${path.toLowerCase()}` };
    }
    const mtid = url.searchParams.get("MTID");
    if (/^\/[a-z0-9._-]+\/j\.php$/i.test(path) && mtid !== null && mtid !== "") {
      return { ok: true, platform: "webex", warnings: [], key: `webex-mtid:${mtid}` };
    }
  }
  return reject("not_a_meeting_link", `This is not a Webex meeting or personal room link (<site>.webex.com/meet/<name>). ${NOT_A_MEETING}`);
}

function decodePath(path: string): string {
  try {
    return decodeURIComponent(path);
  } catch {
    return path;
  }
}

// Where to turn the waiting room on. Zoom, Doxy.me and Meet texts follow the network's help article; the others
// follow each platform's own help pages (Teams lobby, Webex locked room lobby, VSee Clinic and TherapyNotes rooms).
const WAITING_ROOM_HELP: Record<Platform, string> = {
  zoom: "In Zoom: Meetings > Personal Meeting ID > Edit > Waiting Room (tick it, then Save). Do the same for any scheduled meeting you share.",
  doxy_me: "Doxy.me has a waiting room on by default: clients check in and wait until you start the call.",
  google_meet: "In Google Meet: Host controls > Quick access off, so clients must ask to join and you admit them.",
  microsoft_teams: "In Teams: open the meeting's Meeting options and set 'Who can bypass the lobby?' to 'Only me' (or only organizers).",
  webex: "In Webex: Preferences > My Personal Room > automatically lock the room, so guests wait in the lobby until you admit them.",
  vsee: "In VSee Clinic, clients wait in your waiting room until you call them in; keep the waiting room on for your clinic.",
  therapynotes: "TherapyNotes Telehealth puts clients in your own waiting room; tick 'Use TherapyNotes Telehealth' on each appointment.",
  other: "Turn on your platform's waiting room or lobby so clients wait until you let them in.",
};

/** The link check plus the provider's attestations; compliant only with both. */
export function assessTelehealthLink(input: { url: string; baaSigned: boolean; waitingRoomEnabled: boolean }): LinkAssessment {
  const check = checkTelehealthLink(input.url);
  if (!check.ok) return check;
  const warnings = [...check.warnings];
  if (!input.baaSigned) {
    warnings.push(
      "You haven't confirmed a signed business associate agreement (BAA) with this platform. Sessions need a HIPAA-compliant platform with a signed BAA.",
    );
  }
  if (!input.waitingRoomEnabled) {
    warnings.push("You haven't confirmed the waiting room is on. Turn it on so clients never walk into each other's sessions.");
  }
  return {
    ok: true,
    url: check.url,
    platform: check.platform,
    compliant: input.baaSigned && input.waitingRoomEnabled,
    warnings,
    waitingRoomHelp: WAITING_ROOM_HELP[check.platform],
    ...(check.unwrappedFrom ? { unwrappedFrom: check.unwrappedFrom } : {}),
  };
}

/**
 * http(s) links in free text (an event's LOCATION or DESCRIPTION), in order, without duplicates.
 * HTML bodies (Google, Outlook) are handled: quotes and angle brackets end a link and &amp; is
 * decoded; Outlook Safe Links and google.com/url wrappers are unwrapped to the link inside.
 */
export function findLinksInText(text: string): string[] {
  const found: string[] = [];
  for (const m of text.matchAll(/https?:\/\/[^\s<>"'`\\^{}|[\]]+/gi)) {
    let link = m[0].replace(/&amp;/gi, "&");
    // Trailing sentence punctuation is not part of the link; a ")" is, when it closes a "(" inside.
    for (;;) {
      const last = link.at(-1) ?? "";
      const unbalanced = last === ")" && link.split("(").length < link.split(")").length;
      if (!(".,;:!?*".includes(last) || unbalanced)) break;
      link = link.slice(0, -1);
    }
    link = unwrapRedirect(link);
    if (!found.includes(link)) found.push(link);
  }
  return found;
}

function unwrapRedirect(link: string): string {
  let url: URL;
  try {
    url = new URL(link);
  } catch {
    return link;
  }
  const host = url.hostname.toLowerCase();
  let inner: string | null = null;
  if (isUnder(host, "safelinks.protection.outlook.com")) inner = url.searchParams.get("url");
  else if (isUnder(host, "google.com") && url.pathname === "/url") inner = url.searchParams.get("q") ?? url.searchParams.get("url");
  return inner !== null && /^https?:\/\//i.test(inner) ? inner : link;
}

/**
 * Do `a` and `b` open the same meeting? Used by reconciliation to spot a provider's link
 * in an external event. Ignores scheme (http/https), host case, www., trailing dot and slash, the
 * fragment and query order; Zoom compares the meeting ID across hosts and ignores ?pwd=, Teams
 * ignores ?context= and ?p=, Meet codes are case-insensitive.
 */
export function sameMeetingLink(a: string, b: string): boolean {
  const ka = meetingKey(a);
  return ka !== null && ka === meetingKey(b);
}

function meetingKey(raw: string): string | null {
  const text = raw.trim().replace(/^http:\/\//i, "https://");
  const inspected = inspectLink(text);
  if (inspected.ok && inspected.shape.key !== undefined) return inspected.shape.key;
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    return null;
  }
  if (url.protocol !== "https:") return null;
  const host = url.hostname.replace(/\.$/, "").replace(/^www\./, "");
  const path = decodePath(url.pathname).replace(/\/+$/, "");
  const params = [...url.searchParams]
    .map(([k, v]) => `${k}=${v}`)
    .sort()
    .join("&");
  return `url:${host}${url.port === "" ? "" : `:${url.port}`}${path}?${params}`;
}
