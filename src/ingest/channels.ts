// Push channels: each kind's lifecycle (Google watch channels, Graph subscriptions) is in its adapter
// (./adapters/); this is what every kind shares. Registered after a source is created, renewed
// before it lapses, released when the source goes.
import type { PushChannelRegistry, SourceRow } from "../services/calendar-sources.js";
import type { ServiceDeps } from "../services/deps.js";
import { recordDelivery } from "../services/inbox.js";
import { SOURCE_ADAPTERS } from "./adapters/index.js";
import type { ChannelContext } from "./adapters/types.js";
import { refuseUnguarded } from "./guarded-fetch.js";

export type PushChannels = PushChannelRegistry & {
  /** Replaces (Google) or extends (Graph) the channel, then queues a pull for anything missed meanwhile. */
  renew(source: SourceRow): Promise<void>;
};

/** `fetchFn` is the process's guarded client (src/ingest/guarded-fetch.ts). */
export function createPushChannels(deps: Pick<ServiceDeps, "db" | "clock" | "config">, outbound: typeof fetch): PushChannels {
  const ctx: ChannelContext = { db: deps.db, clock: deps.clock, baseUrl: deps.config.publicBaseUrl, fetchFn: refuseUnguarded(outbound) };
  return {
    async register(s) {
      await SOURCE_ADAPTERS[s.kind].channel?.register(ctx, s);
    },
    async renew(s) {
      const channel = SOURCE_ADAPTERS[s.kind].channel;
      if (!channel) return;
      await channel.renew(ctx, s);
      // Whatever was notified on the old channel while we switched is picked up by one pull.
      const now = deps.clock.now();
      await recordDelivery(deps.db, { providerId: s.providerId, sourceId: s.id, deliveryKey: `renewed:${now.toISOString()}`, kind: "pull", at: now });
    },
    async release(s) {
      await SOURCE_ADAPTERS[s.kind].channel?.release(ctx, s);
    },
  };
}
