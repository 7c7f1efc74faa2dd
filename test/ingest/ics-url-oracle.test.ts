// An ics_url source cannot be used to probe the network: whatever stops the fetch (a refused
// address, a closed port, 401/403/404/410/500, a redirect inward), the provider sees one code.
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createGuardedFetch, type Resolver } from "../../src/ingest/guarded-fetch.js";
import { IngestWorker } from "../../src/ingest/worker.js";
import { expectStatus, makeTestApp } from "../helpers/app.js";
import { fixedClock } from "../helpers/clock.js";
import { providerWithClient } from "../helpers/factories.js";

async function listen(host: string, onRequest: (path: string) => [number, Record<string, string>]) {
  const state = { connections: 0, port: 0, server: undefined as unknown as Server };
  state.server = createServer((req, res) => {
    const [status, headers] = onRequest(req.url ?? "/");
    res.writeHead(status, headers).end("no");
  });
  state.server.on("connection", () => state.connections++);
  await new Promise<void>((r) => state.server.listen(0, host, r));
  state.port = (state.server.address() as AddressInfo).port;
  return state;
}

let allowed: Awaited<ReturnType<typeof listen>>; // 127.0.0.1, trusted by the operator
let hidden: Awaited<ReturnType<typeof listen>>; // 127.0.0.2, not trusted
let closedPort = 0;
beforeAll(async () => {
  allowed = await listen("127.0.0.1", (path) => {
    const to = new URL(path, "http://x").searchParams.get("to");
    if (to) return [302, { location: to }];
    return [Number(/^\/status\/(\d+)/.exec(path)?.[1] ?? 404), {}];
  });
  hidden = await listen("127.0.0.2", () => [200, { "content-type": "text/calendar" }]);
  const probe = await listen("127.0.0.1", () => [200, {}]);
  closedPort = probe.port;
  await new Promise((r) => probe.server.close(r));
});
afterAll(() => Promise.all([allowed, hidden].map((s) => new Promise((r) => s.server.close(r)))));

const resolver: Resolver = async (host) => {
  if (host === "calendar.example.org") return [{ address: "127.0.0.2", family: 4 }];
  throw Object.assign(new Error("not found"), { code: "ENOTFOUND" });
};

const clock = fixedClock("2026-11-20T12:00:00Z");
const t = await makeTestApp({ clock, env: { INGEST_ALLOW_PRIVATE_HOSTS: "127.0.0.1" } });
const fetchFn = createGuardedFetch({ allowance: t.config.outboundAllowance, resolver, logger: t.deps.logger });
const worker = new IngestWorker(t.services, { fetchFn });
afterAll(() => fetchFn.close());

describe("ics_url failures toward the provider", () => {
  it("a refused address, a closed port, each error status and an inward redirect all read fetch_failed, alike", async () => {
    const { provider } = await providerWithClient(t);
    const secret = "tok3n-SHOULD-NOT-BE-LOGGED";
    const urls = [
      `https://calendar.example.org:${hidden.port}/private.ics?key=${secret}`,
      `http://127.0.0.1:${closedPort}/closed.ics?key=${secret}`,
      ...[401, 403, 404, 410, 500].map((s) => `http://127.0.0.1:${allowed.port}/status/${s}?key=${secret}`),
      `http://127.0.0.1:${allowed.port}/r?to=${encodeURIComponent(`http://127.0.0.2:${hidden.port}/?key=${secret}`)}`,
    ];
    const ids: string[] = [];
    for (const url of urls) {
      const res = await t.request("POST", `/api/v1/providers/${provider.id}/calendar-sources`, { body: { kind: "ics_url", url } });
      ids.push((await expectStatus<{ id: string }>(res, 201)).id);
    }
    await worker.drain();

    const listed = (await expectStatus(await t.request("GET", `/api/v1/providers/${provider.id}/calendar-sources`), 200)).items as Record<
      string,
      unknown
    >[];
    const views = ids.map((id) => listed.find((s) => s.id === id)!);
    const seen = views.map(({ status, lastErrorCode, lastErrorAt, lastSuccessAt }) => ({ status, lastErrorCode, lastErrorAt, lastSuccessAt }));
    expect(new Set(seen.map((v) => JSON.stringify(v))).size).toBe(1);
    expect(seen[0]).toMatchObject({ lastErrorCode: "fetch_failed", lastSuccessAt: null });
    expect(hidden.connections).toBe(0);

    // The real reasons reach the server log, without the URL or its query.
    const logs = t.logs.text();
    expect(logs).toContain('"reason":"address_refused"');
    expect(logs).toContain('"errno":"ECONNREFUSED"');
    expect(logs).not.toContain(secret);
    expect(logs).not.toContain("calendar.example.org");
    expect(logs).not.toContain("/status/");
  });
});
