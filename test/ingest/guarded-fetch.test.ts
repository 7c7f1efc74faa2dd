// The guarded outbound client against local servers and an injected resolver. Every refusal is
// shown twice: the request fails, and no server (nor any other address) saw a connection.
import { readFileSync } from "node:fs";
import { createServer as createHttpServer, type IncomingMessage, type ServerResponse } from "node:http";
import { createServer as createHttpsServer } from "node:https";
import net from "node:net";
import tls from "node:tls";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { loadConfig } from "../../src/config.js";
import { parseNetworkAllowance } from "../../src/domain/outbound-address.js";
import { pullSource } from "../../src/ingest/adapters/index.js";
import { createGuardedFetch, type GuardedFetchOptions, OutboundError, type Resolver } from "../../src/ingest/guarded-fetch.js";
import type { SourceRow } from "../../src/services/calendar-sources.js";

const testConfig = loadConfig({ NODE_ENV: "test" });
if (!testConfig.ok) throw new Error("test config");
const testLimits = testConfig.config.ingestLimits;

type Counted = { port: number; host: string; connections: number; requests: { path: string; authorization?: string }[]; close(): Promise<void> };

type Handler = (req: IncomingMessage, res: ServerResponse) => void;

async function listen(host: string, handler: Handler, secure = false): Promise<Counted> {
  const server = secure
    ? createHttpsServer({ cert: readFileSync("fixtures/tls/test-cert.pem"), key: readFileSync("fixtures/tls/test-key.pem") }, (q, s) => record(q, s))
    : createHttpServer((q, s) => record(q, s));
  const counted: Counted = { port: 0, host, connections: 0, requests: [], close: () => new Promise((r) => server.close(() => r())) };
  const record: Handler = (req, res) => {
    counted.requests.push({ path: req.url ?? "", ...(req.headers.authorization ? { authorization: req.headers.authorization } : {}) });
    handler(req, res);
  };
  // Counted at the TCP level: a refused request must not even open a socket.
  server.on("connection", () => counted.connections++);
  await new Promise<void>((r) => server.listen(0, host, r));
  counted.port = (server.address() as net.AddressInfo).port;
  const close = counted.close;
  counted.close = async () => {
    server.closeAllConnections();
    await close();
  };
  return counted;
}

// A tripwire under the client: any socket toward an address other than our local servers is
// recorded and sent to a closed loopback port instead, so a broken guard can never reach the network.
const LOCAL = new Set(["127.0.0.1", "127.0.0.2", "::1"]);
const escaped: string[] = [];
const realNet = net.connect;
const realTls = tls.connect;
let deadPort = 0;
function tripwire<O extends { host?: string; port?: number; lookup?: net.LookupFunction }>(opts: O): O {
  const host = String(opts.host ?? "");
  if (net.isIP(host)) {
    if (LOCAL.has(host)) return opts;
    escaped.push(host);
    return { ...opts, host: "127.0.0.1", port: deadPort };
  }
  const inner = opts.lookup;
  if (!inner) {
    escaped.push(host);
    return { ...opts, host: "127.0.0.1", port: deadPort };
  }
  const lookup: net.LookupFunction = (hostname, o, cb) =>
    inner(hostname, o, ((err: Error | null, address: string | { address: string }[], family?: number) => {
      const list = typeof address === "string" ? [address] : (address ?? []).map((a) => a.address);
      const outside = list.filter((a) => !LOCAL.has(a));
      if (!err && outside.length) {
        escaped.push(...outside);
        return (cb as (e: Error) => void)(new Error("tripwire"));
      }
      (cb as (e: Error | null, a: unknown, f?: number) => void)(err, address, family);
    }) as never);
  return { ...opts, lookup };
}

let plain: Counted; // 127.0.0.1: what the operator allows in most cases below
let other: Counted; // 127.0.0.2: a private address nobody allowed
let v6: Counted; // ::1
let secure: Counted; // https on 127.0.0.1

const hops: Handler = (req, res) => {
  const url = new URL(req.url ?? "/", "http://x");
  const n = /^\/hops\/(\d+)$/.exec(url.pathname);
  if (n) {
    if (Number(n[1]) > 0) res.writeHead(302, { location: `/hops/${Number(n[1]) - 1}` }).end();
    else res.writeHead(200).end("arrived");
  } else if (url.pathname === "/to") res.writeHead(Number(url.searchParams.get("status") ?? 302), { location: url.searchParams.get("u")! }).end();
  else res.writeHead(200, { "content-type": "text/plain" }).end("ok");
};

