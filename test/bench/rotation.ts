// Part 2, rotation window: a second app instance on the same PostgreSQL answers warm feeds from
// memory, kept true by LISTEN/NOTIFY. A feed secret rotated through instance A may still open the
// feed on instance B until B has the notification. Measured per trial: B is asked for the old
// secret (HEAD, back to back on one connection) while A rotates it; the window is from A's answer
// to the rotation arriving here to B's first 404 arriving here (an upper bound: it includes one
// round trip to B). Stale answers are B's 200s to requests sent after A's answer arrived.
import { httpRequest, log, percentile, sleep } from "./harness.js";
import { apiJson, type ServerHandle } from "./servers.js";

export type RotationResult = {
  trials: number;
  windowsMs: number[];
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
  staleAnswers: number;
  trialsWithStale: number;
};

export async function measureRotationWindow(a: ServerHandle, b: ServerHandle, providerId: string, trials: number): Promise<RotationResult> {
  const windowsMs: number[] = [];
  let staleAnswers = 0;
  let trialsWithStale = 0;
  for (let i = 0; i < trials; i++) {
    const feed = await apiJson<{ id: string; url: string }>(a, "POST", `/api/v1/providers/${providerId}/feeds`, { name: `Rotation ${i}` });
    const oldUrl = b.baseUrl + new URL(feed.url).pathname;
    // Cold on B (a query and a render), then warm (memory only).
    for (let k = 0; k < 2; k++) {
      const r = await httpRequest(oldUrl, { method: "HEAD" });
      if (r.status !== 200) throw new Error(`rotation trial ${i}: B answered ${r.status} before the rotation`);
    }
    let acknowledgedAt = Number.POSITIVE_INFINITY;
    let firstNotFoundAt = Number.NaN;
    let stale = 0;
    const poll = (async () => {
      const deadline = performance.now() + 5_000;
      while (performance.now() < deadline) {
        const sentAt = performance.now();
        const r = await httpRequest(oldUrl, { method: "HEAD" });
        const at = performance.now();
        if (r.status === 404) {
          firstNotFoundAt = at;
          return;
        }
        if (r.status !== 200) throw new Error(`rotation trial ${i}: B answered ${r.status}`);
        if (sentAt > acknowledgedAt) stale++;
      }
      throw new Error(`rotation trial ${i}: B still answered the old secret 5 s after the rotation`);
    })();
    await sleep(5);
    await apiJson(a, "POST", `/api/v1/providers/${providerId}/feeds/${feed.id}/rotate`);
    acknowledgedAt = performance.now();
    await poll;
    windowsMs.push(Math.max(0, firstNotFoundAt - acknowledgedAt));
    staleAnswers += stale;
    if (stale > 0) trialsWithStale++;
  }
  const result = {
    trials,
    windowsMs,
    p50Ms: percentile(windowsMs, 50),
    p99Ms: percentile(windowsMs, 99),
    maxMs: Math.max(...windowsMs),
    staleAnswers,
    trialsWithStale,
  };
  log(
    `rotation window over ${trials} trials: p50 ${result.p50Ms.toFixed(2)} ms, p99 ${result.p99Ms.toFixed(2)} ms, max ${result.maxMs.toFixed(2)} ms; ${staleAnswers} stale answers`,
  );
  return result;
}
