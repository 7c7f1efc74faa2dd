import { z } from "zod";
import { parseNetworkAllowance } from "./domain/outbound-address.js";

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
    // Outbound requests (ics_url, Google, Graph) reach public addresses only (SSRF). The operator may
    // trust some non-public networks: a comma-separated CIDR list, or true (all; development only).
    INGEST_ALLOW_PRIVATE_HOSTS: z
      .string()
      .default("false")
      .transform((v, ctx) => {
        const allowance = parseNetworkAllowance(v);
        if (!allowance) {
          ctx.addIssue({ code: "custom", message: "must be true, false or a comma-separated list of CIDR networks" });
          return z.NEVER;
        }
        return allowance;
      }),
    // Bounded work per delivery: over any cap the delivery is rejected with the cap's code.
    INGEST_MAX_EVENTS: z.coerce.number().int().min(1).max(100_000).default(20_000),
    INGEST_MAX_INSTANCES_PER_SERIES: z.coerce.number().int().min(1).max(100_000).default(1_000),
    INGEST_WINDOW_PAST_DAYS: z.coerce.number().int().min(1).max(3_650).default(30),
    INGEST_WINDOW_FUTURE_DAYS: z.coerce.number().int().min(1).max(3_650).default(365),
    INGEST_TIME_BUDGET_MS: z.coerce.number().int().min(100).max(600_000).default(60_000),
    // Fair workers: deliveries processed at once per process (never two of one source).
    WORKER_CONCURRENCY: z.coerce.number().int().min(1).max(64).default(4),
    MAX_SOURCES_PER_PROVIDER: z.coerce.number().int().min(1).max(10_000).default(25),
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
      outboundAllowance: env.INGEST_ALLOW_PRIVATE_HOSTS,
      ingestLimits: {
        maxEvents: env.INGEST_MAX_EVENTS,
        maxInstancesPerSeries: env.INGEST_MAX_INSTANCES_PER_SERIES,
        windowPastDays: env.INGEST_WINDOW_PAST_DAYS,
        windowFutureDays: env.INGEST_WINDOW_FUTURE_DAYS,
        timeBudgetMs: env.INGEST_TIME_BUDGET_MS,
      },
      workerConcurrency: env.WORKER_CONCURRENCY,
      maxSourcesPerProvider: env.MAX_SOURCES_PER_PROVIDER,
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
