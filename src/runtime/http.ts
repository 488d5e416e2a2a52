/**
 * The HTTP-server half of the runtime adapter: {@link serveHttp} over `Deno.serve` on Deno
 * and `node:http` on Node and Bun, converted to web-standard Request and Response.
 *
 * Bodies stream both ways. A request body is not read until the handler reads it, so a
 * handler can refuse a request (bad signature, too large) before a byte of its body
 * arrives; on Node and Bun an `Expect: 100-continue` client is told to send its body only
 * then. A body the handler left unread closes the connection after the answer. The
 * handler also receives the request-target exactly as sent: `Request.url` is parsed, and
 * parsing removes dot segments (`/a/../b`) that S3 keeps as part of a key. Bun serves
 * through its `node:http` because `Bun.serve` normalises the path before any handler sees
 * it.
 *
 * @module
 */

import type { IncomingMessage, ServerResponse } from "node:http";
import { runtimeName } from "./portable.ts";

// deno-lint-ignore no-explicit-any
const g = globalThis as any;

/** What the server knows about a request beyond the web Request. */
export interface RequestInfo {
  /** The request-target as sent (path and query, percent-encoding and dot segments kept). */
  target: string;
}

/** A request handler over web-standard Request and Response. */
export type HttpHandler = (request: Request, info: RequestInfo) => Promise<Response>;

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
 * Start an HTTP server on Deno (`Deno.serve`), Bun or Node (`node:http`, converted to web
 * Request and Response). Request and response bodies are streamed.
 *
 * @example
 * ```ts
 * import { serveHttp } from "./http.ts";
 * const server = await serveHttp({ port: 0, handler: () => Promise.resolve(new Response("hi")) });
 * await server.close();
 * ```
 */
export async function serveHttp(options: ServeOptions): Promise<HttpServer> {
  const hostname = options.hostname ?? "127.0.0.1";
  const port = options.port ?? 0;
  const guarded: HttpHandler = async (req, info) => {
    try {
      return await options.handler(req, info);
    } catch (e) {
      options.onError?.(e);
      return new Response("Internal Server Error", { status: 500 });
    }
  };
  if (runtimeName() === "deno") return serveDeno(hostname, port, guarded);
  return await serveNode(hostname, port, guarded);
}

/** The request-target of an absolute URL string, without parsing it (parsing normalises). */
export function targetOf(url: string): string {
  const scheme = url.indexOf("://");
  const slash = url.indexOf("/", scheme < 0 ? 0 : scheme + 3);
  return slash < 0 ? "/" : url.slice(slash);
}