beforeAll(async () => {
  const dead = await listen("127.0.0.1", () => undefined);
  deadPort = dead.port;
  await dead.close();
  const escapeTo = (target: string) => {
    escaped.push(target);
    return realNet(deadPort, "127.0.0.1");
  };
  (net as { connect: unknown }).connect = (...args: unknown[]) =>
    typeof args[0] === "object" ? realNet(tripwire(args[0] as net.NetConnectOpts & { host?: string })) : escapeTo(String(args[1] ?? args[0]));
  (tls as { connect: unknown }).connect = (...args: unknown[]) => realTls(tripwire(args[0] as tls.ConnectionOptions));
  [plain, other, v6, secure] = await Promise.all([
    listen("127.0.0.1", hops),
    listen("127.0.0.2", hops),
    listen("::1", hops),
    listen("127.0.0.1", hops, true),
  ]);
});

afterAll(async () => {
  (net as { connect: unknown }).connect = realNet;
  (tls as { connect: unknown }).connect = realTls;
  await Promise.all([plain, other, v6, secure].map((s) => s.close()));
});

beforeEach(() => {
  escaped.length = 0;
  for (const s of [plain, other, v6, secure]) {
    s.connections = 0;
    s.requests.length = 0;
  }
});

/** Names resolve only through this table; a name missing from it does not exist. */
const NAMES: Record<string, string[]> = {
  "cal.example.com": ["127.0.0.1"],
  "feed.example.com": ["127.0.0.1"],
  "internal.example.com": ["127.0.0.2"],
  "looks-public.example.net": ["127.0.0.1"],
  "mixed.example.net": ["93.184.215.14", "127.0.0.1"],
  "mapped.example.net": ["::ffff:127.0.0.1"],
  "v6loop.example.net": ["::1"],
  "nat64.example.net": ["64:ff9b::7f00:1"],
  "metadata.example.net": ["169.254.169.254"],
  localhost: ["127.0.0.1", "::1"],
  "localhost.": ["127.0.0.1", "::1"],
  "printer.local": ["127.0.0.1"],
  intranet: ["127.0.0.1"],
};
const lookups: string[] = [];
const resolver: Resolver = async (host) => {
  lookups.push(host);
  const list = NAMES[host] ?? NAMES[host.replace(/\.$/, "")];
  if (!list) throw Object.assign(new Error("not found"), { code: "ENOTFOUND" });
  return list.map((address) => ({ address, family: net.isIPv6(address) ? 6 : 4 }));
};

// fixtures/tls: a self-signed certificate (and its key) for cal.example.com, feed.example.com and
// 127.0.0.1, valid until 2126, made with openssl for these tests only.
const ca = readFileSync("fixtures/tls/test-cert.pem");
const make = (allow: string, extra: Partial<GuardedFetchOptions> = {}) =>
  createGuardedFetch({ allowance: parseNetworkAllowance(allow)!, resolver, ca, ...extra });
const strict = make("false");
const loopbackOne = make("127.0.0.1");
afterAll(() => Promise.all([strict.close(), loopbackOne.close()]));

