// Which addresses and host names an outbound request may reach. Pure: no DNS, no sockets; the
// guarded client (src/ingest/guarded-fetch.ts) applies these rules to every address it resolves and
// to the socket it connects.
//
// Rule: connect only to ordinary global unicast. Every block of the IANA IPv4 and IPv6
// Special-Purpose Address Registries (RFC 6890 and successors) is refused, including the ones
// marked "globally reachable": they are anycast or relay services, and NAT64 (RFC 6052, RFC 8215),
// 6to4 (RFC 3056) and Teredo (RFC 4380) carry an embedded IPv4 address that may be private.
import ipaddr from "ipaddr.js";

type Ip = ipaddr.IPv4 | ipaddr.IPv6;

/** [CIDR, name]: the IANA IPv4 Special-Purpose Address Registry, plus multicast (RFC 5771). */
const IPV4_BLOCKS: readonly (readonly [string, string])[] = [
  ["0.0.0.0/8", "this_network"], // RFC 791, RFC 1122
  ["10.0.0.0/8", "private_use"], // RFC 1918
  ["100.64.0.0/10", "shared_address_space"], // RFC 6598 (CGN)
  ["127.0.0.0/8", "loopback"], // RFC 1122
  ["169.254.0.0/16", "link_local"], // RFC 3927 (cloud metadata lives here)
  ["172.16.0.0/12", "private_use"], // RFC 1918
  ["192.0.0.0/24", "ietf_protocol_assignments"], // RFC 6890, RFC 7335, RFC 7723, RFC 8155, RFC 8880
  ["192.0.2.0/24", "documentation"], // RFC 5737 TEST-NET-1
  ["192.31.196.0/24", "as112"], // RFC 7535
  ["192.52.193.0/24", "amt"], // RFC 7450
  ["192.88.99.0/24", "6to4_relay_anycast"], // RFC 7526 (deprecated), RFC 6751
  ["192.168.0.0/16", "private_use"], // RFC 1918
  ["192.175.48.0/24", "as112"], // RFC 7534
  ["198.18.0.0/15", "benchmarking"], // RFC 2544
  ["198.51.100.0/24", "documentation"], // RFC 5737 TEST-NET-2
  ["203.0.113.0/24", "documentation"], // RFC 5737 TEST-NET-3
  ["224.0.0.0/4", "multicast"], // RFC 5771
  ["240.0.0.0/4", "reserved"], // RFC 1112; holds 255.255.255.255 limited broadcast (RFC 919, RFC 8190)
];

/**
 * IPv6 outside 2000::/3 is not global unicast (RFC 4291 2.4: loopback, unspecified, IPv4-mapped and
 * -compatible, discard-only 100::/64, dummy 100:0:0:1::/64, NAT64 64:ff9b::/96 and 64:ff9b:1::/48,
 * SRv6 5f00::/16, unique-local fc00::/7, link-local fe80::/10, site-local fec0::/10, multicast
 * ff00::/8). Inside it, these registry blocks are refused as well.
 */
const IPV6_GLOBAL_UNICAST = "2000::/3";
const IPV6_BLOCKS: readonly (readonly [string, string])[] = [
  ["::/128", "unspecified"], // RFC 4291
  ["::1/128", "loopback"], // RFC 4291
  ["::ffff:0:0/96", "ipv4_mapped"], // RFC 4291 (the embedded IPv4 is classified instead)
  ["::/96", "ipv4_compatible"], // RFC 4291 2.5.5.1, deprecated
  ["64:ff9b::/96", "nat64"], // RFC 6052
  ["64:ff9b:1::/48", "nat64_local_use"], // RFC 8215
  ["100::/64", "discard_only"], // RFC 6666
  ["100:0:0:1::/64", "dummy_prefix"], // RFC 9780
  ["2001::/32", "teredo"], // RFC 4380
  ["2001::/23", "ietf_protocol_assignments"], // RFC 2928 (benchmarking, ORCHID, AMT, AS112, DETs ...)
  ["2001:db8::/32", "documentation"], // RFC 3849
  ["2002::/16", "6to4"], // RFC 3056
  ["2620:4f:8000::/48", "as112"], // RFC 7534
  ["3fff::/20", "documentation"], // RFC 9637
  ["5f00::/16", "srv6_sids"], // RFC 9602
  ["fc00::/7", "unique_local"], // RFC 4193
  ["fe80::/10", "link_local"], // RFC 4291
  ["fec0::/10", "site_local"], // RFC 3879, deprecated
  ["ff00::/8", "multicast"], // RFC 4291 2.7
];

const parseBlocks = (list: readonly (readonly [string, string])[]) => list.map(([cidr, name]) => ({ net: ipaddr.parseCIDR(cidr), name }));
const V4 = parseBlocks(IPV4_BLOCKS);
const V6 = parseBlocks(IPV6_BLOCKS);
const V6_UNICAST = ipaddr.parseCIDR(IPV6_GLOBAL_UNICAST);

/**
 * Non-public networks the operator trusts anyway (a calendar server on the LAN; local fakes in
 * tests). Set by configuration only, never by a provider. `all` trusts every address and name.
 */
export type NetworkAllowance = { all: boolean; networks: readonly (readonly [Ip, number])[] };

export const NO_ALLOWANCE: NetworkAllowance = { all: false, networks: [] };

/**
 * "true"/"1": everything (development only); "false"/"0"/empty: nothing; otherwise a comma-separated
 * list of CIDR networks or single addresses. Null when an entry is not one.
 */
