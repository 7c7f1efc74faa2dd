import { describe, expect, it } from "vitest";
import { IngestWorker } from "../../src/ingest/worker.js";
import { expectStatus, makeTestApp } from "../helpers/app.js";
import { fixedClock } from "../helpers/clock.js";
import { createClient, createSession, providerWithClient, ZOOM_LINK } from "../helpers/factories.js";
import { calendar, createIcsWebhookSource, icsUtc, postIcs, vevent } from "../helpers/webhooks.js";

const clock = fixedClock("2026-12-10T12:00:00Z");
const t = await makeTestApp({ clock });
const worker = new IngestWorker(t.services);

const items = async (providerId: string) =>
  (await expectStatus(await t.request("GET", `/api/v1/providers/${providerId}/reconciliation`), 200)).items as {
    kind: string;
    sessionId?: string;
    action: string;
    start?: string;
  }[];

describe("reconciliation items", () => {
  it("ended telehealth sessions: no location on file, or the decision for the location at the session's time", async () => {
    const { provider, client } = await providerWithClient(t, { licenses: [{ state: "NY" }, { state: "NJ" }], credentialedStates: ["NY"] });
    const noLocation = await createSession(t, provider.id, client.id, { start: "2026-12-08T15:00:00Z" });
    const other = await createClient(t, provider.id, { insurance: "in_network" });
    await expectStatus(
      await t.request("POST", `/api/v1/clients/${other.id}/locations`, { body: { state: "NY", from: "2026-11-01T00:00:00Z" } }),
      201,
    );
    // NJ began later, before the session: it is the one that held.
    await expectStatus(
      await t.request("POST", `/api/v1/clients/${other.id}/locations`, { body: { state: "NJ", label: "Work", from: "2026-12-01T00:00:00Z" } }),
      201,
    );
    const needsCred = await createSession(t, provider.id, other.id, { start: "2026-12-09T15:00:00Z" });
    const future = await createSession(t, provider.id, client.id, { start: "2026-12-11T15:00:00Z" });
    const inPerson = await createSession(t, provider.id, client.id, { start: "2026-12-07T15:00:00Z", kind: "in_person" });
    const list = await items(provider.id);
    expect(list).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ kind: "needs_client_location", sessionId: noLocation.id, action: expect.stringMatching(/state/i) }),
        expect.objectContaining({ kind: "needs_credentialing", sessionId: needsCred.id, action: expect.stringMatching(/credential/i) }),
      ]),
    );
    const ids = list.map((i) => i.sessionId);
    expect(ids).not.toContain(future.id);
    expect(ids).not.toContain(inPerson.id);
    // Confirming clears the item.
    await expectStatus(await t.request("POST", `/api/v1/sessions/${noLocation.id}/confirm`, { body: { state: "NY" } }), 200);
    expect((await items(provider.id)).map((i) => i.sessionId)).not.toContain(noLocation.id);
  });

  it("an external event carrying the provider's link is an unlinked session; busy time overlapping a session is an item", async () => {
    const { provider, client } = await providerWithClient(t);
    const session = await createSession(t, provider.id, client.id, { start: "2026-12-15T15:00:00Z" });
    const source = await createIcsWebhookSource(t, provider.id);
    const ics = calendar(
      vevent({
        UID: "unlinked-1@gcal",
        DTSTART: icsUtc("2026-12-16T15:00:00Z"),
        DTEND: icsUtc("2026-12-16T16:00:00Z"),
        SEQUENCE: 0,
        DTSTAMP: "20261210T000000Z",
        SUMMARY: "Therapy",
        LOCATION: `${ZOOM_LINK}?pwd=xyz`,
      }),
      vevent({
        UID: "dentist-1@gcal",
        DTSTART: icsUtc("2026-12-15T15:30:00Z"),
        DTEND: icsUtc("2026-12-15T16:30:00Z"),
        SEQUENCE: 0,
        DTSTAMP: "20261210T000000Z",
        SUMMARY: "Dentist",
      }),
      vevent({
        UID: "free-1@gcal",
        DTSTART: icsUtc("2026-12-15T15:00:00Z"),
        DTEND: icsUtc("2026-12-15T15:30:00Z"),
        SEQUENCE: 0,
        DTSTAMP: "20261210T000000Z",
        TRANSP: "TRANSPARENT",
      }),
    );
    await expectStatus(await postIcs(t, source.id, source.signingSecret, ics), 202);
    await worker.drain();
    const list = await items(provider.id);
    expect(list).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ kind: "unlinked_session", start: "2026-12-16T15:00:00.000Z" }),
        expect.objectContaining({ kind: "overlaps_busy_time", sessionId: session.id }),
      ]),
    );
    expect(list.filter((i) => i.kind === "overlaps_busy_time")).toHaveLength(1);
    // The dentist cancels: the overlap goes away.
    await expectStatus(
      await postIcs(
        t,
        source.id,
        source.signingSecret,
        calendar(
          vevent({
            UID: "dentist-1@gcal",
            DTSTART: icsUtc("2026-12-15T15:30:00Z"),
            DTEND: icsUtc("2026-12-15T16:30:00Z"),
            SEQUENCE: 1,
            DTSTAMP: "20261210T000000Z",
            STATUS: "CANCELLED",
          }),
        ),
      ),
      202,
    );
    await worker.drain();
    expect((await items(provider.id)).filter((i) => i.kind === "overlaps_busy_time")).toHaveLength(0);
  });

  it("a provider key sees only its own items", async () => {
    const a = await providerWithClient(t);
    const b = await providerWithClient(t);
    const key = (await expectStatus(await t.request("POST", `/api/v1/providers/${a.provider.id}/api-keys`, { body: {} }), 201)).token;
    expect((await t.request("GET", `/api/v1/providers/${b.provider.id}/reconciliation`, { token: key })).status).toBe(404);
    expect((await t.request("GET", `/api/v1/providers/${a.provider.id}/reconciliation`, { token: key })).status).toBe(200);
  });
});
