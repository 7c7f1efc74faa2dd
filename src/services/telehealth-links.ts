// A provider's attested platforms: one current link per platform, each with its own BAA and
// waiting-room attestation, one of them the default (docs/rules.md, "Telehealth links").
// Link rows are versions: a change makes a new row and retires the old one, so every session keeps
// pointing at the link and instructions it was booked with.
import { and, eq, gt, isNull, or, sql } from "drizzle-orm";
import { z } from "zod";
import type { Executor } from "../db/client.js";
import { sessions, telehealthLinks } from "../db/schema.js";
import { withTransaction } from "../db/tx.js";
import { assessTelehealthLink, checkTelehealthLink, type Platform } from "../domain/telehealth-link.js";
import { ConflictError, NotFoundError, parseInput, UnprocessableError } from "../errors.js";
import { recordAudit } from "./audit.js";
import type { ProviderScope } from "./auth.js";
import type { ServiceDeps } from "./deps.js";
import { bumpFeedVersion, loadProvider } from "./providers.js";

const LinkFields = {
  url: z.string().max(4096),
  instructions: z.string().max(2000).optional(),
  baaSigned: z.boolean(),
  waitingRoomEnabled: z.boolean(),
};
export const PutTelehealthLinkSchema = z.strictObject(LinkFields);
export const AddTelehealthLinkSchema = z.strictObject({
  ...LinkFields,
  isDefault: z.boolean().optional().describe("Make this the default link (the first link always is)"),
});

export type LinkRow = typeof telehealthLinks.$inferSelect;

/** One current link per platform; "other" platforms are told apart by host. */
export function platformKey(platform: Platform, url: string): string {
  return platform === "other" ? `other:${new URL(url).hostname}` : platform;
}

export function toLinkView(row: LinkRow) {
  // Re-derive warnings and help from the stored attestation: one rule, one place (the domain).
  const verdict = assessTelehealthLink({ url: row.url, baaSigned: row.baaSigned, waitingRoomEnabled: row.waitingRoomEnabled });
  return {
    id: row.id,
    url: row.url,
    platform: row.platform,
    instructions: row.instructions,
    baaSigned: row.baaSigned,
    waitingRoomEnabled: row.waitingRoomEnabled,
    compliant: row.compliant,
    isDefault: row.isDefault,
    warnings: verdict.ok ? verdict.warnings : [],
    ...(verdict.ok && verdict.waitingRoomHelp ? { waitingRoomHelp: verdict.waitingRoomHelp } : {}),
    updatedAt: row.updatedAt.toISOString(),
  };
}
export type LinkView = ReturnType<typeof toLinkView>;

const current = (providerId: string) => and(eq(telehealthLinks.providerId, providerId), isNull(telehealthLinks.retiredAt));

/** The provider's current default link, or null. */
export async function loadTelehealthLink(db: Executor, providerId: string): Promise<LinkRow | null> {
  const rows = await db
    .select()
    .from(telehealthLinks)
    .where(and(current(providerId), eq(telehealthLinks.isDefault, true)));
  return rows[0] ?? null;
}

export async function loadCurrentLinks(db: Executor, providerId: string): Promise<LinkRow[]> {
  return db.select().from(telehealthLinks).where(current(providerId)).orderBy(telehealthLinks.platformKey);
}

export async function loadLinkById(db: Executor, id: string | null): Promise<LinkRow | null> {
  if (!id) return null;
  return (await db.select().from(telehealthLinks).where(eq(telehealthLinks.id, id)))[0] ?? null;
}

/** Upcoming (not yet started) scheduled virtual sessions: the only ones a link change may reach. */
function upcoming(providerId: string, now: Date) {
  return and(eq(sessions.providerId, providerId), eq(sessions.kind, "virtual"), eq(sessions.status, "scheduled"), gt(sessions.startAt, now));
}

type SaveInput = z.infer<typeof AddTelehealthLinkSchema>;

/**
 * Saves one platform's link (a new version when anything changed) and, when it is or becomes the
 * default, moves the upcoming sessions that follow the default onto it, raising their SEQUENCE.
 * Past, in-progress, cancelled and confirmed sessions keep the link they had.
 */
