/**
 * The runtime adapter: the only module that touches Deno-, Bun- or Node-specific APIs
 * (environment, process signals, subprocesses, files, HTTP servers). The rest of oq uses
 * web-standard APIs only.
 *
 * @module
 */

import type { IncomingMessage, ServerResponse } from "node:http";

/** The JavaScript runtime oq is running on. */
export type RuntimeName = "deno" | "bun" | "node";

// deno-lint-ignore no-explicit-any
const g = globalThis as any;

/** Detect the current runtime (one function, used everywhere). */
export function runtimeName(): RuntimeName {
  if (typeof g.Deno?.version?.deno === "string") return "deno";
  if (typeof g.Bun?.version === "string") return "bun";
  return "node";
}

/**
 * Let a timer not keep the process alive by itself (Node/Bun `unref`, `Deno.unrefTimer`).
 * Used for timers that only matter while something else runs (a task's timeout checks).
 */
export function unrefTimer(timer: unknown): void {
  if (typeof timer === "number") {
    if (runtimeName() === "deno") g.Deno.unrefTimer(timer);
    return;
  }
  (timer as { unref?: () => void } | undefined)?.unref?.();
}

/** Read an environment variable; `undefined` when unset or when env access is denied. */
export function getEnv(name: string): string | undefined {
  try {
    if (runtimeName() === "deno") return g.Deno.env.get(name) ?? undefined;
    return g.process?.env?.[name] ?? undefined;
  } catch {
    return undefined; // Deno without --allow-env
  }
}

/** A request handler over web-standard Request and Response. */
export type HttpHandler = (request: Request) => Promise<Response>;

/** Options of {@link serveHttp}. */
export interface ServeOptions {
  /** Interface to bind. @default "127.0.0.1" */
  hostname?: string;
  /** TCP port; 0 picks a free one. @default 0 */
  port?: number;
  /** The handler; it should answer every request itself (a throw becomes a bare 500). */
  handler: HttpHandler;
  /** Called with errors the handler threw. */
  onError?: (error: unknown) => void;
}

/** A running HTTP server. */
export interface HttpServer {
  /** Bound interface. */
  readonly hostname: string;
  /** Bound TCP port. */
  readonly port: number;
  /** Stop listening and close every connection. */
  close(): Promise<void>;
}

/**
 * Start an HTTP server on Deno (`Deno.serve`), Bun (`Bun.serve`) or Node (`node:http`,
 * converted to web Request and Response). Bodies are buffered, which suits small objects.
 *
 * @example
 * ```ts
 * import { serveHttp } from "./runtime.ts";
 * const server = await serveHttp({ port: 0, handler: () => Promise.resolve(new Response("hi")) });
 * await server.close();
 * ```
 */
export async function serveHttp(options: ServeOptions): Promise<HttpServer> {
  const hostname = options.hostname ?? "127.0.0.1";
  const port = options.port ?? 0;
  const guarded = async (req: Request): Promise<Response> => {
    try {
      return await options.handler(req);
    } catch (e) {
      options.onError?.(e);
      return new Response("Internal Server Error", { status: 500 });
    }
  };
  switch (runtimeName()) {
    case "deno":
      return serveDeno(hostname, port, guarded);
    case "bun":
      return serveBun(hostname, port, guarded);
    default:
      return await serveNode(hostname, port, guarded);
  }
}

function serveDeno(hostname: string, port: number, handler: HttpHandler): HttpServer {
  const controller = new AbortController();
  const server = g.Deno.serve(
    { hostname, port, signal: controller.signal, onListen() {} },
    handler,
  );
  return {
    hostname,
    port: server.addr.port,
    async close() {
      controller.abort();
      await server.finished;
    },
  };
}

function serveBun(hostname: string, port: number, handler: HttpHandler): HttpServer {
  const server = g.Bun.serve({ hostname, port, fetch: handler, idleTimeout: 60 });
  return {
    hostname,
    port: server.port,
    async close() {
      await server.stop(true);
    },
  };
}

