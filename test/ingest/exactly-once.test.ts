// Any number of instances share one database (README, Running more than one instance); two of them never apply one delivery twice.
import { spawn } from "node:child_process";
import { describe, expect, it } from "vitest";
import { systemClock } from "../../src/domain/clock.js";
import { IngestWorker } from "../../src/ingest/worker.js";
import { recordIcsDelivery } from "../../src/services/inbox.js";
import { makeTestApp } from "../helpers/app.js";
import { onPostgres } from "../helpers/db.js";
import { providerWithClient } from "../helpers/factories.js";
import { calendar, createIcsWebhookSource, icsUtc, vevent } from "../helpers/webhooks.js";

const t = await makeTestApp({ clock: { now: () => new Date(), set() {}, advance() {} } as never });

async function enqueue(n: number) {
  const { provider } = await providerWithClient(t);
  const source = await createIcsWebhookSource(t, provider.id);
  const at = new Date();
  for (let i = 0; i < n; i++) {
    const start = new Date(at.getTime() + (i + 1) * 3600_000).toISOString();
    const ics = calendar(
      vevent({
        UID: `ext-${i}@elsewhere`,
        DTSTART: icsUtc(start),
        DTEND: icsUtc(new Date(Date.parse(start) + 1800_000).toISOString()),
        SEQUENCE: 0,
        DTSTAMP: icsUtc(at.toISOString()),
      }),
    );
    await recordIcsDelivery(t.database.db, { providerId: provider.id, sourceId: source.id, deliveryKey: `k${i}`, at }, ics, async () => {});
  }
  return source.id;
}

function runWorkerProcess(url: string) {
  const child = spawn(process.execPath, ["--import", "tsx", "test/helpers/worker-process.ts"], {
    env: { ...process.env, DATABASE_URL: url },
    stdio: ["pipe", "pipe", "pipe"],
  });
  let out = "";
  let err = "";
  child.stdout.on("data", (d) => (out += d));
  child.stderr.on("data", (d) => (err += d));
  const done = new Promise<{ applied: number; lostClaims: number; failed: number }>((resolve, reject) =>
    child.on("exit", (code) =>
      code === 0 ? resolve(JSON.parse(out.trim().split("\n").at(-1)!)) : reject(new Error(`worker exited ${code}: ${err}`)),
    ),
  );
  return { child, done };
}

async function assertAppliedOnce(sourceId: string, n: number, stats: { applied: number }[]) {
  expect(stats.reduce((a, s) => a + s.applied, 0)).toBe(n);
  const rows = await t.database.db.query.deliveries.findMany({ where: (d, { eq }) => eq(d.sourceId, sourceId) });
  expect(rows.filter((r) => r.state === "done")).toHaveLength(n);
  const mirrored = await t.database.db.query.externalEvents.findMany({ where: (e, { eq }) => eq(e.sourceId, sourceId) });
  expect(mirrored).toHaveLength(n);
}

describe("exactly once", () => {
  it(`${onPostgres() ? "two worker processes on PostgreSQL drain 1,000 deliveries" : "two workers on one PGlite drain 200 deliveries"} and apply each once`, async () => {
    if (onPostgres()) {
      const sourceId = await enqueue(1000);
      const url = (t.database as { url?: string }).url!;
      const a = runWorkerProcess(url);
      const b = runWorkerProcess(url);
      // Give both processes time to connect, then start them together.
      await new Promise((r) => setTimeout(r, 1500));
      a.child.stdin.write("go\n");
      b.child.stdin.write("go\n");
      const stats = await Promise.all([a.done, b.done]);
      // One source: at most one of its deliveries is in hand at a time, so the two processes take
      // turns (either may end up doing all of it); together they apply each exactly once.
      await assertAppliedOnce(sourceId, 1000, stats);
    } else {
      const sourceId = await enqueue(200);
      const w1 = new IngestWorker({ ...t.services, clock: systemClock });
      const w2 = new IngestWorker({ ...t.services, clock: systemClock });
      await Promise.all([w1.drain(), w2.drain()]);
      await assertAppliedOnce(sourceId, 200, [w1.stats, w2.stats]);
    }
  }, 120_000);

  it("a claim whose lease ran out and was finished elsewhere rolls back instead of applying twice", async () => {
    const sourceId = await enqueue(1);
    let now = new Date();
    const clock = { now: () => now };
    const slow = new IngestWorker({ ...t.services, clock }, { leaseMs: 1 });
    const fast = new IngestWorker({ ...t.services, clock });
    // `slow` claims; its lease lapses; `fast` claims and finishes; `slow` then finds the row done.
    const { claimDelivery } = await import("../../src/services/inbox.js");
    const claimed = await claimDelivery(t.database.db, now, 1);
    expect(claimed).not.toBeNull();
    now = new Date(now.getTime() + 10);
    await fast.drain();
    await (slow as unknown as { process(d: unknown): Promise<void> }).process(claimed);
    expect(fast.stats.applied).toBe(1);
    expect(slow.stats).toMatchObject({ applied: 0, lostClaims: 1 });
    await assertAppliedOnce(sourceId, 1, [fast.stats, slow.stats]);
  });
});
