// Provider isolation, generated from the OpenAPI document: every operation, called with another
// provider's key and the first provider's ids, answers 404 not_found (the same as a missing id, so a
// key learns nothing of other providers) and changes nothing. A new route is covered as soon as it
// is in the document; one without an id or body sample below fails here until it gets one.
import { randomUUID } from "node:crypto";
import { beforeAll, describe, expect, it } from "vitest";
import { calendarConnections } from "../../src/db/schema.js";
import { byId, ok } from "../helpers/api-client.js";
import { expectStatus, makeTestApp } from "../helpers/app.js";
import { createClient, createFeed, createProvider, createProviderKey, createSession, setLink } from "../helpers/factories.js";

const t = await makeTestApp();

type Operation = { method: string; path: string; requestBody?: unknown; parameters?: Array<{ in: string; name: string; required?: boolean }> };

const doc = await expectStatus<{ paths: Record<string, Record<string, Omit<Operation, "method" | "path">>> }>(
  await t.request("GET", "/api/v1/openapi.json", { token: null }),
  200,
);
const operations: Operation[] = Object.entries(doc.paths).flatMap(([path, ops]) =>
  Object.entries(ops).map(([method, op]) => ({ ...op, method: method.toUpperCase(), path })),
);
const api = operations.filter((o) => o.path.startsWith("/api/v1/"));

// Outside /api/v1 nothing is reached with a provider key: public by a capability in the path
// (feed secret, webhook source id plus signature) or operator endpoints. Listed so a new one is a
// deliberate choice.
const NOT_PROVIDER_SCOPED: Record<string, number | "public"> = {
  "GET /healthz": "public",
  "GET /readyz": "public",
  "GET /metrics": 401,
  "GET /feeds/{file}": "public",
  "POST /webhooks/ics/{sourceId}": "public",
  "POST /webhooks/google/{sourceId}": "public",
  "POST /webhooks/microsoft/{sourceId}": "public",
};

// A valid body for each write: a 422 must not hide a missing scope check.
const BODIES: Record<string, unknown> = {
  "POST /api/v1/providers": { name: "Dr Other", timezone: "America/New_York", licenses: [{ state: "NY" }], credentialedStates: ["NY"] },
  "PATCH /api/v1/providers/{id}": { name: "Renamed" },
  "POST /api/v1/providers/{id}/api-keys": {},
  "PUT /api/v1/providers/{id}/telehealth-link": { url: "https://zoom.us/j/9876543210", baaSigned: true, waitingRoomEnabled: true },
  "POST /api/v1/providers/{id}/clients": { displayName: "Someone", insurance: "in_network", medicare: false },
  "PATCH /api/v1/clients/{id}": { displayName: "Renamed" },
  "POST /api/v1/clients/{id}/locations": { state: "NY" },
  "POST /api/v1/providers/{id}/sessions": { start: "2026-12-03T15:00:00-05:00", durationMinutes: 50, kind: "virtual" },
  "PATCH /api/v1/sessions/{id}": { start: "2026-12-04T15:00:00-05:00" },
  "POST /api/v1/sessions/{id}/confirm": { state: "NY" },
  "POST /api/v1/providers/{id}/feeds": { name: "Other" },
  "POST /api/v1/providers/{id}/calendar-sources": { kind: "ics_webhook" },
  "POST /api/v1/providers/{id}/telehealth-links": { url: "https://meet.google.com/abc-defg-hij", baaSigned: true, waitingRoomEnabled: true },
  "POST /api/v1/providers/{id}/calendar-connections": { kind: "google" },
  "POST /api/v1/providers/{id}/calendar-connections/{connectionId}/calendars": { calendarIds: ["primary"] },
  "PUT /api/v1/providers/{id}/calendar-connections/{connectionId}/mirror": {},
  "POST /api/v1/sessions/{id}/refer": { state: "NY" },
};
const QUERY: Record<string, string> = { state: "NY" };

// The first provider's world, and a second provider whose key does the asking.
const owner = await createProvider(t);
await setLink(t, owner.id);
const ownerClient = await createClient(t, owner.id);
const ownerSession = await createSession(t, owner.id, ownerClient.id);
const ownerFeed = await createFeed(t, owner.id);
const ownerKey = await ok(t.api.POST("/api/v1/providers/{id}/api-keys", { ...byId(owner.id), body: {} }), 201);
const ownerSource = await ok(t.api.POST("/api/v1/providers/{id}/calendar-sources", { ...byId(owner.id), body: { kind: "ics_webhook" } }), 201);
const ownerLocation = await ok(t.api.POST("/api/v1/clients/{id}/locations", { ...byId(ownerClient.id), body: { state: "NY" } }), 201);
const ownerLinks = await ok(t.api.GET("/api/v1/providers/{id}/telehealth-links", byId(owner.id)));
// A granted connection as the OAuth callback leaves it (tokens are never read here: every call is refused first).
const ownerConnectionId = randomUUID();
await t.database.db.insert(calendarConnections).values({ id: ownerConnectionId, providerId: owner.id, kind: "google" });
BODIES["POST /api/v1/providers/{id}/sessions"] = { ...(BODIES["POST /api/v1/providers/{id}/sessions"] as object), clientId: ownerClient.id };

