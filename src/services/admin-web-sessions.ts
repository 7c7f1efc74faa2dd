// The operator's browser sessions of the settings pages. The admin token is exchanged once for a
// session; the cookie carries a 256-bit token of which only the hash is stored. Same lifetimes as a
// provider's session (12 hours at most, 30 minutes idle; HIPAA 45 CFR 164.312(a)(2)(iii)), and a
// session ends when ADMIN_TOKEN changes.

import { randomUUID } from "node:crypto";
import { eq, lt } from "drizzle-orm";
import { adminWebSessions } from "../db/schema.js";
import { withTransaction } from "../db/tx.js";
import type { Principal, ServiceDeps } from "./deps.js";
import { hashSecret, newSecret, safeEqual } from "./secrets.js";
import { WEB_SESSION_IDLE_MS, WEB_SESSION_MAX_MS } from "./web-sessions.js";

const TOKEN_SHAPE = /^[A-Za-z0-9_-]{43}$/;
const MAX_TOKEN_LENGTH = 512;
const TOUCH_EVERY_MS = 60_000;

export type AdminWebSession = { id: string; csrfToken: string };

export const ADMIN_PRINCIPAL: Principal = { kind: "admin" };

/** True when the pasted value is the admin token (compared by hash, in constant time). */
export function isAdminToken(adminTokenHash: string, submitted: string): boolean {
  const value = submitted.trim();
  return value !== "" && value.length <= MAX_TOKEN_LENGTH && safeEqual(hashSecret(value), adminTokenHash);
}

/** Opens a session for the admin token; the caller has checked it with isAdminToken. */
export async function startAdminWebSession(deps: ServiceDeps, adminTokenHash: string): Promise<{ token: string; session: AdminWebSession }> {
  const token = newSecret("", 32);
  const now = deps.clock.now();
  return withTransaction(deps.db, async (tx) => {
    await tx.delete(adminWebSessions).where(lt(adminWebSessions.expiresAt, now));
    const [row] = await tx
      .insert(adminWebSessions)
      .values({
        id: randomUUID(),
        tokenHash: hashSecret(token),
        adminTokenHash,
        csrfToken: newSecret("", 32),
        createdAt: now,
        lastSeenAt: now,
        expiresAt: new Date(now.getTime() + WEB_SESSION_MAX_MS),
      })
      .returning();
    return { token, session: { id: row!.id, csrfToken: row!.csrfToken } };
  });
}

/** The live session for a cookie token, or null (unknown, expired, idle, or opened with an old admin token). */
export async function resolveAdminWebSession(deps: ServiceDeps, adminTokenHash: string, token: string): Promise<AdminWebSession | null> {
  if (!TOKEN_SHAPE.test(token)) return null;
  const [row] = await deps.db
    .select()
    .from(adminWebSessions)
    .where(eq(adminWebSessions.tokenHash, hashSecret(token)));
  if (!row) return null;
  const now = deps.clock.now();
  const idle = now.getTime() - row.lastSeenAt.getTime();
  if (!safeEqual(row.adminTokenHash, adminTokenHash) || now >= row.expiresAt || idle >= WEB_SESSION_IDLE_MS) {
    await deps.db.delete(adminWebSessions).where(eq(adminWebSessions.id, row.id));
    return null;
  }
  if (idle >= TOUCH_EVERY_MS) await deps.db.update(adminWebSessions).set({ lastSeenAt: now }).where(eq(adminWebSessions.id, row.id));
  return { id: row.id, csrfToken: row.csrfToken };
}

export async function endAdminWebSession(deps: ServiceDeps, session: AdminWebSession): Promise<void> {
  await deps.db.delete(adminWebSessions).where(eq(adminWebSessions.id, session.id));
}
