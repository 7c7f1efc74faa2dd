// Preloaded into the memory bench's server only (with --expose-gc): SIGUSR2 runs a full GC and
// appends process.memoryUsage() to $BENCH_GC_REPORT, so a sample reflects what the process retains
// rather than when V8 last happened to collect.
import { appendFileSync } from "node:fs";

const collect = (globalThis as { gc?: () => void }).gc;
const report = process.env.BENCH_GC_REPORT;
if (collect && report) {
  process.on("SIGUSR2", () => {
    collect();
    appendFileSync(report, JSON.stringify(process.memoryUsage()) + "\n");
  });
}