async function serveNode(
  hostname: string,
  port: number,
  handler: HttpHandler,
): Promise<HttpServer> {
  const http = await import("node:http");
  const server = http.createServer((req, res) => {
    const chunks: Uint8Array[] = [];
    req.on("data", (c: Uint8Array) => chunks.push(c));
    req.on("error", () => res.destroy());
    req.on("end", () => {
      respondNode(req, res, concatBytes(chunks), `${hostname}:${port}`, handler).catch(() => {
        if (!res.headersSent) res.writeHead(400, { "content-length": "0", connection: "close" });
        res.end();
      });
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, hostname, () => resolve());
  });
  const address = server.address();
  const bound = typeof address === "object" && address ? address.port : port;
  return {
    hostname,
    port: bound,
    close() {
      return new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
    },
  };
}

// Convert one node:http exchange to a web Request and back.
async function respondNode(
  req: IncomingMessage,
  res: ServerResponse,
  bytes: Uint8Array,
  fallbackHost: string,
  handler: HttpHandler,
): Promise<void> {
  const headers = new Headers();
  const raw = req.rawHeaders;
  for (let i = 0; i + 1 < raw.length; i += 2) headers.append(raw[i]!, raw[i + 1]!);
  const method = req.method ?? "GET";
  const hasBody = method !== "GET" && method !== "HEAD";
  const request = new Request(`http://${req.headers.host ?? fallbackHost}${req.url ?? "/"}`, {
    method,
    headers,
    body: hasBody ? bytes as BodyInit : undefined,
  });
  const response = await handler(request);
  const body = method === "HEAD" ? new Uint8Array() : new Uint8Array(await response.arrayBuffer());
  const out: Record<string, string> = {};
  response.headers.forEach((v, k) => (out[k] = v));
  if (!("content-length" in out) && response.status !== 204 && response.status !== 304) {
    out["content-length"] = String(body.length);
  }
  res.writeHead(response.status, out);
  if (method === "HEAD" || body.length === 0) res.end();
  else res.end(body);
}

function concatBytes(chunks: Uint8Array[]): Uint8Array {
  let n = 0;
  for (const c of chunks) n += c.length;
  const out = new Uint8Array(n);
  let at = 0;
  for (const c of chunks) {
    out.set(c, at);
    at += c.length;
  }
  return out;
}

/** One entry of {@link readDirEntries}. */
export interface DirEntry {
  /** File or directory name (no path). */
  name: string;
  /** True for directories. */
  isDirectory: boolean;
}

function isNotFound(e: unknown): boolean {
  return typeof e === "object" && e !== null && (e as { code?: string }).code === "ENOENT";
}

/** Read a whole file; `null` when it does not exist. */
export async function readFileBytes(path: string): Promise<Uint8Array | null> {
  const fs = await import("node:fs/promises");
  try {
    return new Uint8Array(await fs.readFile(path));
  } catch (e) {
    if (isNotFound(e)) return null;
    throw e;
  }
}

/**
 * Write a file atomically and durably: write a temporary file next to it (`<path>.tmp-<random>`),
 * flush it to disk, then rename it over `path`. Readers see the old or the new content, never
 * a mix; a crash leaves at worst a stray temporary file.
 */
export async function writeFileAtomic(path: string, data: Uint8Array | string): Promise<void> {
  const fs = await import("node:fs/promises");
  const tmp = `${path}.tmp-${crypto.randomUUID().slice(0, 8)}`;
  const handle = await fs.open(tmp, "w");
  try {
    await handle.writeFile(data);
    await handle.sync();
  } finally {
    await handle.close();
  }
  try {
    await fs.rename(tmp, path);
  } catch (e) {
    await fs.rm(tmp, { force: true });
    throw e;
  }
}

/** Create a directory and its parents (`mkdir -p`); an existing directory is fine. */
export async function makeDir(path: string): Promise<void> {
  const fs = await import("node:fs/promises");
  await fs.mkdir(path, { recursive: true });
}

/** The entries of a directory; empty when it does not exist. */
export async function readDirEntries(path: string): Promise<DirEntry[]> {
  const fs = await import("node:fs/promises");
  try {
    const entries = await fs.readdir(path, { withFileTypes: true });
    return entries.map((e) => ({ name: String(e.name), isDirectory: e.isDirectory() }));
  } catch (e) {
    if (isNotFound(e)) return [];
    throw e;
  }
}

/** Remove a file, or a directory with everything in it; a missing path is fine. */
export async function removePath(path: string): Promise<void> {
  const fs = await import("node:fs/promises");
  await fs.rm(path, { recursive: true, force: true });
}

// --- CLI support ---
// Process-level services of the `oq` command line (src/cli/): arguments, standard streams,
// signals, subprocesses, exit. The library itself never calls these.

/** Command-line arguments after the executable and script names. */
export function cliArgs(): string[] {
  if (runtimeName() === "deno") return [...g.Deno.args];
  return (g.process?.argv ?? []).slice(2);
}

/** The running executable (`node`, `bun`, `deno`, or a compiled `oq`). */
export function execPath(): string {
  if (runtimeName() === "deno") return g.Deno.execPath();
  return g.process.execPath;
}

/** The current working directory. */
export function currentDir(): string {
  return runtimeName() === "deno" ? g.Deno.cwd() : g.process.cwd();
}

/** This process's id. */
export function processId(): number {
  return runtimeName() === "deno" ? g.Deno.pid : g.process.pid;
}

/** The machine's host name (`localhost` when it cannot be read). */
export async function hostName(): Promise<string> {
  try {
    const os = await import("node:os");
    return os.hostname() || "localhost";
  } catch {
    return "localhost";
  }
}

/** A standard stream of this process. */
export type StdStream = "stdin" | "stdout" | "stderr";

/** True when the stream is a terminal (colours, progress and relative times are for people). */
export function isTerminal(stream: StdStream): boolean {
  try {
    if (runtimeName() === "deno") return g.Deno[stream].isTerminal();
    return g.process[stream]?.isTTY === true;
  } catch {
    return false;
  }
}

let brokenPipe = false;

/**
 * Write text to stdout or stderr, synchronously where the runtime allows. A closed reader
 * (`oq list | head -1`) ends the process quietly with status 0, as Unix tools do.
 */
export function writeStd(stream: "stdout" | "stderr", text: string): void {
  if (brokenPipe || text === "") return;
  if (runtimeName() === "deno") {
    let bytes = new TextEncoder().encode(text);
    try {
      while (bytes.length > 0) bytes = bytes.subarray(g.Deno[stream].writeSync(bytes));
    } catch (e) {
      if ((e as Error)?.name !== "BrokenPipe") throw e;
      brokenPipe = true;
      g.Deno.exit(0);
    }
    return;
  }
  const s = g.process[stream];
  if (!s.__oqPipeGuard) {
    s.__oqPipeGuard = true;
    s.on("error", (e: { code?: string }) => {
      if (e?.code !== "EPIPE") throw e;
      brokenPipe = true;
      g.process.exit(0);
    });
  }
  s.write(text);
}

/** Read all of stdin (for `-i -`). */
export async function readStdin(): Promise<Uint8Array> {
  if (runtimeName() === "deno") {
    return new Uint8Array(await new Response(g.Deno.stdin.readable).arrayBuffer());
  }
  const chunks: Uint8Array[] = [];
  for await (const c of g.process.stdin) chunks.push(c as Uint8Array);
  return concatBytes(chunks);
}

/** Exit now with `code`, after stdout and stderr are flushed (Node may buffer pipes). */
export async function exitProcess(code: number): Promise<never> {
  if (runtimeName() === "deno") g.Deno.exit(code);
  const flush = (s: { write(t: string, cb: () => void): void } | undefined) =>
    new Promise<void>((resolve) => {
      if (!s || brokenPipe) return resolve();
      const t = setTimeout(resolve, 2000);
      s.write("", () => (clearTimeout(t), resolve()));
    });
  await flush(g.process.stdout);
  await flush(g.process.stderr);
  g.process.exit(code);
  throw new Error("unreachable");
}

/** The signals that stop a long-running command. */
export type TermSignal = "SIGINT" | "SIGTERM";

/**
 * Call `listener` on SIGINT and SIGTERM instead of dying (the default action is replaced
 * while a listener is installed). Returns a function that removes the listener.
 */
export function onTermSignals(listener: (signal: TermSignal) => void): () => void {
  const signals: TermSignal[] = ["SIGINT", "SIGTERM"];
  const handlers = signals.map((s) => [s, () => listener(s)] as const);
  for (const [s, h] of handlers) {
    if (runtimeName() === "deno") g.Deno.addSignalListener(s, h);
    else g.process.on(s, h);
  }
  return () => {
    for (const [s, h] of handlers) {
      if (runtimeName() === "deno") g.Deno.removeSignalListener(s, h);
      else g.process.off(s, h);
    }
  };
}

/** Options of {@link spawnProcess}. */
export interface SpawnOptions {
  /** The executable (looked up in PATH). */
  command: string;
  /** Its arguments. */
  args?: string[];
  /** Variables added to (or replacing those of) this process's environment. */
  env?: Record<string, string>;
  /** Working directory. @default the current one */
  cwd?: string;
  /** Written to the child's stdin, which is then closed. @default stdin is closed at once */
  stdin?: Uint8Array | string;
  /** Receives stdout chunks; without it stdout is discarded. */
  onStdout?: (chunk: Uint8Array) => void;
  /** Receives stderr chunks; without it stderr is discarded. */
  onStderr?: (chunk: Uint8Array) => void;
  /**
   * Start the child in its own process group, so that {@link Subprocess.kill} reaches
   * everything it started (a shell's children too). @default false
   */
  newProcessGroup?: boolean;
}

/** How a subprocess ended: an exit code, or the signal that killed it. */
export interface ProcessStatus {
  /** Exit code, `null` when killed by a signal. */
  code: number | null;
  /** The signal that killed it (e.g. `"SIGTERM"`), or `null`. */
  signal: string | null;
}

/** A running subprocess. */
export interface Subprocess {
  /** Process id. */
  readonly pid: number;
  /** Settles when it has ended and its output has been delivered; rejects if it could not start. */
  readonly exited: Promise<ProcessStatus>;
  /** Send a signal (to the whole process group when started with `newProcessGroup`). */
  kill(signal?: "SIGTERM" | "SIGKILL" | "SIGINT"): boolean;
}

/**
 * Start a subprocess (node:child_process, which Deno and Bun implement too).
 *
 * @example
 * ```ts ignore
 * const p = await spawnProcess({ command: "/bin/sh", args: ["-c", "cat"], stdin: "hi", onStdout: (c) => {} });
 * const { code } = await p.exited;
 * ```
 */
export async function spawnProcess(o: SpawnOptions): Promise<Subprocess> {
  const cp = await import("node:child_process");
  const env = { ...(g.process?.env ?? {}), ...(o.env ?? {}) };
  if (runtimeName() === "deno") Object.assign(env, g.Deno.env.toObject(), o.env ?? {});
  const child = cp.spawn(o.command, o.args ?? [], {
    cwd: o.cwd,
    env,
    detached: o.newProcessGroup ?? false,
    stdio: ["pipe", o.onStdout ? "pipe" : "ignore", o.onStderr ? "pipe" : "ignore"],
  });
  const exited = new Promise<ProcessStatus>((resolve, reject) => {
    child.once("error", reject);
    child.once("close", (code, signal) => resolve({ code, signal: signal ?? null }));
  });
  child.stdin?.on("error", () => {}); // the child may exit without reading its input
  if (o.stdin !== undefined) child.stdin?.end(o.stdin);
  else child.stdin?.end();
  if (o.onStdout) child.stdout?.on("data", (c: Uint8Array) => o.onStdout!(new Uint8Array(c)));
  if (o.onStderr) child.stderr?.on("data", (c: Uint8Array) => o.onStderr!(new Uint8Array(c)));
  const pid = child.pid ?? -1;
  return {
    pid,
    exited,
    kill(signal = "SIGTERM") {
      if (pid <= 0 || child.exitCode !== null || child.signalCode !== null) return false;
      try {
        if (o.newProcessGroup) g.process.kill(-pid, signal);
        else child.kill(signal);
        return true;
      } catch {
        return false;
      }
    },
  };
}
