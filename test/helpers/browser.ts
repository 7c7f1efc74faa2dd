// The real app over HTTP on 127.0.0.1 and Debian's Chromium driven by playwright-core, for the
// browser tests: one server and one browser per test file.
import { mkdtempSync, rmSync } from "node:fs";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { serve } from "@hono/node-server";
import { type BrowserContext, chromium, type Page } from "playwright-core";

const CHROMIUM_ARGS = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
  "--no-first-run",
  "--disable-quic",
];

type FetchHandler = (req: Request, env: unknown) => Response | Promise<Response>;

/**
 * Listens first, so the app's PUBLIC_BASE_URL can be the address the browser really uses; the app
 * made with it is handed to `serveApp`. Until then every request answers 503.
 */
export async function listenOnLoopback() {
  let handle: FetchHandler = () => new Response("starting", { status: 503 });
  const server = serve({ fetch: (req, env) => handle(req, env), port: 0, hostname: "127.0.0.1" });
  await new Promise<void>((resolve) => (server.listening ? resolve() : server.once("listening", () => resolve())));
  return {
    base: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    serveApp(app: { fetch: (req: Request, env: never) => Response | Promise<Response> }) {
      handle = (req, env) => app.fetch(req, env as never);
    },
    async close() {
      if ("closeAllConnections" in server) server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}

/**
 * A headless Chromium with a fresh profile and one page. Script errors and CSP violations are
 * collected in `errors` (the pages must have none); "Failed to load resource" is how Chromium logs the
 * 4xx statuses a test provokes, so it is not one.
 */
export async function launchChromium(): Promise<{ context: BrowserContext; page: Page; errors: string[]; close(): Promise<void> }> {
  const userDataDir = mkdtempSync(join(tmpdir(), "thc-chromium-"));
  const context = await chromium.launchPersistentContext(userDataDir, {
    executablePath: "/usr/bin/chromium",
    headless: true,
    args: CHROMIUM_ARGS,
    viewport: { width: 1280, height: 800 },
  });
  const page = await context.newPage();
  page.setDefaultTimeout(10_000);
  const errors: string[] = [];
  page.on("console", (m) => {
    if (m.type() === "error" && !/^Failed to load resource/.test(m.text())) errors.push(m.text());
  });
  page.on("pageerror", (e) => errors.push(e.message));
  return {
    context,
    page,
    errors,
    async close() {
      await context.close();
      rmSync(userDataDir, { recursive: true, force: true });
    },
  };
}
