// One adapter per source kind: fetch the source's current state (or changes since its cursor) and
// hand back normalized events. No database here; the worker applies what comes back.

import type { Config } from "../config.js";
import type { ExternalEvent } from "../domain/external-event.js";
import { parseExternalCalendarInSteps } from "../ics/parse.js";
import type { SourceRow } from "../services/calendar-sources.js";
import { googleConfig, graphConfig } from "../services/calendar-sources.js";
import { FEED_PRODID } from "../services/feed-content.js";
import { GoogleApiError, listGoogleEvents } from "./google-client.js";
import { refuseUnguarded } from "./guarded-fetch.js";
import { type ApiErrorKind, readBoundedText } from "./http.js";
import { GraphApiError, getGraphEvent, pullGraphDelta } from "./microsoft-client.js";
import { runInSlices } from "./slices.js";

/** Caps on the work one delivery may cause (config INGEST_*). */
export type IngestLimits = Config["ingestLimits"];

const DAY_MS = 86_400_000;
/** Bounded work per pull: a source with more change pages than this is pulled in several deliveries. */
const MAX_PAGES = 200;
const MAX_ICS_BYTES = 5 * 1024 * 1024;
const MAX_REMOVED_LOOKUPS = 100;

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

async function collect<P>(pages: AsyncGenerator<P>): Promise<P[]> {
  const out: P[] = [];
  for await (const page of pages) {
    out.push(page);
    if (out.length > MAX_PAGES) throw new PullError("too_many_pages", "retry");
  }
  return out;
}

async function pullGoogle(source: SourceRow, full: boolean, now: Date, fetchFn: typeof fetch): Promise<PullResult> {
  const cfg = googleConfig(source);
  const run = async (syncToken: string | undefined) => {
    const pages = await collect(
      listGoogleEvents(cfg, fetchFn, syncToken ? { syncToken } : { timeMin: new Date(now.getTime() - 30 * DAY_MS).toISOString() }),
    );
    const token = pages.at(-1)?.nextSyncToken;
    if (!token) throw new PullError("upstream_no_sync_token", "retry");
    return {
      kind: "events" as const,
      events: pages.flatMap((p) => p.events),
      setAside: pages.flatMap((p) => p.setAside),
      snapshot: !syncToken,
      cursor: token,
    };
  };
  try {
    const incremental = !full && source.syncToken ? source.syncToken : undefined;
    try {
      return await run(incremental);
    } catch (err) {
      // 410: the token is gone; a full sync merges (Google Calendar API, Synchronize resources efficiently).
      if (incremental && err instanceof GoogleApiError && err.kind === "full_sync_required") return await run(undefined);
      throw err;
    }
  } catch (err) {
    if (err instanceof GoogleApiError) throw fromApiError(err);
    throw err;
  }
}

async function pullMicrosoft(source: SourceRow, full: boolean, now: Date, fetchFn: typeof fetch): Promise<PullResult> {
  const cfg = graphConfig(source);
  const window = {
    startDateTime: new Date(now.getTime() - 30 * DAY_MS).toISOString(),
    endDateTime: new Date(now.getTime() + 365 * DAY_MS).toISOString(),
  };
  const run = async (deltaLink: string | undefined) => {
    const pages = await collect(pullGraphDelta(cfg, fetchFn, { ...window, ...(deltaLink ? { deltaLink } : {}) }));
    const link = pages.at(-1)?.deltaLink;
    if (!link) throw new PullError("upstream_no_delta_link", "retry");
    return { kind: "events" as const, events: await resolveRemoved(pages.flatMap((p) => p.events)), snapshot: !deltaLink, cursor: link };
  };
  // calendarView delta reports `@removed` both for deletions and for events moved out of the
  // window: ask Graph which (event-delta doc). A bounded number per pull; the rest count as deleted.
  const resolveRemoved = async (events: ExternalEvent[]) => {
    let lookups = 0;
    const out: ExternalEvent[] = [];
    for (const e of events) {
      const stub = e.status === "cancelled" && !e.start;
      if (stub && lookups < MAX_REMOVED_LOOKUPS) {
        lookups++;
        const current = await getGraphEvent(cfg, fetchFn, e.externalId);
        out.push(current ?? e);
      } else out.push(e);
    }
    return out;
  };
  try {
    const incremental = !full && source.syncToken ? source.syncToken : undefined;
    try {
      return await run(incremental);
    } catch (err) {
      if (incremental && err instanceof GraphApiError && err.kind === "full_sync_required") return await run(undefined);
      throw err;
    }
  } catch (err) {
    if (err instanceof GraphApiError) throw fromApiError(err);
    throw err;
  }
}

/**
 * Conditional GET: a 304 changes nothing, and so does any failure (nothing is ever deleted on error).
 * A refused address, a network failure and every non-2xx answer are one code, `fetch_failed`, so
 * the provider who chose the URL learns nothing about hosts or ports behind it (the guarded client
 * logs the real reason).
 */
async function pullIcsUrl(
  source: SourceRow,
  full: boolean,
  now: Date,
  timezone: string,
  fetchFn: typeof fetch,
  limits: IngestLimits,
): Promise<PullResult> {
  const headers: Record<string, string> = { accept: "text/calendar, */*;q=0.5", "user-agent": "TelehealthCalendar/1.0 (+ics-sync)" };
  if (!full && source.etag) headers["if-none-match"] = source.etag;
  if (!full && source.lastModified) headers["if-modified-since"] = source.lastModified;
  const failed = () => new PullError("fetch_failed", "retry");
  let res: Response;
  try {
    res = await fetchFn(String(source.settings.url), { headers, redirect: "follow", signal: AbortSignal.timeout(30_000) });
  } catch {
    throw failed();
  }
  if (res.status === 304) return { kind: "not_modified" };
  if (!res.ok) {
    await res.body?.cancel().catch(() => undefined);
    throw failed();
  }
  const text = await readBoundedText(res, MAX_ICS_BYTES).catch(() => {
    throw failed();
  });
  if (text === null) throw new PullError("ics_too_large", "attention");
  const events = await parseIcsBounded(text, now, timezone, limits);
  return { kind: "events", events, snapshot: true, etag: res.headers.get("etag"), lastModified: res.headers.get("last-modified") };
}

/** `fetchFn` is the process's guarded client (src/ingest/guarded-fetch.ts). */
export async function pullSource(
  source: SourceRow,
  opts: { full: boolean; now: Date; timezone: string; fetchFn: typeof fetch; limits: IngestLimits },
): Promise<PullResult> {
  const fetchFn = refuseUnguarded(opts.fetchFn);
  switch (source.kind) {
    case "google":
      return pullGoogle(source, opts.full, opts.now, fetchFn);
    case "microsoft":
      return pullMicrosoft(source, opts.full, opts.now, fetchFn);
    case "ics_url":
      return pullIcsUrl(source, opts.full, opts.now, opts.timezone, fetchFn, opts.limits);
    case "ics_webhook":
      // Pushes carry their own events; there is nothing to pull.
      return { kind: "events", events: [], snapshot: false };
  }
}