async function saveLink(deps: ServiceDeps, scope: ProviderScope, data: SaveInput) {
  const { principal, providerId } = scope;
  const verdict = assessTelehealthLink(data);
  if (!verdict.ok) throw new UnprocessableError(verdict.code, verdict.message);
  return withTransaction(deps.db, async (tx) => {
    await loadProvider(tx, providerId);
    const now = deps.clock.now();
    const key = platformKey(verdict.platform, verdict.url);
    const links = await tx.select().from(telehealthLinks).where(current(providerId)).for("update");
    const same = links.find((l) => l.platformKey === key) ?? null;
    const oldDefault = links.find((l) => l.isDefault) ?? null;
    const makeDefault = data.isDefault === true || oldDefault === null || oldDefault.id === same?.id;
    const instructions = data.instructions ?? null;
    const unchanged =
      same !== null &&
      same.url === verdict.url &&
      same.instructions === instructions &&
      same.baaSigned === data.baaSigned &&
      same.waitingRoomEnabled === data.waitingRoomEnabled;

    let row: LinkRow;
    if (unchanged) {
      row = same;
      if (makeDefault && !same.isDefault) {
        if (oldDefault) await tx.update(telehealthLinks).set({ isDefault: false }).where(eq(telehealthLinks.id, oldDefault.id));
        row = (await tx.update(telehealthLinks).set({ isDefault: true, updatedAt: now }).where(eq(telehealthLinks.id, same.id)).returning())[0]!;
      }
    } else {
      if (same) await tx.update(telehealthLinks).set({ retiredAt: now, isDefault: false }).where(eq(telehealthLinks.id, same.id));
      if (makeDefault && oldDefault && oldDefault.id !== same?.id) {
        await tx.update(telehealthLinks).set({ isDefault: false }).where(eq(telehealthLinks.id, oldDefault.id));
      }
      row = (
        await tx
          .insert(telehealthLinks)
          .values({
            providerId,
            platformKey: key,
            url: verdict.url,
            platform: verdict.platform,
            instructions,
            baaSigned: data.baaSigned,
            waitingRoomEnabled: data.waitingRoomEnabled,
            compliant: verdict.compliant,
            isDefault: makeDefault,
            updatedAt: now,
          })
          .returning()
      )[0]!;
    }

    let moved = 0;
    const changedSessions: string[] = [];
    if (same && same.id !== row.id && row.compliant) {
      // Sessions on their own link of this platform keep their URL and take the new attestation. When
      // the instructions they show changed, calendars must see it (SEQUENCE, DTSTAMP).
      const visible = same.instructions !== row.instructions;
      const r = await tx
        .update(sessions)
        .set(visible ? { telehealthLinkId: row.id, sequence: sql`${sessions.sequence} + 1`, updatedAt: now } : { telehealthLinkId: row.id })
        .where(and(upcoming(providerId, now), eq(sessions.linkFollowsDefault, false), eq(sessions.telehealthLinkId, same.id)))
        .returning({ id: sessions.id });
      if (visible) {
        moved += r.length;
        changedSessions.push(...r.map((x) => x.id));
      }
    }
    if (row.isDefault && row.compliant) {
      const r = await tx
        .update(sessions)
        .set({ telehealthUrl: row.url, telehealthLinkId: row.id, sequence: sql`${sessions.sequence} + 1`, updatedAt: now })
        .where(
          and(
            upcoming(providerId, now),
            eq(sessions.linkFollowsDefault, true),
            or(sql`${sessions.telehealthLinkId} is distinct from ${row.id}`, sql`${sessions.telehealthUrl} is distinct from ${row.url}`),
          ),
        )
        .returning({ id: sessions.id });
      moved += r.length;
      changedSessions.push(...r.map((x) => x.id));
    }
    if (!unchanged || row.isDefault !== same?.isDefault || moved > 0) await bumpFeedVersion(tx, providerId, changedSessions);
    await recordAudit(tx, {
      providerId,
      principal,
      action: "telehealth_link.set",
      subjectId: row.id,
      at: now,
      data: { platform: verdict.platform, compliant: verdict.compliant, isDefault: row.isDefault, sessionsUpdated: moved },
    });
    const view = toLinkView(row);
    // The answer to this request also says when the link was unwrapped (the stored URL no longer shows it).
    return {
      ...view,
      warnings: verdict.warnings,
      ...(verdict.unwrappedFrom ? { unwrappedFrom: verdict.unwrappedFrom } : {}),
      upcomingSessionsUpdated: moved,
    };
  });
}

/** PUT the default link (the original single-link API): saves the platform's link and makes it the default. */
export async function putTelehealthLink(deps: ServiceDeps, scope: ProviderScope, input: unknown) {
  const data = parseInput(PutTelehealthLinkSchema, input);
  return saveLink(deps, scope, { ...data, isDefault: true });
}

