// Where an `ics_url` source may point, checked when the source is created. Pure: no DNS, so a name
// that resolves to a private address passes here; the guarded client refuses it at every fetch.
import { allowanceCovers, checkHost, type NetworkAllowance } from "./outbound-address.js";

export type SourceUrlCheck =
  | { ok: true; url: string }
  | { ok: false; code: "not_a_url" | "insecure_scheme" | "own_feed" | "private_host"; message: string };

/** A source pointing at one of our own feeds is refused (it would feed our output back in). */
export function checkSourceUrl(raw: string, opts: { publicBaseUrl: string; allowance: NetworkAllowance }): SourceUrlCheck {
  let url: URL;
  try {
    url = new URL(raw.trim().replace(/^webcals?:\/\//i, "https://"));
  } catch {
    return { ok: false, code: "not_a_url", message: "Paste the calendar's full address, starting with https://." };
  }
  if (url.protocol !== "https:" && url.protocol !== "http:") {
    return { ok: false, code: "not_a_url", message: "Only web (https) calendar addresses can be subscribed." };
  }
  // Plain http only toward a network the operator trusts (it would expose the feed's secret in transit).
  const bare = url.hostname.replace(/^\[|\]$/g, "");
  const trusted = allowanceCovers(bare, opts.allowance);
  if (url.protocol === "http:" && !trusted) {
    return { ok: false, code: "insecure_scheme", message: "Use the calendar's https:// address; http would expose it in transit." };
  }
  const ours = new URL(opts.publicBaseUrl);
  if (url.host.toLowerCase() === ours.host.toLowerCase() && url.pathname.startsWith("/feeds/")) {
    return { ok: false, code: "own_feed", message: "This is one of our own feeds; subscribing to it would loop our sessions back in." };
  }
  if (url.username || url.password || !checkHost(url.hostname, opts.allowance).ok) {
    return { ok: false, code: "private_host", message: "The calendar address must be a public internet address." };
  }
  url.hash = "";
  return { ok: true, url: url.toString() };
}
