// Credentials at rest (refresh and access tokens, webhook signing secrets): AES-256-GCM with a
// random 96-bit nonce per message (NIST SP 800-38D 8.2.2), the key id stored beside the ciphertext
// so old keys keep decrypting after a rotation while new writes use the newest key.
import { createCipheriv, createDecipheriv, randomBytes } from "node:crypto";

export type SecretKey = { id: string; key: Buffer };

const PREFIX = "enc1";
const KEY_ID = /^[A-Za-z0-9_-]{1,32}$/;

/** "id:base64key[,id:base64key...]", newest first. Pure; never echoes a key. */
export function parseSecretKeys(value: string): { ok: true; keys: SecretKey[] } | { ok: false; message: string } {
  const keys: SecretKey[] = [];
  for (const part of value
    .split(",")
    .map((p) => p.trim())
    .filter(Boolean)) {
    const i = part.indexOf(":");
    const id = i > 0 ? part.slice(0, i) : "";
    if (!KEY_ID.test(id)) return { ok: false, message: "each key must be id:base64 (id of letters, digits, _ or -)" };
    const key = Buffer.from(part.slice(i + 1), "base64");
    if (key.length !== 32) return { ok: false, message: `key "${id}" must be 32 bytes, base64-encoded` };
    if (keys.some((k) => k.id === id)) return { ok: false, message: `key id "${id}" appears twice` };
    keys.push({ id, key });
  }
  if (keys.length === 0) return { ok: false, message: "must hold at least one key" };
  return { ok: true, keys };
}

export function newSecretKeyLine(id: string): string {
  return `${id}:${randomBytes(32).toString("base64")}`;
}

export const isSealed = (value: string): boolean => value.startsWith(`${PREFIX}.`);

/**
 * Encrypts under the newest key. `context` (e.g. "refresh_token") is authenticated data: a
 * ciphertext moved to another field does not decrypt.
 */
export function sealSecret(keys: readonly SecretKey[], plaintext: string, context: string): string {
  const k = keys[0];
  if (!k) throw new Error("no secrets key configured");
  const iv = randomBytes(12);
  const cipher = createCipheriv("aes-256-gcm", k.key, iv);
  cipher.setAAD(Buffer.from(context));
  const body = Buffer.concat([cipher.update(plaintext, "utf8"), cipher.final(), cipher.getAuthTag()]);
  return [PREFIX, k.id, iv.toString("base64url"), body.toString("base64url")].join(".");
}

export class SecretUnavailableError extends Error {
  constructor(reason: "unknown_key" | "corrupt") {
    super(`stored secret cannot be decrypted (${reason})`);
    this.name = "SecretUnavailableError";
  }
}

export function openSecret(keys: readonly SecretKey[], sealed: string, context: string): string {
  const [prefix, id, iv, body] = sealed.split(".");
  if (prefix !== PREFIX || !id || !iv || !body) throw new SecretUnavailableError("corrupt");
  const k = keys.find((x) => x.id === id);
  if (!k) throw new SecretUnavailableError("unknown_key");
  const raw = Buffer.from(body, "base64url");
  if (raw.length < 16) throw new SecretUnavailableError("corrupt");
  try {
    const decipher = createDecipheriv("aes-256-gcm", k.key, Buffer.from(iv, "base64url"));
    decipher.setAAD(Buffer.from(context));
    decipher.setAuthTag(raw.subarray(raw.length - 16));
    return Buffer.concat([decipher.update(raw.subarray(0, raw.length - 16)), decipher.final()]).toString("utf8");
  } catch {
    throw new SecretUnavailableError("corrupt");
  }
}

/** The key id a ciphertext was written with (the re-encrypt command skips those already newest). */
export const sealedKeyId = (sealed: string): string | undefined => sealed.split(".")[1];
