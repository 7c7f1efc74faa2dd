// The processes under test and the baselines beside them, all on 127.0.0.1: the real server
// (`node --import tsx src/main.ts`), nginx with a generated config, and plain node:http.
import { type ChildProcess, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { chmodSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { assertLoopbackOnly, freePort, httpRequest, LOOPBACK, onCleanup, REPO, rssMb, runCommand, sleep, tempDir, withTimeout } from "./harness.js";

// ---------------------------------------------------------------------------------------------
// The server under test

export type ServerHandle = {
  pid: number;
  /** With gcOnSignal: the file gc-on-signal.ts appends process.memoryUsage() to after each GC. */
  gcReport?: string;
  /** With loopDelay: the file loop-delay.ts appends the event-loop delay histogram to on SIGUSR2. */
  loopReport?: string;
  port: number;
  baseUrl: string;
  adminToken: string;
  command: string;
  rssMb(): number;
  stop(): Promise<void>;
};

const LOOPBACK_PRELOAD = pathToFileURL(join(REPO, "test/bench/loopback.ts")).href;
const GC_PRELOAD = pathToFileURL(join(REPO, "test/bench/gc-on-signal.ts")).href;
const LOOP_PRELOAD = pathToFileURL(join(REPO, "test/bench/loop-delay.ts")).href;

/** `node --import tsx src/main.ts` as a child, on 127.0.0.1:<free port>, waited for on /healthz. */
export async function startServer(opts: {
  /** null: the embedded PGlite, in a fresh temp DATA_DIR. */
  databaseUrl: string | null;
  worker: boolean;
  label: string;
  extraEnv?: Record<string, string>;
  /** Extra node flags, e.g. --cpu-prof while investigating. */
  nodeArgs?: string[];
  /** Another checkout to run src/main.ts from (before/after comparisons); default this one. */
  root?: string;
  /** --expose-gc and a SIGUSR2 handler that runs a full GC (test/bench/gc-on-signal.ts). */
  gcOnSignal?: boolean;
  /** A monitorEventLoopDelay histogram, read and reset by SIGUSR2 (test/bench/loop-delay.ts); not with gcOnSignal. */
  loopDelay?: boolean;
}): Promise<ServerHandle> {
  if (opts.gcOnSignal && opts.loopDelay) throw new Error("gcOnSignal and loopDelay both answer SIGUSR2");
  const port = await freePort();
  const adminToken = `bench-admin-${randomBytes(16).toString("hex")}`;
  const env: NodeJS.ProcessEnv = {
    PATH: process.env.PATH,
    HOME: process.env.HOME,
    ...(opts.databaseUrl ? { DATABASE_URL: opts.databaseUrl } : { DATA_DIR: join(tempDir("pglite"), "data") }),
    PORT: String(port),
    PUBLIC_BASE_URL: `http://${LOOPBACK}:${port}`,
    ADMIN_TOKEN: adminToken,
    LOG_LEVEL: "warn",
    WORKER_ENABLED: opts.worker ? "true" : "false",
    NODE_ENV: "development",
    ...opts.extraEnv,
  };
  const gcArgs = opts.gcOnSignal ? ["--expose-gc", "--import", GC_PRELOAD] : [];
  const gcReport = opts.gcOnSignal ? join(tempDir("gc"), "memory.jsonl") : undefined;
  if (gcReport) env.BENCH_GC_REPORT = gcReport;
  const loopArgs = opts.loopDelay ? ["--import", LOOP_PRELOAD] : [];
  const loopReport = opts.loopDelay ? join(tempDir("loop"), "loop-delay.jsonl") : undefined;
  if (loopReport) env.BENCH_LOOP_REPORT = loopReport;
  const args = [...(opts.nodeArgs ?? []), "--import", "tsx", "--import", LOOPBACK_PRELOAD, ...gcArgs, ...loopArgs, "src/main.ts"];
  const child: ChildProcess = spawn(process.execPath, args, { cwd: opts.root ?? REPO, env, stdio: ["ignore", "ignore", "pipe"] });
  let stderr = "";
  child.stderr!.on("data", (b: Buffer) => {
    stderr = (stderr + b.toString("utf8")).slice(-8000);
  });
  let exited: number | null | undefined;
  const exitedP = new Promise<void>((r) =>
    child.once("exit", (code) => {
      exited = code;
      r();
    }),
  );
  const stop = onCleanup(`server ${opts.label}`, async () => {
    if (exited !== undefined) return;
    child.kill("SIGTERM");
    const done = await Promise.race([exitedP.then(() => true), sleep(15_000).then(() => false)]);
    if (!done) {
      child.kill("SIGKILL");
      await exitedP;
    }
  });
  const baseUrl = `http://${LOOPBACK}:${port}`;
  const deadline = Date.now() + 60_000;
  for (;;) {
    if (exited !== undefined) throw new Error(`server ${opts.label} exited (${exited}) during start:\n${stderr}`);
    const res = await httpRequest(`${baseUrl}/readyz`).catch(() => null);
    if (res?.status === 200) break;
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`server ${opts.label} not ready after 60 s:\n${stderr}`);
    }
    await sleep(100);
  }
  assertLoopbackOnly(port);
  const pid = child.pid!;
  return {
    pid,
    ...(gcReport ? { gcReport } : {}),
    ...(loopReport ? { loopReport } : {}),
    port,
    baseUrl,
    adminToken,
    command: `${opts.databaseUrl ? `DATABASE_URL=postgres://…/${new URL(opts.databaseUrl).pathname.slice(1)}` : "DATA_DIR=<temp dir> (PGlite)"} PORT=${port} ADMIN_TOKEN=… LOG_LEVEL=warn WORKER_ENABLED=${env.WORKER_ENABLED} node ${args
      .join(" ")
      .replace(LOOPBACK_PRELOAD, "./test/bench/loopback.ts")
      .replace(GC_PRELOAD, "./test/bench/gc-on-signal.ts")
      .replace(LOOP_PRELOAD, "./test/bench/loop-delay.ts")}`,
    rssMb: () => rssMb(pid),
    stop,
  };
}

// ---------------------------------------------------------------------------------------------
// nginx, the static-file baseline

export type NginxHandle = { port: number; root: string; conf: string; command: string; stop(): Promise<void> };

/**
 * nginx -p <tmp> -c nginx.conf, `daemon off` as our child, one worker (the server under test is one
 * Node process), access log off, sendfile, gzip_static, ETag on, keep-alive without a request cap
 * (Node's server has none either). Everything it writes stays in the temp dir.
 */
export async function startNginx(nginxBin: string, root: string): Promise<NginxHandle> {
  const dir = tempDir("nginx");
  chmodSync(dir, 0o755);
  const port = await freePort();
  const conf = `# generated by test/bench (harness.ts)
worker_processes 1;
daemon off;
master_process on;
pid ${dir}/nginx.pid;
error_log ${dir}/error.log warn;
events { worker_connections 1024; }
http {
  access_log off;
  client_body_temp_path ${dir}/client_body;
  proxy_temp_path ${dir}/proxy;
  fastcgi_temp_path ${dir}/fastcgi;
  uwsgi_temp_path ${dir}/uwsgi;
  scgi_temp_path ${dir}/scgi;
  sendfile on;
  tcp_nopush on;
  keepalive_requests 100000000;
  keepalive_timeout 65;
  types { text/calendar ics; }
  default_type application/octet-stream;
  server {
    listen ${LOOPBACK}:${port};
    server_name localhost;
    root ${root};
    etag on;
    gzip_static on;
    add_header Cache-Control "private, max-age=300";
  }
}
`;
  const confPath = join(dir, "nginx.conf");
  writeFileSync(confPath, conf);
  const test = await runCommand(nginxBin, ["-t", "-p", dir, "-c", confPath], { timeoutMs: 10_000 });
  if (test.code !== 0) throw new Error(`nginx -t failed:\n${test.stderr}`);
  const child = spawn(nginxBin, ["-p", dir, "-c", confPath], { stdio: ["ignore", "ignore", "pipe"] });
  let stderr = "";
  child.stderr!.on("data", (b: Buffer) => (stderr += b.toString("utf8")));
  let exited = false;
  const exitedP = new Promise<void>((r) =>
    child.once("exit", () => {
      exited = true;
      r();
    }),
  );
  const stop = onCleanup("nginx", async () => {
    if (exited) return;
    child.kill("SIGQUIT"); // graceful shutdown of master and worker
    const done = await Promise.race([exitedP.then(() => true), sleep(5_000).then(() => false)]);
    if (!done) {
      child.kill("SIGKILL");
      await exitedP;
    }
  });
  const deadline = Date.now() + 10_000;
  for (;;) {
    if (exited) throw new Error(`nginx exited during start:\n${stderr}`);
    const res = await httpRequest(`http://${LOOPBACK}:${port}/`).catch(() => null);
    if (res) break;
    if (Date.now() > deadline) throw new Error(`nginx not answering:\n${stderr}`);
    await sleep(50);
  }
  assertLoopbackOnly(port);
  return { port, root, conf, command: `nginx -p ${dir} -c ${confPath}`, stop };
}

