import { spawnSync } from "node:child_process";
import { randomUUID } from "node:crypto";
import { fileURLToPath } from "node:url";
import fc from "fast-check";
import ICAL from "ical.js";
import { createEvent } from "ics";
import { describe, expect, it } from "vitest";
import { type InvitationInput, InvitationRenderError, renderInvitation } from "../../src/ics/invite.js";
import { parseWithPython } from "../helpers/python-ics.js";

const strictUtf8 = new TextDecoder("utf-8", { fatal: true });

const INSTRUCTIONS = "待合室でお待ちください 😀 Wait in the waiting room; we admit you at 14:00, thanks 👩🏽‍⚕️📹";
const TITLE = "Séance de thérapie — 日本語のセッション 😀😀😀 with a long enough tail to fold twice";

function makeInput(over: Partial<InvitationInput> = {}): InvitationInput {
  return {
    uid: `${randomUUID()}@sessions.test`,
    sequence: 2,
    start: new Date("2026-11-26T14:00:00Z"),
    end: new Date("2026-11-26T14:50:00Z"),
    stamp: new Date("2026-11-20T08:00:00Z"),
    title: TITLE,
    url: "https://zoom.us/j/98765432101?pwd=Zx81kLmN0",
    instructions: INSTRUCTIONS,
    modality: "video",
    organizer: { name: "Dr. Ana Rivera", email: "no-reply@practice.test" },
    status: "CONFIRMED",
    ...over,
  };
}

/** Octet length of every physical line, after checking CRLF framing and whole UTF-8 characters. */
function checkWire(ics: string): number[] {
  expect(ics.endsWith("END:VCALENDAR\r\n")).toBe(true);
  expect(ics.replace(/\r\n/g, "")).not.toMatch(/[\r\n]/);
  const bytes = Buffer.from(ics, "utf8");
  const lengths: number[] = [];
  let start = 0;
  for (let i = 0; i + 1 < bytes.length; i++) {
    if (bytes[i] === 0x0d && bytes[i + 1] === 0x0a) {
      const line = bytes.subarray(start, i);
      expect(() => strictUtf8.decode(line)).not.toThrow();
      lengths.push(line.length);
      start = i + 2;
      i++;
    }
  }
  expect(start).toBe(bytes.length);
  return lengths;
}

function vevent(ics: string) {
  const root = new ICAL.Component(ICAL.parse(ics));
  const events = root.getAllSubcomponents("vevent");
  expect(events).toHaveLength(1);
  return { root, v: events[0]! };
}

