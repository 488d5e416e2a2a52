/**
 * The HTTP client of the S3 client: one request, whole body in, whole body out. On Node it
 * is `node:http`/`node:https` over a keep-alive agent, reached through
 * `process.getBuiltinModule` (so nothing here imports a `node:*` module and the library
 * still bundles for a browser): Node's fetch (undici) wraps every body in web streams and
 * builds Request, Headers and Response objects, which cost a worker more CPU than
 * the rest of a request. Elsewhere (Bun and Deno, whose fetch is native; browsers,
 * Workers, Node before 20.16) it is the global fetch; with a caller's fetch, that one.
 *
 * Redirects are never followed (an S3 redirect is an answer: wrong region), bodies are
 * never decompressed (S3 objects are returned as stored).
 *
 * @module
 */

import { concatBytes, runtimeName } from "./portable.ts";

/** Response headers; names are case-insensitive (a fetch `Headers` is one). */
export interface ReplyHeaders {
  /** The value of a header, `null` when absent. */
  get(name: string): string | null;
}

/** One request. */
export interface HttpCall {
  /** HTTP method. */
  method: string;
  /** Absolute http(s) URL, already encoded. */
  url: string;
  /** Headers to send. */
  headers: Record<string, string>;
  /** Body, if any. */
  body?: Uint8Array;
  /** The caller's signal: aborting it aborts the request (body included) with its reason. */
  signal?: AbortSignal;
  /**
   * Milliseconds for the whole exchange (response body included); past it the request
   * is aborted and the call rejects with {@link HttpTimeoutError}.
   */
  timeoutMs: number;
}

/** The rejection of a call that did not complete within its `timeoutMs`. */
export class HttpTimeoutError extends Error {
  /** Create a timeout error. */
  constructor(timeoutMs: number) {
    super(`No complete response within ${timeoutMs} ms`);
    this.name = "TimeoutError";
  }
}

/** A response, body read whole (empty for HEAD). */
export interface HttpReply {
  /** HTTP status. */
  status: number;
  /** Response headers. */
  headers: ReplyHeaders;
  /** Body bytes. */
  body: Uint8Array;
}

/** Sends one request. */
export type HttpSend = (call: HttpCall) => Promise<HttpReply>;

/** A fetch taking a Request (the S3 client's `fetch` option). */
export type RequestFetch = (input: Request) => Promise<Response>;

/**
 * The sender for a caller's `fetch` (it gets a Request), or the runtime's own: `node:http`
 * on Node, the global fetch elsewhere.
 *
 * @example
 * ```ts
 * import { httpSender } from "./http_client.ts";
 * const send = httpSender((request) => Promise.resolve(new Response(request.method)));
 * const reply = await send({ method: "GET", url: "http://127.0.0.1:9/", headers: {}, timeoutMs: 1000 });
 * new TextDecoder().decode(reply.body); // "GET"
 * ```
 */
export function httpSender(fetchFn?: RequestFetch): HttpSend {
  if (fetchFn !== undefined) {
    return (call) => viaFetch(call, (url, init) => fetchFn(new Request(url, init)));
  }
  const node = runtimeName() === "node" ? nodeSender() : undefined;
  return node ?? ((call) => viaFetch(call, (url, init) => globalThis.fetch(url, init)));
}

async function viaFetch(
  call: HttpCall,
  fetchFn: (url: string, init: RequestInit) => Promise<Response>,
): Promise<HttpReply> {
  // One signal for fetch: aborted by the caller's signal or by the timeout.
  const controller = new AbortController();
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    controller.abort(new HttpTimeoutError(call.timeoutMs));
  }, call.timeoutMs);
  const caller = call.signal;
  const onAbort = () => controller.abort(caller!.reason);
  caller?.addEventListener("abort", onAbort, { once: true });
  try {
    if (caller?.aborted) throw caller.reason;
    const response = await fetchFn(call.url, {
      method: call.method,
      headers: call.headers,
      body: call.body as BodyInit | undefined,
      signal: controller.signal,
      redirect: "manual",
    });
    const body = call.method === "HEAD"
      ? new Uint8Array()
      : new Uint8Array(await response.arrayBuffer());
    return { status: response.status, headers: response.headers, body };
  } catch (e) {
    if (timedOut && !caller?.aborted) throw new HttpTimeoutError(call.timeoutMs);
    throw e;
  } finally {
    clearTimeout(timer);
    caller?.removeEventListener("abort", onAbort);
  }
}

// The parts of node:http used here.
interface NodeIncoming {
  statusCode?: number;
  headers: Record<string, string | string[] | undefined>;
  complete: boolean;
  on(event: "data", f: (chunk: Uint8Array) => void): void;
  on(event: "end" | "close", f: () => void): void;
  on(event: "error", f: (e: Error) => void): void;
}
interface NodeClientRequest {
  on(event: "response", f: (res: NodeIncoming) => void): void;
  on(event: "error", f: (e: Error) => void): void;
  end(body?: Uint8Array): void;
}
interface NodeHttp {
  Agent: new (options: Record<string, unknown>) => unknown;
  request(url: string, options: Record<string, unknown>): NodeClientRequest;
}

