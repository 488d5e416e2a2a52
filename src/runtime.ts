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

/** Concatenate byte chunks into one array. */
export function concatBytes(chunks: Uint8Array[]): Uint8Array {
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

// The process half of the adapter (arguments, stdio, signals, subprocesses) lives in
// runtime_process.ts; it is re-exported here so this stays the one import point.
export {
  cliArgs,
  currentDir,
  execPath,
  exitProcess,
  hostName,
  isTerminal,
  onTermSignals,
  prepareStdio,
  processId,
  readStdin,
  spawnProcess,
  writeStd,
} from "./runtime_process.ts";
export type {
  ProcessStatus,
  SpawnOptions,
  StdStream,
  Subprocess,
  TermSignal,
} from "./runtime_process.ts";
