import { randomUUID } from "node:crypto";
import { Webhook } from "standardwebhooks";
import { expectStatus, type TestApp } from "./app.js";

export async function createIcsWebhookSource(t: TestApp, providerId: string) {
  const res = await t.request("POST", `/api/v1/providers/${providerId}/calendar-sources`, { body: { kind: "ics_webhook" } });
  return expectStatus<{ id: string; webhookUrl: string; signingSecret: string }>(res, 201);
}

export function envelope(ics: string, timestamp = new Date()) {
  return JSON.stringify({ type: "calendar.changed", timestamp: timestamp.toISOString(), data: { ics } });
}

/** Signs like a Standard Webhooks sender (the `standardwebhooks` package itself). */
export function signedHeaders(
  secret: string,
  body: string,
  opts: { id?: string; at?: Date; prefix?: "webhook" | "svix"; extraSecrets?: string[] } = {},
) {
  const id = opts.id ?? `msg_${randomUUID()}`;
  const at = opts.at ?? new Date();
  const signatures = [secret, ...(opts.extraSecrets ?? [])].map((s) => new Webhook(s).sign(id, at, body));
  const p = opts.prefix ?? "webhook";
  return {
    [`${p}-id`]: id,
    [`${p}-timestamp`]: String(Math.floor(at.getTime() / 1000)),
    [`${p}-signature`]: signatures.join(" "),
    "content-type": "application/json",
  };
}

export async function postIcs(t: TestApp, sourceId: string, secret: string, ics: string, opts: Parameters<typeof signedHeaders>[2] = {}) {
  const body = envelope(ics);
  return t.app.request(`/webhooks/ics/${sourceId}`, { method: "POST", headers: signedHeaders(secret, body, opts), body });
}

/** A minimal calendar with the given VEVENT blocks. */
export function calendar(...events: string[]): string {
  return ["BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//Therapist's own calendar//EN", ...events, "END:VCALENDAR", ""].join("\r\n");
}

export function vevent(fields: Record<string, string | number>): string {
  return ["BEGIN:VEVENT", ...Object.entries(fields).map(([k, v]) => `${k}:${v}`), "END:VEVENT"].join("\r\n");
}

/** 20261201T150000Z from an ISO instant. */
export const icsUtc = (iso: string) =>
  new Date(iso)
    .toISOString()
    .replace(/[-:]/g, "")
    .replace(/\.\d{3}/, "");
