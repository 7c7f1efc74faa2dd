import { randomUUID } from "node:crypto";
import { eq, sql } from "drizzle-orm";
import { z } from "zod";
import type { Executor } from "../db/client.js";
import { type License, providers } from "../db/schema.js";
import { withTransaction } from "../db/tx.js";
import { COMPACTS, hasFullLicenseIn, normalizeStateCode, StateCodeSchema } from "../domain/jurisdictions.js";
import { isValidTimezone } from "../domain/timezone.js";
import { ForbiddenError, NotFoundError, parseInput, UnprocessableError } from "../errors.js";
import { recordAudit } from "./audit.js";
import { assertAdmin, type ProviderScope } from "./auth.js";
import type { Principal, ServiceDeps } from "./deps.js";
import { afterFeedChange, announceFeedChange, feedChangeNotice } from "./live-feeds.js";
import { enqueueMirrorWrites } from "./mirror-outbox.js";

export const LicenseSchema = z.strictObject({
  state: StateCodeSchema,
  via: z
    .string()
    .trim()
    .toUpperCase()
    .refine((v) => Object.hasOwn(COMPACTS, v), `one of ${Object.keys(COMPACTS).join(", ")}`)
    .optional()
    .describe("Compact under which the privilege to practise in `state` is held, e.g. PSYPACT"),
  verified: z
    .boolean()
    .optional()
    .describe("Set by the network (admin) only: licenses a provider adds stay unverified, and count for nothing, until verified"),
});

const ProviderFields = {
  name: z.string().trim().min(1).max(200),
  timezone: z.string().refine(isValidTimezone, "an IANA time zone such as America/New_York"),
  licenses: z.array(LicenseSchema).max(60),
  credentialedStates: z.array(StateCodeSchema).max(60),
};

export const CreateProviderSchema = z.strictObject(ProviderFields);
export const UpdateProviderSchema = z.strictObject(ProviderFields).partial();
export type CreateProviderInput = z.input<typeof CreateProviderSchema>;

export type ProviderView = {
  id: string;
  name: string;
  timezone: string;
  licenses: License[];
  credentialedStates: string[];
  createdAt: string;
  updatedAt: string;
};

type ProviderRow = typeof providers.$inferSelect;

export function toProviderView(p: ProviderRow): ProviderView {
  return {
    id: p.id,
    name: p.name,
    timezone: p.timezone,
    licenses: p.licenses.map((l) => ({ ...l, verified: l.verified !== false })),
    credentialedStates: p.credentialedStates,
    createdAt: p.createdAt.toISOString(),
    updatedAt: p.updatedAt.toISOString(),
  };
}

/**
 * The network credentials a provider under a full state license it has verified: a compact privilege
 * is never compatible with credentialing (docs/rules.md, "Licensed and credentialed").
 */
function checkCredentialedAreLicensed(licenses: License[], credentialed: string[]): void {
  const missing = credentialed.filter((s) => !hasFullLicenseIn(licenses, s));
  if (missing.length > 0) {
    throw new UnprocessableError(
      "credentialed_without_license",
      `Credentialing needs a verified full state license (a compact privilege never counts); none for ${missing.join(", ")}.`,
      { states: missing },
    );
  }
}

const dedupe = <T>(xs: T[], key: (x: T) => string) => [...new Map(xs.map((x) => [key(x), x])).values()];
const licenseKey = (l: License) => `${normalizeStateCode(l.state)}|${l.via ?? ""}`;

/** Stored form: `verified` only when false, so licenses the network set read as before. */
function storeLicense(l: { state: string; via?: string | undefined }, verified: boolean): License {
  return { state: l.state, ...(l.via !== undefined ? { via: l.via } : {}), ...(verified ? {} : { verified: false }) };
}

/**
 * Licenses after a change. The network (admin) sets them as given, verified unless it says
 * otherwise. A provider may add licenses, which stay unverified until the network verifies them,
 * and may drop one; it can never verify one, and a license it sends again keeps its status.
 */
