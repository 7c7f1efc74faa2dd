import { and, asc, desc, eq, gt, isNull, or } from "drizzle-orm";
import { randomUUID } from "node:crypto";
import { z } from "zod";
import type { Executor } from "../db/client.js";
import { clientLocations, clients } from "../db/schema.js";
import { withTransaction } from "../db/tx.js";
import { NotFoundError, parseInput } from "../errors.js";
import { recordAudit } from "./audit.js";
import { assertProviderScope } from "./auth.js";
import type { Principal, ServiceDeps } from "./deps.js";
import { decodeCursor, encodeCursor, PageQuerySchema } from "./pagination.js";
import { bumpFeedVersion, loadProvider } from "./providers.js";
import { StateCodeSchema } from "../domain/jurisdictions.js";

const ClientFields = {
  displayName: z.string().trim().min(1).max(200),
  insurance: z.enum(["in_network", "out_of_network", "self_pay"]),
  medicare: z.boolean(),
};
export const CreateClientSchema = z.strictObject(ClientFields);
export const UpdateClientSchema = z.strictObject(ClientFields).partial();
export const CreateLocationSchema = z.strictObject({
  state: StateCodeSchema,
  label: z.string().trim().min(1).max(100).optional(),
});

type ClientRow = typeof clients.$inferSelect;
type LocationRow = typeof clientLocations.$inferSelect;

export const toClientView = (c: ClientRow) => ({
  id: c.id,
  providerId: c.providerId,
  displayName: c.displayName,
  insurance: c.insurance,
  medicare: c.medicare,
  createdAt: c.createdAt.toISOString(),
  updatedAt: c.updatedAt.toISOString(),
});

export const toLocationView = (l: LocationRow) => ({
  id: l.id,
  clientId: l.clientId,
  state: l.state,
  label: l.label,
  createdAt: l.createdAt.toISOString(),
  archivedAt: l.archivedAt?.toISOString() ?? null,
});

/** A client of another provider is as invisible as a missing one. */
export async function loadClient(db: Executor, principal: Principal, clientId: string): Promise<ClientRow> {
  const rows = await db.select().from(clients).where(eq(clients.id, clientId));
  const c = rows[0];
  if (!c || (principal.kind === "provider" && principal.providerId !== c.providerId)) throw new NotFoundError("client");
  return c;
}

export async function createClient(deps: ServiceDeps, principal: Principal, providerId: string, input: unknown) {
  assertProviderScope(principal, providerId);
  const data = parseInput(CreateClientSchema, input);
  return withTransaction(deps.db, async (tx) => {
    await loadProvider(tx, providerId);
    const now = deps.clock.now();
    const [row] = await tx
      .insert(clients)
      .values({ id: randomUUID(), providerId, ...data, createdAt: now, updatedAt: now })
      .returning();
    await recordAudit(tx, { providerId, principal, action: "client.created", subjectId: row!.id, at: now });
    return toClientView(row!);
  });
}

export async function listClients(deps: ServiceDeps, principal: Principal, providerId: string, query: unknown) {
  assertProviderScope(principal, providerId);
  const q = parseInput(PageQuerySchema, query);
  await loadProvider(deps.db, providerId);
  const after = q.cursor ? decodeCursor(q.cursor) : null;
  const rows = await deps.db
    .select()
    .from(clients)
    .where(
      and(
        eq(clients.providerId, providerId),
        after ? or(gt(clients.createdAt, after.at), and(eq(clients.createdAt, after.at), gt(clients.id, after.id))) : undefined,
      ),
    )
    .orderBy(asc(clients.createdAt), asc(clients.id))
    .limit(q.limit + 1);
  const page = rows.slice(0, q.limit);
  const last = page.at(-1);
  return {
    items: page.map(toClientView),
    ...(rows.length > q.limit && last ? { nextCursor: encodeCursor(last.createdAt, last.id) } : {}),
  };
}

export async function getClient(deps: ServiceDeps, principal: Principal, clientId: string) {
  return toClientView(await loadClient(deps.db, principal, clientId));
}

export async function updateClient(deps: ServiceDeps, principal: Principal, clientId: string, input: unknown) {
  const data = parseInput(UpdateClientSchema, input);
  return withTransaction(deps.db, async (tx) => {
    const current = await loadClient(tx, principal, clientId);
    const now = deps.clock.now();
    const [row] = await tx.update(clients).set({ ...data, updatedAt: now }).where(eq(clients.id, clientId)).returning();
    // The display name may show in "initials"/"full" feeds.
    if (data.displayName !== undefined) {
      await bumpFeedVersion(tx, current.providerId);
    }
    await recordAudit(tx, { providerId: current.providerId, principal, action: "client.updated", subjectId: clientId, at: now });
    return toClientView(row!);
  });
}

export async function addLocation(deps: ServiceDeps, principal: Principal, clientId: string, input: unknown) {
  const data = parseInput(CreateLocationSchema, input);
  return withTransaction(deps.db, async (tx) => {
    const client = await loadClient(tx, principal, clientId);
    return toLocationView(await insertLocation(tx, client, data, deps.clock.now()));
  });
}

export async function insertLocation(tx: Executor, client: ClientRow, data: { state: string; label?: string }, at: Date) {
  const [row] = await tx
    .insert(clientLocations)
    .values({ id: randomUUID(), providerId: client.providerId, clientId: client.id, state: data.state, label: data.label ?? null, createdAt: at })
    .returning();
  return row!;
}

export async function listLocations(deps: ServiceDeps, principal: Principal, clientId: string, query: { includeArchived?: boolean }) {
  await loadClient(deps.db, principal, clientId);
  const rows = await deps.db
    .select()
    .from(clientLocations)
    .where(and(eq(clientLocations.clientId, clientId), query.includeArchived ? undefined : isNull(clientLocations.archivedAt)))
    .orderBy(desc(clientLocations.createdAt), desc(clientLocations.id));
  return { items: rows.map(toLocationView) };
}

/** Archived, not deleted: confirmations that used it keep pointing at it (history). Idempotent. */
export async function archiveLocation(deps: ServiceDeps, principal: Principal, clientId: string, locationId: string) {
  await withTransaction(deps.db, async (tx) => {
    const client = await loadClient(tx, principal, clientId);
    const rows = await tx
      .select()
      .from(clientLocations)
      .where(and(eq(clientLocations.id, locationId), eq(clientLocations.clientId, client.id)));
    if (!rows[0]) throw new NotFoundError("location");
    if (!rows[0].archivedAt) {
      await tx.update(clientLocations).set({ archivedAt: deps.clock.now() }).where(eq(clientLocations.id, locationId));
    }
  });
}
