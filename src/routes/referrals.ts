import { createRoute, z } from "@hono/zod-openapi";
import { ELIGIBILITY_OUTCOMES } from "../domain/value-lists.js";
import { bearerSecurity, createRouter, IdParam, jsonBody, jsonResponse, problems } from "../http/openapi.js";
import { MarkReferredSchema, markSessionReferred } from "../services/referrals.js";
import { DecisionSchema } from "./sessions.js";

const ReferralSchema = z
  .object({ sessionId: z.uuid(), state: z.string(), outcome: z.enum(ELIGIBILITY_OUTCOMES), referredAt: z.string(), decision: DecisionSchema })
  .openapi("Referral");

const refer = createRoute({
  method: "post",
  path: "/sessions/{id}/refer",
  tags: ["sessions"],
  summary:
    "Mark an ended, unconfirmed telehealth session as referred on (the decision for the client's location must be refer or needs_credentialing); it leaves the open items and is never billed",
  security: bearerSecurity,
  request: { params: z.object({ id: IdParam }), body: jsonBody(MarkReferredSchema) },
  responses: { 201: jsonResponse(ReferralSchema, "Marked as referred"), ...problems(400, 409, 413, 415, 422) },
});

export function referralRoutes() {
  return createRouter().openapi(refer, async (c) =>
    c.json(await markSessionReferred(c.var.services, c.var.principal, c.req.valid("param").id, c.req.valid("json")), 201),
  );
}
