// Development only: without SECRETS_KEY, one key is generated into DATA_DIR/secrets.key (mode 0600)
// on the first start and read on the next ones. Production refuses to start without SECRETS_KEY (config.ts).
import { chmodSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { Config } from "./config.js";
import { newSecretKeyLine, parseSecretKeys } from "./services/secret-box.js";

export function withDevelopmentSecretKey(config: Config): { config: Config; generatedAt?: string } {
  if (config.secretKeys.length > 0) return { config };
  mkdirSync(config.dataDir, { recursive: true });
  const file = join(config.dataDir, "secrets.key");
  let generatedAt: string | undefined;
  let line: string;
  try {
    line = readFileSync(file, "utf8").trim();
  } catch {
    line = newSecretKeyLine(`dev${Date.now().toString(36)}`);
    // wx: never overwrite a key another process wrote meanwhile (its ciphertexts would be lost).
    writeFileSync(file, `${line}\n`, { mode: 0o600, flag: "wx" });
    chmodSync(file, 0o600);
    generatedAt = file;
  }
  const parsed = parseSecretKeys(line);
  if (!parsed.ok) throw new Error(`${file}: ${parsed.message}`);
  return { config: { ...config, secretKeys: parsed.keys }, ...(generatedAt ? { generatedAt } : {}) };
}
