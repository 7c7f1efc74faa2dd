import { z } from "zod";

/** ADMIN_TOKEN and METRICS_TOKEN: long enough that guessing is hopeless (README, Configuration). */
export const MIN_PRODUCTION_TOKEN_LENGTH = 32;

const LogLevel = z.enum(["fatal", "error", "warn", "info", "debug", "trace", "silent"]);

const booleanFromEnv = z
  .enum(["true", "false", "1", "0"])
  .transform((v) => v === "true" || v === "1");

export const ConfigSchema = z
  .object({
    NODE_ENV: z.enum(["development", "production", "test"]).default("development"),
    PORT: z.coerce.number().int().min(0).max(65535).default(8787),
    // Loopback by default: nothing outside this machine reaches a server nobody has put behind TLS yet.
    HOST: z.string().regex(/^[0-9A-Za-z.:-]+$/, "must be an IP address or a host name").default("127.0.0.1"),
    DATABASE_URL: z
      .string()
      .regex(/^postgres(ql)?:\/\//, "must be a postgres:// URL")
      .optional(),
    DATA_DIR: z.string().min(1).default("./data"),
    PUBLIC_BASE_URL: z.url({ protocol: /^https?$/ }).optional(),
    ADMIN_TOKEN: z.string().min(1).optional(),
    LOG_LEVEL: LogLevel.default("info"),
    // The bearer token a Prometheus scraper sends to /metrics (the admin token works too).
    METRICS_TOKEN: z.string().min(MIN_PRODUCTION_TOKEN_LENGTH, `must be at least ${MIN_PRODUCTION_TOKEN_LENGTH} characters`).optional(),
    // SPEC 4.2: audio-only sessions are allowed for Medicare clients behind a flag that is on by default.
    AUDIO_ONLY_FOR_MEDICARE: booleanFromEnv.default(true),
    WORKER_ENABLED: booleanFromEnv.default(true),
    ICS_POLL_INTERVAL_SECONDS: z.coerce.number().int().min(60).max(86_400).default(900),
    GOOGLE_API_BASE_URL: z.url({ protocol: /^https?$/ }).default("https://www.googleapis.com/calendar/v3"),
    MICROSOFT_GRAPH_BASE_URL: z.url({ protocol: /^https?$/ }).default("https://graph.microsoft.com/v1.0"),
    // Off in production: ics_url sources may not point at loopback or private addresses (SSRF).
    INGEST_ALLOW_PRIVATE_HOSTS: booleanFromEnv.default(false),
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
    if (env.NODE_ENV === "production" && env.ADMIN_TOKEN !== undefined && env.ADMIN_TOKEN.length < MIN_PRODUCTION_TOKEN_LENGTH) {
      ctx.addIssue({
        code: "custom",
        path: ["ADMIN_TOKEN"],
        message: `must be at least ${MIN_PRODUCTION_TOKEN_LENGTH} characters when NODE_ENV=production`,
      });
      return z.NEVER;
    }
    return {
      nodeEnv: env.NODE_ENV,
      port: env.PORT,
      host: env.HOST,
      databaseUrl: env.DATABASE_URL,
      dataDir: env.DATA_DIR,
      publicBaseUrl,
      adminToken: env.ADMIN_TOKEN,
      logLevel: env.LOG_LEVEL,
      metricsToken: env.METRICS_TOKEN,
      policy: { audioOnlyForMedicare: env.AUDIO_ONLY_FOR_MEDICARE },
      workerEnabled: env.WORKER_ENABLED,
      icsPollIntervalSeconds: env.ICS_POLL_INTERVAL_SECONDS,
      googleApiBaseUrl: env.GOOGLE_API_BASE_URL.replace(/\/+$/, ""),
      microsoftGraphBaseUrl: env.MICROSOFT_GRAPH_BASE_URL.replace(/\/+$/, ""),
      ingestAllowPrivateHosts: env.INGEST_ALLOW_PRIVATE_HOSTS,
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
