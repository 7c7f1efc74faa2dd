// npm run secrets:reencrypt: after putting a new key first in SECRETS_KEY (old keys after it),
// rewrites every stored credential under the new key. Then the old keys can be removed.
import { loadConfig } from "../config.js";
import { openDatabase } from "../db/client.js";
import { migrate } from "../db/migrate.js";
import { withDevelopmentSecretKey } from "../secret-key-file.js";
import { reencryptSecrets } from "../services/secret-rotation.js";

const loaded = loadConfig(process.env);
if (!loaded.ok) {
  process.stderr.write(`Invalid configuration:\n${loaded.messages.map((m) => `  ${m}`).join("\n")}\n`);
  process.exit(1);
}
const { config } = withDevelopmentSecretKey(loaded.config);
const database = await openDatabase(config.databaseUrl ? { kind: "postgres", url: config.databaseUrl } : { kind: "pglite", dataDir: config.dataDir });
try {
  await migrate(database);
  const { rewritten } = await reencryptSecrets(database.db, config.secretKeys);
  process.stdout.write(`Re-encrypted ${rewritten} row(s) under key "${config.secretKeys[0]!.id}".\n`);
} finally {
  await database.close();
}
