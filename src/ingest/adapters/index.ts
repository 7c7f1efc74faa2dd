// The one place where calendar platforms connected by OAuth are registered. A new platform (CalDAV
// next) is one file in this folder plus one line here. Pulling and push channels per kind live in
// ../pull.ts and ../channels.ts.
import type { Config } from "../../config.js";
import type { ConnectionAdapters } from "../../services/connection-adapters.js";
import { createGoogleAdapter } from "./google.js";
import { createMicrosoftAdapter } from "./microsoft.js";

export function createConnectionAdapters(config: Config, fetchFn: typeof fetch = fetch): ConnectionAdapters {
  return {
    google: createGoogleAdapter(config, fetchFn),
    microsoft: createMicrosoftAdapter(config, fetchFn),
  };
}
