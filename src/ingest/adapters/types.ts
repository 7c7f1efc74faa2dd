// What each kind of calendar source is to the server, in one object per kind (one file each in this
// folder, registered in ./index.ts): how its events are pulled, how its push channel lives and,
// for platforms connected by OAuth, how it is connected and how sessions are written to it. How its push messages are verified sits in
// the same file, beside the route that receives them (src/routes/webhooks.ts).
import type { Config } from "../../config.js";
import type { Executor } from "../../db/client.js";
import type { Clock } from "../../domain/clock.js";
import type { SourceKind } from "../../domain/value-lists.js";
import type { SourceRow } from "../../services/calendar-sources.js";
import type { ConnectionAdapter } from "../../services/connection-adapters.js";
import type { MirrorPlatform } from "../../services/mirror-platforms.js";
import type { IngestLimits, PullResult } from "../pull.js";

export type PullContext = { full: boolean; now: Date; timezone: string; fetchFn: typeof fetch; limits: IngestLimits };

/** What a push channel's lifecycle needs: the database, the clock, our public base URL, the guarded client. */
export type ChannelContext = { db: Executor; clock: Clock; baseUrl: string; fetchFn: typeof fetch };

export type PushChannel = {
  /** Opens the channel (Google watch, Graph subscription) after the source is created. */
  register(ctx: ChannelContext, source: SourceRow): Promise<void>;
  /** Replaces or extends the channel before it lapses. */
  renew(ctx: ChannelContext, source: SourceRow): Promise<void>;
  /** Closes it when the source goes. */
  release(ctx: ChannelContext, source: SourceRow): Promise<void>;
};

export type SourceAdapter = {
  kind: SourceKind;
  /** The source's events now, or its changes since its cursor; no database here (the worker applies). */
  pull(source: SourceRow, ctx: PullContext): Promise<PullResult>;
  /** For platforms that push changes. */
  channel?: PushChannel;
  /** For platforms connected with OAuth: consent and the account's calendars. */
  connect?: (config: Config, fetchFn: typeof fetch) => ConnectionAdapter;
  /** For platforms sessions can be written to (write-back): a calendar of ours and its events. */
  writeBack?: (config: Config, fetchFn: typeof fetch) => MirrorPlatform;
};
