import { describe, expect, it } from "vitest";
import { type ExternalEvent, eventDefect, setAsideRef } from "../../src/domain/external-event.js";
import { reappearedAfterCancellation } from "../../src/domain/reconciliation.js";

const base: ExternalEvent = {
  externalId: "abc123",
  uid: "u-1@example.com",
  status: "confirmed",
  start: "2026-12-01T15:00:00Z",
  end: "2026-12-01T15:50:00Z",
  sequence: 0,
  busy: true,
  texts: [],
};

describe("eventDefect: what makes an event poison", () => {
  it.each([
    ["a normal event", {}, null],
    ["a deletion stub without times", { status: "cancelled", start: undefined, end: undefined, uid: undefined }, null],
    ["an empty id", { externalId: "" }, "event_id_invalid"],
    ["a NUL in the id", { externalId: "a\u0000b" }, "event_id_invalid"],
    ["a 1,025-character UID", { uid: "u".repeat(1025) }, "event_uid_invalid"],
    ["a NUL in the UID", { uid: "bad\u0000uid" }, "event_uid_invalid"],
    ["a lone surrogate in the UID", { uid: "bad\ud800uid" }, "event_uid_invalid"],
    ["an emoji (a surrogate pair) in the UID", { uid: "ok-😀" }, null],
    ["an unreadable start", { start: "not a date" }, "event_times_invalid"],
    ["a start without an end", { end: undefined }, "event_times_invalid"],
    ["an end before the start", { end: "2026-12-01T14:00:00Z" }, "event_times_invalid"],
    ["a NUL in a text", { texts: ["zoom\u0000"] }, "event_text_invalid"],
  ] as const)("%s", (_, patch, expected) => {
    expect(eventDefect({ ...base, ...patch } as ExternalEvent)).toBe(expected);
  });

  it("the reference shown for a set-aside event is printable and short", () => {
    expect(setAsideRef("a\u0000b\ud800c")).toBe("a?b?c");
    expect(setAsideRef("x".repeat(500))).toHaveLength(129);
    expect(setAsideRef(42)).toBe("");
  });
});

describe("reappearedAfterCancellation", () => {
  const cancelledAt = new Date("2026-11-26T12:00:00Z");
  it.each([
    ["live, changed after the cancellation", "confirmed", "2026-11-27T00:00:00Z", "cancelled", true],
    ["live, last changed before the cancellation", "confirmed", "2026-11-25T00:00:00Z", "cancelled", false],
    ["cancelled in the calendar too", "cancelled", "2026-11-27T00:00:00Z", "cancelled", false],
    ["the session is not cancelled", "confirmed", "2026-11-27T00:00:00Z", "scheduled", false],
    ["no update time", "confirmed", null, "cancelled", false],
  ] as const)("%s", (_, status, updated, sessionStatus, expected) => {
    expect(reappearedAfterCancellation({ status, updatedAt: updated ? new Date(updated) : null }, { status: sessionStatus, cancelledAt })).toBe(
      expected,
    );
  });
});
