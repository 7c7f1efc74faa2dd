// Drives the connect flow the way a browser does, through app.request(): settings "Connect" form ->
// the fake's authorize endpoint (auto-consent) -> our callback -> "Finish" -> pick calendars.

import { textOf, type WebClient } from "../web/web-client.js";
import type { TestApp } from "./app.js";

export async function consent(t: TestApp, web: WebClient, kind: "google" | "microsoft", extra: Record<string, string> = {}) {
  const start = await web.submit("/settings/connections", "/settings/connections/start", { kind, ...extra });
  if (start.status !== 303) throw new Error(`start: ${start.status} ${await start.text()}`);
  const authorizationUrl = start.headers.get("location")!;
  const consented = await fetch(authorizationUrl, { redirect: "manual" });
  if (consented.status !== 302) throw new Error(`authorize: ${consented.status} ${await consented.text()}`);
  const callback = new URL(consented.headers.get("location")!);
  if (callback.origin !== new URL(t.config.publicBaseUrl).origin) throw new Error(`callback went to ${callback.origin}`);
  return { authorizationUrl, callback };
}

/** GET the callback (the page with the Finish form), then post it. Returns the final answer. */
export async function finish(web: WebClient, callback: URL) {
  const page = await web.get(`${callback.pathname}${callback.search}`);
  const html = await page.text();
  if (page.status !== 200) return { page, html, res: page };
  const params = /name="params" value="([^"]*)"/.exec(html)?.[1]?.replace(/&amp;/g, "&") ?? "";
  const res = await web.post(callback.pathname, { params });
  return { page, html, res };
}

/** Consent, finish, and pick the calendars whose names are given (all when none). */
export async function connectCalendars(t: TestApp, web: WebClient, kind: "google" | "microsoft", names?: string[]) {
  const { callback, authorizationUrl } = await consent(t, web, kind);
  const { res, html: finishHtml } = await finish(web, callback);
  if (res.status !== 303) throw new Error(`finish: ${res.status} ${await res.text()}`);
  const pickPath = res.headers.get("location")!;
  const pickHtml = await (await web.get(pickPath)).text();
  const boxes = [
    ...pickHtml.matchAll(/<input type="checkbox" id="cal-(\d+)" name="(calendar_\d+)" value="([^"]+)"[^>]*>\s*<label for="cal-\d+">([^<]+)/g),
  ];
  const form: Record<string, string> = {};
  for (const [, , name, value, label] of boxes)
    if (!names || names.some((n) => textOf(label!).includes(n))) form[name!] = value!.replace(/&amp;/g, "&");
  const picked = await web.submit(pickPath, pickPath, form);
  if (picked.status !== 303) throw new Error(`pick: ${picked.status} ${await picked.text()}`);
  return { connectionId: pickPath.split("/").at(-1)!, authorizationUrl, callback, finishHtml, pickHtml };
}
