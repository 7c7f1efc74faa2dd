// Browser sessions of the settings pages (README, Settings pages). A provider API key is exchanged once for a
// session; the cookie carries a 256-bit token of which only the hash is stored. The session lives
// while its API key does (checked on every request), for at most MAX_MS, and ends after IDLE_MS
// without a request (HIPAA 45 CFR 164.312(a)(2)(iii), automatic logoff).

import { createCipheriv, createDecipheriv, createHmac, randomBytes, randomUUID } from "node:crypto";
import { and, eq, isNull, lt } from "drizzle-orm";
import { apiKeys, webSessions } from "../db/schema.js";
import { withTransaction } from "../db/tx.js";
import { recordAudit } from "./audit.js";
import type { Principal, ServiceDeps } from "./deps.js";
import { hashSecret, newSecret, safeEqual } from "./secrets.js";

export const WEB_SESSION_IDLE_MS = 30 * 60_000;
export const WEB_SESSION_MAX_MS = 12 * 3600_000;
// lastSeenAt is written at most this often, so browsing is not a write per page.
const TOUCH_EVERY_MS = 60_000;
// newSecret(32 bytes) in base64url; anything else is refused before a query.
const TOKEN_SHAPE = /^[A-Za-z0-9_-]{43}$/;
const MAX_API_KEY_LENGTH = 512;

export type WebSession = {
  id: string;
  providerId: string;
  apiKeyId: string;
  csrfToken: string;
  flash: string | null;
  expiresAt: Date;
};

type Row = typeof webSessions.$inferSelect;
const toSession = (r: Row): WebSession => ({
  id: r.id,
  providerId: r.providerId,
  apiKeyId: r.apiKeyId,
  csrfToken: r.csrfToken,
  flash: r.flash,
  expiresAt: r.expiresAt,
});

/** The principal the services see: the API key the session was opened with. */
export function webPrincipal(s: WebSession): Principal {
  return { kind: "provider", providerId: s.providerId, keyId: s.apiKeyId };
}

/**
 * Exchanges a provider API key for a new session. Null for an unknown, revoked or admin key, all
 * alike, so the answer never tells whether a key exists.
 */
export async function startWebSession(deps: ServiceDeps, apiKey: string): Promise<{ token: string; session: WebSession } | null> {
  const key = apiKey.trim();
  if (key === "" || key.length > MAX_API_KEY_LENGTH) return null;
  const rows = await deps.db
    .select({ id: apiKeys.id, providerId: apiKeys.providerId })
    .from(apiKeys)
    .where(and(eq(apiKeys.tokenHash, hashSecret(key)), isNull(apiKeys.revokedAt)));
  const found = rows[0];
  if (!found) return null;
  const token = newSecret("", 32);
  return withTransaction(deps.db, async (tx) => {
    const now = deps.clock.now();
    // Housekeeping on the way in: this provider's expired sessions go.
    await tx.delete(webSessions).where(and(eq(webSessions.providerId, found.providerId), lt(webSessions.expiresAt, now)));
    const [row] = await tx
      .insert(webSessions)
      .values({
        id: randomUUID(),
        providerId: found.providerId,
        apiKeyId: found.id,
        tokenHash: hashSecret(token),
        csrfToken: newSecret("", 32),
        createdAt: now,
        lastSeenAt: now,
        expiresAt: new Date(now.getTime() + WEB_SESSION_MAX_MS),
      })
      .returning();
    const principal: Principal = { kind: "provider", providerId: found.providerId, keyId: found.id };
    await recordAudit(tx, { providerId: found.providerId, principal, action: "web_session.started", subjectId: row!.id, at: now });
    return { token, session: toSession(row!) };
  });
}

/** The live session for a cookie token, or null (unknown, expired, idle, or its API key revoked). */
export async function resolveWebSession(deps: ServiceDeps, token: string): Promise<WebSession | null> {
  if (!TOKEN_SHAPE.test(token)) return null;
  const rows = await deps.db
    .select({ s: webSessions, keyRevokedAt: apiKeys.revokedAt })
    .from(webSessions)
    .innerJoin(apiKeys, eq(apiKeys.id, webSessions.apiKeyId))
    .where(eq(webSessions.tokenHash, hashSecret(token)));
  const found = rows[0];
  if (!found) return null;
  const now = deps.clock.now();
  const idle = now.getTime() - found.s.lastSeenAt.getTime();
  if (found.keyRevokedAt !== null || now >= found.s.expiresAt || idle >= WEB_SESSION_IDLE_MS) {
    await deps.db.delete(webSessions).where(eq(webSessions.id, found.s.id));
    return null;
  }
  if (idle >= TOUCH_EVERY_MS) await deps.db.update(webSessions).set({ lastSeenAt: now }).where(eq(webSessions.id, found.s.id));
  return toSession(found.s);
}

export async function endWebSession(deps: ServiceDeps, session: WebSession): Promise<void> {
  await withTransaction(deps.db, async (tx) => {
    const deleted = await tx.delete(webSessions).where(eq(webSessions.id, session.id)).returning({ id: webSessions.id });
    if (deleted.length === 0) return;
    await recordAudit(tx, {
      providerId: session.providerId,
      principal: webPrincipal(session),
      action: "web_session.ended",
      subjectId: session.id,
      at: deps.clock.now(),
    });
  });
}

/** The submitted form token against the session's, in constant time. */
export function csrfTokenMatches(session: WebSession, submitted: unknown): boolean {
  return typeof submitted === "string" && submitted.length > 0 && safeEqual(submitted, session.csrfToken);
}

// Flash: a message for the next page only (post-redirect-get), e.g. a new feed URL. It is sealed
// with AES-256-GCM under a key derived from the cookie token, which the server never stores, and
// bound to the session id: the database alone cannot read it, and it is gone once read.
function flashKey(token: string): Buffer {
  return createHmac("sha256", token).update("web-session-flash-v1").digest();
}

function seal(token: string, sessionId: string, value: unknown): string {
  const iv = randomBytes(12);
  const cipher = createCipheriv("aes-256-gcm", flashKey(token), iv);
  cipher.setAAD(Buffer.from(sessionId));
  const body = Buffer.concat([cipher.update(JSON.stringify(value), "utf8"), cipher.final()]);
  return Buffer.concat([iv, cipher.getAuthTag(), body]).toString("base64url");
}

function open(token: string, sessionId: string, sealed: string): unknown {
  try {
    const raw = Buffer.from(sealed, "base64url");
    const decipher = createDecipheriv("aes-256-gcm", flashKey(token), raw.subarray(0, 12));
    decipher.setAAD(Buffer.from(sessionId));
    decipher.setAuthTag(raw.subarray(12, 28));
    return JSON.parse(Buffer.concat([decipher.update(raw.subarray(28)), decipher.final()]).toString("utf8"));
  } catch {
    return null;
  }
}

export async function putFlash(deps: ServiceDeps, session: WebSession, token: string, value: unknown): Promise<void> {
  await deps.db
    .update(webSessions)
    .set({ flash: seal(token, session.id, value) })
    .where(eq(webSessions.id, session.id));
}

/** Reads and clears the flash. Compare-and-clear, so two tabs (or instances) cannot both show it. */
export async function takeFlash(deps: ServiceDeps, session: WebSession, token: string): Promise<unknown> {
  if (session.flash === null) return null;
  const cleared = await deps.db
    .update(webSessions)
    .set({ flash: null })
    .where(and(eq(webSessions.id, session.id), eq(webSessions.flash, session.flash)))
    .returning({ id: webSessions.id });
  return cleared.length === 1 ? open(token, session.id, session.flash) : null;
}
