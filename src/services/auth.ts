import { and, eq, isNull } from "drizzle-orm";
import type { Db } from "../db/client.js";
import { apiKeys, instanceSettings } from "../db/schema.js";
import { NotFoundError } from "../errors.js";
import type { Principal } from "./deps.js";
import { hashSecret, newSecret, safeEqual } from "./secrets.js";

const ADMIN_HASH_KEY = "admin_token_hash";

/**
 * ADMIN_TOKEN from the environment wins (README, Configuration). Without it, the first start makes one, keeps only
 * its hash, and hands the token back once so main.ts can print it.
 */
export async function ensureAdminToken(db: Db, configured: string | undefined): Promise<{ hash: string; generated?: string }> {
  if (configured) return { hash: hashSecret(configured) };
  const existing = await db.select().from(instanceSettings).where(eq(instanceSettings.key, ADMIN_HASH_KEY));
  if (existing[0]) return { hash: existing[0].value };
  const token = newSecret("tha_");
  const inserted = await db
    .insert(instanceSettings)
    .values({ key: ADMIN_HASH_KEY, value: hashSecret(token) })
    .onConflictDoNothing()
    .returning();
  if (inserted[0]) return { hash: inserted[0].value, generated: token };
  // Another instance won the race: use its token, which it printed.
  const winner = await db.select().from(instanceSettings).where(eq(instanceSettings.key, ADMIN_HASH_KEY));
  return { hash: winner[0]!.value };
}

export async function resolvePrincipal(db: Db, adminHash: string, bearer: string): Promise<Principal | null> {
  const hash = hashSecret(bearer);
  if (safeEqual(hash, adminHash)) return { kind: "admin" };
  const rows = await db
    .select({ id: apiKeys.id, providerId: apiKeys.providerId })
    .from(apiKeys)
    .where(and(eq(apiKeys.tokenHash, hash), isNull(apiKeys.revokedAt)));
  const key = rows[0];
  return key ? { kind: "provider", providerId: key.providerId, keyId: key.id } : null;
}

declare const resolved: unique symbol;

/**
 * A provider the caller may act on, and who the caller is. Only resolveProviderScope makes one, once
 * per request (src/http/provider-scope.ts for the API, the session middleware for the settings
 * pages); a service that acts on a provider takes one instead of a bare id, so it cannot be reached
 * without the check.
 */
export type ProviderScope = { readonly providerId: string; readonly principal: Principal; readonly [resolved]: true };

/** A provider key asking for another provider's resources gets the same 404 as a missing one. */
export function resolveProviderScope(principal: Principal, providerId: string): ProviderScope {
  if (principal.kind === "provider" && principal.providerId !== providerId) throw new NotFoundError("provider");
  return { providerId, principal } as ProviderScope;
}

export function assertAdmin(principal: Principal): void {
  // Not 403: a provider key must not learn that an admin-only route exists for this id.
  if (principal.kind !== "admin") throw new NotFoundError("resource");
}
