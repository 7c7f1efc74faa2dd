import { randomUUID } from "node:crypto";
import { and, asc, desc, eq, gt, isNull, or, sql } from "drizzle-orm";
import { z } from "zod";
import type { Executor } from "../db/client.js";
import { clientLocations, clients, sessions } from "../db/schema.js";
import { withTransaction } from "../db/tx.js";
import { CountryCodeSchema, StateCodeSchema } from "../domain/jurisdictions.js";
import { sameLocation } from "../domain/locations.js";
import { INSURANCE_KINDS } from "../domain/value-lists.js";
import { NotFoundError, parseInput, UnprocessableError } from "../errors.js";
import { recordAudit } from "./audit.js";
import type { ProviderScope } from "./auth.js";
import type { Principal, ServiceDeps } from "./deps.js";
import { decodeCursor, encodeCursor, PageQuerySchema } from "./pagination.js";
import { bumpFeedVersion, loadProvider } from "./providers.js";

const ClientFields = {
  displayName: z.string().trim().min(1).max(200),
  insurance: z.enum(INSURANCE_KINDS),
  medicare: z.boolean(),
};
export const CreateClientSchema = z.strictObject(ClientFields);
export const UpdateClientSchema = z.strictObject(ClientFields).partial();
const Instant = z.iso.datetime({ offset: true });

/** Where a client can be: a US state, DC or territory (country US), or a place in another country. */
export const PlaceFields = {
  country: CountryCodeSchema.default("US").describe("ISO 3166-1 alpha-2; CA is Canada. Default US"),
  state: StateCodeSchema.optional().describe("USPS code (NY, DC, PR) when the country is US; optional elsewhere"),
  label: z.string().trim().min(1).max(100).optional(),
};

export const CreateLocationSchema = z
  .strictObject({
    ...PlaceFields,
    from: Instant.optional().describe("When the client began to be there (default now)"),
    to: Instant.optional().describe("When they left; without it the location holds until the next one begins"),
  })
  .refine((l) => l.country !== "US" || l.state !== undefined, { path: ["state"], message: "A US location needs a state (USPS code such as NY)" })
  .refine((l) => !l.from || !l.to || new Date(l.to) > new Date(l.from), { path: ["to"], message: "`to` must be after `from`" });

export type PlaceInput = { country: string; state?: string; label?: string; from?: Date; to?: Date | null };

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
  country: l.country,
  state: l.state,
  label: l.label,
  from: l.validFrom.toISOString(),
  to: l.validTo?.toISOString() ?? null,
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

export async function createClient(deps: ServiceDeps, scope: ProviderScope, input: unknown) {
  const { principal, providerId } = scope;
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

export async function listClients(deps: ServiceDeps, scope: ProviderScope, query: unknown) {
  const { providerId } = scope;
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
    const [row] = await tx
      .update(clients)
      .set({ ...data, updatedAt: now })
      .where(eq(clients.id, clientId))
      .returning();
    // The display name shows in "initials" and "full" feeds (SUMMARY): calendars only take the new
    // text if SEQUENCE rises and DTSTAMP/LAST-MODIFIED move (RFC 5546 2.1.4, RFC 5545 3.8.7).
    if (data.displayName !== undefined && data.displayName !== current.displayName) {
      const touched = await tx
        .update(sessions)
        .set({ sequence: sql`${sessions.sequence} + 1`, updatedAt: now })
        .where(eq(sessions.clientId, clientId))
        .returning({ id: sessions.id });
      await bumpFeedVersion(
        tx,
        current.providerId,
        touched.map((r) => r.id),
      );
    }
    await recordAudit(tx, { providerId: current.providerId, principal, action: "client.updated", subjectId: clientId, at: now });
    return toClientView(row!);
  });
}

export async function addLocation(deps: ServiceDeps, principal: Principal, clientId: string, input: unknown) {
  const data = parseInput(CreateLocationSchema, input);
  return withTransaction(deps.db, async (tx) => {
    const client = await loadClient(tx, principal, clientId);
    const now = deps.clock.now();
    return toLocationView(
      await insertLocation(tx, client, { ...data, from: data.from ? new Date(data.from) : now, to: data.to ? new Date(data.to) : null }, now),
    );
  });
}

export async function insertLocation(tx: Executor, client: ClientRow, data: PlaceInput, at: Date) {
  if (data.country === "US" && !data.state) throw new UnprocessableError("validation_failed", "A US location needs a state.", { field: "state" });
  const [row] = await tx
    .insert(clientLocations)
    .values({
      id: randomUUID(),
      providerId: client.providerId,
      clientId: client.id,
      country: data.country,
      state: data.state ?? null,
      label: data.label ?? null,
      validFrom: data.from ?? at,
      validTo: data.to ?? null,
      createdAt: at,
    })
    .returning();
  return row!;
}

/** The client's locations, archived ones included (they are history, and locationAt skips them). */
export async function loadClientLocations(db: Executor, clientIds: string[]) {
  if (clientIds.length === 0) return [];
  return db.select().from(clientLocations).where(sql`${clientLocations.clientId} in ${clientIds}`);
}

/** A current (not archived) location identical to `place`, to reuse instead of adding a copy. */
export async function findIdenticalLocation(db: Executor, clientId: string, place: { country: string; state: string | null; label?: string | null }) {
  const rows = await db
    .select()
    .from(clientLocations)
    .where(and(eq(clientLocations.clientId, clientId), isNull(clientLocations.archivedAt)))
    .orderBy(asc(clientLocations.validFrom), asc(clientLocations.id));
  return rows.find((l) => sameLocation(l, place)) ?? null;
}

export async function listLocations(deps: ServiceDeps, principal: Principal, clientId: string, query: { includeArchived?: boolean }) {
  await loadClient(deps.db, principal, clientId);
  const rows = await deps.db
    .select()
    .from(clientLocations)
    .where(and(eq(clientLocations.clientId, clientId), query.includeArchived ? undefined : isNull(clientLocations.archivedAt)))
    .orderBy(desc(clientLocations.validFrom), desc(clientLocations.id));
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
