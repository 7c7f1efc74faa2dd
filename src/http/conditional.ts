// RFC 9110 13: conditional GET. If-None-Match, when present, decides alone (13.2.2); an unparseable
// If-Modified-Since is ignored (13.1.3), so garbage validators give a full 200.

/** Weak comparison (13.1.2) of an If-None-Match list against the current entity tag. */
export function etagMatches(ifNoneMatch: string, etag: string): boolean {
  const bare = (t: string) => t.trim().replace(/^W\//, "");
  const current = bare(etag);
  if (ifNoneMatch.trim() === "*") return true;
  return ifNoneMatch.split(",").some((candidate) => bare(candidate) === current);
}

const MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
const DAY = "(Mon|Tue|Wed|Thu|Fri|Sat|Sun)";
const LONG_DAY = "(Monday|Tuesday|Wednesday|Thursday|Friday|Saturday|Sunday)";
const MONTH = "(Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)";
const TIME = "(\\d{2}):(\\d{2}):(\\d{2})";
// RFC 9110 5.6.7: IMF-fixdate, and the obsolete RFC 850 and asctime forms a recipient must accept.
const IMF_FIXDATE = new RegExp(`^${DAY}, (\\d{2}) ${MONTH} (\\d{4}) ${TIME} GMT$`);
const RFC850 = new RegExp(`^${LONG_DAY}, (\\d{2})-${MONTH}-(\\d{2}) ${TIME} GMT$`);
const ASCTIME = new RegExp(`^${DAY} ${MONTH} ( \\d|\\d{2}) ${TIME} (\\d{4})$`);

/**
 * An HTTP-date in any of the three forms of RFC 9110 5.6.7, else null. A date that does not exist
 * (31 Feb, hour 25) is invalid and so ignored (RFC 9110 13.1.3). A two-digit RFC 850 year more than
 * 50 years in the future is read as the past century (RFC 9110 5.6.7); `now` anchors that.
 */
export function parseHttpDate(value: string, now: Date = new Date()): Date | null {
  const v = value.trim();
  let day: number, month: string, year: number, hh: number, mm: number, ss: number;
  const imf = IMF_FIXDATE.exec(v);
  const rfc850 = imf ? null : RFC850.exec(v);
  const asctime = imf || rfc850 ? null : ASCTIME.exec(v);
  let m: RegExpExecArray | null = imf;
  if (m) {
    [day, month, year, hh, mm, ss] = [Number(m[2]), m[3]!, Number(m[4]), Number(m[5]), Number(m[6]), Number(m[7])];
  } else if (rfc850) {
    m = rfc850;
    const yy = Number(m[4]);
    const thisYear = now.getUTCFullYear();
    year = Math.floor(thisYear / 100) * 100 + yy;
    if (year > thisYear + 50) year -= 100;
    [day, month, hh, mm, ss] = [Number(m[2]), m[3]!, Number(m[5]), Number(m[6]), Number(m[7])];
  } else if (asctime) {
    m = asctime;
    [month, day, hh, mm, ss, year] = [m[2]!, Number(m[3]!.trim()), Number(m[4]), Number(m[5]), Number(m[6]), Number(m[7])];
  } else {
    return null;
  }
  const mon = MONTHS.indexOf(month);
  // A leap second (60) is allowed by the grammar; it is read as the next second.
  if (hh > 23 || mm > 59 || ss > 60 || day < 1) return null;
  const t = Date.UTC(year, mon, day, hh, mm, ss);
  const d = new Date(t);
  // Date.UTC rolls 31 Feb over into March: such a date does not exist.
  if (d.getUTCDate() !== day || d.getUTCMonth() !== mon) return null;
  return d;
}

export function isNotModified(headers: { ifNoneMatch?: string; ifModifiedSince?: string }, etag: string, lastModified: Date): boolean {
  if (headers.ifNoneMatch !== undefined) return etagMatches(headers.ifNoneMatch, etag);
  if (headers.ifModifiedSince !== undefined) {
    const since = parseHttpDate(headers.ifModifiedSince);
    // Last-Modified has one-second resolution on the wire.
    return since !== null && Math.floor(lastModified.getTime() / 1000) <= Math.floor(since.getTime() / 1000);
  }
  return false;
}

/** Accept-Encoding names gzip with a non-zero q (RFC 9110 12.5.3). */
export function acceptsGzip(acceptEncoding: string | undefined): boolean {
  if (!acceptEncoding) return false;
  return acceptEncoding.split(",").some((part) => {
    const [coding, ...params] = part.trim().toLowerCase().split(";");
    if (coding !== "gzip" && coding !== "*") return false;
    const q = params.map((p) => p.trim()).find((p) => p.startsWith("q="));
    return q === undefined || Number(q.slice(2)) > 0;
  });
}