async function refused(p: Promise<Response>): Promise<OutboundError> {
  const err = await p.then(
    () => null,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(OutboundError);
  return err as OutboundError;
}

function expectNoConnection() {
  expect(escaped).toEqual([]);
  for (const s of [plain, other, v6, secure]) expect(s.connections, `${s.host}:${s.port}`).toBe(0);
}

describe("guarded fetch: addresses", () => {
  it("reaches a server the operator allowed (the positive control for every refusal below)", async () => {
    const res = await loopbackOne(`http://127.0.0.1:${plain.port}/x`);
    expect(res.status).toBe(200);
    expect(await res.text()).toBe("ok");
    const named = await loopbackOne(`http://cal.example.com:${plain.port}/y`);
    expect(await named.text()).toBe("ok");
    expect(plain.requests.map((r) => r.path)).toEqual(["/x", "/y"]);
  });

  // Spellings of loopback aimed at the port of the 127.0.0.1 server, so a leak would be counted there;
  // everything else would be caught by the tripwire.
  const LITERALS = [
    "127.0.0.1",
    "0x7f000001",
    "2130706433",
    "127.1",
    "0177.0.0.1",
    "127.000.000.001",
    "127.0.0.1.",
    "0",
    "0.0.0.0",
    "[::1]",
    "[::ffff:127.0.0.1]",
    "[::127.0.0.1]",
    "[64:ff9b::7f00:1]",
    "[64:ff9b:1::7f00:1]",
    "[2002:7f00:1::1]",
    "[2001:0:4136:e378:8000:63bf:80ff:fffe]",
    "[::]",
    "[fc00::1]",
    "[fd00:ec2::254]",
    "[fe80::1]",
    "[fec0::1]",
    "[ff02::1]",
    "[100::1]",
    "10.0.0.1",
    "172.16.0.1",
    "192.168.1.1",
    "100.64.0.1",
    "169.254.169.254",
    "192.0.0.1",
    "192.0.2.1",
    "198.18.0.1",
    "198.51.100.1",
    "203.0.113.1",
    "224.0.0.1",
    "239.255.255.250",
    "240.0.0.1",
    "255.255.255.255",
  ];
  it.each(LITERALS)("http://%s is refused without a connection", async (host) => {
    const port = host.includes("::1]") ? v6.port : plain.port;
    const err = await refused(strict(`http://${host}:${port}/cal.ics`));
    expect(err.reason).toBe("address_refused");
    expectNoConnection();
  });

  it.each(["localhost", "localhost.", "LocalHost.", "printer.local", "intranet", "api.localhost"])(
    "the name %s is refused before it is even looked up",
    async (host) => {
      lookups.length = 0;
      const err = await refused(strict(`http://${host}:${plain.port}/`));
      expect(err.reason).toBe("host_refused");
      expect(lookups).toEqual([]);
      expectNoConnection();
    },
  );

  it.each([
    ["looks-public.example.net", "loopback"],
    ["mixed.example.net", "loopback"],
    ["mapped.example.net", "loopback"],
    ["v6loop.example.net", "loopback"],
    ["nat64.example.net", "nat64"],
    ["metadata.example.net", "link_local"],
  ])("a public-looking name (%s) that resolves to a non-public address is refused at connect time", async (host, block) => {
    const err = await refused(strict(`http://${host}:${plain.port}/`));
    expect(err).toMatchObject({ reason: "address_refused", block });
    expectNoConnection();
  });

  it("the allowance opens its network only: 127.0.0.2 and ::1 stay closed", async () => {
    for (const url of [
      `http://127.0.0.2:${other.port}/`,
      `http://internal.example.com:${other.port}/`,
      `http://[::1]:${v6.port}/`,
      `http://localhost:${plain.port}/`,
    ]) {
      await refused(loopbackOne(url));
    }
    expectNoConnection();
  });

  it("a puller handed the platform fetch instead of the guarded client sends nothing (fail closed)", async () => {
    const source = {
      kind: "ics_url",
      settings: { url: `http://127.0.0.1:${plain.port}/cal.ics` },
      etag: null,
      lastModified: null,
    } as unknown as SourceRow;
    await expect(pullSource(source, { full: true, now: new Date(), timezone: "UTC", fetchFn: fetch, limits: testLimits })).rejects.toMatchObject({
      code: "fetch_failed",
    });
    expectNoConnection();
  });

  it("schemes other than http and https, and credentials in the URL, are refused", async () => {
    for (const url of [
      "ftp://cal.example.com/x",
      "file:///etc/passwd",
      `http://user:pw@cal.example.com:${plain.port}/`,
      "gopher://cal.example.com/",
    ]) {
      await refused(loopbackOne(url));
    }
    expectNoConnection();
  });
});

describe("guarded fetch: redirects", () => {
  const to = (u: string, status = 302) => `/to?status=${status}&u=${encodeURIComponent(u)}`;

  it.each([
    ["a private address", () => `http://127.0.0.2:${other.port}/`, () => other],
    ["a name resolving to one", () => `http://internal.example.com:${other.port}/`, () => other],
    ["IPv6 loopback", () => `http://[::1]:${v6.port}/`, () => v6],
    ["an IPv4-mapped address", () => `http://[::ffff:127.0.0.2]:${other.port}/`, () => other],
    ["localhost.", () => `http://localhost.:${other.port}/`, () => other],
  ])("a chain of hops from an allowed server ending at %s is refused; the target sees no connection", async (_label, target, server) => {
    // Two hops inside the allowed server (relative and absolute), then the jump.
    const start = `http://cal.example.com:${plain.port}${to(`http://feed.example.com:${plain.port}${to(target(), 307)}`, 301)}`;
    const err = await refused(loopbackOne(start));
    expect(err.reason).toMatch(/^(address|host)_refused$/);
    expect(plain.requests.length).toBe(2);
    expect(server().connections).toBe(0);
    expect(escaped).toEqual([]);
  });

  it("at most 5 redirects are followed: 5 arrive, the 6th is refused", async () => {
    const ok = await loopbackOne(`http://cal.example.com:${plain.port}/hops/5`);
    expect(await ok.text()).toBe("arrived");
    plain.requests.length = 0;
    const err = await refused(loopbackOne(`http://cal.example.com:${plain.port}/hops/6`));
    expect(err.reason).toBe("too_many_redirects");
    expect(plain.requests.length).toBe(6);
  });

  it("https to http is refused, and the http server sees no connection", async () => {
    const ok = await loopbackOne(`https://cal.example.com:${secure.port}/hops/1`);
    expect(await ok.text()).toBe("arrived");
    const err = await refused(loopbackOne(`https://cal.example.com:${secure.port}${to(`http://cal.example.com:${plain.port}/`)}`));
    expect(err.reason).toBe("redirect_downgrade");
    expect(plain.connections).toBe(0);
  });

  it("redirect: error refuses any redirect; manual hands it back; credentials stay on their origin", async () => {
    expect((await refused(loopbackOne(`http://cal.example.com:${plain.port}/hops/1`, { redirect: "error" }))).reason).toBe("redirect_refused");
    const manual = await loopbackOne(`http://cal.example.com:${plain.port}/hops/1`, { redirect: "manual" });
    expect([manual.status, manual.headers.get("location")]).toEqual([302, "/hops/0"]);
    plain.requests.length = 0;
    const res = await loopbackOne(`http://cal.example.com:${plain.port}${to(`http://feed.example.com:${plain.port}/landed`)}`, {
      headers: { authorization: "Bearer t0k" },
    });
    expect(res.status).toBe(200);
    expect(plain.requests).toEqual([{ path: expect.stringMatching(/^\/to/), authorization: "Bearer t0k" }, { path: "/landed" }]);
  });
});

describe("guarded fetch: time and size", () => {
  let slow: Counted;
  beforeAll(async () => {
    slow = await listen("127.0.0.1", (req, res) => {
      if (req.url === "/late-headers") return setTimeout(() => res.writeHead(200).end("late"), 2_000);
      if (req.url === "/stall-body") {
        res.writeHead(200);
        res.write("BEGIN:VCALENDAR\r\n");
        return setTimeout(() => res.end(), 2_000);
      }
      if (req.url === "/trickle") {
        res.writeHead(200);
        const timer = setInterval(() => res.write("x"), 50);
        return res.on("close", () => clearInterval(timer));
      }
      if (req.url === "/big-declared") return res.writeHead(200, { "content-length": String(2 * 1024 * 1024) }).end(Buffer.alloc(2 * 1024 * 1024));
      res.writeHead(200);
      const chunk = Buffer.alloc(64 * 1024, 65);
      let sent = 0;
      const push = () => {
        while (sent < 4 * 1024 * 1024 && res.write(chunk)) sent += chunk.length;
        if (sent >= 4 * 1024 * 1024) res.end();
      };
      res.on("drain", () => {
        sent += chunk.length;
        push();
      });
      push();
      return undefined;
    });
  });
  afterAll(() => slow.close());
  const tight = () => make("127.0.0.1", { headersTimeoutMs: 300, bodyIdleTimeoutMs: 300, totalTimeoutMs: 1_000, maxBodyBytes: 1024 * 1024 });

  it("headers that do not come in time", async () => {
    const f = tight();
    const t0 = Date.now();
    expect((await refused(f(`http://127.0.0.1:${slow.port}/late-headers`))).reason).toBe("timeout");
    expect(Date.now() - t0).toBeLessThan(1_500);
    await f.close();
  });

  it("a body that stalls, and one that trickles past the total time", async () => {
    const f = tight();
    for (const path of ["/stall-body", "/trickle"]) {
      const res = await f(`http://127.0.0.1:${slow.port}${path}`);
      const t0 = Date.now();
      const err = await res.text().then(
        () => null,
        (e: unknown) => e,
      );
      expect(err, path).toMatchObject({ reason: "timeout" });
      expect(Date.now() - t0).toBeLessThan(1_500);
    }
    await f.close();
  });

  it("a body over the cap is cut off while it streams, and refused at once when declared", async () => {
    const f = tight();
    const res = await f(`http://127.0.0.1:${slow.port}/streamed`);
    expect(
      await res.arrayBuffer().then(
        () => null,
        (e: unknown) => e,
      ),
    ).toMatchObject({ reason: "body_too_large" });
    expect((await refused(f(`http://127.0.0.1:${slow.port}/big-declared`))).reason).toBe("body_too_large");
    await f.close();
  });
});