/** Adds (or replaces) one platform's link; the default only when asked, or when there is none yet. */
export async function addTelehealthLink(deps: ServiceDeps, scope: ProviderScope, input: unknown) {
  const data = parseInput(AddTelehealthLinkSchema, input);
  return saveLink(deps, scope, data);
}

export async function listTelehealthLinks(deps: ServiceDeps, scope: ProviderScope) {
  const { providerId } = scope;
  await loadProvider(deps.db, providerId);
  return { items: (await loadCurrentLinks(deps.db, providerId)).map(toLinkView) };
}

export async function getTelehealthLink(deps: ServiceDeps, scope: ProviderScope) {
  const { providerId } = scope;
  await loadProvider(deps.db, providerId);
  const row = await loadTelehealthLink(deps.db, providerId);
  if (!row) throw new NotFoundError("telehealth link");
  return toLinkView(row);
}

/**
 * Retires one link. Refused while upcoming sessions use it (no virtual session without a link), or,
 * for the default, while upcoming sessions follow the default. Past sessions keep pointing at it.
 */
async function retireLink(deps: ServiceDeps, scope: ProviderScope, pick: (links: LinkRow[]) => LinkRow | undefined) {
  const { principal, providerId } = scope;
  await withTransaction(deps.db, async (tx) => {
    await loadProvider(tx, providerId);
    const links = await tx.select().from(telehealthLinks).where(current(providerId)).for("update");
    const row = pick(links);
    if (!row) throw new NotFoundError("telehealth link");
    const now = deps.clock.now();
    const [dependants] = await tx
      .select({ n: sql<number>`count(*)::int` })
      .from(sessions)
      .where(
        and(upcoming(providerId, now), or(eq(sessions.telehealthLinkId, row.id), row.isDefault ? eq(sessions.linkFollowsDefault, true) : undefined)),
      );
    if ((dependants?.n ?? 0) > 0) {
      throw new ConflictError("link_in_use", `${dependants!.n} upcoming virtual session(s) use this link; set another link for them first.`, {
        sessions: dependants!.n,
      });
    }
    await tx.update(telehealthLinks).set({ retiredAt: now, isDefault: false }).where(eq(telehealthLinks.id, row.id));
    // No upcoming session uses the retired link (checked above): no session's calendar text changes.
    await bumpFeedVersion(tx, providerId, []);
    await recordAudit(tx, { providerId, principal, action: "telehealth_link.deleted", subjectId: row.id, at: now });
  });
}

export async function deleteTelehealthLink(deps: ServiceDeps, scope: ProviderScope) {
  await retireLink(deps, scope, (links) => links.find((l) => l.isDefault));
}

export async function deleteTelehealthLinkById(deps: ServiceDeps, scope: ProviderScope, linkId: string) {
  await retireLink(deps, scope, (links) => links.find((l) => l.id === linkId));
}

/**
 * A session's own link: a valid meeting link on one of the platforms the provider attested as
 * compliant (BAA signed, waiting room on). A Zoom provider with Meet attested may give one client a
 * Meet link.
 */
export function checkSessionLink(raw: string, links: readonly LinkRow[]): { url: string; linkId: string } {
  const verdict = checkTelehealthLink(raw);
  if (!verdict.ok) throw new UnprocessableError(verdict.code, verdict.message, { field: "telehealthUrl" });
  const compliant = links.filter((l) => l.compliant && l.retiredAt === null);
  if (compliant.length === 0) {
    throw new UnprocessableError("no_compliant_link", "Set a compliant telehealth link (BAA signed, waiting room on) first.");
  }
  const attested = compliant.find((l) => l.platformKey === platformKey(verdict.platform, verdict.url));
  if (!attested) {
    throw new UnprocessableError(
      "platform_not_attested",
      "This link is on a platform you haven't attested (signed BAA, waiting room on). Add that platform's link first.",
      { field: "telehealthUrl" },
    );
  }
  return { url: verdict.url, linkId: attested.id };
}

/** The link a new or re-defaulted session gets: its own if given, else the compliant default. */
export function resolveBookingLink(raw: string | undefined, links: readonly LinkRow[]): { url: string; linkId: string; followsDefault: boolean } {
  if (raw !== undefined) return { ...checkSessionLink(raw, links), followsDefault: false };
  const def = links.find((l) => l.isDefault && l.retiredAt === null);
  if (!def?.compliant) {
    throw new UnprocessableError(
      "no_compliant_link",
      "A virtual session needs a compliant telehealth link: set your default link with a signed BAA and the waiting room on.",
    );
  }
  return { url: def.url, linkId: def.id, followsDefault: true };
}
