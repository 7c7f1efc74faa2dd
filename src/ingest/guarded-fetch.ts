// The one HTTP client for every outbound request (ics_url polling, Google Calendar, Microsoft Graph).
// It connects only to public addresses: each host name is resolved inside the connection's own
// lookup and every address it returns is checked, so the socket goes to exactly the address that
// was checked (no DNS rebinding between check and connect); IP literals, which skip the lookup, are
// checked before connecting, and the connected socket's remote address once more. Redirects are
// followed by hand, each hop checked again. Timeouts bound connect, headers, body gaps and the whole
// exchange; the body is counted while it streams and cut off past the cap.
import { lookup as dnsLookup, type LookupAddress } from "node:dns";
import { isIP, type LookupFunction } from "node:net";
import type { Readable } from "node:stream";
import { Agent, buildConnector } from "undici";
import { checkAddress, checkHost, type NetworkAllowance } from "../domain/outbound-address.js";

/** Every address a name resolves to (A and AAAA), as getaddrinfo gives them. */
export type Resolver = (hostname: string) => Promise<{ address: string; family: number }[]>;

export const systemResolver: Resolver = (hostname) =>
  new Promise((resolve, reject) => dnsLookup(hostname, { all: true, order: "verbatim" }, (err, list) => (err ? reject(err) : resolve(list))));

/** Why an outbound request did not happen or did not finish. For the server log only. */
export type OutboundReason =
  | "bad_url"
  | "scheme_refused"
  | "credentials_in_url"
  | "host_refused"
  | "address_refused"
  | "redirect_refused"
  | "redirect_downgrade"
  | "too_many_redirects"
  | "timeout"
  | "body_too_large"
  | "bad_response"
  | "network"
  /** Called with the platform fetch instead of the guarded client. */
  | "unguarded";

/** The message is deliberately generic: callers show one code (`fetch_failed`) whatever the reason. */
export class OutboundError extends Error {
  constructor(
    readonly reason: OutboundReason,
    readonly block?: string,
    readonly errno?: string,
  ) {
    super("outbound request failed");
    this.name = "OutboundError";
  }
}

export type GuardedFetchOptions = {
  /** Operator-configured non-public networks that may be reached anyway. */
  allowance: NetworkAllowance;
  resolver?: Resolver;
  connectTimeoutMs?: number;
  headersTimeoutMs?: number;
  /** Longest silence between two body chunks. */
  bodyIdleTimeoutMs?: number;
  /** The whole exchange: every hop, headers and body. */
  totalTimeoutMs?: number;
  maxBodyBytes?: number;
  maxRedirects?: number;
  /** Extra trusted certificate authorities (a private PKI; the local TLS server in tests). */
  ca?: string | Buffer;
  /** Receives the reason of each failure, with no URL in it. */
  logger?: { warn(obj: object, msg: string): void };
};

/** Fetch-compatible, plus `close()` to release pooled connections. */
export type GuardedFetch = typeof fetch & { close(): Promise<void> };

export const DEFAULT_OUTBOUND = {
  connectTimeoutMs: 10_000,
  headersTimeoutMs: 20_000,
  bodyIdleTimeoutMs: 20_000,
  totalTimeoutMs: 60_000,
  maxBodyBytes: 32 * 1024 * 1024,
  maxRedirects: 5,
} as const;

const REDIRECTS = new Set([301, 302, 303, 307, 308]);
const NULL_BODY = new Set([101, 103, 204, 205, 304]);
/** Fetch standard 4.4 (HTTP-redirect fetch): credentials never follow a redirect to another origin. */
const CROSS_ORIGIN_DROP = ["authorization", "cookie", "proxy-authorization"];

