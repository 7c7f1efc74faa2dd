// A tiny browser stand-in for app.request(): a cookie jar, urlencoded form posts, the page's CSRF token.
import type { TestApp } from "../helpers/app.js";

export type WebClient = ReturnType<typeof webClient>;

export function webClient(t: TestApp) {
  const jar = new Map<string, string>();

  async function request(method: string, path: string, opts: { form?: Record<string, string>; headers?: Record<string, string> } = {}) {
    const headers: Record<string, string> = { ...opts.headers };
    if (jar.size) headers.cookie = [...jar].map(([k, v]) => `${k}=${v}`).join("; ");
    let body: string | undefined;
    if (opts.form) {
      body = new URLSearchParams(opts.form).toString();
      headers["content-type"] = "application/x-www-form-urlencoded";
    }
    const res = await t.app.request(path, { method, headers, body });
    for (const line of res.headers.getSetCookie()) {
      const [pair] = line.split(";");
      const eq = pair!.indexOf("=");
      const name = pair!.slice(0, eq);
      const value = pair!.slice(eq + 1);
      if (/max-age=0/i.test(line) || value === "") jar.delete(name);
      else jar.set(name, value);
    }
    return res;
  }

  const get = (path: string, headers?: Record<string, string>) => request("GET", path, { headers });
  const post = (path: string, form: Record<string, string>, headers?: Record<string, string>) => request("POST", path, { form, headers });

  /** GET the page, then post the form with its CSRF token (plus `form`). */
  async function submit(pagePath: string, action: string, form: Record<string, string>, headers?: Record<string, string>) {
    const page = await get(pagePath);
    const html = await page.text();
    return post(action, { _csrf: csrfOf(html), ...form }, headers);
  }

  async function signIn(apiKey: string) {
    const res = await submit("/settings/sign-in", "/settings/sign-in", { apiKey });
    if (res.status !== 303) throw new Error(`sign-in: expected 303, got ${res.status}: ${await res.text()}`);
    return res;
  }

  return { jar, request, get, post, submit, signIn };
}

export function csrfOf(html: string): string {
  const m = /name="_csrf" value="([^"]+)"/.exec(html);
  if (!m) throw new Error(`no CSRF field in page:\n${html.slice(0, 500)}`);
  return m[1]!;
}

/** Visible text of a page, roughly: tags dropped, entities for quotes and ampersands decoded. */
export function textOf(html: string): string {
  return html
    .replace(/<(script|style)[^>]*>[\s\S]*?<\/\1>/g, " ")
    .replace(/<[^>]+>/g, " ")
    .replace(/&amp;/g, "&")
    .replace(/&quot;/g, '"')
    .replace(/&#39;/g, "'")
    .replace(/&lt;/g, "<")
    .replace(/&gt;/g, ">")
    .replace(/\s+/g, " ");
}
