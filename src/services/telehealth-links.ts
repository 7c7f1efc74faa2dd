import { and, eq, gt, isNull, sql } from "drizzle-orm";
import { z } from "zod";
import type { Executor } from "../db/client.js";
import { sessions, telehealthLinks } from "../db/schema.js";
import { withTransaction } from "../db/tx.js";
import { assessTelehealthLink, checkTelehealthLink } from "../domain/telehealth-link.js";
import { ConflictError, NotFoundError, parseInput, UnprocessableError } from "../errors.js";
import { recordAudit } from "./audit.js";
import { assertProviderScope } from "./auth.js";
import type { Principal, ServiceDeps } from "./deps.js";
import { bumpFeedVersion, loadProvider } from "./providers.js";

export const PutTelehealthLinkSchema = z.strictObject({
  url: z.string().max(4096),
  instructions: z.string().max(2000).optional(),
  baaSigned: z.boolean(),
  waitingRoomEnabled: z.boolean(),
});

type LinkRow = typeof telehealthLinks.$inferSelect;

function toView(row: LinkRow) {
  // Re-derive warnings and help from the stored attestation: one rule, one place (the domain).
  const verdict = assessTelehealthLink({ url: row.url, baaSigned: row.baaSigned, waitingRoomEnabled: row.waitingRoomEnabled });
  return {
    url: row.url,
    platform: row.platform,
    instructions: row.instructions,
    baaSigned: row.baaSigned,
    waitingRoomEnabled: row.waitingRoomEnabled,
    compliant: row.compliant,
    warnings: verdict.ok ? verdict.warnings : [],
    ...(verdict.ok && verdict.waitingRoomHelp ? { waitingRoomHelp: verdict.waitingRoomHelp } : {}),
    updatedAt: row.updatedAt.toISOString(),
  };
}

export async function loadTelehealthLink(db: Executor, providerId: string): Promise<LinkRow | null> {
  const rows = await db.select().from(telehealthLinks).where(eq(telehealthLinks.providerId, providerId));
  return rows[0] ?? null;
}

/** Upcoming virtual sessions that follow the provider's default link (no link of their own). */
function followersOfDefault(providerId: string, now: Date) {
  return and(
    eq(sessions.providerId, providerId),
    eq(sessions.kind, "virtual"),
    eq(sessions.status, "scheduled"),
    isNull(sessions.telehealthUrl),
    gt(sessions.endAt, now),
  );
}

export async function putTelehealthLink(deps: ServiceDeps, principal: Principal, providerId: string, input: unknown) {
  assertProviderScope(principal, providerId);
  const data = parseInput(PutTelehealthLinkSchema, input);
  const verdict = assessTelehealthLink(data);
  if (!verdict.ok) throw new UnprocessableError(verdict.code, verdict.message);
  return withTransaction(deps.db, async (tx) => {
    await loadProvider(tx, providerId);
    const now = deps.clock.now();
    const previous = await loadTelehealthLink(tx, providerId);
    const values = {
      url: verdict.url,
      platform: verdict.platform,
      instructions: data.instructions ?? null,
      baaSigned: data.baaSigned,
      waitingRoomEnabled: data.waitingRoomEnabled,
      compliant: verdict.compliant,
      updatedAt: now,
    };
    const [row] = await tx
      .insert(telehealthLinks)
      .values({ providerId, ...values })
      .onConflictDoUpdate({ target: telehealthLinks.providerId, set: values })
      .returning();
    const changed =
      !previous ||
      previous.url !== values.url ||
      previous.instructions !== values.instructions ||
      previous.compliant !== values.compliant;
    if (changed) {
      // SPEC 4.2: a new default reaches every upcoming session, and calendars must see it (SEQUENCE).
      await tx
        .update(sessions)
        .set({ sequence: sql`${sessions.sequence} + 1`, updatedAt: now })
        .where(followersOfDefault(providerId, now));
      await bumpFeedVersion(tx, providerId);
    }
    await recordAudit(tx, { providerId, principal, action: "telehealth_link.set", at: now, data: { platform: verdict.platform, compliant: verdict.compliant } });
    return toView(row!);
  });
}

export async function getTelehealthLink(deps: ServiceDeps, principal: Principal, providerId: string) {
  assertProviderScope(principal, providerId);
  await loadProvider(deps.db, providerId);
  const row = await loadTelehealthLink(deps.db, providerId);
  if (!row) throw new NotFoundError("telehealth link");
  return toView(row);
}

/** Refused while upcoming virtual sessions depend on it: no virtual session without a link (SPEC 4.2). */
export async function deleteTelehealthLink(deps: ServiceDeps, principal: Principal, providerId: string) {
  assertProviderScope(principal, providerId);
  await withTransaction(deps.db, async (tx) => {
    await loadProvider(tx, providerId);
    const row = await loadTelehealthLink(tx, providerId);
    if (!row) throw new NotFoundError("telehealth link");
    const now = deps.clock.now();
    const [dependants] = await tx.select({ n: sql<number>`count(*)::int` }).from(sessions).where(followersOfDefault(providerId, now));
    if ((dependants?.n ?? 0) > 0) {
      throw new ConflictError("link_in_use", `${dependants!.n} upcoming virtual session(s) use this link; set a new link instead.`, {
        sessions: dependants!.n,
      });
    }
    await tx.delete(telehealthLinks).where(eq(telehealthLinks.providerId, providerId));
    await bumpFeedVersion(tx, providerId);
    await recordAudit(tx, { providerId, principal, action: "telehealth_link.deleted", at: now });
  });
}

/**
 * A session's own link: it must be a valid meeting link on the platform the provider attested for
 * (BAA and waiting room are attested per platform, with the default link).
 */
export function checkSessionLink(raw: string, providerLink: LinkRow | null): string {
  const verdict = checkTelehealthLink(raw);
  if (!verdict.ok) throw new UnprocessableError(verdict.code, verdict.message, { field: "telehealthUrl" });
  if (!providerLink?.compliant) {
    throw new UnprocessableError("no_compliant_link", "Set a compliant default telehealth link (BAA signed, waiting room on) first.");
  }
  const samePlatform =
    verdict.platform === providerLink.platform &&
    (verdict.platform !== "other" || new URL(verdict.url).host === new URL(providerLink.url).host);
  if (!samePlatform) {
    throw new UnprocessableError(
      "platform_not_attested",
      "This link is on a different platform than your attested default link; attest that platform first.",
      { field: "telehealthUrl" },
    );
  }
  return verdict.url;
}
