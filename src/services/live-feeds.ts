// Which feed a secret opens, held in process memory so a warm feed request runs no query; and, for
// the same reason, the webhook sources that signed deliveries name. Kept true across instances by
// PostgreSQL LISTEN/NOTIFY: every transaction that changes what a provider's feeds show, a feed's
// secret or state, or deletes a calendar source, sends a notification naming the provider; PostgreSQL
// delivers it to every listening instance once the transaction commits (this instance also drops
// the provider's entries itself after the commit, so its own next request never sees old state).
// Between a commit and another instance's receipt of the notification that instance may still
// answer the old secret: milliseconds on one network (npm run bench measures it). Without a
// listening connection the map is not used at all, and it is emptied whenever that connection
// drops or listens again, since notifications may have been missed in between.
import { sql } from "drizzle-orm";
import type { Database, Db, Executor } from "../db/client.js";
import type { feeds, providers } from "../db/schema.js";
import { afterCommit } from "../db/tx.js";
import type { SourceRow } from "./calendar-sources.js";

export const FEED_CHANGES_CHANNEL = "feed_changes";

export type LiveFeed = { feed: typeof feeds.$inferSelect; provider: typeof providers.$inferSelect };
type Entry = LiveFeed & { at: number };
/**
 * What receiving a signed webhook needs of its source, none of which changes while the source
 * lives (its kind, provider and sealed signing secret); the rest of the row is never kept here.
 */
export type IntakeSource = Pick<SourceRow, "id" | "providerId" | "kind" | "secrets">;

/** The maps of this process, by database handle, for the after-commit drop. */
const inProcess = new WeakMap<Db, Set<LiveFeeds>>();

/**
 * The SQL expression that notifies every instance of a change to `providerId`'s feeds; for a
 * statement's RETURNING list, so the notification costs no statement of its own.
 */
export function feedChangeNotice(providerId: string) {
  return sql<string>`pg_notify(${FEED_CHANGES_CHANNEL}, ${providerId}::text)`;
}

/**
 * Called in every transaction that changes what a provider's feeds show, or a feed's secret or
 * state, unless the statement already returns `feedChangeNotice` (then call `afterFeedChange`).
 * PostgreSQL delivers the notification on commit and drops it on rollback.
 */
export async function announceFeedChange(tx: Executor, providerId: string): Promise<void> {
  await tx.execute(sql`select ${feedChangeNotice(providerId)}`);
  afterFeedChange(tx, providerId);
}

/** This process's own maps forget the provider once `tx` commits. */
export function afterFeedChange(tx: Executor, providerId: string): void {
  afterCommit(tx, (db) => {
    for (const live of inProcess.get(db) ?? []) live.forget(providerId);
  });
}

export class LiveFeeds {
  private bySecretHash = new Map<string, Entry>();
  private byProvider = new Map<string, Set<string>>();
  private sources = new Map<string, { source: IntakeSource; at: number }>();
  private sourcesByProvider = new Map<string, Set<string>>();
  /** Counts changes; a lookup that began before a change concerning it is not remembered. */
  private epoch = 0;
  private clearedAt = 0;
  private forgottenAt = new Map<string, number>();
  private listening = false;
  private subscription: { stop(): Promise<void> } | undefined;

  constructor(
    private readonly database: Pick<Database, "db" | "listen">,
    private readonly opts: {
      maxEntries?: number;
      /** A belt to the braces: an entry is looked up again after this, notification or not. */
      maxAgeMs?: number;
    } = {},
  ) {}

  /** Resolves once listening; until then (and after stop) every lookup goes to the database. */
  async start(): Promise<void> {
    if (this.subscription) return;
    let set = inProcess.get(this.database.db);
    if (!set) {
      set = new Set();
      inProcess.set(this.database.db, set);
    }
    set.add(this);
    this.subscription = await this.database.listen(FEED_CHANGES_CHANNEL, {
      notify: (providerId) => this.forget(providerId),
      listening: () => {
        this.clear();
        this.listening = true;
      },
      dropped: () => {
        this.listening = false;
        this.clear();
      },
    });
  }

