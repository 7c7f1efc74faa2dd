// RFC 9110 13: conditional GET. If-None-Match, when present, decides alone (13.2.2); an unparseable
// If-Modified-Since is ignored (13.1.3), so garbage validators give a full 200.

/** Weak comparison (13.1.2) of an If-None-Match list against the current entity tag. */
export function etagMatches(ifNoneMatch: string, etag: string): boolean {
  const bare = (t: string) => t.trim().replace(/^W\//, "");
  const current = bare(etag);
  if (ifNoneMatch.trim() === "*") return true;
  return ifNoneMatch.split(",").some((candidate) => bare(candidate) === current);
}

/** HTTP-date (IMF-fixdate and the obsolete forms Date.parse accepts), else null. */
export function parseHttpDate(value: string): Date | null {
  if (!/^[A-Za-z]{3},? /.test(value.trim())) return null;
  const t = Date.parse(value);
  return Number.isNaN(t) ? null : new Date(t);
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
