import { randomBytes } from "node:crypto";
import { z } from "zod";
import { parseNetworkAllowance } from "./domain/outbound-address.js";
import { parseSecretKeys, type SecretKey } from "./services/secret-box.js";

/** ADMIN_TOKEN and METRICS_TOKEN: long enough that guessing is hopeless (README, Configuration). */
export const MIN_PRODUCTION_TOKEN_LENGTH = 32;

const LogLevel = z.enum(["fatal", "error", "warn", "info", "debug", "trace", "silent"]);

const booleanFromEnv = z.enum(["true", "false", "1", "0"]).transform((v) => v === "true" || v === "1");

export const ConfigSchema = z
  .object({
    NODE_ENV: z.enum(["development", "production", "test"]).default("development"),
    PORT: z.coerce.number().int().min(0).max(65535).default(8787),
    // Loopback by default: nothing outside this machine reaches a server nobody has put behind TLS yet.
    HOST: z
      .string()
      .regex(/^[0-9A-Za-z.:-]+$/, "must be an IP address or a host name")
      .default("127.0.0.1"),
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
    // Audio-only sessions are allowed for Medicare clients behind a flag that is on by default
    // (docs/rules.md, "Confirming a session", row 3).
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
    // Abuse limits: unauthenticated failures per client address (token bucket).
    RATE_LIMIT_BURST: z.coerce.number().int().min(1).max(100_000).default(30),
    RATE_LIMIT_PER_MINUTE: z.coerce.number().min(0.1).max(100_000).default(30),
    // Proxies in front of the server whose X-Forwarded-For entries are trusted (0: use the socket).
    TRUSTED_PROXY_HOPS: z.coerce.number().int().min(0).max(10).default(0),
    // Bytes of request bodies held in memory at once across all requests; beyond it, 503.
    BODY_BUFFER_MAX_BYTES: z.coerce
      .number()
      .int()
      .min(1024 * 1024)
      .default(64 * 1024 * 1024),
    BODY_TIMEOUT_MS: z.coerce.number().int().min(100).max(600_000).default(20_000),
    HTTP_HEADERS_TIMEOUT_MS: z.coerce.number().int().min(100).max(600_000).default(10_000),
    HTTP_REQUEST_TIMEOUT_MS: z.coerce.number().int().min(100).max(3_600_000).default(60_000),
    // A request still unanswered after this gets 503 with Retry-After (a hung database).
    REQUEST_DEADLINE_MS: z.coerce.number().int().min(100).max(600_000).default(4_500),
    DB_POOL_MAX: z.coerce.number().int().min(1).max(1000).default(10),
    DB_CONNECT_TIMEOUT_MS: z.coerce.number().int().min(100).max(60_000).default(2_000),
    DB_STATEMENT_TIMEOUT_MS: z.coerce.number().int().min(100).max(3_600_000).default(15_000),
    // Payloads of applied (or rejected) deliveries are cleared after this; the rows stay.
    DELIVERY_PAYLOAD_RETENTION_HOURS: z.coerce
      .number()
      .min(0)
      .max(24 * 3650)
      .default(168),
    // AES-256-GCM keys for credentials at rest: "id:base64key[,id:base64key...]", newest first.
    SECRETS_KEY: z.string().optional(),
    GOOGLE_OAUTH_CLIENT_ID: z.string().min(1).max(512).optional(),
    GOOGLE_OAUTH_CLIENT_SECRET: z.string().min(1).max(512).optional(),
    GOOGLE_OAUTH_AUTHORIZATION_URL: z.url({ protocol: /^https?$/ }).default("https://accounts.google.com/o/oauth2/v2/auth"),
    GOOGLE_OAUTH_TOKEN_URL: z.url({ protocol: /^https?$/ }).default("https://oauth2.googleapis.com/token"),
    GOOGLE_OAUTH_REVOCATION_URL: z.url({ protocol: /^https?$/ }).default("https://oauth2.googleapis.com/revoke"),
    MICROSOFT_OAUTH_CLIENT_ID: z.string().min(1).max(512).optional(),
    MICROSOFT_OAUTH_CLIENT_SECRET: z.string().min(1).max(512).optional(),
    MICROSOFT_OAUTH_TENANT: z
      .string()
      .regex(/^[A-Za-z0-9.-]{1,100}$/)
      .default("common"),
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
    const oauthEndpoints = [
      env.GOOGLE_OAUTH_AUTHORIZATION_URL,
      env.GOOGLE_OAUTH_TOKEN_URL,
      env.GOOGLE_OAUTH_REVOCATION_URL,
      env.MICROSOFT_OAUTH_AUTHORIZATION_URL,
      env.MICROSOFT_OAUTH_TOKEN_URL,
    ];
    if (env.NODE_ENV === "production" && oauthEndpoints.some((u) => u !== undefined && !u.startsWith("https://"))) {
      ctx.addIssue({ code: "custom", path: ["GOOGLE_OAUTH_TOKEN_URL"], message: "OAuth endpoints must be https:// URLs when NODE_ENV=production" });
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
      rateLimit: { burst: env.RATE_LIMIT_BURST, perMinute: env.RATE_LIMIT_PER_MINUTE },
      trustedProxyHops: env.TRUSTED_PROXY_HOPS,
      http: {
        bodyBufferMaxBytes: env.BODY_BUFFER_MAX_BYTES,
        bodyTimeoutMs: env.BODY_TIMEOUT_MS,
        headersTimeoutMs: env.HTTP_HEADERS_TIMEOUT_MS,
        requestTimeoutMs: env.HTTP_REQUEST_TIMEOUT_MS,
        requestDeadlineMs: env.REQUEST_DEADLINE_MS,
      },
      db: { poolMax: env.DB_POOL_MAX, connectTimeoutMs: env.DB_CONNECT_TIMEOUT_MS, statementTimeoutMs: env.DB_STATEMENT_TIMEOUT_MS },
      deliveryPayloadRetentionHours: env.DELIVERY_PAYLOAD_RETENTION_HOURS,
      secretKeys,
      oauth: {
        google:
          env.GOOGLE_OAUTH_CLIENT_ID && env.GOOGLE_OAUTH_CLIENT_SECRET
            ? {
                clientId: env.GOOGLE_OAUTH_CLIENT_ID,
                clientSecret: env.GOOGLE_OAUTH_CLIENT_SECRET,
                authorizationUrl: env.GOOGLE_OAUTH_AUTHORIZATION_URL,
                tokenUrl: env.GOOGLE_OAUTH_TOKEN_URL,
                revocationUrl: env.GOOGLE_OAUTH_REVOCATION_URL as string | undefined,
              }
            : null,
        microsoft:
          env.MICROSOFT_OAUTH_CLIENT_ID && env.MICROSOFT_OAUTH_CLIENT_SECRET
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
