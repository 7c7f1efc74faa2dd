// The one place where the kinds of calendar source are registered: each is one file in this folder
// (pull, push channel, push verification, and OAuth consent and write-back where the platform has
// them). A new kind (CalDAV next) is one file plus one line here, and its name in SOURCE_KINDS
// (src/domain/value-lists.ts).
import type { Config } from "../../config.js";
import { CONNECTION_KINDS, type ConnectionKind, type SourceKind } from "../../domain/value-lists.js";
import type { SourceRow } from "../../services/calendar-sources.js";
import type { ConnectionAdapters } from "../../services/connection-adapters.js";
import type { MirrorPlatforms } from "../../services/mirror-platforms.js";
import { refuseUnguarded } from "../guarded-fetch.js";
import type { PullResult } from "../pull.js";
import { googleSource } from "./google.js";
import { icsUrlSource } from "./ics-url.js";
import { icsWebhookSource } from "./ics-webhook.js";
import { microsoftSource } from "./microsoft.js";
import type { PullContext, SourceAdapter } from "./types.js";

export const SOURCE_ADAPTERS: Record<SourceKind, SourceAdapter> = {
  ics_webhook: icsWebhookSource,
  ics_url: icsUrlSource,
  google: googleSource,
  microsoft: microsoftSource,
};

/** The platforms connected with OAuth, as the services see them. */
export function createConnectionAdapters(config: Config, fetchFn: typeof fetch = fetch): ConnectionAdapters {
  const connectionOf = (kind: ConnectionKind) => {
    const connect = SOURCE_ADAPTERS[kind].connect;
    if (!connect) throw new Error(`the ${kind} source adapter has no connect`);
    return connect(config, fetchFn);
  };
  return Object.fromEntries(CONNECTION_KINDS.map((kind) => [kind, connectionOf(kind)])) as ConnectionAdapters;
}

/** The platforms sessions can be written to (write-back). */
export function createMirrorPlatforms(config: Config, fetchFn: typeof fetch): MirrorPlatforms {
  const out: MirrorPlatforms = {};
  for (const kind of CONNECTION_KINDS) {
    const writeBack = SOURCE_ADAPTERS[kind].writeBack;
    if (writeBack) out[kind] = writeBack(config, fetchFn);
  }
  return out;
}

/** `fetchFn` is the process's guarded client (src/ingest/guarded-fetch.ts). */
export function pullSource(source: SourceRow, ctx: PullContext): Promise<PullResult> {
  return SOURCE_ADAPTERS[source.kind].pull(source, { ...ctx, fetchFn: refuseUnguarded(ctx.fetchFn) });
}