// deno-lint-ignore no-explicit-any
const g = globalThis as any;
let nodeClients: { http: NodeHttp; https: NodeHttp; agents: [unknown, unknown] } | null | undefined;

function nodeSender(): HttpSend | undefined {
  if (nodeClients === undefined) {
    const load = (name: string): NodeHttp | undefined => {
      try {
        return g.process?.getBuiltinModule?.(name) as NodeHttp | undefined;
      } catch {
        return undefined;
      }
    };
    const http = load("node:http");
    const https = load("node:https");
    // Keep-alive, newest socket first; an idle socket is closed after 4 s (as undici does),
    // before servers' own idle timeouts (5 s and more) close it under a request.
    const agentOptions = { keepAlive: true, scheduling: "lifo", timeout: 4000 };
    nodeClients = http && https
      ? { http, https, agents: [new http.Agent(agentOptions), new https.Agent(agentOptions)] }
      : null;
  }
  const clients = nodeClients;
  if (clients === null) return undefined;
  return (call) => {
    const tls = call.url.startsWith("https:");
    return nodeRequest(tls ? clients.https : clients.http, clients.agents[tls ? 1 : 0], call);
  };
}

interface NodeRequestHandle extends NodeClientRequest {
  destroy(error: Error): void;
}

function nodeRequest(module: NodeHttp, agent: unknown, call: HttpCall): Promise<HttpReply> {
  return new Promise((resolve, reject) => {
    const caller = call.signal;
    if (caller?.aborted) return reject(caller.reason);
    const headers: Record<string, string> = { ...call.headers };
    // As fetch does: a length on every body, and on a bodiless PUT or POST (never chunked).
    if (call.body !== undefined || call.method === "PUT" || call.method === "POST") {
      headers["content-length"] = String(call.body?.length ?? 0);
    }
    const req = module.request(call.url, {
      method: call.method,
      headers,
      agent,
    }) as NodeRequestHandle;
    // The first error wins: a timeout or the caller's abort, not the socket error after it.
    let failure: unknown;
    const abort = (reason: unknown) => {
      failure ??= reason;
      req.destroy(reason instanceof Error ? reason : new Error(String(reason)));
    };
    const timer = setTimeout(() => abort(new HttpTimeoutError(call.timeoutMs)), call.timeoutMs);
    const onAbort = () => abort(caller!.reason);
    caller?.addEventListener("abort", onAbort, { once: true });
    const done = () => {
      clearTimeout(timer);
      caller?.removeEventListener("abort", onAbort);
    };
    const fail = (e: unknown) => {
      done();
      reject(failure ?? e);
    };
    req.on("error", fail);
    req.on("response", (res) => {
      const body = new BodyCollector(res.headers["content-length"]);
      res.on("data", (chunk) => body.add(chunk));
      res.on("error", fail);
      res.on("end", () => {
        done();
        resolve({
          status: res.statusCode ?? 0,
          headers: new NodeHeaders(res.headers),
          body: body.bytes(),
        });
      });
      res.on("close", () => {
        if (!res.complete) fail(new Error("Connection closed before the response ended"));
      });
    });
    req.end(call.body);
  });
}

/**
 * A response body read into memory that the reply owns (a chunk may view Node's shared
 * pool). With a `content-length` the body is copied into one buffer of that size as it
 * arrives, so a large body (a payload) is held once, not as chunks and then their
 * concatenation; without one, or when more arrives than announced, chunks are kept and
 * joined at the end.
 */
export class BodyCollector {
  #buf: Uint8Array | null = null;
  #at = 0;
  #chunks: Uint8Array[] = [];

  /** A collector for a body of `contentLength` bytes (a header value; may be absent). */
  constructor(contentLength: unknown) {
    const n = typeof contentLength === "string" ? Number(contentLength) : NaN;
    if (Number.isSafeInteger(n) && n > 0) this.#buf = new Uint8Array(n);
  }

  /** Take the next chunk. */
  add(chunk: Uint8Array): void {
    const buf = this.#buf;
    if (buf !== null && this.#at + chunk.length <= buf.length) {
      buf.set(chunk, this.#at);
      this.#at += chunk.length;
      return;
    }
    if (buf !== null) { // longer than announced: fall back to chunks
      this.#chunks.push(buf.subarray(0, this.#at));
      this.#buf = null;
    }
    this.#chunks.push(chunk);
  }

  /** The body (what arrived, when shorter than announced). */
  bytes(): Uint8Array {
    if (this.#buf !== null) {
      return this.#at === this.#buf.length ? this.#buf : this.#buf.slice(0, this.#at);
    }
    // Copied either way: a chunk may view Node's shared pool.
    return this.#chunks.length === 1 ? new Uint8Array(this.#chunks[0]!) : concatBytes(this.#chunks);
  }
}

/** `node:http`'s header object, read as a fetch `Headers` would be. */
class NodeHeaders implements ReplyHeaders {
  readonly #raw: Record<string, string | string[] | undefined>;
  constructor(raw: Record<string, string | string[] | undefined>) {
    this.#raw = raw;
  }
  get(name: string): string | null {
    const v = this.#raw[name.toLowerCase()];
    if (v === undefined) return null;
    return Array.isArray(v) ? v.join(", ") : v;
  }
}