function serveDeno(hostname: string, port: number, handler: HttpHandler): HttpServer {
  const controller = new AbortController();
  const server = g.Deno.serve(
    { hostname, port, signal: controller.signal, onListen() {} },
    (req: Request) => handler(req, { target: targetOf(req.url) }),
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

async function serveNode(
  hostname: string,
  port: number,
  handler: HttpHandler,
): Promise<HttpServer> {
  const http = await import("node:http");
  // No time limit on a whole request (Node's default is 5 minutes): a large upload over a
  // slow link may take longer. Headers still have to arrive within headersTimeout.
  const server = http.createServer({ requestTimeout: 0 });
  const exchange = (req: IncomingMessage, res: ServerResponse, expectContinue: boolean) => {
    respondNode(req, res, `${hostname}:${port}`, handler, expectContinue).catch(() => {
      if (!res.headersSent) res.writeHead(400, { "content-length": "0", connection: "close" });
      res.end();
    });
  };
  server.on("request", (req, res) => exchange(req, res, false));
  // 100 Continue only once the handler reads the body (so a refused upload is never sent).
  server.on("checkContinue", (req, res) => exchange(req, res, true));
  // Other Expect values are answered as if absent (S3 does), not with 417.
  server.on("checkExpectation", (req, res) => exchange(req, res, false));
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

// A web ReadableStream over a node:http request that reads only when pulled (backpressure).
function nodeBody(
  req: IncomingMessage,
  onFirstPull: () => void,
): ReadableStream<Uint8Array> {
  let pulled = false;
  return new ReadableStream<Uint8Array>({
    start(controller) {
      req.pause();
      req.on("data", (c: Uint8Array) => {
        controller.enqueue(new Uint8Array(c.buffer, c.byteOffset, c.byteLength));
        if ((controller.desiredSize ?? 0) <= 0) req.pause();
      });
      req.on("end", () => controller.close());
      req.on("error", (e) => controller.error(e));
    },
    pull() {
      if (!pulled) {
        pulled = true;
        onFirstPull();
      }
      req.resume();
    },
    cancel() {
      req.pause();
    },
  }, { highWaterMark: 0 });
}

// Convert one node:http exchange to a web Request and back, streaming both bodies.
async function respondNode(
  req: IncomingMessage,
  res: ServerResponse,
  fallbackHost: string,
  handler: HttpHandler,
  expectContinue: boolean,
): Promise<void> {
  const headers = new Headers();
  const raw = req.rawHeaders;
  for (let i = 0; i + 1 < raw.length; i += 2) headers.append(raw[i]!, raw[i + 1]!);
  const method = req.method ?? "GET";
  const target = req.url ?? "/";
  const hasBody = method !== "GET" && method !== "HEAD";
  const init: RequestInit & { duplex?: "half" } = { method, headers };
  if (hasBody) {
    init.body = nodeBody(req, () => expectContinue && res.writeContinue());
    init.duplex = "half";
  }
  // The URL only carries the host and query; the handler reads the path from `target`.
  const request = new Request(`http://${req.headers.host ?? fallbackHost}${target}`, init);
  const response = await handler(request, { target });
  const out: Record<string, string> = {};
  response.headers.forEach((v, k) => (out[k] = v));
  let body: Uint8Array | null = null;
  if (method !== "HEAD" && response.body !== null && !("content-length" in out)) {
    body = new Uint8Array(await response.arrayBuffer()); // small answers (XML) only
    if (response.status !== 204 && response.status !== 304) {
      out["content-length"] = String(body.length);
    }
  } else if (method === "HEAD" || response.body === null) {
    if (!("content-length" in out) && response.status !== 204 && response.status !== 304) {
      out["content-length"] = "0";
    }
  }
  // A body the handler did not read closes the connection after the answer.
  const unread = hasBody && !req.complete;
  if (unread) {
    out.connection = "close";
    discardRest(req);
  }
  res.writeHead(response.status, out);
  if (method === "HEAD" || response.body === null) {
    await response.body?.cancel();
    res.end();
  } else if (body !== null) res.end(body);
  else await pipeToNode(response.body, res);
}

// Read and drop the rest of a body nobody will read ("lingering close"): closing a socket
// with unread data resets it, and the client would lose the answer. The bytes are not
// kept, and a client that does not stop sending is cut off after 10 seconds.
function discardRest(req: IncomingMessage): void {
  req.removeAllListeners("data");
  req.on("data", () => {});
  req.resume();
  const timer = setTimeout(() => req.socket.destroy(), 10_000);
  timer.unref?.();
  req.socket.once("close", () => clearTimeout(timer));
}

async function pipeToNode(body: ReadableStream<Uint8Array>, res: ServerResponse): Promise<void> {
  const reader = body.getReader();
  let closed = false;
  res.once("close", () => {
    closed = true;
    reader.cancel().catch(() => {});
  });
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done || closed) break;
      if (!res.write(value)) {
        // One wait per full buffer: take both listeners off again, or a large body (a
        // 50 MB payload waits dozens of times) piles up "close" listeners on the response.
        await new Promise<void>((resolve) => {
          const done = () => {
            res.off("drain", done);
            res.off("close", done);
            resolve();
          };
          res.once("drain", done);
          res.once("close", done);
        });
      }
    }
  } finally {
    res.end();
  }
}
