// The one place write-back platforms are registered (as adapters/index.ts does for connections).
// Microsoft Graph is not registered yet: enabling write-back on an Outlook account answers 422
// mirror_unsupported until it is.
import type { Config } from "../config.js";
import type { MirrorPlatforms } from "../services/mirror-platforms.js";
import { createGoogleMirrorPlatform } from "./mirror-google.js";

export function createMirrorPlatforms(config: Config, fetchFn: typeof fetch): MirrorPlatforms {
  return { google: createGoogleMirrorPlatform(config.googleApiBaseUrl, fetchFn) };
}
