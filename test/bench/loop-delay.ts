// Preloaded into the healthz bench's server only: a monitorEventLoopDelay histogram (Node.js
// perf_hooks) of the server's own event loop. SIGUSR2 appends its p50/p99/max/mean (ms) and sample
// count to $BENCH_LOOP_REPORT and starts a fresh histogram, so each phase is read on its own.
import { appendFileSync } from "node:fs";
import { monitorEventLoopDelay } from "node:perf_hooks";

const report = process.env.BENCH_LOOP_REPORT;
if (report) {
  const histogram = monitorEventLoopDelay({ resolution: 10 });
  histogram.enable();
  const ms = (ns: number) => ns / 1e6;
  process.on("SIGUSR2", () => {
    appendFileSync(
      report,
      `${JSON.stringify({
        p50Ms: ms(histogram.percentile(50)),
        p99Ms: ms(histogram.percentile(99)),
        maxMs: ms(histogram.max),
        meanMs: ms(histogram.mean),
        count: histogram.count,
      })}\n`,
    );
    histogram.reset();
  });
}
