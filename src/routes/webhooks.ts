import { createRoute, z } from "@hono/zod-openapi";
import type { Context } from "hono";
import { AppError } from "../errors.js";
import { readBody, webhookBodyLimits } from "../http/body.js";
import type { AppEnv } from "../http/env.js";
import { createRouter, ProblemSchema } from "../http/openapi.js";
import { codedError, problemResponse } from "../http/problem.js";
// Each platform's messages are verified by its source adapter; the route reads the request and answers.
import { receiveGooglePush } from "../ingest/adapters/google.js";
import { precheckIcsWebhook, receiveIcsWebhook, standardWebhookHeaders } from "../ingest/adapters/ics-webhook.js";
import { isMicrosoftSource, receiveGraphNotifications } from "../ingest/adapters/microsoft.js";
import type { Intake } from "../services/webhook-intake.js";

const problem = { content: { "application/problem+json": { schema: ProblemSchema } } };
const Accepted = z.object({ accepted: z.boolean(), duplicate: z.boolean().optional() }).openapi("WebhookAck");
const ICS_ENVELOPE_DOC = {
  type: "object" as const,
  required: ["type", "timestamp", "data"],
  additionalProperties: false,
  properties: {
    type: { type: "string" as const, enum: ["calendar.changed"] },
    timestamp: { type: "string" as const, format: "date-time" },
    data: {
      type: "object" as const,
      required: ["ics"],
      additionalProperties: false,
      properties: { ics: { type: "string" as const, description: "BEGIN:VCALENDAR..." } },
    },
  },
};
const params = z.object({ sourceId: z.string().openapi({ param: { in: "path" } }) });

const ics = createRoute({
  method: "post",
  path: "/webhooks/ics/{sourceId}",
  tags: ["webhooks"],
  summary: "Standard Webhooks delivery of changed events as ICS (webhook-* or svix-* headers)",
  // Documented, not validated here: the signature is checked before the body is judged.
  request: { params, body: { required: true, content: { "application/json": { schema: ICS_ENVELOPE_DOC } } } },
  responses: {
    202: { description: "Recorded", content: { "application/json": { schema: Accepted } } },
    400: { description: "Malformed", ...problem },
    401: { description: "Bad signature", ...problem },
    404: { description: "Unknown source", ...problem },
    413: { description: "Too large", ...problem },
    422: { description: "Invalid envelope", ...problem },
  },
});
const google = createRoute({
  method: "post",
  path: "/webhooks/google/{sourceId}",
  tags: ["webhooks"],
  summary: "Google Calendar push notification (X-Goog-* headers, empty body)",
  request: { params },
  responses: {
    200: { description: "Acknowledged", content: { "application/json": { schema: Accepted } } },
    401: { description: "Wrong channel token", ...problem },
    422: { description: "Verified, malformed headers (recorded as rejected)", ...problem },
  },
});
const microsoft = createRoute({
  method: "post",
  path: "/webhooks/microsoft/{sourceId}",
  tags: ["webhooks"],
  summary: "Microsoft Graph change/lifecycle notifications; ?validationToken= is echoed as text/plain",
  request: { params, query: z.object({ validationToken: z.string().optional() }) },
  responses: {
    200: { description: "Validation echo", content: { "text/plain": { schema: z.string() } } },
    202: { description: "Recorded", content: { "application/json": { schema: Accepted } } },
    400: { description: "Malformed", ...problem },
    404: { description: "Unknown source", ...problem },
    422: { description: "Malformed (verified items are recorded as rejected)", ...problem },
  },
});

/** What a sender is told about its delivery: the JSON of a success, or the problem. */
export function intakeAnswer(
  intake: Intake,
  okStatus: 200 | 202,
): { status: 200 | 202; json: { accepted: boolean; duplicate?: boolean }; error?: never } | { error: AppError } {
  switch (intake.result) {
    case "accepted":
      return { status: okStatus, json: { accepted: true, duplicate: intake.duplicate } };
    case "ignored":
      return { status: 200, json: { accepted: false } };
    case "unknown_source":
      return { error: codedError("not_found", "No such webhook.") };
    case "unauthorized":
      return { error: new AppError(401, "invalid_signature", "Unauthorized", "The message could not be verified.") };
    case "rejected":
      return { error: intake.error };
  }
}

function answer(c: Context<AppEnv>, intake: Intake, okStatus: 200 | 202): Response {
  const a = intakeAnswer(intake, okStatus);
  if (a.error) return problemResponse(c, a.error);
  if (intake.result === "accepted") c.var.deps.runtime.worker?.nudge();
  return c.json(a.json, a.status);
}

export function webhookRoutes() {
  return createRouter()
    .openapi(ics, async (c) => {
      const headers = standardWebhookHeaders((n) => c.req.header(n));
      const source = await precheckIcsWebhook(c.var.services, c.req.param("sourceId"), headers, c.var.deps.runtime.liveFeeds);
      if ("result" in source) return answer(c, source, 202) as never;
      const raw = await readBody(c, webhookBodyLimits(c));
      return answer(c, await receiveIcsWebhook(c.var.services, source, raw, headers), 202) as never;
    })
    .openapi(google, async (c) => {
      const headers = {
        channelId: c.req.header("x-goog-channel-id"),
        resourceId: c.req.header("x-goog-resource-id"),
        state: c.req.header("x-goog-resource-state"),
        messageNumber: c.req.header("x-goog-message-number"),
        token: c.req.header("x-goog-channel-token"),
      };
      return answer(c, await receiveGooglePush(c.var.services, c.req.param("sourceId"), headers), 200) as never;
    })
    .openapi(microsoft, async (c) => {
      const token = c.req.query("validationToken");
      if (token !== undefined) {
        // Graph's handshake: echo the token as text/plain within 10 s, only for a source of ours.
        if (token.length > 16_384 || !(await isMicrosoftSource(c.var.services, c.req.param("sourceId")))) {
          return problemResponse(c, codedError("not_found", "No such webhook.")) as never;
        }
        return c.text(token, 200, { "content-type": "text/plain; charset=utf-8", "x-content-type-options": "nosniff" }) as never;
      }
      // Unknown sources are answered before the body is read.
      if (!(await isMicrosoftSource(c.var.services, c.req.param("sourceId"))))
        return problemResponse(c, codedError("not_found", "No such webhook.")) as never;
      const intake = await receiveGraphNotifications(c.var.services, c.req.param("sourceId"), await readBody(c, webhookBodyLimits(c)));
      // Forged items get the 202 Graph expects, but still count against the sender's address.
      if (intake.result === "accepted" && intake.rejected) c.set("authFailed", true);
      return answer(c, intake, 202) as never;
    });
}
