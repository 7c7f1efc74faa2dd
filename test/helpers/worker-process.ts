// A worker in its own process, as a second server instance would run it (exactly-once test).
// Usage: DATABASE_URL=... node --import tsx test/helpers/worker-process.ts
import { loadConfig } from "../../src/config.js";
import { openDatabase } from "../../src/db/client.js";
import { systemClock } from "../../src/domain/clock.js";
import { IngestWorker } from "../../src/ingest/worker.js";
import { createLogger } from "../../src/logger.js";

const loaded = loadConfig({ ...process.env, LOG_LEVEL: "silent" });
if (!loaded.ok) throw new Error(loaded.messages.join("; "));
const database = await openDatabase({ kind: "postgres", url: loaded.config.databaseUrl!, max: 2 });
const worker = new IngestWorker({ db: database.db, clock: systemClock, config: loaded.config, logger: createLogger({ level: "silent" }) });
// Both processes start together: wait for the go signal on stdin.
await new Promise((resolve) => process.stdin.once("data", resolve));
process.stdin.destroy();
let idle = 0;
while (idle < 3) {
  const n = await worker.drain(100);
  idle = n === 0 ? idle + 1 : 0;
  if (n === 0) await new Promise((r) => setTimeout(r, 100));
}
process.stdout.write(JSON.stringify(worker.stats) + "\n");
await database.close();
process.exit(0);
