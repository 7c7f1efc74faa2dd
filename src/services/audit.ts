import type { Executor } from "../db/client.js";
import { auditEvents } from "../db/schema.js";
import { actorName, type Principal } from "./deps.js";

/** Audit rows are written in the same transaction as the change they describe. No client names here. */
export async function recordAudit(
  tx: Executor,
  e: { providerId: string; principal: Principal | "system"; action: string; subjectId?: string; at: Date; data?: Record<string, unknown> },
): Promise<void> {
  await tx.insert(auditEvents).values({
    providerId: e.providerId,
    actor: e.principal === "system" ? "system" : actorName(e.principal),
    action: e.action,
    subjectId: e.subjectId,
    data: e.data,
    at: e.at,
  });
}
