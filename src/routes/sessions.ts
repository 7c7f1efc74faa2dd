import { createRoute, z } from "@hono/zod-openapi";
import { BILLING_KINDS, ELIGIBILITY_OUTCOMES, MODALITIES, SESSION_KINDS, SESSION_STATUSES } from "../domain/value-lists.js";
import { bearerSecurity, createRouter, IdParam, jsonBody, jsonResponse, listOf, problems } from "../http/openapi.js";
import { ConfirmSessionSchema, confirmSession, EligibilityQuerySchema, previewEligibility } from "../services/confirmations.js";
import {
  CreateSessionSchema,
  cancelSession,
  createSession,
  getSession,
  ListSessionsQuerySchema,
  listSessions,
  UpdateSessionSchema,
  updateSession,
} from "../services/sessions.js";

export const DecisionSchema = z
  .object({
    row: z.number().int().min(1).max(7),
    outcome: z.enum(ELIGIBILITY_OUTCOMES),
    confirmable: z.boolean(),
    billing: z.enum(BILLING_KINDS).optional(),
    state: z.string().optional(),
    country: z.string().optional(),
    explanation: z.string(),
    action: z.string(),
  })
  .openapi("EligibilityDecision");

const SessionSchema = z
  .object({
    id: z.uuid(),
    uid: z.string(),
    sequence: z.number().int(),
    providerId: z.uuid(),
    clientId: z.uuid(),
    start: z.string(),
    end: z.string(),
    kind: z.enum(SESSION_KINDS),
    modality: z.enum(MODALITIES),
    status: z.enum(SESSION_STATUSES),
    telehealthUrl: z.string().optional(),
    externalEvent: z.object({ uid: z.string(), originalStart: z.string().optional() }).optional(),
    confirmation: z
      .object({
        outcome: z.enum(ELIGIBILITY_OUTCOMES),
        row: z.number().int(),
        billing: z.enum(BILLING_KINDS).nullable(),
        country: z.string(),
        state: z.string().nullable(),
        clientLocationId: z.string().nullable(),
        linkUsed: z.string().nullable(),
        confirmedAt: z.string(),
        confirmedBy: z.string(),
      })
      .optional(),
  })
  .openapi("Session");

const tags = ["sessions"];
const providerParams = z.object({ id: IdParam });
const sessionParams = z.object({ id: IdParam });

const create = createRoute({
  method: "post",
  path: "/providers/{id}/sessions",
  tags,
  summary: "Schedule a session",
  description:
    "A virtual session keeps the link it is booked with: its own `telehealthUrl` (on any platform you attested as compliant) or your " +
    "default link. A new default later reaches only upcoming, unconfirmed sessions that follow the default. " +
    "An overlap with another of your sessions answers 409 `overlaps_session` unless `allowOverlap` is true.",
  security: bearerSecurity,
  request: { params: providerParams, body: jsonBody(CreateSessionSchema) },
  responses: { 201: jsonResponse(SessionSchema, "Created"), ...problems(400, 409, 413, 415, 422) },
});
const list = createRoute({
  method: "get",
  path: "/providers/{id}/sessions",
  tags,
  summary: "List sessions overlapping [from, to)",
  security: bearerSecurity,
  request: { params: providerParams, query: ListSessionsQuerySchema },
  responses: { 200: jsonResponse(listOf(SessionSchema), "A page of sessions"), ...problems(422) },
});
const get = createRoute({
  method: "get",
  path: "/sessions/{id}",
  tags,
  summary: "Read a session",
  security: bearerSecurity,
  request: { params: sessionParams },
  responses: { 200: jsonResponse(SessionSchema, "The session"), ...problems(422) },
});
const patch = createRoute({
  method: "patch",
  path: "/sessions/{id}",
  tags,
  summary: "Reschedule, or change modality or the session's own link",
  description:
    "Every change a calendar can see raises `sequence`. A new time that overlaps another session answers 409 `overlaps_session` unless `allowOverlap` is true.",
  security: bearerSecurity,
  request: { params: sessionParams, body: jsonBody(UpdateSessionSchema) },
  responses: { 200: jsonResponse(SessionSchema, "Updated"), ...problems(400, 409, 413, 415, 422) },
});
const cancel = createRoute({
  method: "post",
  path: "/sessions/{id}/cancel",
  tags,
  summary: "Cancel a session (idempotent)",
  security: bearerSecurity,
  request: { params: sessionParams },
  responses: { 200: jsonResponse(SessionSchema, "Cancelled"), ...problems(409, 422) },
});
const confirm = createRoute({
  method: "post",
  path: "/sessions/{id}/confirm",
  tags,
  summary: "Confirm a telehealth session after it ended, with where the client was; 409 carries the decision when it cannot be confirmed",
  description:
    "Confirmation records, for billing, that a telehealth session took place: it is allowed once the session has ended " +
    "(before that: 409 `session_not_ended`), at most once. Body: `{clientLocationId}` (a saved location), `{country?, state, label?}` " +
    "(an identical saved location is reused, otherwise it is added), or `{}` (the client's location on file for the session's time). " +
    "When the session cannot be confirmed the answer is a 409 problem whose `code` is the decision's outcome (`client_location_required` " +
    "when no location is known, `location_outside_us`, `audio_only_not_allowed`, `refer`, `needs_credentialing`) and whose `decision` " +
    "says which rule fired and what to do. The confirmation records the location, the outcome and the link the session used.",
  security: bearerSecurity,
  request: { params: sessionParams, body: jsonBody(ConfirmSessionSchema) },
  responses: {
    200: jsonResponse(z.object({ decision: DecisionSchema, session: SessionSchema }), "Confirmed"),
    ...problems(400, 409, 413, 415, 422),
  },
});
const eligibility = createRoute({
  method: "get",
  path: "/sessions/{id}/eligibility",
  tags,
  summary: "Preview the confirmation decision for a client location (default: the one on file for the session's time)",
  security: bearerSecurity,
  request: { params: sessionParams, query: EligibilityQuerySchema },
  responses: { 200: jsonResponse(DecisionSchema, "The decision"), ...problems(422) },
});

export function sessionRoutes() {
  return createRouter()
    .openapi(create, async (c) => c.json(await createSession(c.var.services, c.var.provider, c.req.valid("json")), 201))
    .openapi(list, async (c) => c.json(await listSessions(c.var.services, c.var.provider, c.req.valid("query")), 200))
    .openapi(get, async (c) => c.json(await getSession(c.var.services, c.var.principal, c.req.valid("param").id), 200))
    .openapi(patch, async (c) => c.json(await updateSession(c.var.services, c.var.principal, c.req.valid("param").id, c.req.valid("json")), 200))
    .openapi(cancel, async (c) => c.json(await cancelSession(c.var.services, c.var.principal, c.req.valid("param").id), 200))
    .openapi(confirm, async (c) => c.json(await confirmSession(c.var.services, c.var.principal, c.req.valid("param").id, c.req.valid("json")), 200))
    .openapi(eligibility, async (c) =>
      c.json(await previewEligibility(c.var.services, c.var.principal, c.req.valid("param").id, c.req.valid("query")), 200),
    );
}