export function createGuardedFetch(options: GuardedFetchOptions): GuardedFetch {
  const o = { ...DEFAULT_OUTBOUND, ...options };
  const resolver = o.resolver ?? systemResolver;
  const refuse = (address: string) => {
    const v = checkAddress(address, o.allowance);
    return v.ok ? null : new OutboundError("address_refused", v.block);
  };

  // net.connect asks for every address (`all: true`, autoSelectFamily) and may try any of them, so
  // all are checked and only those are handed back.
  const lookup: LookupFunction = (hostname, opts, callback) => {
    const cb = callback as (err: Error | null, address: string | LookupAddress[], family?: number) => void;
    resolver(hostname).then(
      (list) => {
        if (list.length === 0) return cb(new OutboundError("network", undefined, "ENOTFOUND"), []);
        for (const a of list) {
          const err = refuse(a.address);
          if (err) return cb(err, []);
        }
        const wanted = opts.family === 4 || opts.family === 6 ? list.filter((a) => a.family === opts.family) : list;
        if (wanted.length === 0) return cb(new OutboundError("network", undefined, "ENOTFOUND"), []);
        if (opts.all)
          return cb(
            null,
            wanted.map((a) => ({ address: a.address, family: a.family })),
          );
        return cb(null, wanted[0]!.address, wanted[0]!.family);
      },
      (err: NodeJS.ErrnoException) => cb(new OutboundError("network", undefined, err?.code ?? "ENOTFOUND"), []),
    );
  };

  const connector = buildConnector({ timeout: o.connectTimeoutMs, lookup, ...(options.ca ? { ca: options.ca } : {}) });
  const agent = new Agent({
    headersTimeout: o.headersTimeoutMs,
    bodyTimeout: o.bodyIdleTimeoutMs,
    connect(opts, cb) {
      const host = opts.hostname.replace(/^\[|\]$/g, "");
      // IP literals never reach `lookup`.
      const early = isIP(host) ? refuse(host) : null;
      if (early) return cb(early, null);
      connector(opts, (err, socket) => {
        if (err || !socket) return cb(err ?? new OutboundError("network"), null);
        const late = socket.remoteAddress ? refuse(socket.remoteAddress) : new OutboundError("address_refused", "no_remote_address");
        if (late) {
          socket.destroy();
          return cb(late, null);
        }
        cb(null, socket);
      });
    },
  });

  const guarded = async (input: RequestInfo | URL, init: RequestInit = {}): Promise<Response> => {
    const total = AbortSignal.timeout(o.totalTimeoutMs);
    const signal = init.signal ? AbortSignal.any([init.signal, total]) : total;
    try {
      return await send(input, init, signal);
    } catch (err) {
      // The caller's own abort or timeout stays what it was, as with fetch.
      if (init.signal?.aborted) throw init.signal.reason;
      const failure = toOutboundError(err, total.aborted);
      o.logger?.warn({ reason: failure.reason, block: failure.block, errno: failure.errno }, "outbound request failed");
      throw failure;
    }
  };

  async function send(input: RequestInfo | URL, init: RequestInit, signal: AbortSignal): Promise<Response> {
    if (input instanceof Request) throw new TypeError("pass a URL and init, not a Request");
    let url = parseUrl(String(input));
    let method = (init.method ?? "GET").toUpperCase();
    let body = requestBody(init.body);
    const headers = headerRecord(init.headers);
    const mode = init.redirect ?? "follow";
    for (let hop = 0; ; hop++) {
      checkTarget(url);
      const dispatch = () => agent.request({ origin: url.origin, path: url.pathname + url.search, method: method as never, headers, body, signal });
      // A kept-alive socket the server closed just as we reused it: an idempotent request is sent
      // once more, on a new connection that is checked like the first (RFC 9112 9.3.1).
      const res = await dispatch().catch((err: unknown) => {
        if ((method === "GET" || method === "HEAD") && !signal.aborted && isStaleSocket(err)) return dispatch();
        throw err;
      });
      if (!REDIRECTS.has(res.statusCode) || mode === "manual") return toResponse(res, method, url, signal);
      const location = res.headers.location;
      await res.body.dump().catch(() => undefined);
      if (mode === "error") throw new OutboundError("redirect_refused");
      if (typeof location !== "string") return toResponse(res, method, url, signal);
      if (hop >= o.maxRedirects) throw new OutboundError("too_many_redirects");
      const next = parseUrl(location, url);
      if (url.protocol === "https:" && next.protocol !== "https:") throw new OutboundError("redirect_downgrade");
      // RFC 9110 15.4: 303 turns into GET; so do 301/302 after POST, as user agents do.
      if (res.statusCode === 303 ? method !== "HEAD" : (res.statusCode === 301 || res.statusCode === 302) && method === "POST") {
        method = "GET";
        body = undefined;
        delete headers["content-type"];
      }
      if (next.origin !== url.origin) for (const h of CROSS_ORIGIN_DROP) delete headers[h];
      url = next;
    }
  }

  function checkTarget(url: URL) {
    if (url.protocol !== "https:" && url.protocol !== "http:") throw new OutboundError("scheme_refused");
    if (url.username || url.password) throw new OutboundError("credentials_in_url");
    const host = checkHost(url.hostname, o.allowance);
    if (!host.ok)
      throw new OutboundError(
        host.block === "local_name" || host.block === "numeric_name" || host.block === "empty_host" ? "host_refused" : "address_refused",
        host.block,
      );
  }

  function toResponse(res: Awaited<ReturnType<Agent["request"]>>, method: string, url: URL, signal: AbortSignal): Response {
    // Destroying undici's body emits an AbortError; the reader sees failures through the stream.
    res.body.on("error", () => undefined);
    const headers = new Headers();
    for (const [name, value] of Object.entries(res.headers)) {
      if (Array.isArray(value)) for (const v of value) headers.append(name, v);
      else if (value !== undefined) headers.append(name, value);
    }
    if (res.statusCode < 200 || res.statusCode > 599) {
      res.body.destroy();
      throw new OutboundError("bad_response");
    }
    const declared = Number(headers.get("content-length") ?? "0");
    if (declared > o.maxBodyBytes) {
      res.body.destroy();
      throw new OutboundError("body_too_large");
    }
    const empty = NULL_BODY.has(res.statusCode) || method === "HEAD";
    if (empty) res.body.dump().catch(() => undefined);
    const response = new Response(empty ? null : boundedStream(res.body, o.maxBodyBytes, signal), { status: res.statusCode, headers });
    // fetch's Response.url is the final URL after redirects; it is read-only on a constructed one.
    Object.defineProperty(response, "url", { value: url.toString() });
    return response;
  }

  return Object.assign(guarded, { close: () => agent.close() }) as GuardedFetch;
}

