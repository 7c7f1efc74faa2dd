// The one place where the kinds of calendar source are registered: each is one file in this folder
// (pull, push channel, push verification, and OAuth consent where the platform has it). A new kind
// (CalDAV next) is one file plus one line here, and its name in SOURCE_KINDS (src/domain/value-lists.ts).
import type { Config } from "../../config.js";
import type { SourceKind } from "../../domain/value-lists.js";
import type { SourceRow } from "../../services/calendar-sources.js";
import type { ConnectionAdapters } from "../../services/connection-adapters.js";
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
  return {
    google: googleSource.connect!(config, fetchFn),
    microsoft: microsoftSource.connect!(config, fetchFn),
  };
}

/** `fetchFn` is the process's guarded client (src/ingest/guarded-fetch.ts). */
export function pullSource(source: SourceRow, ctx: PullContext): Promise<PullResult> {
  return SOURCE_ADAPTERS[source.kind].pull(source, { ...ctx, fetchFn: refuseUnguarded(ctx.fetchFn) });
}
