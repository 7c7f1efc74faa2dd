// Shared plumbing of `npm run bench`: cleanup, system tools, PostgreSQL databases, an HTTP client
// with a bounded request loop, wrk, and small statistics. Every child, temp dir and database is
// registered for cleanup, which runs on exit, error and Ctrl-C. The servers are in servers.ts.
import { spawn, spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import http from "node:http";
import net from "node:net";
import { tmpdir } from "node:os";
import { delimiter, join } from "node:path";
import { fileURLToPath } from "node:url";
import postgres from "postgres";

export const REPO = fileURLToPath(new URL("../..", import.meta.url));
export const LOOPBACK = "127.0.0.1";

export type Mode = { quick: boolean };

export function log(message: string): void {
  process.stderr.write(`[bench ${new Date().toISOString().slice(11, 19)}] ${message}\n`);
}

// ---------------------------------------------------------------------------------------------
// Cleanup

const cleanups: { label: string; fn: () => Promise<void> | void }[] = [];

/** Runs last-registered first. */
export function onCleanup(label: string, fn: () => Promise<void> | void): () => Promise<void> {
  const entry = { label, fn };
  cleanups.push(entry);
  return async () => {
    const i = cleanups.indexOf(entry);
    if (i >= 0) cleanups.splice(i, 1);
    await fn();
  };
}

export async function runCleanups(): Promise<void> {
  while (cleanups.length) {
    const c = cleanups.pop()!;
    try {
      await withTimeout(Promise.resolve(c.fn()), 20_000, c.label);
    } catch (err) {
      log(`cleanup ${c.label} failed: ${(err as Error).message}`);
    }
  }
}

export function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const t = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: timed out after ${ms} ms`)), ms);
  });
  return Promise.race([p, t]).finally(() => clearTimeout(timer));
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

export function tempDir(label: string): string {
  const dir = mkdtempSync(join(tmpdir(), `bench-${label}-`));
  onCleanup(`rm ${dir}`, () => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

// ---------------------------------------------------------------------------------------------
// Processes and system tools

export type RunResult = { code: number | null; stdout: string; stderr: string };

/**
 * A bounded child process: killed (SIGKILL to its group) when it outlives timeoutMs; `interrupt`
 * sends it SIGINT (wrk then stops and prints what it measured).
 */
export function runCommand(
  cmd: string,
  args: string[],
  opts: { timeoutMs: number; env?: NodeJS.ProcessEnv; cwd?: string; interrupt?: AbortSignal },
): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { cwd: opts.cwd ?? REPO, env: opts.env ?? process.env, stdio: ["ignore", "pipe", "pipe"], detached: true });
    const interrupt = () => {
      if (child.pid && child.exitCode === null && child.signalCode === null) killGroup(child.pid, "SIGINT");
    };
    opts.interrupt?.addEventListener("abort", interrupt, { once: true });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout!.on("data", (b: Buffer) => out.push(b));
    child.stderr!.on("data", (b: Buffer) => err.push(b));
    const timer = setTimeout(() => {
      if (child.pid) killGroup(child.pid, "SIGKILL");
    }, opts.timeoutMs);
    child.on("error", (e) => {
      clearTimeout(timer);
      reject(e);
    });
    child.on("close", (code) => {
      clearTimeout(timer);
      opts.interrupt?.removeEventListener("abort", interrupt);
      resolve({ code, stdout: Buffer.concat(out).toString("utf8"), stderr: Buffer.concat(err).toString("utf8") });
    });
  });
}

function killGroup(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pid, signal);
  } catch {
    try {
      process.kill(pid, signal);
    } catch {
      /* already gone */
    }
  }
}

export function which(cmd: string): string | null {
  const dirs = (process.env.PATH ?? "").split(delimiter).concat(["/usr/sbin", "/sbin", "/usr/bin", "/bin"]);
  for (const d of dirs) {
    const p = join(d, cmd);
    if (d && existsSync(p)) return p;
  }
  return null;
}

function firstLine(cmd: string, args: string[]): string {
  const r = spawnSync(cmd, args, { encoding: "utf8", timeout: 10_000 });
  return `${r.stdout ?? ""}${r.stderr ?? ""}`.trim().split("\n")[0] ?? "";
}

export type Tools = { wrk: string; nginx: string; installed: string[]; versions: Record<string, string> };

/**
 * wrk, nginx and PostgreSQL from Debian when absent (.ci/run does the same for the tests). On this
 * machine kind /usr/sbin/policy-rc.d (exit 101) stops the packages' maintainer scripts from starting
 * services, so no system nginx comes up on port 80; the only nginx this bench runs is its own.
 */
export async function ensureTools(): Promise<Tools> {
  const need: string[] = [];
  if (!which("wrk")) need.push("wrk");
  if (!which("nginx")) need.push("nginx-light");
  if (!which("pg_ctlcluster")) need.push("postgresql");
  if (need.length) {
    log(`installing from Debian: ${need.join(" ")}`);
    const env = { ...process.env, DEBIAN_FRONTEND: "noninteractive" };
    const update = await runCommand("apt-get", ["update", "-qq"], { timeoutMs: 300_000, env });
    if (update.code !== 0) throw new Error(`apt-get update failed:\n${update.stderr}`);
    const install = await runCommand("apt-get", ["install", "-y", "-qq", "--no-install-recommends", ...need], { timeoutMs: 600_000, env });
    if (install.code !== 0) throw new Error(`apt-get install ${need.join(" ")} failed:\n${install.stderr}`);
    if (need.includes("postgresql")) trustLocalConnections();
  }
  const wrk = which("wrk");
  const nginx = which("nginx");
  if (!wrk || !nginx) throw new Error("wrk or nginx still missing after apt-get install");
  return {
    wrk,
    nginx,
    installed: need,
    versions: {
      wrk: firstLine(wrk, ["-v"]).replace(/\s*Copyright.*$/, ""),
      nginx: firstLine(nginx, ["-v"]).replace(/^nginx version:\s*/, ""),
    },
  };
}

function pgVersionDir(): string {
  const dirs = existsSync("/etc/postgresql") ? spawnSync("ls", ["/etc/postgresql"], { encoding: "utf8" }).stdout.trim().split(/\s+/) : [];
  const v = dirs.filter(Boolean).sort().pop();
  if (!v) throw new Error("no PostgreSQL cluster under /etc/postgresql");
  return v;
}

/** A PostgreSQL we just installed: let local loopback connections in, as .ci/run does for the tests. */
function trustLocalConnections(): void {
  const hba = `/etc/postgresql/${pgVersionDir()}/main/pg_hba.conf`;
  writeFileSync(hba, "local all all trust\nhost all all 127.0.0.1/32 trust\nhost all all ::1/128 trust\n");
  spawnSync("pg_ctlcluster", ["--skip-systemctl-redirect", pgVersionDir(), "main", "reload"], { stdio: "ignore" });
}

export const ADMIN_DATABASE_URL = process.env.BENCH_DATABASE_URL ?? "postgres://postgres@127.0.0.1:5432/postgres";

async function canConnect(url: string): Promise<boolean> {
  const sql = postgres(url, { max: 1, connect_timeout: 3, onnotice: () => {} });
  try {
    await sql`select 1`;
    return true;
  } catch {
    return false;
  } finally {
    await sql.end({ timeout: 1 }).catch(() => {});
  }
}

/** Starts the local cluster when nothing answers, and waits up to 30 s for it. */
export async function ensurePostgres(): Promise<string> {
  if (!(await canConnect(ADMIN_DATABASE_URL))) {
    const v = pgVersionDir();
    log(`PostgreSQL not answering; starting cluster ${v}/main`);
    const r = await runCommand("pg_ctlcluster", ["--skip-systemctl-redirect", v, "main", "start"], { timeoutMs: 60_000 });
    if (r.code !== 0) log(`pg_ctlcluster start: ${r.stderr.trim()}`);
    const deadline = Date.now() + 30_000;
    while (!(await canConnect(ADMIN_DATABASE_URL))) {
      if (Date.now() > deadline) throw new Error(`PostgreSQL at ${redactUrl(ADMIN_DATABASE_URL)} does not answer`);
      await sleep(500);
    }
  }
  const sql = postgres(ADMIN_DATABASE_URL, { max: 1, onnotice: () => {} });
  try {
    const [row] = await sql<{ v: string }[]>`select current_setting('server_version') as v`;
    return row!.v;
  } finally {
    await sql.end();
  }
}

export function redactUrl(url: string): string {
  const u = new URL(url);
  if (u.password) u.password = "***";
  return u.toString();
}

export type BenchDatabase = { name: string; url: string; drop(): Promise<void> };

/** A new, empty database named bench_<label>_<random>; dropped at cleanup (or by drop()). */
export async function createBenchDatabase(label: string): Promise<BenchDatabase> {
  const name = `bench_${label}_${randomBytes(4).toString("hex")}`;
  const admin = postgres(ADMIN_DATABASE_URL, { max: 1, onnotice: () => {} });
  try {
    await admin.unsafe(`create database ${name}`);
  } finally {
    await admin.end();
  }
  const u = new URL(ADMIN_DATABASE_URL);
  u.pathname = `/${name}`;
  const drop = onCleanup(`drop database ${name}`, async () => {
    const a = postgres(ADMIN_DATABASE_URL, { max: 1, onnotice: () => {} });
    try {
      await a.unsafe(`drop database if exists ${name} with (force)`);
    } finally {
      await a.end();
    }
  });
  return { name, url: u.toString(), drop };
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once("error", reject);
    s.listen(0, LOOPBACK, () => {
      const port = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(port));
    });
  });
}

/** VmRSS of a process in MB (Linux /proc). */
export function rssMb(pid: number): number {
  const m = /VmRSS:\s+(\d+)\s+kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
  if (!m) throw new Error(`no VmRSS for pid ${pid}`);
  return Number(m[1]) / 1024;
}

/** Whatever listens on `port` must listen on loopback only; throws otherwise. */
export function assertLoopbackOnly(port: number): void {
  const r = spawnSync("ss", ["-Hltn", `sport = :${port}`], { encoding: "utf8" });
  if (r.status !== 0) return; // no ss: the preload (and nginx's listen line) are the guarantee
  for (const line of r.stdout.trim().split("\n").filter(Boolean)) {
    const local = line.trim().split(/\s+/)[3] ?? "";
    if (!local.startsWith(`${LOOPBACK}:`)) throw new Error(`port ${port} listens on ${local}, not loopback`);
  }
}

// ---------------------------------------------------------------------------------------------
// HTTP client and load loops

const agent = new http.Agent({ keepAlive: true, maxSockets: 64 });

export type HttpResult = { status: number; headers: http.IncomingHttpHeaders; body: Buffer };

/** One request over a keep-alive agent; `discardBody` drains without keeping the bytes. */
export function httpRequest(
  url: string,
  opts: { method?: string; headers?: Record<string, string>; body?: string | Buffer; discardBody?: boolean; timeoutMs?: number } = {},
): Promise<HttpResult> {
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method: opts.method ?? "GET", headers: opts.headers, agent, timeout: opts.timeoutMs ?? 30_000 }, (res) => {
      const chunks: Buffer[] = [];
      if (opts.discardBody) res.resume();
      else res.on("data", (b: Buffer) => chunks.push(b));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
      res.on("error", reject);
    });
    req.on("timeout", () => req.destroy(new Error(`timeout: ${opts.method ?? "GET"} ${new URL(url).pathname}`)));
    req.on("error", reject);
    req.end(opts.body);
  });
}

export type LoopResult = { done: number; failed: number; elapsedMs: number; firstError?: string; stoppedByDeadline: boolean };

/** `count` calls of fn, `concurrency` at a time, never past `deadlineMs`. */
export async function boundedLoop(count: number, concurrency: number, deadlineMs: number, fn: (i: number) => Promise<void>): Promise<LoopResult> {
  const started = performance.now();
  const stopAt = started + deadlineMs;
  let next = 0;
  let done = 0;
  let failed = 0;
  let firstError: string | undefined;
  let stoppedByDeadline = false;
  const worker = async () => {
    for (;;) {
      if (next >= count) return;
      if (performance.now() > stopAt) {
        stoppedByDeadline = true;
        return;
      }
      const i = next++;
      try {
        await fn(i);
        done++;
      } catch (err) {
        failed++;
        firstError ??= (err as Error).message;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, count) }, worker));
  return { done, failed, elapsedMs: performance.now() - started, stoppedByDeadline, ...(firstError ? { firstError } : {}) };
}

// ---------------------------------------------------------------------------------------------
// wrk

export type WrkResult = {
  command: string;
  requests: number;
  seconds: number;
  rps: number;
  bytesPerResponse: number;
  p50Ms: number;
  p90Ms: number;
  p99Ms: number;
  errors: number;
  non2xx3xx: number;
};

function toMs(v: string): number {
  const m = /^([\d.]+)(us|ms|s|m)$/.exec(v.trim());
  if (!m) return NaN;
  const n = Number(m[1]);
  return m[2] === "us" ? n / 1000 : m[2] === "ms" ? n : m[2] === "s" ? n * 1000 : n * 60_000;
}

function toBytes(v: string): number {
  const m = /^([\d.]+)([KMGT]?B)$/.exec(v.trim());
  if (!m) return NaN;
  const mult = { B: 1, KB: 1024, MB: 1024 ** 2, GB: 1024 ** 3, TB: 1024 ** 4 }[m[2] as "B"];
  return Number(m[1]) * mult;
}

export function parseWrk(out: string): Omit<WrkResult, "command"> {
  const pct = (p: string) => toMs(new RegExp(`^\\s*${p}%\\s+(\\S+)`, "m").exec(out)?.[1] ?? "");
  const total = /(\d+) requests in ([\d.]+)(us|ms|s|m), ([\d.]+[KMGT]?B) read/.exec(out);
  if (!total) throw new Error(`cannot parse wrk output:\n${out}`);
  const requests = Number(total[1]);
  const seconds = toMs(`${total[2]}${total[3]}`) / 1000;
  const sock = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(out);
  const errors = sock ? Number(sock[1]) + Number(sock[2]) + Number(sock[3]) + Number(sock[4]) : 0;
  return {
    requests,
    seconds,
    rps: Number(/Requests\/sec:\s+([\d.]+)/.exec(out)?.[1] ?? requests / seconds),
    bytesPerResponse: requests ? toBytes(total[4]!) / requests : 0,
    p50Ms: pct("50"),
    p90Ms: pct("90"),
    p99Ms: pct("99"),
    errors,
    non2xx3xx: Number(/Non-2xx or 3xx responses: (\d+)/.exec(out)?.[1] ?? 0),
  };
}

/** wrk -t2 -c16 -d<s>s --latency; bounded by its own duration plus a margin. */
export async function runWrk(
  wrkBin: string,
  url: string,
  opts: {
    seconds: number;
    headers?: Record<string, string>;
    script?: string;
    threads?: number;
    connections?: number;
    /** For the script. */
    env?: Record<string, string>;
    /** Stops wrk before `seconds` (SIGINT); it still reports what it measured. */
    stop?: AbortSignal;
  },
): Promise<WrkResult> {
  const threads = opts.threads ?? 2;
  const connections = opts.connections ?? 16;
  const args = [`-t${threads}`, `-c${connections}`, `-d${opts.seconds}s`, "--timeout", "10s", "--latency"];
  for (const [k, v] of Object.entries(opts.headers ?? {})) args.push("-H", `${k}: ${v}`);
  if (opts.script) args.push("-s", opts.script);
  args.push(url);
  const r = await runCommand(wrkBin, args, {
    timeoutMs: (opts.seconds + 20) * 1000,
    ...(opts.env ? { env: { ...process.env, ...opts.env } } : {}),
    ...(opts.stop ? { interrupt: opts.stop } : {}),
  });
  if (r.code !== 0) throw new Error(`wrk failed (${r.code}):\n${r.stderr}\n${r.stdout}`);
  const shown = args
    .map((a) => (/\s/.test(a) ? `'${a}'` : a))
    .join(" ")
    .replace(/\/feeds\/[A-Za-z0-9_-]{43}\.ics/, "/feeds/<secret>.ics");
  return { command: `wrk ${shown}`, ...parseWrk(r.stdout) };
}

// ---------------------------------------------------------------------------------------------
// Statistics and formatting

export function percentile(xs: readonly number[], p: number): number {
  if (xs.length === 0) return NaN;
  const s = xs.slice().sort((a, b) => a - b);
  const idx = Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1));
  return s[idx]!;
}

export const median = (xs: readonly number[]) => percentile(xs, 50);

export function fmt(n: number, digits = 2): string {
  if (!Number.isFinite(n)) return "n/a";
  if (Math.abs(n) >= 1000) return Math.round(n).toLocaleString("en-US");
  return n.toFixed(digits);
}

export function markdownTable(headers: string[], rows: (string | number)[][]): string {
  const cells = rows.map((r) => r.map((c) => (typeof c === "number" ? fmt(c) : c)));
  return [`| ${headers.join(" | ")} |`, `|${headers.map(() => "---").join("|")}|`, ...cells.map((r) => `| ${r.join(" | ")} |`)].join("\n");
}

export type Goal = { part: string; goal: string; measured: string; met: boolean | null; note?: string };
