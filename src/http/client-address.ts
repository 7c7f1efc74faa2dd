// The client's address, for rate limits: the socket's peer, or, behind trusted proxies, the entry of
// X-Forwarded-For that the nearest trusted proxy appended (entries further left are the client's
// own claims and can be forged).
import { isIP } from "node:net";
import type { Context } from "hono";

type NodeBindings = { incoming?: { socket?: { remoteAddress?: string } } };

export function clientAddress(c: Context, trustedProxyHops: number): string | undefined {
  const peer = (c.env as NodeBindings | undefined)?.incoming?.socket?.remoteAddress;
  return trustedProxyHops <= 0 ? peer : addressBehindProxies(peer, c.req.header("x-forwarded-for"), trustedProxyHops);
}

/** The same, from a socket's peer and the X-Forwarded-For header (for node:http handlers). */
export function addressBehindProxies(peer: string | undefined, forwardedFor: string | undefined, trustedProxyHops: number): string | undefined {
  if (trustedProxyHops <= 0) return peer;
  const forwarded = (forwardedFor ?? "")
    .split(",")
    .map((s) => s.trim())
    .filter(Boolean);
  const chain = peer ? [...forwarded, peer] : forwarded;
  // chain[-1] is the nearest hop; each trusted proxy vouches for the hop before it.
  return chain[Math.max(0, chain.length - 1 - trustedProxyHops)];
}

function expandIpv6(ip: string): number[] | undefined {
  let s = ip.split("%")[0]!;
  const v4 = /(\d+\.\d+\.\d+\.\d+)$/.exec(s);
  if (v4) {
    const [a, b, c, d] = v4[1]!.split(".").map(Number) as [number, number, number, number];
    s = s.slice(0, -v4[1]!.length) + `${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  }
  const [head, tail] = s.split("::") as [string, string | undefined];
  const h = head ? head.split(":") : [];
  const t = tail !== undefined && tail !== "" ? tail.split(":") : [];
  const fill = tail !== undefined ? 8 - h.length - t.length : 0;
  const groups = [...h, ...Array<string>(Math.max(0, fill)).fill("0"), ...t].map((g) => parseInt(g, 16));
  return groups.length === 8 && groups.every((g) => g >= 0 && g <= 0xffff) ? groups : undefined;
}

/**
 * The key an address is limited under: an IPv4 address itself (also when IPv4-mapped), an IPv6
 * address by its /64, the smallest block a single subscriber is usually given (RFC 6177).
 */
export function rateLimitKey(address: string | undefined): string {
  if (!address) return "unknown";
  const kind = isIP(address.split("%")[0]!);
  if (kind === 4) return address;
  if (kind !== 6) return "invalid";
  const g = expandIpv6(address);
  if (!g) return "invalid";
  if (g.slice(0, 5).every((x) => x === 0) && g[5] === 0xffff) return `${g[6]! >> 8}.${g[6]! & 255}.${g[7]! >> 8}.${g[7]! & 255}`;
  return `${g
    .slice(0, 4)
    .map((x) => x.toString(16))
    .join(":")}::/64`;
}