  async stop(): Promise<void> {
    this.listening = false;
    this.clear();
    inProcess.get(this.database.db)?.delete(this);
    const s = this.subscription;
    this.subscription = undefined;
    await s?.stop();
  }

  get size(): number {
    return this.bySecretHash.size;
  }

  /** The live feed a secret's hash opens, when known here; undefined means "ask the database". */
  get(secretHash: string, nowMs: number): LiveFeed | undefined {
    if (!this.listening) return undefined;
    const e = this.bySecretHash.get(secretHash);
    if (!e || nowMs - e.at >= (this.opts.maxAgeMs ?? 60_000)) return undefined;
    return e;
  }

  /** Taken before the database lookup whose answer is then given to `remember`. */
  mark(): number {
    return this.epoch;
  }

  remember(secretHash: string, found: LiveFeed, mark: number, nowMs: number): void {
    if (!this.listening || mark < this.clearedAt || (this.forgottenAt.get(found.provider.id) ?? -1) > mark) return;
    this.delete(secretHash);
    this.bySecretHash.set(secretHash, { ...found, at: nowMs });
    let hashes = this.byProvider.get(found.provider.id);
    if (!hashes) {
      hashes = new Set();
      this.byProvider.set(found.provider.id, hashes);
    }
    hashes.add(secretHash);
    if (this.bySecretHash.size > (this.opts.maxEntries ?? 100_000)) this.delete(this.bySecretHash.keys().next().value!);
  }

  /** The webhook source with this id, when known here; undefined means "ask the database". */
  source(id: string, nowMs: number): IntakeSource | undefined {
    if (!this.listening) return undefined;
    const e = this.sources.get(id);
    return e && nowMs - e.at < (this.opts.maxAgeMs ?? 60_000) ? e.source : undefined;
  }

  rememberSource(row: IntakeSource, mark: number, nowMs: number): void {
    if (!this.listening || mark < this.clearedAt || (this.forgottenAt.get(row.providerId) ?? -1) > mark) return;
    const source = { id: row.id, providerId: row.providerId, kind: row.kind, secrets: row.secrets };
    this.sources.set(row.id, { source, at: nowMs });
    let ids = this.sourcesByProvider.get(row.providerId);
    if (!ids) {
      ids = new Set();
      this.sourcesByProvider.set(row.providerId, ids);
    }
    ids.add(row.id);
    if (this.sources.size > (this.opts.maxEntries ?? 100_000)) {
      const oldest = this.sources.entries().next().value!;
      this.sources.delete(oldest[0]);
      this.sourcesByProvider.get(oldest[1].source.providerId)?.delete(oldest[0]);
    }
  }

  /** Everything known about a provider is stale: its data, a feed's secret or state, or a source changed. */
  forget(providerId: string): void {
    this.epoch++;
    this.forgottenAt.set(providerId, this.epoch);
    // Bounded: past this many distinct providers, forget all at once instead.
    if (this.forgottenAt.size > 10_000) this.clear();
    for (const h of this.byProvider.get(providerId) ?? []) this.bySecretHash.delete(h);
    this.byProvider.delete(providerId);
    for (const id of this.sourcesByProvider.get(providerId) ?? []) this.sources.delete(id);
    this.sourcesByProvider.delete(providerId);
  }

  clear(): void {
    this.epoch++;
    this.clearedAt = this.epoch;
    this.forgottenAt.clear();
    this.bySecretHash.clear();
    this.byProvider.clear();
    this.sources.clear();
    this.sourcesByProvider.clear();
  }

  private delete(secretHash: string): void {
    const e = this.bySecretHash.get(secretHash);
    if (!e) return;
    this.bySecretHash.delete(secretHash);
    const hashes = this.byProvider.get(e.provider.id);
    hashes?.delete(secretHash);
    if (hashes?.size === 0) this.byProvider.delete(e.provider.id);
  }
}
