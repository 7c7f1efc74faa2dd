// Hostile and heavy deliveries on PGlite: a 10 KB payload of 50 FREQ=MINUTELY series and a
// 20,000-event calendar are processed while /healthz is sampled over real HTTP on the same event
// loop, the API is read throughout, and another provider's change still applies. The latency
// figures are printed here and measured in `npm run bench` (part 6, BENCHMARKS.md).

import type { AddressInfo } from "node:net";
import { serve } from "@hono/node-server";
import { afterAll, describe, expect, it } from "vitest";
import { IngestWorker } from "../../src/ingest/worker.js";
import { expectStatus, makeTestApp } from "../helpers/app.js";
import type { TestClock } from "../helpers/clock.js";
import { createSession, providerWithClient } from "../helpers/factories.js";
import { calendar, createIcsWebhookSource, icsUtc, postIcs, vevent } from "../helpers/webhooks.js";

/** The wall clock, movable: webhook signatures are checked against the real time. */
function wallClock(): TestClock {
  let offset = 0;
  return { now: () => new Date(Date.now() + offset), set: (iso) => (offset = new Date(iso).getTime() - Date.now()), advance: (ms) => (offset += ms) };
}

const clock = wallClock();
const t = await makeTestApp({ clock });
const worker = new IngestWorker(t.services, { idleMs: 50 });
t.deps.runtime.worker = worker;
const server = serve({ fetch: t.app.fetch, port: 0, hostname: "127.0.0.1" });
await new Promise<void>((resolve) => server.once("listening", () => resolve()));
const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
afterAll(async () => {
  await worker.stop();
  await new Promise((resolve) => server.close(resolve));
});

const day = (n: number) => new Date(Date.now() + n * 86_400_000);
const deliveriesOf = (sourceId: string) =>
  t.database.db.query.deliveries.findMany({ columns: { payload: false }, where: (d, { eq }) => eq(d.sourceId, sourceId) });

function minutelyPayload(): string {
  const start = icsUtc(day(-1).toISOString());
  const end = icsUtc(new Date(day(-1).getTime() + 60_000).toISOString());
  return calendar(
    ...Array.from({ length: 50 }, (_, i) =>
      vevent({ UID: `storm-${i}@attacker.example`, DTSTAMP: start, DTSTART: start, DTEND: end, RRULE: "FREQ=MINUTELY", SEQUENCE: 0 }),
    ),
  );
}

function bigCalendar(n: number): string {
  const events: string[] = [];
  for (let i = 0; i < n; i++) {
    const s = new Date(day(1).getTime() + i * 3_600_000);
    events.push(
      `BEGIN:VEVENT\r\nUID:b${i}\r\nDTSTART:${icsUtc(s.toISOString())}\r\nDTEND:${icsUtc(new Date(s.getTime() + 1_800_000).toISOString())}\r\nEND:VEVENT`,
    );
  }
  return calendar(...events);
}

const p99 = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(xs.length * 0.99))]!;

