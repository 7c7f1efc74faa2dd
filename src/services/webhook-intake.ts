// Receiving push notifications (README, Ingestion): each source kind's adapter verifies its own
// platform's messages (src/ingest/adapters/); what they share is here: the verdict the route turns
// into an answer, finding the source a message names, and recording a verified message that is
// refused for good. Nothing is applied here; the worker does that.
import { createHash } from "node:crypto";
import { withTransaction } from "../db/tx.js";
import type { SourceKind } from "../domain/value-lists.js";
import { AppError } from "../errors.js";
import { recordSourceFailure, type SourceRow } from "./calendar-sources.js";
import type { ServiceDeps } from "./deps.js";
import { type DeliveryKind, recordDelivery } from "./inbox.js";
import { findLiveSourcePrepared } from "./intake-statements.js";

export type Intake =
  | { result: "accepted"; duplicate: boolean }
  | { result: "ignored"; reason: string }
  | { result: "unknown_source" }
  | { result: "unauthorized" }
  /** Verified, but malformed: recorded `rejected` on the source; the sender gets this problem. */
  | { result: "rejected"; error: AppError };

export const malformedJson = () => new AppError(400, "malformed_json", "Malformed JSON", "The body is not valid JSON.");

const isUuid = (s: string) => /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(s);

/** The live source a webhook URL names, if it is of the kind the URL says. */
export async function liveSourceOfKind(deps: ServiceDeps, sourceId: string, kind: SourceKind): Promise<SourceRow | null> {
  if (!isUuid(sourceId)) return null;
  const s = await findLiveSourcePrepared(deps.db, sourceId);
  return s && s.kind === kind ? s : null;
}

/** Records the refusal on the source (lastErrorCode) and in the inbox, in one transaction. */
export async function rejectDelivery(
  deps: ServiceDeps,
  source: Pick<SourceRow, "id" | "providerId">,
  deliveryKey: string,
  kind: DeliveryKind,
  error: AppError,
): Promise<Intake> {
  const at = deps.clock.now();
  await withTransaction(deps.db, async (tx) => {
    // A verified notification refused for good: the provider sees why on the source, not a silent drop.
    const { recorded } = await recordDelivery(tx, {
      providerId: source.providerId,
      sourceId: source.id,
      deliveryKey,
      kind,
      at,
      rejectedWith: error.code,
    });
    if (recorded) await recordSourceFailure(tx, source.id, error.code, at, "transient");
  });
  return { result: "rejected", error };
}

/** A delivery key from a message's content (a message with no id of its own). */
export const contentKey = (s: string) => createHash("sha256").update(s).digest("hex");