function nextLicenses(principal: Principal, current: License[], given: z.infer<typeof LicenseSchema>[]): License[] {
  const list = dedupe(given, licenseKey);
  if (principal.kind === "admin") return list.map((l) => storeLicense(l, l.verified !== false));
  if (list.some((l) => l.verified !== undefined)) {
    throw new ForbiddenError("admin_only", "Only the network verifies licenses. Add the license; it stays unverified until the network checks it.", {
      field: "licenses",
    });
  }
  const known = new Map(current.map((l) => [licenseKey(l), l]));
  return list.map((l) => storeLicense(l, known.get(licenseKey(l))?.verified !== false && known.has(licenseKey(l))));
}
export async function createProvider(deps: ServiceDeps, principal: Principal, input: unknown): Promise<ProviderView> {
  assertAdmin(principal);
  const data = parseInput(CreateProviderSchema, input);
  const licenses = nextLicenses(principal, [], data.licenses);
  const credentialedStates = [...new Set(data.credentialedStates)];
  checkCredentialedAreLicensed(licenses, credentialedStates);
  return withTransaction(deps.db, async (tx) => {
    const now = deps.clock.now();
    const [row] = await tx
      .insert(providers)
      .values({ id: randomUUID(), name: data.name, timezone: data.timezone, licenses, credentialedStates, createdAt: now, updatedAt: now })
      .returning();
    await recordAudit(tx, { providerId: row!.id, principal, action: "provider.created", subjectId: row!.id, at: now });
    return toProviderView(row!);
  });
}

export async function loadProvider(db: Executor, providerId: string): Promise<ProviderRow> {
  const rows = await db.select().from(providers).where(eq(providers.id, providerId));
  if (!rows[0]) throw new NotFoundError("provider");
  return rows[0];
}

export async function getProvider(deps: ServiceDeps, scope: ProviderScope): Promise<ProviderView> {
  const { providerId } = scope;
  return toProviderView(await loadProvider(deps.db, providerId));
}

export async function updateProvider(deps: ServiceDeps, scope: ProviderScope, input: unknown): Promise<ProviderView> {
  const { principal, providerId } = scope;
  const data = parseInput(UpdateProviderSchema, input);
  return withTransaction(deps.db, async (tx) => {
    const current = await loadProvider(tx, providerId);
    const licenses = data.licenses ? nextLicenses(principal, current.licenses, data.licenses) : current.licenses;
    const credentialedStates = data.credentialedStates ? [...new Set(data.credentialedStates)] : current.credentialedStates;
    // Network credentialing decides billing, so only the network sets it.
    const sameSet = (a: string[], b: string[]) => a.length === b.length && a.every((x) => b.includes(x));
    if (principal.kind !== "admin" && !sameSet(credentialedStates, current.credentialedStates)) {
      throw new ForbiddenError(
        "admin_only",
        "Only the network sets the states you are credentialed in. Begin credentialing with the network instead.",
        {
          field: "credentialedStates",
        },
      );
    }
    checkCredentialedAreLicensed(licenses, credentialedStates);
    const now = deps.clock.now();
    const [row] = await tx
      .update(providers)
      .set({
        name: data.name ?? current.name,
        timezone: data.timezone ?? current.timezone,
        licenses,
        credentialedStates,
        updatedAt: now,
        // Name and time zone show in feeds (X-WR-CALNAME, X-WR-TIMEZONE).
        dataVersion: sql`${providers.dataVersion} + 1`,
      })
      .where(eq(providers.id, providerId))
      .returning();
    await announceFeedChange(tx, providerId);
    await recordAudit(tx, { providerId, principal, action: "provider.updated", subjectId: providerId, at: now });
    return toProviderView(row!);
  });
}

/**
 * The one place a transaction says "what calendars show changed": the feed version moves (and, in
 * the same statement, every instance is told: LISTEN/NOTIFY on commit, see live-feeds.ts), and each
 * changed session gets a write-back outbox row per live mirror (src/services/mirror-outbox.ts).
 */
export async function bumpFeedVersion(tx: Executor, providerId: string, changedSessionIds: readonly string[]): Promise<void> {
  await tx
    .update(providers)
    .set({ dataVersion: sql`${providers.dataVersion} + 1` })
    .where(eq(providers.id, providerId))
    .returning({ notified: feedChangeNotice(providerId) });
  afterFeedChange(tx, providerId);
  await enqueueMirrorWrites(tx, providerId, changedSessionIds);
}

/** The operator's list of every provider, by name (the settings pages' admin view). */
export async function listProviders(deps: ServiceDeps, principal: Principal): Promise<ProviderView[]> {
  assertAdmin(principal);
  const rows = await deps.db.select().from(providers).orderBy(providers.name, providers.id).limit(1000);
  return rows.map(toProviderView);
}
