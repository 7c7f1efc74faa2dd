import { randomBytes } from "node:crypto";
import { z } from "zod";
import { parseSecretKeys, type SecretKey } from "./services/secret-box.js";

const LogLevel = z.enum(["fatal", "error", "warn", "info", "debug", "trace", "silent"]);

const booleanFromEnv = z
  .enum(["true", "false", "1", "0"])
  .transform((v) => v === "true" || v === "1");

export const ConfigSchema = z
  .object({
    NODE_ENV: z.enum(["development", "production", "test"]).default("development"),
    PORT: z.coerce.number().int().min(0).max(65535).default(8787),
    DATABASE_URL: z
      .string()
      .regex(/^postgres(ql)?:\/\//, "must be a postgres:// URL")
      .optional(),
    DATA_DIR: z.string().min(1).default("./data"),
    PUBLIC_BASE_URL: z.url({ protocol: /^https?$/ }).optional(),
    ADMIN_TOKEN: z.string().min(1).optional(),
    LOG_LEVEL: LogLevel.default("info"),
    // SPEC 4.2: audio-only sessions are allowed for Medicare clients behind a flag that is on by default.
    AUDIO_ONLY_FOR_MEDICARE: booleanFromEnv.default(true),
    WORKER_ENABLED: booleanFromEnv.default(true),
    ICS_POLL_INTERVAL_SECONDS: z.coerce.number().int().min(60).max(86_400).default(900),
    GOOGLE_API_BASE_URL: z.url({ protocol: /^https?$/ }).default("https://www.googleapis.com/calendar/v3"),
    MICROSOFT_GRAPH_BASE_URL: z.url({ protocol: /^https?$/ }).default("https://graph.microsoft.com/v1.0"),
    // Off in production: ics_url sources may not point at loopback or private addresses (SSRF).
    INGEST_ALLOW_PRIVATE_HOSTS: booleanFromEnv.default(false),
    // AES-256-GCM keys for credentials at rest: "id:base64key[,id:base64key...]", newest first.
    SECRETS_KEY: z.string().optional(),
    GOOGLE_OAUTH_CLIENT_ID: z.string().min(1).max(512).optional(),
    GOOGLE_OAUTH_CLIENT_SECRET: z.string().min(1).max(512).optional(),
    GOOGLE_OAUTH_AUTHORIZATION_URL: z.url({ protocol: /^https?$/ }).default("https://accounts.google.com/o/oauth2/v2/auth"),
    GOOGLE_OAUTH_TOKEN_URL: z.url({ protocol: /^https?$/ }).default("https://oauth2.googleapis.com/token"),
    GOOGLE_OAUTH_REVOCATION_URL: z.url({ protocol: /^https?$/ }).default("https://oauth2.googleapis.com/revoke"),
    MICROSOFT_OAUTH_CLIENT_ID: z.string().min(1).max(512).optional(),
    MICROSOFT_OAUTH_CLIENT_SECRET: z.string().min(1).max(512).optional(),
    MICROSOFT_OAUTH_TENANT: z.string().regex(/^[A-Za-z0-9.-]{1,100}$/).default("common"),
    MICROSOFT_OAUTH_AUTHORIZATION_URL: z.url({ protocol: /^https?$/ }).optional(),
    MICROSOFT_OAUTH_TOKEN_URL: z.url({ protocol: /^https?$/ }).optional(),
  })
  .transform((env, ctx) => {
    const publicBaseUrl = (env.PUBLIC_BASE_URL ?? `http://localhost:${env.PORT}`).replace(/\/+$/, "");
    if (env.NODE_ENV === "production" && !publicBaseUrl.startsWith("https://")) {
      ctx.addIssue({
        code: "custom",
        path: ["PUBLIC_BASE_URL"],
        message: "must be an https:// URL when NODE_ENV=production",
      });
      return z.NEVER;
    }
    const keys = env.SECRETS_KEY ? parseSecretKeys(env.SECRETS_KEY) : { ok: true as const, keys: [] as SecretKey[] };
    if (!keys.ok) {
      ctx.addIssue({ code: "custom", path: ["SECRETS_KEY"], message: keys.message });
      return z.NEVER;
    }
    if (keys.keys.length === 0 && env.NODE_ENV === "production") {
      ctx.addIssue({ code: "custom", path: ["SECRETS_KEY"], message: "is required when NODE_ENV=production" });
      return z.NEVER;
    }
    // Tests get a fresh key in memory; development reads or creates DATA_DIR/secrets.key (main.ts).
    const secretKeys = keys.keys.length === 0 && env.NODE_ENV === "test" ? [{ id: "test", key: randomBytes(32) }] : keys.keys;
    const tenant = env.MICROSOFT_OAUTH_TENANT;
    const oauthEndpoints = [env.GOOGLE_OAUTH_AUTHORIZATION_URL, env.GOOGLE_OAUTH_TOKEN_URL, env.GOOGLE_OAUTH_REVOCATION_URL, env.MICROSOFT_OAUTH_AUTHORIZATION_URL, env.MICROSOFT_OAUTH_TOKEN_URL];
    if (env.NODE_ENV === "production" && oauthEndpoints.some((u) => u !== undefined && !u.startsWith("https://"))) {
      ctx.addIssue({ code: "custom", path: ["GOOGLE_OAUTH_TOKEN_URL"], message: "OAuth endpoints must be https:// URLs when NODE_ENV=production" });
      return z.NEVER;
    }
    return {
      nodeEnv: env.NODE_ENV,
      port: env.PORT,
      databaseUrl: env.DATABASE_URL,
      dataDir: env.DATA_DIR,
      publicBaseUrl,
      adminToken: env.ADMIN_TOKEN,
      logLevel: env.LOG_LEVEL,
      policy: { audioOnlyForMedicare: env.AUDIO_ONLY_FOR_MEDICARE },
      workerEnabled: env.WORKER_ENABLED,
      icsPollIntervalSeconds: env.ICS_POLL_INTERVAL_SECONDS,
      googleApiBaseUrl: env.GOOGLE_API_BASE_URL.replace(/\/+$/, ""),
      microsoftGraphBaseUrl: env.MICROSOFT_GRAPH_BASE_URL.replace(/\/+$/, ""),
      ingestAllowPrivateHosts: env.INGEST_ALLOW_PRIVATE_HOSTS,
      secretKeys,
      oauth: {
        google: env.GOOGLE_OAUTH_CLIENT_ID && env.GOOGLE_OAUTH_CLIENT_SECRET
          ? {
              clientId: env.GOOGLE_OAUTH_CLIENT_ID,
              clientSecret: env.GOOGLE_OAUTH_CLIENT_SECRET,
              authorizationUrl: env.GOOGLE_OAUTH_AUTHORIZATION_URL,
              tokenUrl: env.GOOGLE_OAUTH_TOKEN_URL,
              revocationUrl: env.GOOGLE_OAUTH_REVOCATION_URL as string | undefined,
            }
          : null,
        microsoft: env.MICROSOFT_OAUTH_CLIENT_ID && env.MICROSOFT_OAUTH_CLIENT_SECRET
          ? {
              clientId: env.MICROSOFT_OAUTH_CLIENT_ID,
              clientSecret: env.MICROSOFT_OAUTH_CLIENT_SECRET,
              authorizationUrl: env.MICROSOFT_OAUTH_AUTHORIZATION_URL ?? `https://login.microsoftonline.com/${tenant}/oauth2/v2.0/authorize`,
              tokenUrl: env.MICROSOFT_OAUTH_TOKEN_URL ?? `https://login.microsoftonline.com/${tenant}/oauth2/v2.0/token`,
              // The Microsoft identity platform has no RFC 7009 revocation endpoint.
              revocationUrl: undefined as string | undefined,
            }
          : null,
      },
    };
  });

export type Config = z.output<typeof ConfigSchema>;

export type ConfigResult = { ok: true; config: Config } | { ok: false; badKeys: string[]; messages: string[] };

/** Pure: parses the environment. Lists every bad key with the rule it broke, never its value. */
export function loadConfig(env: Record<string, string | undefined>): ConfigResult {
  // Empty strings count as unset, as shells and .env files make them easily.
  const cleaned = Object.fromEntries(Object.entries(env).filter(([, v]) => v !== undefined && v !== ""));
  const parsed = ConfigSchema.safeParse(cleaned);
  if (parsed.success) return { ok: true, config: parsed.data };
  const badKeys = [...new Set(parsed.error.issues.map((i) => String(i.path[0] ?? "(config)")))];
  const messages = parsed.error.issues.map((i) => `${String(i.path[0] ?? "(config)")}: ${i.message}`);
  return { ok: false, badKeys, messages };
}
