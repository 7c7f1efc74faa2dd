import type { Child } from "hono/jsx";
import { SCRIPT, STYLE } from "./assets.js";
import type { WebContext } from "./session.js";

export type Section = "overview" | "link" | "calendars" | "connections" | "open-items" | "clients";

const SECTIONS: ReadonlyArray<{ id: Section; href: string; label: string }> = [
  { id: "overview", href: "/settings", label: "Overview" },
  { id: "link", href: "/settings/link", label: "Telehealth link" },
  { id: "calendars", href: "/settings/calendars", label: "Calendar subscriptions" },
  { id: "connections", href: "/settings/connections", label: "Connected calendars" },
  { id: "open-items", href: "/settings/open-items", label: "Open items" },
  { id: "clients", href: "/settings/clients", label: "Clients" },
];

/** What the header needs of a signed-in page: who is signed in, and the token for sign-out. */
export type Chrome = { providerName: string; csrf: string; admin?: boolean };

type LayoutProps = { title: string; nonce: string; current?: Section; chrome?: Chrome; children?: Child };

export function Layout({ title, nonce, current, chrome, children }: LayoutProps) {
  return (
    <html lang="en">
      <head>
        <meta charset="utf-8" />
        <meta name="viewport" content="width=device-width, initial-scale=1" />
        <meta name="referrer" content="same-origin" />
        <meta name="robots" content="noindex" />
        <link rel="icon" href="/favicon.ico" type="image/svg+xml" />
        <title>{`${title} · Telehealth calendar settings`}</title>
        <style nonce={nonce} dangerouslySetInnerHTML={{ __html: STYLE }} />
      </head>
      <body>
        <a class="skip" href="#main">
          Skip to content
        </a>
        <header>
          <div class="bar">
            <span class="brand">Telehealth calendar settings</span>
            {chrome && (
              <form method="post" action={chrome.admin ? "/settings/admin/sign-out" : "/settings/sign-out"}>
                <input type="hidden" name="_csrf" value={chrome.csrf} />
                <span class="who">{chrome.providerName}</span>
                <button type="submit">Sign out</button>
              </form>
            )}
          </div>
        </header>
        {chrome && !chrome.admin && (
          <nav aria-label="Settings sections">
            <ul>
              {SECTIONS.map((s) => (
                <li>
                  <a href={s.href} aria-current={s.id === current ? "page" : undefined}>
                    {s.label}
                  </a>
                </li>
              ))}
            </ul>
          </nav>
        )}
        <main id="main" tabindex={-1}>
          {children}
        </main>
        <script nonce={nonce} dangerouslySetInnerHTML={{ __html: SCRIPT }} />
      </body>
    </html>
  );
}

/** Renders a full page: doctype, layout, the CSP nonce of this response. */
export async function renderPage(
  c: WebContext,
  page: { title: string; current?: Section; chrome?: Chrome; status?: number },
  body: Child,
): Promise<Response> {
  const nonce = c.get("secureHeadersNonce") ?? "";
  // WCAG 3.3.1: the title says so when the page answers an error.
  const title = (page.status ?? 200) >= 400 ? `Error: ${page.title}` : page.title;
  const node = (
    <Layout title={title} nonce={nonce} current={page.current} chrome={page.chrome}>
      {body}
    </Layout>
  );
  return c.html(`<!doctype html>${await node.toString()}`, (page.status ?? 200) as 200);
}