export async function apiJson<T = any>(server: ServerHandle, method: string, path: string, body?: unknown, expected = [200, 201]): Promise<T> {
  const res = await httpRequest(server.baseUrl + path, {
    method,
    headers: { authorization: `Bearer ${server.adminToken}`, ...(body !== undefined ? { "content-type": "application/json" } : {}) },
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
  });
  const text = res.body.toString("utf8");
  if (!expected.includes(res.status)) throw new Error(`${method} ${path}: ${res.status} ${text.slice(0, 500)}`);
  return (text ? JSON.parse(text) : undefined) as T;
}

// ---------------------------------------------------------------------------------------------
// Bare node:http, the Node reference point

export type BareNodeHandle = { port: number; command: string; stop(): Promise<void> };

export async function startBareNode(files: { body: string; gzip: string }, etag: string, lastModified: string): Promise<BareNodeHandle> {
  const port = await freePort();
  const args = ["--import", "tsx", "test/bench/bare-node.ts", String(port), files.body, files.gzip, etag, lastModified];
  const child = spawn(process.execPath, args, { cwd: REPO, stdio: ["ignore", "pipe", "pipe"] });
  let stderr = "";
  child.stderr!.on("data", (b: Buffer) => (stderr += b.toString("utf8")));
  let exited = false;
  const exitedP = new Promise<void>((r) =>
    child.once("exit", () => {
      exited = true;
      r();
    }),
  );
  const stop = onCleanup("bare node", async () => {
    if (exited) return;
    child.kill("SIGTERM");
    if (!(await Promise.race([exitedP.then(() => true), sleep(5_000).then(() => false)]))) {
      child.kill("SIGKILL");
      await exitedP;
    }
  });
  await withTimeout(
    new Promise<void>((resolve, reject) => {
      child.stdout!.on("data", (b: Buffer) => b.toString().includes("ready") && resolve());
      child.once("exit", () => reject(new Error(`bare node exited:\n${stderr}`)));
    }),
    30_000,
    "bare node start",
  );
  assertLoopbackOnly(port);
  return { port, command: `node --import tsx test/bench/bare-node.ts <port> feed.ics feed.ics.gz <etag> <last-modified>`, stop };
}
