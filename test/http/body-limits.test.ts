// The listening server under slow and large bodies: a real HTTP server on 127.0.0.1.
import { randomBytes } from "node:crypto";
import { request as httpRequest, type IncomingMessage } from "node:http";
import { eq, sql } from "drizzle-orm";
import { afterAll, describe, expect, it } from "vitest";
import { deliveries } from "../../src/db/schema.js";
import { loadDeliveryIcs, PAYLOAD_PART_CHARS, recordIcsDelivery } from "../../src/services/inbox.js";
import { makeTestApp } from "../helpers/app.js";
import { createProvider } from "../helpers/factories.js";
import { createIcsWebhookSource, signedHeaders } from "../helpers/webhooks.js";

const t = await makeTestApp({ env: { BODY_TIMEOUT_MS: "1000", RATE_LIMIT_BURST: "100000", BODY_BUFFER_MAX_BYTES: String(32 * 1024 * 1024) } });
// The server main.ts runs: webhook bodies for a source this process knows are read by its fast path.
const server = await t.listen();
const port = Number(new URL(server.baseUrl).port);
afterAll(() => server.close());

const provider = await createProvider(t);
const source = await createIcsWebhookSource(t, provider.id);

type Answer = { status: number; headers: IncomingMessage["headers"]; body: string; ms: number };

/** A raw request: headers now, then the body as `write` decides (or never). */
function send(path: string, headers: Record<string, string | number>, write: (req: ReturnType<typeof httpRequest>) => void): Promise<Answer> {
  const started = performance.now();
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host: "127.0.0.1", port, path, method: "POST", headers }, (res) => {
      let body = "";
      res.setEncoding("utf8");
      res.on("data", (d) => (body += d));
      res.on("end", () => resolve({ status: res.statusCode!, headers: res.headers, body, ms: performance.now() - started }));
    });
    req.on("error", reject);
    write(req);
  });
}

describe("body limits on the wire", () => {
  it("a declared Content-Length over the limit is 413 before a byte of the body is sent", async () => {
    const res = await send(`/webhooks/ics/${source.id}`, { "content-type": "application/json", "content-length": 5 * 1024 * 1024 }, (req) =>
      req.flushHeaders(),
    );
    expect(res.status).toBe(413);
    expect(JSON.parse(res.body)).toMatchObject({ code: "payload_too_large" });
  });

  it("a slow body is cut at the body deadline with a 408 problem", async () => {
    const body = JSON.stringify({ displayName: "x".repeat(100), insurance: "in_network", medicare: false });
    let timer: NodeJS.Timeout | undefined;
    const res = await send(
      `/api/v1/providers/${provider.id}/clients`,
      { authorization: `Bearer ${t.adminToken}`, "content-type": "application/json", "content-length": body.length },
      (req) => {
        let i = 0;
        // One byte every 200 ms: 40 s for the whole body.
        timer = setInterval(() => (i < body.length ? req.write(body[i++]!) : undefined), 200);
      },
    );
    clearInterval(timer);
    expect(res.status).toBe(408);
    expect(JSON.parse(res.body)).toMatchObject({ code: "request_timeout" });
    expect(res.ms).toBeLessThan(3_000);
    expect(t.deps.runtime.bodyBudget.used).toBe(0);
  });

  it("200 concurrent 2.9 MiB signed-looking bodies: memory stays bounded, every answer is a problem or an ack", async () => {
    const body = Buffer.alloc(Math.floor(2.9 * 1024 * 1024), "a");
    const headers = { ...signedHeaders(source.signingSecret, "x"), "content-length": body.length };
    global.gc?.();
    const before = process.memoryUsage().rss;
    let peak = before;
    const sampler = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 20);
    const answers = await Promise.all(Array.from({ length: 200 }, () => send(`/webhooks/ics/${source.id}`, headers, (req) => req.end(body))));
    clearInterval(sampler);
    const grew = (peak - before) / 1024 / 1024;
    const statuses = new Set(answers.map((a) => a.status));
    console.info(`200 x 2.9 MiB: rss grew ${Math.round(grew)} MiB at peak; statuses ${[...statuses].join(", ")}`);
    // Forged signatures: 401 once verified; past the in-flight budget, 503 with Retry-After at once;
    // a body too slow to arrive on this busy machine, 408.
    for (const a of answers) {
      expect([401, 408, 503]).toContain(a.status);
      if (a.status === 503) expect(a.headers["retry-after"]).toMatch(/^\d+$/);
    }
    expect(grew).toBeLessThan(400);
    expect(t.deps.runtime.bodyBudget.used).toBe(0);
  }, 150_000); // 580 MiB through loopback on a shared 2-core machine
});

describe("payload retention", () => {
  it("clears payloads of deliveries done or rejected before the retention; keeps rows, pending and recent ones", async () => {
    const now = t.clock.now();
    const old = new Date(now.getTime() - 8 * 86_400_000);
    const row = (key: string, state: "done" | "pending" | "rejected", processedAt: Date | null) => ({
      providerId: provider.id,
      sourceId: source.id,
      deliveryKey: `${key}-${randomBytes(4).toString("hex")}`,
      kind: "ics_payload" as const,
      payload: { ics: "BEGIN:VCALENDAR" },
      state,
      processedAt,
      receivedAt: old,
      availableAt: old,
    });
    const rows = await t.database.db
      .insert(deliveries)
      .values([row("old-done", "done", old), row("new-done", "done", now), row("old-pending", "pending", null)])
      .returning({ id: deliveries.id, deliveryKey: deliveries.deliveryKey });
    expect(await t.deps.runtime.retention.runOnce()).toBeGreaterThanOrEqual(1);
    const after = await t.database.db.execute(
      sql`select delivery_key, payload is null as purged from deliveries where id in (${sql.join(
        rows.map((r) => sql`${r.id}`),
        sql`, `,
      )}) order by id`,
    );
    const list = ((after as unknown as { rows?: unknown[] }).rows ?? after) as { delivery_key: string; purged: boolean }[];
    expect(list.map((r) => [r.delivery_key.split("-").slice(0, 2).join("-"), r.purged])).toEqual([
      ["old-done", true],
      ["new-done", false],
      ["old-pending", false],
    ]);
  });

  it("deletes the stored parts of old finished deliveries; pending and recent ones keep theirs", async () => {
    const now = t.clock.now();
    const old = new Date(now.getTime() - 8 * 86_400_000);
    const ics = `BEGIN:VCALENDAR\r\nX-PAD:${"x".repeat(PAYLOAD_PART_CHARS)}\r\nEND:VCALENDAR\r\n`;
    const record = async (key: string, state: "done" | "pending" | "rejected", processedAt: Date | null) => {
      const deliveryKey = `${key}-${randomBytes(4).toString("hex")}`;
      await recordIcsDelivery(t.database.db, { providerId: provider.id, sourceId: source.id, deliveryKey, at: old }, ics, async () => {});
      const [row] = await t.database.db
        .update(deliveries)
        .set({ state, processedAt })
        .where(eq(deliveries.deliveryKey, deliveryKey))
        .returning({ id: deliveries.id });
      return row!.id;
    };
    const ids = [await record("old-rejected", "rejected", old), await record("new-done", "done", now), await record("old-pending", "pending", null)];
    expect(await t.deps.runtime.retention.runOnce()).toBeGreaterThanOrEqual(1);
    const left = await Promise.all(ids.map((id) => loadDeliveryIcs(t.database.db, id, async () => {})));
    expect(left).toEqual(["", ics, ics]);
  });
});
