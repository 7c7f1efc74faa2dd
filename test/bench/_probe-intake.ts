// temporary probe (not committed)
import { createBenchDatabase, log } from "./harness.js";
import { seedSources, sendDeliveries } from "./ingest.js";
import { startServer } from "./servers.js";

const prof = process.argv.includes("--prof");
const workers = process.argv.includes("--workers");
const db = await createBenchDatabase("probe");
const a = await startServer({ databaseUrl: db.url, worker: workers, label: "pa", nodeArgs: prof ? ["--cpu-prof", "--cpu-prof-dir=/tmp/prof"] : [] });
const b = workers ? await startServer({ databaseUrl: db.url, worker: true, label: "pb" }) : a;
try {
  const sources = await seedSources(a, 8);
  await sendDeliveries([a], sources, { count: 200, concurrency: 16, deadlineMs: 20_000, tag: "warm" });
  for (let r = 0; r < 3; r++) {
    const sent = await sendDeliveries(workers ? [a, b] : [a], sources, {
      count: 1000,
      concurrency: 16,
      deadlineMs: 60_000,
      tag: `r${r}${Date.now()}`,
    });
    log(`ack ${(sent.acked.size / ((sent.lastAckAt - sent.startedAt) / 1000)).toFixed(0)}/s`);
  }
} finally {
  if (b !== a) await b.stop();
  await a.stop();
  await db.drop();
}