const other = await createProvider(t);
const otherKey = await createProviderKey(t, other.id);
const otherClient = await createClient(t, other.id);

const OWNER_IDS: Record<string, string> = {
  "providers.id": owner.id,
  "clients.id": ownerClient.id,
  "sessions.id": ownerSession.id,
  keyId: ownerKey.id,
  feedId: ownerFeed.id,
  sourceId: ownerSource.id,
  locationId: ownerLocation.id,
  linkId: ownerLinks.items[0]!.id,
  connectionId: ownerConnectionId,
};
// The asking provider's own parent ids, for the mixed case: its own provider or client, the
// owner's child (DELETE /providers/{mine}/feeds/{theirs}).
const OTHER_PARENT: Record<string, string> = { "providers.id": other.id, "clients.id": otherClient.id };

const key = (o: Operation) => `${o.method} ${o.path}`;
const paramNames = (path: string) => [...path.matchAll(/\{(\w+)\}/g)].map((m) => m[1]!);
/** `{id}` means the id of the collection it follows (providers, clients, sessions). */
const slot = (path: string, name: string) => (name === "id" ? `${path.split("/")[3]}.id` : name);

function fill(o: Operation, ids: Record<string, string>): string {
  let url = o.path;
  for (const name of paramNames(o.path)) {
    const id = ids[slot(o.path, name)];
    if (!id) throw new Error(`no sample id for {${name}} in ${key(o)}: add one to OWNER_IDS`);
    url = url.replace(`{${name}}`, id);
  }
  const query = (o.parameters ?? []).filter((p) => p.in === "query" && p.required);
  for (const p of query) if (!(p.name in QUERY)) throw new Error(`no sample for required query ${p.name} in ${key(o)}`);
  return query.length ? `${url}?${new URLSearchParams(query.map((p) => [p.name, QUERY[p.name]!]))}` : url;
}

async function call(o: Operation, url: string, token: string) {
  if (o.requestBody !== undefined && !(key(o) in BODIES)) throw new Error(`no sample body for ${key(o)}: add one to BODIES`);
  return t.request(o.method, url, { token, ...(key(o) in BODIES ? { body: BODIES[key(o)] } : {}) });
}

/** Everything the owner can read, as the admin sees it: must be the same before and after. */
async function ownerSnapshot(): Promise<string[]> {
  // Listing a connection's calendars asks the platform itself, and the owner's connection has no
  // write-back (turning it on creates a calendar at the platform): both left out of the owner's snapshot.
  const reads = api.filter(
    (o) =>
      o.method === "GET" && !o.path.endsWith(".ics") && !o.path.endsWith("/{connectionId}/calendars") && !o.path.endsWith("/{connectionId}/mirror"),
  );
  const out: string[] = [];
  for (const o of reads) {
    const res = await t.request("GET", fill(o, OWNER_IDS));
    out.push(`${key(o)} ${res.status} ${await res.text()}`);
  }
  return out;
}

const mixed = api.filter((o) => paramNames(o.path).length > 1);

describe("provider isolation, every operation of the OpenAPI document", () => {
  let before: string[] = [];
  beforeAll(async () => {
    before = await ownerSnapshot();
  });

  it("uses real ids: the owner's own reads answer 200 and show every sample id", () => {
    for (const line of before) expect(line).toMatch(/^GET \S+ 200 /);
    for (const id of Object.values(OWNER_IDS)) expect(before.join("\n")).toContain(id);
  });

  it("covers the whole document", () => {
    expect(api.length).toBeGreaterThan(25);
    expect(
      operations
        .filter((o) => !o.path.startsWith("/api/v1/"))
        .map(key)
        .sort(),
    ).toEqual(Object.keys(NOT_PROVIDER_SCOPED).sort());
    expect(mixed.length).toBeGreaterThan(3);
  });

  it.each(api.map((o) => [key(o), o] as const))("%s with another provider's key and the owner's ids: 404", async (_name, o) => {
    const res = await call(o, fill(o, OWNER_IDS), otherKey);
    const body = await res.clone().text();
    expect(res.status, body).toBe(404);
    expect(JSON.parse(body).code, body).toBe("not_found");
  });

  it.each(mixed.map((o) => [key(o), o] as const))("%s with the asker's own parent and the owner's child: 404", async (_name, o) => {
    const res = await call(o, fill(o, { ...OWNER_IDS, ...OTHER_PARENT }), otherKey);
    const body = await res.clone().text();
    expect(res.status, body).toBe(404);
    expect(JSON.parse(body).code, body).toBe("not_found");
  });

  it.each(Object.entries(NOT_PROVIDER_SCOPED).filter(([, v]) => v !== "public"))("%s with a provider key: %s", async (name, status) => {
    const o = operations.find((op) => key(op) === name)!;
    expect((await call(o, fill(o, OWNER_IDS), otherKey)).status).toBe(status);
  });

  it("changed nothing of the owner's", async () => {
    expect(await ownerSnapshot()).toEqual(before);
  });
});
