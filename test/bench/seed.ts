// Bench data. The provider under test, its link, clients and feed go through the HTTP API; bulk
// sessions (and the 10,000 other providers of the scale run) are written straight into the tables
// with postgres.js COPY, then providers.data_version is bumped as a service would.
import { createHash, randomBytes, randomUUID } from "node:crypto";
import { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import type postgres from "postgres";
import { apiJson, type ServerHandle } from "./servers.js";

export const ZOOM_URL = "https://zoom.us/j/1234567890";
const DAY = 86_400_000;

export type SeededProvider = { providerId: string; clientIds: string[]; secret: string; feedPath: string };

/** Provider, compliant Zoom link, clients and a default feed, all through /api/v1. */
export async function seedProviderViaApi(server: ServerHandle, clients = 20): Promise<SeededProvider> {
  const provider = await apiJson<{ id: string }>(server, "POST", "/api/v1/providers", {
    name: "Dr Bench Provider",
    timezone: "America/New_York",
    licenses: [{ state: "NY" }, { state: "NJ" }],
    credentialedStates: ["NY"],
  });
  await apiJson(server, "PUT", `/api/v1/providers/${provider.id}/telehealth-link`, {
    url: ZOOM_URL,
    instructions: "Join 5 minutes early; the waiting room admits you.",
    baaSigned: true,
    waitingRoomEnabled: true,
  });
  const clientIds: string[] = [];
  for (let i = 0; i < clients; i++) {
    const c = await apiJson<{ id: string }>(server, "POST", `/api/v1/providers/${provider.id}/clients`, {
      displayName: `Client Bench ${i}`,
      insurance: "in_network",
      medicare: i % 5 === 0,
    });
    clientIds.push(c.id);
  }
  const feed = await apiJson<{ url: string }>(server, "POST", `/api/v1/providers/${provider.id}/feeds`, { name: "Sessions" });
  const feedPath = new URL(feed.url).pathname;
  const secret = /\/feeds\/([A-Za-z0-9_-]{43})\.ics$/.exec(feedPath)?.[1];
  if (!secret) throw new Error(`unexpected feed URL shape: ${feedPath}`);
  return { providerId: provider.id, clientIds, secret, feedPath };
}

const SESSION_COLUMNS = [
  "id",
  "provider_id",
  "client_id",
  "uid",
  "sequence",
  "start_at",
  "end_at",
  "kind",
  "modality",
  "status",
  "cancelled_at",
  "created_at",
  "updated_at",
] as const;

/**
 * n session rows for one provider, spread over the default feed window (30 days back, 180 ahead),
 * 50 minutes each: 5% in person, 5% audio-only (Medicare clients), 2% cancelled yesterday. As TSV
 * lines for COPY (\N is NULL).
 */
export function* sessionLines(providerId: string, clientIds: readonly string[], n: number, now: number): Generator<string> {
  const today = Math.floor(now / DAY) * DAY;
  for (let i = 0; i < n; i++) {
    const day = Math.floor((i * 208) / n) - 29;
    const start = new Date(today + day * DAY + (13 + (i % 8)) * 3600_000);
    const end = new Date(start.getTime() + 50 * 60_000);
    const inPerson = i % 20 === 7;
    const cancelled = i % 50 === 13;
    const client = clientIds[i % clientIds.length]!;
    const audio = !inPerson && i % 20 === 0; // client index 0 mod 5 is a Medicare client
    const updated = new Date(now - ((i * 7919) % 40) * DAY - 3600_000).toISOString();
    yield [
      randomUUID(),
      providerId,
      client,
      `${randomBytes(16).toString("hex")}@telehealth-calendar`,
      cancelled ? "1" : "0",
      start.toISOString(),
      end.toISOString(),
      inPerson ? "in_person" : "virtual",
      audio ? "audio_only" : "video",
      cancelled ? "cancelled" : "scheduled",
      cancelled ? new Date(now - DAY).toISOString() : "\\N",
      updated,
      updated,
    ].join("\t") + "\n";
  }
}

/** COPY rows into a table from an iterable of TSV lines, batched into ~1 MB chunks. */
export async function copyInto(sql: postgres.Sql, table: string, columns: readonly string[], lines: Iterable<string>): Promise<void> {
  const writable = await sql.unsafe(`copy ${table} (${columns.join(", ")}) from stdin`).writable();
  function* chunks() {
    let buf = "";
    for (const line of lines) {
      buf += line;
      if (buf.length > 1 << 20) {
        yield buf;
        buf = "";
      }
    }
    if (buf) yield buf;
  }
  await pipeline(Readable.from(chunks()), writable);
}

export async function insertSessions(sql: postgres.Sql, providerId: string, clientIds: readonly string[], n: number, now: number): Promise<void> {
  await copyInto(sql, "sessions", SESSION_COLUMNS, sessionLines(providerId, clientIds, n, now));
  // As bumpFeedVersion does: the same statement notifies every instance (src/services/live-feeds.ts).
  await sql`update providers set data_version = data_version + 1, updated_at = now() where id = ${providerId} returning pg_notify('feed_changes', ${providerId}::text)`;
}

const hashSecret = (s: string) => createHash("sha256").update(s).digest("hex");

type TemplateLink = { url: string; platform: string; platformKey: string; instructions: string | null; compliant: boolean };

/** The template provider's default link (which the API validated), copied to bulk providers. */
async function templateLink(sql: postgres.Sql, providerId: string): Promise<TemplateLink> {
  const [link] = await sql<TemplateLink[]>`
    select url, platform, platform_key as "platformKey", instructions, compliant from telehealth_platform_links
    where provider_id = ${providerId} and retired_at is null and is_default`;
  if (!link) throw new Error("template provider has no telehealth link");
  return link;
}

const esc = (s: string) => s.replace(/\\/g, "\\\\").replace(/\t/g, "\\t").replace(/\n/g, "\\n");

/** Providers "Dr <label> i", each with a copy of `link` as its default and its clients, by COPY. */
async function copyProviders(
  sql: postgres.Sql,
  opts: { ids: readonly string[]; clients: readonly (readonly string[])[]; link: TemplateLink; nowIso: string; label: string },
): Promise<void> {
  const { ids, link, nowIso } = opts;
  await copyInto(
    sql,
    "providers",
    ["id", "name", "timezone", "licenses", "credentialed_states", "data_version", "created_at", "updated_at"],
    ids.map((id, i) => [id, `Dr ${opts.label} ${i}`, "America/Chicago", '[{"state":"IL"}]', '["IL"]', "1", nowIso, nowIso].join("\t") + "\n"),
  );
  await copyInto(
    sql,
    "telehealth_platform_links",
    ["provider_id", "platform_key", "url", "platform", "instructions", "baa_signed", "waiting_room_enabled", "compliant", "is_default", "updated_at"],
    ids.map(
      (id) =>
        [
          id,
          esc(link.platformKey),
          esc(link.url),
          esc(link.platform),
          link.instructions === null ? "\\N" : esc(link.instructions),
          "t",
          "t",
          link.compliant ? "t" : "f",
          "t",
          nowIso,
        ].join("\t") + "\n",
    ),
  );
  await copyInto(
    sql,
    "clients",
    ["id", "provider_id", "display_name", "insurance", "medicare", "created_at", "updated_at"],
    (function* () {
      for (let i = 0; i < ids.length; i++)
        for (const c of opts.clients[i]!) yield [c, ids[i], `Client ${opts.label} ${i}`, "in_network", "f", nowIso, nowIso].join("\t") + "\n";
    })(),
  );
}

/** Measure the steady state, not a bulk load's aftermath: no autovacuum or checkpoint left to run. */
export async function settleDatabase(sql: postgres.Sql): Promise<void> {
  await sql.unsafe("vacuum analyze");
  await sql.unsafe("checkpoint").catch(() => {}); // needs superuser or pg_checkpoint; best effort
}

/**
 * `providers` more providers, each with a link (a copy of the template provider's, which the API
 * validated), one client, one feed with a known secret, and `perProvider` sessions. Returns the feed
 * paths. Everything through COPY; indexes stay in place, as they would in production.
 */
export async function seedScale(
  sql: postgres.Sql,
  opts: { templateProviderId: string; providers: number; perProvider: number; now: number; clientsPerProvider?: number },
): Promise<{ feedPaths: string[] }> {
  const link = await templateLink(sql, opts.templateProviderId);
  const perClient = opts.clientsPerProvider ?? 1;
  const ids = Array.from({ length: opts.providers }, () => randomUUID());
  const clients = ids.map(() => Array.from({ length: perClient }, () => randomUUID()));
  const secrets = ids.map(() => randomBytes(32).toString("base64url"));
  const nowIso = new Date(opts.now).toISOString();

  await copyProviders(sql, { ids, clients, link, nowIso, label: "Scale" });
  await copyInto(
    sql,
    "feeds",
    [
      "id",
      "provider_id",
      "name",
      "privacy",
      "include_link",
      "include_in_person",
      "past_days",
      "future_days",
      "secret_hash",
      "created_at",
      "updated_at",
    ],
    ids.map((id, i) => [randomUUID(), id, "Sessions", "minimal", "t", "t", "30", "180", hashSecret(secrets[i]!), nowIso, nowIso].join("\t") + "\n"),
  );
  await copyInto(
    sql,
    "sessions",
    SESSION_COLUMNS,
    (function* () {
      for (let i = 0; i < ids.length; i++) yield* sessionLines(ids[i]!, clients[i]!, opts.perProvider, opts.now);
    })(),
  );
  await settleDatabase(sql);
  return { feedPaths: secrets.map((s) => `/feeds/${s}.ics`) };
}

export type IngestScaleCounts = {
  providers: number;
  sessions: number;
  sources: number;
  deliveries: number;
  payloadParts: number;
  externalEvents: number;
};

/**
 * The ingestion side of a network of `providers` more providers: each with a link, a client,
 * `sessionsPerProvider` upcoming virtual sessions, one ics_webhook calendar source, `pastDeliveries`
 * applied (done) webhook deliveries spread over the last `pastDays` days (those within the payload
 * retention keep their ICS in delivery_payload_parts, as the retention job leaves them), and the
 * source's external_events: each session as the therapist's calendar shows it, plus two busy blocks.
 *
 * The sources are rows only: their signing secret is a placeholder in the sealed format
 * (enc1.<key id>.<nonce>.<ciphertext>, src/services/secret-box.ts) under a key id no server holds,
 * so it takes the same room as a real one and never verifies anything. Every value satisfies the
 * CHECK constraints of drizzle/0013_value_list_checks.sql. Everything through COPY; the settling
 * (VACUUM ANALYZE, CHECKPOINT) is the caller's.
 */
export async function seedIngestScale(
  sql: postgres.Sql,
  opts: {
    templateProviderId: string;
    providers: number;
    now: number;
    /** The ICS kept for the deliveries still within the payload retention. */
    payloadIcs: string;
    sessionsPerProvider?: number;
    pastDeliveries?: number;
    pastDays?: number;
    retentionHours?: number;
  },
): Promise<IngestScaleCounts> {
  const link = await templateLink(sql, opts.templateProviderId);
  const perProvider = opts.sessionsPerProvider ?? 3;
  const pastDeliveries = opts.pastDeliveries ?? 20;
  const pastDays = opts.pastDays ?? 30;
  const retentionMs = (opts.retentionHours ?? 168) * 3600_000;
  const ids = Array.from({ length: opts.providers }, () => randomUUID());
  const clients = ids.map(() => [randomUUID()]);
  const sources = ids.map(() => randomUUID());
  const nowIso = new Date(opts.now).toISOString();
  const iso = (ms: number) => new Date(ms).toISOString();
  const today = Math.floor(opts.now / DAY) * DAY;
  // Sessions with the ids and UIDs their external events point at.
  const sessionsOf = (i: number) =>
    Array.from({ length: perProvider }, (_, s) => {
      const start = today + (3 + s * 5 + (i % 7)) * DAY + (14 + (s % 4)) * 3600_000;
      return { id: randomUUID(), uid: `${randomBytes(16).toString("hex")}@telehealth-calendar`, start, end: start + 50 * 60_000 };
    });
  const sessionsByProvider = ids.map((_, i) => sessionsOf(i));

  await copyProviders(sql, { ids, clients, link, nowIso, label: "Ingest Scale" });
  await copyInto(
    sql,
    "sessions",
    SESSION_COLUMNS,
    (function* () {
      for (let i = 0; i < ids.length; i++)
        for (const s of sessionsByProvider[i]!)
          yield [s.id, ids[i], clients[i]![0], s.uid, "1", iso(s.start), iso(s.end), "virtual", "video", "scheduled", "\\N", nowIso, nowIso].join(
            "\t",
          ) + "\n";
    })(),
  );
  await copyInto(
    sql,
    "calendar_sources",
    ["id", "provider_id", "kind", "settings", "secrets", "status", "last_synced_at", "consecutive_failures", "created_at"],
    ids.map((id, i) => {
      const sealed = ["enc1", "bench-placeholder", randomBytes(12).toString("base64url"), randomBytes(64).toString("base64url")].join(".");
      return (
        [
          sources[i],
          id,
          "ics_webhook",
          "{}",
          JSON.stringify({ signingSecret: sealed }),
          "active",
          iso(opts.now - DAY),
          "0",
          iso(opts.now - 90 * DAY),
        ].join("\t") + "\n"
      );
    }),
  );
  // deliveries.id is GENERATED ALWAYS: COPY leaves it to the sequence; the parts are joined on afterwards.
  await copyInto(
    sql,
    "deliveries",
    ["provider_id", "source_id", "delivery_key", "kind", "state", "attempts", "available_at", "received_at", "processed_at"],
    (function* () {
      for (let i = 0; i < ids.length; i++)
        for (let k = 0; k < pastDeliveries; k++) {
          const received = opts.now - ((k + 0.5) * pastDays * DAY) / pastDeliveries - (i % 600) * 1000;
          yield [ids[i], sources[i], `whk:msg_past_${k}`, "ics_payload", "done", "1", iso(received), iso(received), iso(received + 150)].join("\t") +
            "\n";
        }
    })(),
  );
  const [parts] = await sql<{ n: number }[]>`
    with added as (
      insert into delivery_payload_parts (delivery_id, part, text)
      select id, 0, ${opts.payloadIcs} from deliveries
      where delivery_key like ${"whk:msg\\_past\\_%"} and state = 'done' and processed_at >= ${iso(opts.now - retentionMs)}::timestamptz
      returning 1
    )
    select count(*)::int as n from added`;
  await copyInto(
    sql,
    "external_events",
    [
      "provider_id",
      "source_id",
      "external_id",
      "uid",
      "status",
      "start_at",
      "end_at",
      "sequence",
      "external_updated_at",
      "busy",
      "session_id",
      "seen_at",
    ],
    (function* () {
      for (let i = 0; i < ids.length; i++) {
        const seen = iso(opts.now - DAY);
        for (const s of sessionsByProvider[i]!)
          yield [ids[i], sources[i], s.uid, s.uid, "confirmed", iso(s.start), iso(s.end), "1", seen, "t", s.id, seen].join("\t") + "\n";
        for (let b = 0; b < 2; b++) {
          const start = today + (1 + b) * DAY + (9 + b) * 3600_000;
          const uid = `busy-${b}@therapist.example`;
          yield [ids[i], sources[i], uid, uid, "confirmed", iso(start), iso(start + 1800_000), "0", seen, "t", "\\N", seen].join("\t") + "\n";
        }
      }
    })(),
  );
  return {
    providers: ids.length,
    sessions: ids.length * perProvider,
    sources: ids.length,
    deliveries: ids.length * pastDeliveries,
    payloadParts: parts!.n,
    externalEvents: ids.length * (perProvider + 2),
  };
}
