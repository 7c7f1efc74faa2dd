// The one place write-back platforms are registered (as adapters/index.ts does for connections).
import type { Config } from "../config.js";
import type { MirrorPlatforms } from "../services/mirror-platforms.js";
import { createGoogleMirrorPlatform } from "./mirror-google.js";
import { createMicrosoftMirrorPlatform } from "./mirror-microsoft.js";

export function createMirrorPlatforms(config: Config, fetchFn: typeof fetch): MirrorPlatforms {
  return {
    google: createGoogleMirrorPlatform(config.googleApiBaseUrl, fetchFn),
    microsoft: createMicrosoftMirrorPlatform(config.microsoftGraphBaseUrl, fetchFn),
  };
}
