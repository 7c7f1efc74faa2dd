// The answer check the typed client applies to every call (test/helpers/api-contract.ts), on the
// API document the app serves: a field a route answers but the document lacks is a mismatch.
import { describe, expect, it } from "vitest";
import { type ApiDocument, responseMismatches, schemaMismatches } from "../helpers/api-contract.js";
import { buildApiDocument } from "../tools/api-document.js";

const served = (await buildApiDocument()) as unknown as ApiDocument;
const copy = () => structuredClone(served);
const SESSION = { $ref: "#/components/schemas/Session" };

const session = {
  id: "8d7e3a8e-4b9f-4c55-9a43-2f1c7d0a6b11",
  uid: "0123456789abcdef0123456789abcdef@telehealth-calendar",
  sequence: 0,
  providerId: "0b5a3f7c-9d1e-4f2a-8c6b-1e2d3c4b5a69",
  clientId: "5c4b3a29-1807-4f6e-9d5c-4b3a29180716",
  start: "2026-12-01T20:00:00.000Z",
  end: "2026-12-01T20:50:00.000Z",
  kind: "virtual",
  modality: "video",
  status: "scheduled",
  telehealthUrl: "https://zoom.us/j/1234567890",
};

const answer = (status: number, body: unknown, type = "application/json") =>
  new Response(JSON.stringify(body), { status, headers: { "content-type": type } });

describe("the answer check against the API document", () => {
  it("accepts an answer that fits", () => {
    expect(schemaMismatches(served, SESSION, session)).toEqual([]);
  });

  it("a field removed from a route's schema but still answered is a mismatch", () => {
    const doc = copy();
    const schema = doc.components!.schemas!.Session!;
    delete schema.properties!.uid;
    schema.required = schema.required!.filter((k) => k !== "uid");
    expect(schemaMismatches(doc, SESSION, session)).toEqual(["$.uid: answered but not in the document"]);
  });

  it("a required field missing, a wrong type, a value outside the enum, a malformed uuid", () => {
    const { uid: _, ...noUid } = session;
    expect(schemaMismatches(served, SESSION, noUid)).toEqual(["$.uid: required by the document, missing"]);
    expect(schemaMismatches(served, SESSION, { ...session, sequence: "0" })).toEqual(["$.sequence: string where the document says integer"]);
    expect(schemaMismatches(served, SESSION, { ...session, status: "done" })).toEqual([
      '$.status: "done" is not one of ["scheduled","cancelled","confirmed"]',
    ]);
    expect(schemaMismatches(served, SESSION, { ...session, id: "42" })).toEqual(['$.id: "42" is not a uuid']);
  });

  it("allOf: the keys of every branch are allowed, others are not", () => {
    const apiKey = served.components!.schemas!.ApiKey!;
    const sample = Object.fromEntries(Object.keys(apiKey.properties!).map((k) => [k, k === "id" ? session.id : null]));
    const mismatches = schemaMismatches(served, { $ref: "#/components/schemas/ApiKeyWithToken" }, { ...sample, token: "thk_x", extra: 1 });
    expect(mismatches.filter((m) => m.includes("not in the document"))).toEqual(["$.extra: answered but not in the document"]);
  });

  it("problems are open (RFC 9457 extension members); undocumented statuses and media types are mismatches", async () => {
    const problem = { type: "about:blank", title: "Conflict", status: 409, detail: "x", code: "already_confirmed", decision: { row: 5 } };
    const confirm = "/api/v1/sessions/{id}/confirm";
    expect(await responseMismatches(served, "POST", confirm, answer(409, problem, "application/problem+json"))).toEqual([]);
    expect(await responseMismatches(served, "POST", confirm, answer(418, problem, "application/problem+json"))).toEqual([
      expect.stringMatching(/^status 418 is not documented/),
    ]);
    expect(await responseMismatches(served, "POST", confirm, answer(409, problem, "text/plain"))).toEqual([
      expect.stringMatching(/^text\/plain is not documented for 409/),
    ]);
  });
});