describe("bounded work per delivery on PGlite", () => {
  it("50 x MINUTELY and 20,000 events: /healthz and the API keep answering, both end in bounded time, another provider's change applies", async () => {
    const storm = await createIcsWebhookSource(t, (await providerWithClient(t)).provider.id);
    const big = await createIcsWebhookSource(t, (await providerWithClient(t)).provider.id);
    const other = await providerWithClient(t);
    const session = await createSession(t, other.provider.id, other.client.id, { start: day(2).toISOString() });
    const otherSource = await createIcsWebhookSource(t, other.provider.id);

    const stormIcs = minutelyPayload();
    expect(stormIcs.length).toBeLessThan(12_000);
    const bigIcs = bigCalendar(20_000);

    // Sample /healthz over real HTTP every 20 ms: first idle (what a shared machine adds by itself),
    // then while the worker runs.
    const sample = async (into: number[], until: () => boolean) => {
      while (!until()) {
        const started = performance.now();
        const res = await fetch(`${base}/healthz`);
        await res.text();
        into.push(performance.now() - started);
        await new Promise((r) => setTimeout(r, 20));
      }
    };
    const idle: number[] = [];
    const idleUntil = performance.now() + 2_000;
    await sample(idle, () => performance.now() > idleUntil);
    const samples: number[] = [];
    let sampling = true;
    const sampler = sample(samples, () => !sampling);

    const started = performance.now();
    worker.start();
    await expectStatus(await postIcs(t, storm.id, storm.signingSecret, stormIcs), 202);
    await expectStatus(await postIcs(t, big.id, big.signingSecret, bigIcs), 202);
    // Let the heavy work begin, then another provider's change arrives.
    await new Promise((r) => setTimeout(r, 300));
    const moveTo = new Date(Math.floor(day(3).getTime() / 60_000) * 60_000);
    const posted = performance.now();
    const move = calendar(
      vevent({
        UID: session.uid,
        DTSTAMP: icsUtc(new Date().toISOString()),
        DTSTART: icsUtc(moveTo.toISOString()),
        DTEND: icsUtc(new Date(moveTo.getTime() + 50 * 60_000).toISOString()),
        SEQUENCE: 1,
      }),
    );
    await expectStatus(await postIcs(t, otherSource.id, otherSource.signingSecret, move), 202);
    let otherAppliedMs = Infinity;
    const deadline = performance.now() + 100_000;
    for (;;) {
      const s = await expectStatus(await t.request("GET", `/api/v1/sessions/${session.id}`), 200);
      if (otherAppliedMs === Infinity && s.start === moveTo.toISOString()) otherAppliedMs = performance.now() - posted;
      const pending = [...(await deliveriesOf(storm.id)), ...(await deliveriesOf(big.id))].filter((d) => d.state === "pending");
      if (pending.length === 0 && otherAppliedMs !== Infinity) break;
      if (performance.now() > deadline) {
        sampling = false;
        const states = [...(await deliveriesOf(storm.id)), ...(await deliveriesOf(big.id)), ...(await deliveriesOf(otherSource.id))].map(
          (d) => `${d.state}/${d.lastErrorCode}/${d.attempts}`,
        );
        throw new Error(`deliveries not finished in 100 s: ${states.join(", ")}; other applied ${otherAppliedMs}; ${t.logs.text().slice(-3000)}`);
      }
      await new Promise((r) => setTimeout(r, 50));
    }
    const totalMs = performance.now() - started;
    sampling = false;
    await sampler;

    const [stormDelivery] = await deliveriesOf(storm.id);
    expect(stormDelivery).toMatchObject({ state: "rejected", lastErrorCode: "ics_too_many_instances" });
    const sources = (id: string) => t.database.db.query.calendarSources.findFirst({ where: (s, { eq }) => eq(s.id, id) });
    expect(await sources(storm.id)).toMatchObject({ lastErrorCode: "ics_too_many_instances", status: "failing" });
    expect(await t.database.db.query.externalEvents.findMany({ where: (e, { eq }) => eq(e.sourceId, storm.id) })).toHaveLength(0);

    const [bigDelivery] = await deliveriesOf(big.id);
    expect(bigDelivery, JSON.stringify({ ...bigDelivery, payload: undefined })).toMatchObject({ state: "done" });
    const mirrored = await t.database.db.query.externalEvents.findMany({
      columns: { externalId: true },
      where: (e, { eq }) => eq(e.sourceId, big.id),
    });
    expect(mirrored).toHaveLength(20_000);

    const worst = Math.max(...samples);
    console.log(
      `healthz: idle p99 ${p99(idle).toFixed(1)} ms; under ingestion ${samples.length} samples, p99 ${p99(samples).toFixed(1)} ms, max ${worst.toFixed(1)} ms; ` +
        `other provider applied after ${otherAppliedMs.toFixed(0)} ms; all done in ${totalMs.toFixed(0)} ms`,
    );
    // The event loop stayed answerable throughout (the figures above are printed, not asserted: speed
    // is judged in benchmarks, where a shared machine's noise can be compared against a baseline).
    expect(samples.length).toBeGreaterThan(20);
    // The other provider's change applied, and its delivery is done.
    expect((await expectStatus(await t.request("GET", `/api/v1/sessions/${session.id}`), 200)).start).toBe(moveTo.toISOString());
    expect((await deliveriesOf(otherSource.id)).map((d) => d.state)).toEqual(["done"]);
  }, 150_000);
});
