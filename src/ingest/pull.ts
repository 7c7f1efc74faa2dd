// What every kind's pull shares (each kind's own pull is in ./adapters/): the result, the failure
// with what to do about it, and the bounded ICS parse. No database here; the worker applies.

import type { Config } from "../config.js";
import type { ExternalEvent } from "../domain/external-event.js";
import { parseExternalCalendarInSteps } from "../ics/parse.js";
import { FEED_PRODID } from "../services/feed-content.js";
import type { GoogleApiError } from "./google-client.js";
import type { ApiErrorKind } from "./http.js";
import type { GraphApiError } from "./microsoft-client.js";
import { runInSlices } from "./slices.js";

/** Caps on the work one delivery may cause (config INGEST_*). */
export type IngestLimits = Config["ingestLimits"];

const DAY_MS = 86_400_000;
/** Bounded work per pull: a source with more change pages than this is pulled in several deliveries. */
const MAX_PAGES = 200;

export type PullResult =
  | { kind: "not_modified" }
  | {
      kind: "events";
      events: ExternalEvent[];
      snapshot: boolean;
      /** Items the adapter could not read as events at all: recorded, never applied. */
      setAside?: Array<{ externalId: string; reason: string }>;
      cursor?: string;
      etag?: string | null;
      lastModified?: string | null;
    };

/**
 * A failure with what to do about it: retry later, stop and ask a human, or refuse the delivery for
 * good (`reject`: over a cap or unreadable, retrying would give the same answer).
 */
export class PullError extends Error {
  constructor(
    readonly code: string,
    readonly disposition: "retry" | "attention" | "drop" | "reject",
    readonly retryAfterSeconds?: number,
  ) {
    super(code);
    this.name = "PullError";
  }
}

export function fromApiError(err: GoogleApiError | GraphApiError): PullError {
  const kind: ApiErrorKind = err.kind;
  if (kind === "rate_limited" || kind === "transient") return new PullError(`upstream_${kind}`, "retry", err.retryAfterSeconds);
  if (kind === "auth" || kind === "not_found") return new PullError(`upstream_${kind}`, "attention");
  return new PullError(`upstream_${kind}`, "drop");
}

export function parseWindow(now: Date, limits: Pick<IngestLimits, "windowPastDays" | "windowFutureDays">) {
  return {
    windowStart: new Date(now.getTime() - limits.windowPastDays * DAY_MS),
    windowEnd: new Date(now.getTime() + limits.windowFutureDays * DAY_MS),
  };
}

/** The calendar an ICS body came from is one of our feeds: ingesting it would loop (our own events would come back as external ones). */
export function isOurFeed(ics: string): boolean {
  return ics.slice(0, 4096).includes(`PRODID:${FEED_PRODID}`);
}

/**
 * Parses an ICS body within the delivery's caps, in slices that leave the event loop to others; over
 * a cap (events, instances of one series, the time budget) or unreadable, the delivery is rejected.
 */
export async function parseIcsBounded(ics: string, now: Date, timezone: string, limits: IngestLimits): Promise<ExternalEvent[]> {
  if (isOurFeed(ics)) throw new PullError("source_is_own_feed", "attention");
  const steps = parseExternalCalendarInSteps(ics, {
    ...parseWindow(now, limits),
    defaultTimezone: timezone,
    maxEvents: limits.maxEvents,
    maxInstancesPerSeries: limits.maxInstancesPerSeries,
    rejectTruncatedSeries: true,
  });
  const run = await runInSlices(steps, limits.timeBudgetMs);
  if (!run.ok) throw new PullError("ingest_time_budget_exceeded", "reject");
  if (!run.value.ok) throw new PullError(run.value.code, "reject");
  return run.value.events;
}

export async function collect<P>(pages: AsyncGenerator<P>): Promise<P[]> {
  const out: P[] = [];
  for await (const page of pages) {
    out.push(page);
    if (out.length > MAX_PAGES) throw new PullError("too_many_pages", "retry");
  }
  return out;
}