describe("renderInvitation", () => {
  it("keeps every line within 75 octets with emoji and CJK text, CRLF throughout and at the end", () => {
    const lengths = checkWire(renderInvitation(makeInput()));
    expect(Math.max(...lengths)).toBeLessThanOrEqual(75);
  });

  it("fixes a measured defect of the `ics` package: it folds by characters, not octets", () => {
    // Canary: if this starts failing, `ics` folds by octets now and invite.ts's re-fold can go.
    const raw = createEvent({
      start: Date.UTC(2026, 10, 26, 14),
      end: Date.UTC(2026, 10, 26, 15),
      title: TITLE,
      description: INSTRUCTIONS,
    });
    expect(raw.error).toBeNull();
    const longest = Math.max(...raw.value!.split("\r\n").map((l) => Buffer.byteLength(l)));
    expect(longest, "ics output line length in octets").toBeGreaterThan(75);
    expect(raw.value).toMatch(/\r\n\t/); // and it continues with HTAB, which our unfold accepts
  });

  it("carries the link and the instructions; ical.js reads the event back", () => {
    const input = makeInput();
    const ics = renderInvitation(input);
    const { root, v } = vevent(ics);
    expect(root.getFirstPropertyValue("method")).toBe("PUBLISH");
    const e = new ICAL.Event(v);
    expect(e.uid).toBe(input.uid);
    expect(e.sequence).toBe(2);
    expect(e.startDate.toJSDate().toISOString()).toBe("2026-11-26T14:00:00.000Z");
    expect(e.endDate.toJSDate().toISOString()).toBe("2026-11-26T14:50:00.000Z");
    expect(v.getFirstPropertyValue("dtstamp")!.toString()).toBe("2026-11-20T08:00:00Z");
    expect(e.summary).toBe(TITLE);
    expect(e.description).toBe(`${input.url}\n${INSTRUCTIONS}`);
    expect(e.location).toBe(input.url);
    expect(v.getFirstPropertyValue("url")).toBe(input.url);
    expect(v.getFirstPropertyValue("status")).toBe("CONFIRMED");
    expect(v.getFirstPropertyValue("class")).toBe("PRIVATE");
    const organizer = v.getFirstProperty("organizer")!;
    expect(String(organizer.getFirstValue()).toLowerCase()).toBe("mailto:no-reply@practice.test");
    expect(organizer.getParameter("cn")).toBe("Dr. Ana Rivera");
    const conference = v.getFirstProperty("conference")!;
    expect(conference.getFirstValue()).toBe(input.url);
    expect(conference.getParameter("feature")).toBe("AUDIO,VIDEO");
    expect(v.getFirstPropertyValue("x-google-conference")).toBeNull();
  });

  it.each(["icalendar", "vobject"] as const)("python3-%s reads it with the link and instructions", async (lib) => {
    const input = makeInput({ status: "CANCELLED", sequence: 7 });
    const r = await parseWithPython(renderInvitation(input), lib);
    expect(r.errors).toEqual([]);
    expect(r.events).toEqual([
      {
        uid: input.uid,
        start: "2026-11-26T14:00:00.000Z",
        end: "2026-11-26T14:50:00.000Z",
        status: "CANCELLED",
        sequence: 7,
        summary: TITLE,
        description: `${input.url}\n${INSTRUCTIONS}`,
        location: input.url,
        url: input.url,
      },
    ]);
  });

  it("audio-only and Meet sessions get the feed's CONFERENCE and X-GOOGLE-CONFERENCE", () => {
    const url = "https://meet.google.com/abc-defg-hij";
    const { v } = vevent(renderInvitation(makeInput({ url, modality: "audio_only", googleMeet: true })));
    expect(v.getFirstProperty("conference")!.getParameter("feature")).toBe("AUDIO");
    expect(v.getFirstPropertyValue("x-google-conference")).toBe(url);
  });

  it("without an organizer email writes neither METHOD nor a value-less ORGANIZER", () => {
    const ics = renderInvitation(makeInput({ organizer: { name: "Dr. Ana Rivera" } }));
    expect(ics).not.toMatch(/^METHOD:/m);
    expect(ics).not.toMatch(/^ORGANIZER/m);
    vevent(ics);
  });

  it('never writes \\" inside a parameter (RFC 5545 3.2 forbids DQUOTE in a param-value)', () => {
    const ics = renderInvitation(makeInput({ organizer: { name: 'Dr. "Ana"\nRivera', email: "a@practice.test" } }));
    expect(ics).not.toContain('\\"');
    const { v } = vevent(ics);
    expect(v.getFirstProperty("organizer")!.getParameter("cn")).toBe("Dr. 'Ana' Rivera");
  });

  it("an in-person invitation has no link properties", () => {
    const ics = renderInvitation(makeInput({ url: undefined, instructions: "Suite 4, second floor" }));
    expect(ics).not.toMatch(/^(URL|LOCATION|CONFERENCE|X-GOOGLE-CONFERENCE)[:;]/m);
    expect(vevent(ics).v.getFirstPropertyValue("description")).toBe("Suite 4, second floor");
  });

  it("escapes TEXT once: separators, backslashes and CR/CRLF newlines survive the round trip", () => {
    const title = "A; B, C \\ D\r\nE\rF\x07";
    const { v } = vevent(renderInvitation(makeInput({ title })));
    expect(v.getFirstPropertyValue("summary")).toBe("A; B, C \\ D\nE\nF");
  });

  it("is deterministic, and independent of the process TZ", () => {
    const input = makeInput();
    const a = renderInvitation(input);
    expect(renderInvitation(input)).toBe(a);
    const inviteUrl = new URL("../../src/ics/invite.ts", import.meta.url).href;
    const script = `
      const { renderInvitation } = await import(${JSON.stringify(inviteUrl)});
      const chunks = [];
      for await (const c of process.stdin) chunks.push(c);
      const dates = new Set(["start", "end", "stamp"]);
      const input = JSON.parse(Buffer.concat(chunks).toString("utf8"), (k, v) => (dates.has(k) ? new Date(v) : v));
      process.stdout.write(renderInvitation(input));`;
    for (const tz of ["Asia/Tokyo", "America/St_Johns"]) {
      const r = spawnSync(process.execPath, ["--import", "tsx", "--input-type=module", "-e", script], {
        cwd: fileURLToPath(new URL("../..", import.meta.url)),
        env: { ...process.env, TZ: tz },
        input: JSON.stringify(input),
        encoding: "utf8",
        timeout: 30_000,
      });
      expect(r.status, r.stderr).toBe(0);
      expect(r.stdout, tz).toBe(a);
    }
  });

  it("throws InvitationRenderError on input `ics` or RFC 5545 rejects", () => {
    const start = new Date("2026-11-26T14:00:00Z");
    const cases: Partial<InvitationInput>[] = [{ start, end: start }, { uid: "" }, { uid: "a,b;c" }, { url: "not a url" }];
    for (const c of cases) {
      const call = () => renderInvitation(makeInput(c));
      expect(call, JSON.stringify(c)).toThrow(InvitationRenderError);
      try {
        call();
      } catch (e) {
        expect((e as InvitationRenderError).cause).toBeDefined();
        expect((e as Error).message).not.toContain("not a url");
      }
    }
  });

  it("property: any title and instructions give valid bytes that ical.js reads back", () => {
    const unit = fc.oneof(
      fc.integer({ min: 0x20, max: 0x7e }).map((c) => String.fromCharCode(c)),
      fc.constantFrom(";", ",", "\\", "\n", "é", "—", "日", "😀", "👩🏽‍⚕️"),
      fc.integer({ min: 0x10000, max: 0x10ffff }).map((c) => String.fromCodePoint(c)),
    );
    const text = fc.string({ unit, minLength: 1, maxLength: 200, size: "max" });
    fc.assert(
      fc.property(text, text, (title, instructions) => {
        const input = makeInput({ title, instructions });
        const ics = renderInvitation(input);
        expect(Math.max(...checkWire(ics))).toBeLessThanOrEqual(75);
        const { v } = vevent(ics);
        expect(v.getFirstPropertyValue("summary")).toBe(title);
        expect(v.getFirstPropertyValue("description")).toBe(`${input.url}\n${instructions}`);
      }),
      { numRuns: 100 },
    );
  });
});
