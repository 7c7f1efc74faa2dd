// The re-encrypt command's work: every sealed credential is rewritten under the newest key, and
// credentials stored by earlier versions in clear are sealed (tokens, signing secrets) or replaced by
// their hash (channel tokens, Graph clientState: only ever compared). Row by row, each under a row
// lock, so a token refresh running at the same time is neither lost nor overwritten.
import { eq, isNotNull, or } from "drizzle-orm";
import type { Db } from "../db/client.js";
import { calendarConnections, calendarSources, oauthStates } from "../db/schema.js";
import { withTransaction } from "../db/tx.js";
import { isSealed, openSecret, type SecretKey, sealedKeyId, sealSecret } from "./secret-box.js";
import { hashSecret } from "./secrets.js";

export async function reencryptSecrets(db: Db, keys: readonly SecretKey[]): Promise<{ rewritten: number }> {
  const newest = keys[0]!.id;
  const reseal = (value: string, context: string) =>
    isSealed(value) && sealedKeyId(value) === newest ? value : sealSecret(keys, isSealed(value) ? openSecret(keys, value, context) : value, context);
  let rewritten = 0;

  const connIds = await db
    .select({ id: calendarConnections.id })
    .from(calendarConnections)
    .where(or(isNotNull(calendarConnections.accessToken), isNotNull(calendarConnections.refreshToken)));
  for (const { id } of connIds) {
    await withTransaction(db, async (tx) => {
      const [c] = await tx.select().from(calendarConnections).where(eq(calendarConnections.id, id)).for("update");
      if (!c) return;
      const accessToken = c.accessToken ? reseal(c.accessToken, "access_token") : null;
      const refreshToken = c.refreshToken ? reseal(c.refreshToken, "refresh_token") : null;
      if (accessToken === c.accessToken && refreshToken === c.refreshToken) return;
      await tx.update(calendarConnections).set({ accessToken, refreshToken }).where(eq(calendarConnections.id, id));
      rewritten++;
    });
  }

  const sourceIds = await db.select({ id: calendarSources.id }).from(calendarSources);
  for (const { id } of sourceIds) {
    await withTransaction(db, async (tx) => {
      const [s] = await tx.select().from(calendarSources).where(eq(calendarSources.id, id)).for("update");
      if (!s) return;
      const next: Record<string, string> = {};
      for (const [k, v] of Object.entries(s.secrets)) {
        if (k === "accessToken") next[k] = reseal(v, "access_token");
        else if (k === "signingSecret") next[k] = reseal(v, "signing_secret");
        else if (k === "channelToken") next.channelTokenHash = hashSecret(v);
        else if (k === "clientState") next.clientStateHash = hashSecret(v);
        else next[k] = v;
      }
      if (JSON.stringify(next) === JSON.stringify(s.secrets)) return;
      await tx.update(calendarSources).set({ secrets: next }).where(eq(calendarSources.id, id));
      rewritten++;
    });
  }

  const states = await db.select().from(oauthStates);
  for (const st of states) {
    const codeVerifier = reseal(st.codeVerifier, "code_verifier");
    if (codeVerifier === st.codeVerifier) continue;
    await db.update(oauthStates).set({ codeVerifier }).where(eq(oauthStates.id, st.id));
    rewritten++;
  }
  return { rewritten };
}
