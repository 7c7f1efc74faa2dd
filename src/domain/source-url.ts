// Where an `ics_url` source may point. Pure: hostname rules only (no DNS), so a name that resolves
// to a private address is not caught here; the note on SSRF says so.
export type SourceUrlCheck =
  | { ok: true; url: string }
  | { ok: false; code: "not_a_url" | "insecure_scheme" | "own_feed" | "private_host"; message: string };

const PRIVATE_V4 = [/^10\./, /^127\./, /^169\.254\./, /^192\.168\./, /^172\.(1[6-9]|2\d|3[01])\./, /^0\./, /^100\.(6[4-9]|[7-9]\d|1[01]\d|12[0-7])\./];

function isPrivateHost(host: string): boolean {
  const h = host.replace(/^\[|\]$/g, "").toLowerCase();
  if (h === "localhost" || h.endsWith(".localhost") || h.endsWith(".local") || h.endsWith(".internal")) return true;
  if (/^\d+\.\d+\.\d+\.\d+$/.test(h)) return PRIVATE_V4.some((re) => re.test(h));
  if (h.includes(":")) return h === "::1" || h === "::" || /^f[cd]/.test(h) || /^fe[89ab]/.test(h) || h.startsWith("::ffff:");
  return !h.includes(".");
}

/** SPEC 6: a source pointing at one of our own feeds is refused (it would feed our output back in). */
export function checkSourceUrl(raw: string, opts: { publicBaseUrl: string; allowPrivateHosts: boolean }): SourceUrlCheck {
  let url: URL;
  try {
    url = new URL(raw.trim().replace(/^webcals?:\/\//i, "https://"));
  } catch {
    return { ok: false, code: "not_a_url", message: "Paste the calendar's full address, starting with https://." };
  }
  if (url.protocol !== "https:" && url.protocol !== "http:") {
    return { ok: false, code: "not_a_url", message: "Only web (https) calendar addresses can be subscribed." };
  }
  if (url.protocol === "http:" && !opts.allowPrivateHosts) {
    return { ok: false, code: "insecure_scheme", message: "Use the calendar's https:// address; http would expose it in transit." };
  }
  const ours = new URL(opts.publicBaseUrl);
  if (url.host.toLowerCase() === ours.host.toLowerCase() && url.pathname.startsWith("/feeds/")) {
    return { ok: false, code: "own_feed", message: "This is one of our own feeds; subscribing to it would loop our sessions back in." };
  }
  if (!opts.allowPrivateHosts && (url.username || url.password || isPrivateHost(url.hostname))) {
    return { ok: false, code: "private_host", message: "The calendar address must be a public internet address." };
  }
  url.hash = "";
  return { ok: true, url: url.toString() };
}
