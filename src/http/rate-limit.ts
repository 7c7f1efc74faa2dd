// Unauthenticated failures (unknown feed secrets, bad API keys, bad webhook signatures) cost the
// client's address a token; an address without tokens gets 429 with Retry-After before any work is
// done. Tokens refill at a steady rate up to the burst. Per process: each instance limits alone.
import type { Context, MiddlewareHandler } from "hono";
import { RetryLaterError } from "../errors.js";
import { clientAddress, rateLimitKey } from "./client-address.js";
import type { AppEnv } from "./env.js";

type Bucket = { tokens: number; at: number };

export class FailureLimiter {
  private readonly buckets = new Map<string, Bucket>();

  constructor(private readonly opts: { burst: number; perMinute: number; maxKeys?: number }) {}

  private current(key: string, nowMs: number): Bucket {
    const b = this.buckets.get(key);
    if (!b) return { tokens: this.opts.burst, at: nowMs };
    const refill = ((nowMs - b.at) / 60_000) * this.opts.perMinute;
    return { tokens: Math.min(this.opts.burst, b.tokens + Math.max(0, refill)), at: nowMs };
  }

  /** Seconds until the address may try again; 0 when it may now. */
  retryAfter(key: string, nowMs: number): number {
    const b = this.current(key, nowMs);
    if (b.tokens >= 1) return 0;
    return Math.max(1, Math.ceil(((1 - b.tokens) / this.opts.perMinute) * 60));
  }

  recordFailure(key: string, nowMs: number): void {
    const b = this.current(key, nowMs);
    b.tokens = Math.max(0, b.tokens - 1);
    // Re-inserted last: the map's order is least recently failed first, and the oldest go when full.
    this.buckets.delete(key);
    this.buckets.set(key, b);
    const max = this.opts.maxKeys ?? 100_000;
    while (this.buckets.size > max) this.buckets.delete(this.buckets.keys().next().value!);
  }
}

/**
 * Guards one surface. `failed` says whether the answer was an unauthenticated failure. The check
 * comes first, so a limited address learns nothing about its guesses.
 */
export function limitUnauthenticatedFailures(failed: (c: Context<AppEnv>) => boolean): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    const { runtime, config, clock } = c.var.deps;
    const key = rateLimitKey(clientAddress(c, config.trustedProxyHops));
    const wait = runtime.failureLimiter.retryAfter(key, clock.now().getTime());
    if (wait > 0) throw new RetryLaterError("rate_limited", "Too many failed attempts from this address; retry later.", wait);
    await next();
    if (c.get("authFailed") || failed(c)) runtime.failureLimiter.recordFailure(key, clock.now().getTime());
  };
}