export function parseNetworkAllowance(value: string | undefined): NetworkAllowance | null {
  const v = (value ?? "").trim().toLowerCase();
  if (v === "" || v === "false" || v === "0") return NO_ALLOWANCE;
  if (v === "true" || v === "1") return { all: true, networks: [] };
  const networks: (readonly [Ip, number])[] = [];
  for (const entry of v
    .split(",")
    .map((s) => s.trim())
    .filter(Boolean)) {
    if (ipaddr.isValidCIDR(entry)) networks.push(ipaddr.parseCIDR(entry));
    else if (isIpLiteral(entry)) {
      const ip = parseIp(entry);
      networks.push([ip, ip.kind() === "ipv4" ? 32 : 128]);
    } else return null;
  }
  return { all: false, networks };
}

const OCTET = "(25[0-5]|2[0-4]\\d|1\\d\\d|[1-9]?\\d)";
const DOTTED_QUAD = new RegExp(`^${OCTET}(\\.${OCTET}){3}$`);

/** Strict literal: canonical dotted-quad IPv4 (no inet_aton hex, octal or short forms) or IPv6 without a zone id. */
export function isIpLiteral(s: string): boolean {
  return DOTTED_QUAD.test(s) || (!s.includes("%") && ipaddr.IPv6.isValid(hexTail(s)));
}

/**
 * `::127.0.0.1` -> `::7f00:1`. ipaddr.js reads any IPv6 with a dotted tail as IPv4-mapped, which
 * would make the IPv4-compatible `::8.8.8.8` (RFC 4291 2.5.5.1) look like `::ffff:8.8.8.8`.
 */
function hexTail(s: string): string {
  const m = /^(.*:)([^:]*\.[^:]*)$/.exec(s);
  if (!m) return s;
  if (!DOTTED_QUAD.test(m[2]!)) return "invalid";
  const [a, b, c, d] = m[2]!.split(".").map(Number) as [number, number, number, number];
  return `${m[1]}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
}

function parseIp(s: string): Ip {
  return DOTTED_QUAD.test(s) ? ipaddr.IPv4.parse(s) : ipaddr.IPv6.parse(hexTail(s));
}

export type AddressVerdict = { ok: true; address: string } | { ok: false; address: string; block: string };

/** The special-purpose block an address falls in, or null for ordinary global unicast. */
export function specialBlockOf(address: string): string | null {
  if (!isIpLiteral(address)) return "not_an_address";
  let ip: Ip = parseIp(address);
  if (ip.kind() === "ipv6" && (ip as ipaddr.IPv6).isIPv4MappedAddress()) ip = (ip as ipaddr.IPv6).toIPv4Address();
  if (ip.kind() === "ipv4") return V4.find((b) => ip.match(b.net))?.name ?? null;
  const named = V6.find((b) => ip.match(b.net))?.name;
  if (named) return named;
  return ip.match(V6_UNICAST) ? null : "not_global_unicast";
}

/** Is this literal inside a network the operator trusts? */
export function allowanceCovers(address: string, allowance: NetworkAllowance): boolean {
  if (allowance.all) return true;
  if (!isIpLiteral(address)) return false;
  const ip = parseIp(address);
  const forms: Ip[] = [ip];
  if (ip.kind() === "ipv6" && (ip as ipaddr.IPv6).isIPv4MappedAddress()) forms.push((ip as ipaddr.IPv6).toIPv4Address());
  return allowance.networks.some(([net, bits]) => forms.some((f) => f.kind() === net.kind() && f.match(net, bits)));
}

/** May a connection go to this (resolved or literal) address? */
export function checkAddress(address: string, allowance: NetworkAllowance): AddressVerdict {
  const bare = address.replace(/^\[(.*)\]$/, "$1");
  const block = specialBlockOf(bare);
  if (block === null || (block !== "not_an_address" && allowanceCovers(bare, allowance))) return { ok: true, address: bare };
  return { ok: false, address: bare, block };
}

/**
 * Names that never lead to the public internet: RFC 6761 `localhost` (and names under it), RFC
 * 6762 `.local`, RFC 8375 `.home.arpa`, the private-use `.internal`, and single labels (resolved
 * through local search domains). A trailing dot (`localhost.`) names the same host.
 */
const LOCAL_NAME = /(^|\.)(localhost|local|internal|home\.arpa|localdomain)$/;

export type HostVerdict = { ok: true; literal: boolean } | { ok: false; block: string };

/** A URL's `hostname` (WHATWG-normalized, IPv6 in brackets): a literal is checked now, a name by its rules. */
export function checkHost(hostname: string, allowance: NetworkAllowance): HostVerdict {
  const bare = hostname.replace(/^\[(.*)\]$/, "$1").toLowerCase();
  if (bare === "") return { ok: false, block: "empty_host" };
  if (isIpLiteral(bare)) {
    const v = checkAddress(bare, allowance);
    return v.ok ? { ok: true, literal: true } : { ok: false, block: v.block };
  }
  if (allowance.all) return { ok: true, literal: false };
  const name = bare.replace(/\.$/, "");
  if (name === "" || !name.includes(".") || LOCAL_NAME.test(name)) return { ok: false, block: "local_name" };
  // WHATWG URL parsing turns every IPv4 spelling (hex, octal, 1-4 parts) into a dotted quad; a name
  // that still looks numeric was not parsed as a URL host, so refuse it rather than guess.
  if (/^[\d.]+$/.test(name) || /^0x[0-9a-f]+$/i.test(name)) return { ok: false, block: "numeric_name" };
  return { ok: true, literal: false };
}