/**
 * The platform `fetch` checks no address. Outbound code handed it (a worker built without the
 * process's guarded client) sends nothing rather than send unchecked: fail closed.
 */
export function refuseUnguarded(fetchFn: typeof fetch): typeof fetch {
  if (fetchFn !== globalThis.fetch) return fetchFn;
  return () => Promise.reject(new OutboundError("unguarded"));
}

function parseUrl(raw: string, base?: URL): URL {
  try {
    return new URL(raw, base);
  } catch {
    throw new OutboundError("bad_url");
  }
}

function requestBody(body: RequestInit["body"]): string | Uint8Array | undefined {
  if (body === undefined || body === null) return undefined;
  if (typeof body === "string" || body instanceof Uint8Array) return body;
  // OAuth token requests (RFC 6749 4.1.3) are form bodies; the caller sets their content type.
  if (body instanceof URLSearchParams) return body.toString();
  throw new TypeError("only string, form or byte bodies are sent");
}

function headerRecord(init: HeadersInit | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  new Headers(init).forEach((value, name) => {
    if (name !== "host" && name !== "connection") out[name] = value;
  });
  return out;
}

/** A web stream over the response body that errors once more than `max` bytes have arrived. */
function boundedStream(body: Readable, max: number, signal: AbortSignal): ReadableStream<Uint8Array> {
  const chunks = body[Symbol.asyncIterator]();
  let size = 0;
  return new ReadableStream<Uint8Array>(
    {
      async pull(controller) {
        try {
          const { done, value } = (await chunks.next()) as IteratorResult<Buffer>;
          if (done) return controller.close();
          size += value.byteLength;
          if (size > max) {
            body.destroy();
            return controller.error(new OutboundError("body_too_large"));
          }
          controller.enqueue(new Uint8Array(value.buffer, value.byteOffset, value.byteLength));
        } catch (err) {
          controller.error(toOutboundError(err, signal.aborted));
        }
      },
      cancel() {
        body.destroy();
      },
    },
    { highWaterMark: 0 },
  );
}

function isStaleSocket(err: unknown): boolean {
  const code = (err as { code?: unknown })?.code;
  return code === "UND_ERR_SOCKET" || code === "ECONNRESET" || code === "EPIPE";
}

function toOutboundError(err: unknown, timedOut: boolean): OutboundError {
  if (timedOut) return new OutboundError("timeout");
  for (let e: unknown = err, depth = 0; e && depth < 5; e = (e as { cause?: unknown }).cause, depth++) {
    if (e instanceof OutboundError) return e;
    const code = (e as { code?: unknown }).code;
    if (code === "UND_ERR_CONNECT_TIMEOUT" || code === "UND_ERR_HEADERS_TIMEOUT" || code === "UND_ERR_BODY_TIMEOUT")
      return new OutboundError("timeout", undefined, code);
    if (typeof code === "string") return new OutboundError("network", undefined, code);
  }
  return new OutboundError("network");
}
