import { ensurePostgres, ensureTools, runCleanups } from "./harness.js";
import { benchServe } from "./serve.js";
const tools = await ensureTools();
await ensurePostgres();
try {
  const r = await benchServe({ quick: true }, tools);
  console.log(JSON.stringify({ ...r, nginxConf: undefined }, null, 1));
} finally { await runCleanups(); }
