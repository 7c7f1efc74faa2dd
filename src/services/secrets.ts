import { hash, randomBytes, timingSafeEqual } from "node:crypto";

/** Tokens and secrets from a CSPRNG, at least 128 bits (RFC 6749 10.10); we use 256. */
export function newSecret(prefix: string, bytes = 32): string {
  return `${prefix}${randomBytes(bytes).toString("base64url")}`;
}

/** Secrets that only need checking are stored as this hash. High-entropy input: a fast hash is enough. */
export function hashSecret(secret: string): string {
  // One-shot: a third of createHash's cost, and this runs on every feed request.
  return hash("sha256", secret, "hex");
}

export function safeEqual(a: string, b: string): boolean {
  const ab = Buffer.from(a);
  const bb = Buffer.from(b);
  return ab.length === bb.length && timingSafeEqual(ab, bb);
}
