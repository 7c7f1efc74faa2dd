// The webhook intake's two statements, built and prepared once per database handle instead of by
// drizzle on every request: together they measured ~0.7 ms of CPU per acknowledgement, most of
// the intake's cost (npm run bench, BENCHMARKS.md part 4). Same statements as findLiveSource and
// recordDelivery (an ICS payload is recorded by recordIcsDelivery, in parts).
import { and, eq, isNull, sql } from "drizzle-orm";
import type { Executor } from "../db/client.js";
import { calendarSources, deliveries } from "../db/schema.js";
import type { SourceRow } from "./calendar-sources.js";
import type { DeliveryKind } from "./inbox.js";

function prepareIntake(db: Executor) {
  return {
    liveSource: db
      .select()
      .from(calendarSources)
      .where(and(eq(calendarSources.id, sql.placeholder("id")), isNull(calendarSources.deletedAt)))
      .prepare("intake_live_source"),
    recordDelivery: db
      .insert(deliveries)
      .values({
        providerId: sql.placeholder("providerId"),
        sourceId: sql.placeholder("sourceId"),
        deliveryKey: sql.placeholder("deliveryKey"),
        kind: sql.placeholder("kind"),
        receivedAt: sql.placeholder("at"),
        availableAt: sql.placeholder("at"),
      })
      .onConflictDoNothing({ target: [deliveries.sourceId, deliveries.deliveryKey] })
      .returning({ id: deliveries.id })
      .prepare("intake_record_delivery"),
  };
}

const prepared = new WeakMap<Executor, ReturnType<typeof prepareIntake>>();

function statements(db: Executor) {
  let s = prepared.get(db);
  if (!s) {
    s = prepareIntake(db);
    prepared.set(db, s);
  }
  return s;
}

/** findLiveSource, prepared. */
export async function findLiveSourcePrepared(db: Executor, sourceId: string): Promise<SourceRow | null> {
  const rows = await statements(db).liveSource.execute({ id: sourceId });
  return rows[0] ?? null;
}

/** recordDelivery, prepared: once per (source, delivery key); a repeat records nothing. */
export async function recordDeliveryPrepared(
  db: Executor,
  d: { providerId: string; sourceId: string; deliveryKey: string; kind: DeliveryKind; at: Date },
): Promise<{ recorded: boolean }> {
  const rows = await statements(db).recordDelivery.execute({
    providerId: d.providerId,
    sourceId: d.sourceId,
    deliveryKey: d.deliveryKey,
    kind: d.kind,
    at: d.at,
  });
  return { recorded: rows.length > 0 };
}
