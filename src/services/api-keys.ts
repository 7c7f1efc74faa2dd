import { randomUUID } from "node:crypto";
import { and, desc, eq, isNull } from "drizzle-orm";
import { z } from "zod";
import { apiKeys } from "../db/schema.js";
import { withTransaction } from "../db/tx.js";
import { NotFoundError, parseInput } from "../errors.js";
import { recordAudit } from "./audit.js";
import { assertAdmin, type ProviderScope } from "./auth.js";
import type { ServiceDeps } from "./deps.js";
import { loadProvider } from "./providers.js";
import { hashSecret, newSecret } from "./secrets.js";

export const CreateApiKeySchema = z.strictObject({ label: z.string().trim().min(1).max(100).optional() });

export type ApiKeyView = { id: string; prefix: string; label: string | null; createdAt: string; revokedAt: string | null };

const toView = (k: typeof apiKeys.$inferSelect): ApiKeyView => ({
  id: k.id,
  prefix: k.prefix,
  label: k.label,
  createdAt: k.createdAt.toISOString(),
  revokedAt: k.revokedAt?.toISOString() ?? null,
});

/** Admin only; the token is in this answer and nowhere else, ever. */
export async function createApiKey(deps: ServiceDeps, scope: ProviderScope, input: unknown) {
  const { principal, providerId } = scope;
  assertAdmin(principal);
  const data = parseInput(CreateApiKeySchema, input ?? {});
  const token = newSecret("thk_");
  return withTransaction(deps.db, async (tx) => {
    await loadProvider(tx, providerId);
    const now = deps.clock.now();
    const [row] = await tx
      .insert(apiKeys)
      .values({ id: randomUUID(), providerId, tokenHash: hashSecret(token), prefix: token.slice(0, 8), label: data.label ?? null, createdAt: now })
      .returning();
    await recordAudit(tx, { providerId, principal, action: "api_key.created", subjectId: row!.id, at: now });
    return { ...toView(row!), token };
  });
}

export async function listApiKeys(deps: ServiceDeps, scope: ProviderScope): Promise<ApiKeyView[]> {
  const { providerId } = scope;
  await loadProvider(deps.db, providerId);
  const rows = await deps.db.select().from(apiKeys).where(eq(apiKeys.providerId, providerId)).orderBy(desc(apiKeys.createdAt));
  return rows.map(toView);
}

/** Revoking is idempotent; the key stops working on the next request. */
export async function revokeApiKey(deps: ServiceDeps, scope: ProviderScope, keyId: string): Promise<void> {
  const { principal, providerId } = scope;
  await withTransaction(deps.db, async (tx) => {
    const rows = await tx
      .select()
      .from(apiKeys)
      .where(and(eq(apiKeys.id, keyId), eq(apiKeys.providerId, providerId)));
    if (!rows[0]) throw new NotFoundError("API key");
    const now = deps.clock.now();
    await tx
      .update(apiKeys)
      .set({ revokedAt: now })
      .where(and(eq(apiKeys.id, keyId), isNull(apiKeys.revokedAt)));
    await recordAudit(tx, { providerId, principal, action: "api_key.revoked", subjectId: keyId, at: now });
  });
}
