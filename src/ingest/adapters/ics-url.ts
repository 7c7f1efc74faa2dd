// A calendar published at an address the provider gave (an ICS subscription URL): polled with a
// conditional GET (RFC 9110 13.1) through the guarded outbound client; no push.
import type { SourceRow } from "../../services/calendar-sources.js";
import { readBoundedText } from "../http.js";
import { PullError, type PullResult, parseIcsBounded } from "../pull.js";
import type { PullContext, SourceAdapter } from "./types.js";

const MAX_ICS_BYTES = 5 * 1024 * 1024;

/**
 * Conditional GET: a 304 changes nothing, and so does any failure (nothing is ever deleted on error).
 * A refused address, a network failure and every non-2xx answer are one code, `fetch_failed`, so
 * the provider who chose the URL learns nothing about hosts or ports behind it (the guarded client
 * logs the real reason).
 */
async function pullIcsUrl(source: SourceRow, { full, now, timezone, fetchFn, limits }: PullContext): Promise<PullResult> {
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

export const icsUrlSource: SourceAdapter = { kind: "ics_url", pull: pullIcsUrl };
