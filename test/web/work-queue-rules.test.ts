// Pure rules behind the work queue: urgency order and the location form.
import { describe, expect, it } from "vitest";
import { actBy, orderByUrgency, type QueueEntry } from "../../src/domain/work-queue.js";
import { countryCode, parseLocationForm } from "../../src/web/location-form.js";

const DAY = 86_400_000;

describe("orderByUrgency", () => {
  const ended = (id: string, end: string): QueueEntry => ({ kind: "needs_client_location", sessionId: id, start: end, end });
  it.each([
    ["oldest ended session first", [ended("b", "2026-11-20T15:50:00Z"), ended("a", "2026-09-01T15:50:00Z")], ["a", "b"]],
    [
      "an overlap tomorrow before a session that ended yesterday (it can still be confirmed for weeks)",
      [
        ended("past", "2026-11-25T15:50:00Z"),
        { kind: "overlaps_busy_time", sessionId: "soon", start: "2026-11-27T15:00:00Z", end: "2026-11-27T15:50:00Z" },
      ],
      ["soon", "past"],
    ],
    [
      "an overlap half a year ahead after a session about to leave the lookback",
      [{ kind: "overlaps_busy_time", sessionId: "far", start: "2027-05-01T15:00:00Z" }, ended("old", "2026-09-01T15:50:00Z")],
      ["old", "far"],
    ],
    [
      "same time: what blocks billing before a referral",
      [{ kind: "refer", sessionId: "r", start: "2026-11-20T15:00:00Z", end: "2026-11-20T15:50:00Z" }, ended("n", "2026-11-20T15:50:00Z")],
      ["n", "r"],
    ],
  ] as const)("%s", (_name, items, order) => {
    expect(orderByUrgency(items as readonly QueueEntry[]).map((i) => i.sessionId)).toEqual(order);
  });

  it("an ended session can be acted on for the lookback after its end; an item without times comes last", () => {
    expect(actBy(ended("x", "2026-11-20T00:00:00Z"))).toBe(Date.parse("2026-11-20T00:00:00Z") + 90 * DAY);
    const items: QueueEntry[] = [{ kind: "unlinked_session" }, ended("x", "2026-11-20T00:00:00Z")];
    expect(orderByUrgency(items).map((i) => i.kind)).toEqual(["needs_client_location", "unlinked_session"]);
  });
});

describe("parseLocationForm", () => {
  const ctx = { timezone: "America/New_York", sessionStart: "2026-11-21T03:30:00Z", outsideUsAllowed: true };
  it("the session's date is its date where the provider is (Nov 20 in New York, Nov 21 in UTC)", () => {
    const r = parseLocationForm({ state: "NY", country: "", from: "2026-11-20", label: "" }, ctx);
    expect(r).toEqual({ ok: true, entry: { state: "NY", from: new Date("2026-11-20T05:00:00Z") } });
    const late = parseLocationForm({ state: "NY", country: "", from: "2026-11-21", label: "" }, ctx);
    expect(late.ok).toBe(false);
  });

  it.each([
    [{ state: "", country: "", from: "2026-11-20", label: "" }, "state"],
    [{ state: "XX", country: "", from: "2026-11-20", label: "" }, "state"],
    [{ state: "outside", country: "", from: "2026-11-20", label: "" }, "country"],
    [{ state: "outside", country: "Narnia", from: "2026-11-20", label: "" }, "country"],
    [{ state: "outside", country: "United States", from: "2026-11-20", label: "" }, "country"],
    [{ state: "NY", country: "", from: "2026-02-29", label: "" }, "from"],
    [{ state: "NY", country: "", from: "20-11-2026", label: "" }, "from"],
  ])("%o is wrong in %s", (values, field) => {
    const r = parseLocationForm(values, ctx);
    expect(r.ok).toBe(false);
    if (!r.ok) expect(Object.keys(r.errors)).toEqual([field]);
  });

  it("outside the US is a country, by name or code, never a state code: Canada is not California", () => {
    expect(countryCode("Canada")).toBe("CA");
    expect(countryCode("ca")).toBe("CA");
    expect(countryCode("mexico")).toBe("MX");
    const r = parseLocationForm({ state: "outside", country: "Canada", from: "2026-11-01", label: "" }, ctx);
    expect(r.ok && r.entry).toMatchObject({ country: "CA" });
    expect(r.ok && r.entry.state).toBeUndefined();
    // Where outside the US is not offered, the choice is just not a state.
    expect(parseLocationForm({ state: "outside", country: "Canada", from: "2026-11-01", label: "" }, { ...ctx, outsideUsAllowed: false }).ok).toBe(
      false,
    );
  });
});
