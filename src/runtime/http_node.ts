/**
 * The S3 client's HTTP on Node: `node:http`/`node:https` over a keep-alive agent, reached
 * through `process.getBuiltinModule` (nothing here imports a `node:*` module, so the
 * library still bundles for a browser). Bodies whole or streamed with backpressure, each
 * way; see `http_client.ts` for the contract.
 *
 * @module
 */

import { concatBytes } from "./portable.ts";
import { urlParts } from "./url_parts.ts";
import {
  type BodyStream,
  type ChunkTimer,
  type HttpCall,
  type HttpReply,
  type HttpSend,
  HttpTimeoutError,
  type ReplyHeaders,
} from "./http_types.ts";

// The parts of node:http used here.
interface NodeIncoming extends AsyncIterable<Uint8Array> {
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
  once(event: "drain" | "close", f: () => void): void;
  off(event: "drain" | "close", f: () => void): void;
  write(chunk: Uint8Array): boolean;
  end(body?: Uint8Array): void;
  readonly destroyed: boolean;
}
interface NodeHttp {
  Agent: new (options: Record<string, unknown>) => unknown;
  request(options: Record<string, unknown>): NodeClientRequest;
}

// deno-lint-ignore no-explicit-any
const g = globalThis as any;
let nodeClients: { http: NodeHttp; https: NodeHttp; agents: [unknown, unknown] } | null | undefined;

/** The `node:http` sender, or `undefined` where the runtime has no `node:http`. */
export function nodeSender(): HttpSend | undefined {
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
    const body = call.body;
    // As fetch does: a length on every body, and on a bodiless PUT or POST (never chunked).
    if (body !== undefined || call.method === "PUT" || call.method === "POST") {
      headers["content-length"] = String(
        body instanceof Uint8Array ? body.length : body?.size ?? 0,
      );
    }
    // Options rather than the URL string: node:http would parse it again (a WHATWG URL).
    const url = urlParts(call.url);
    const req = module.request({
      protocol: url.protocol,
      hostname: url.hostname,
      port: url.port || undefined,
      path: url.pathname + url.search,
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
      const status = res.statusCode ?? 0;
      if (call.stream && status >= 200 && status < 300 && call.method !== "HEAD") {
        clearTimeout(timer); // the headers are in: from here, per chunk awaited
        const waiting: ChunkTimer = {
          start: () =>
            setTimeout(() => abort(new HttpTimeoutError(call.timeoutMs)), call.timeoutMs),
          stop: (t) => clearTimeout(t),
        };
        resolve({
          status,
          headers: new NodeHeaders(res.headers),
          body: new Uint8Array(),
          chunks: nodeChunks(res, { done, abort, failure: () => failure, waiting }),
        });
        return;
      }
      const collected = new BodyCollector(res.headers["content-length"]);
      res.on("data", (chunk) => collected.add(chunk));
      res.on("error", fail);
      res.on("end", () => {
        done();
        resolve({ status, headers: new NodeHeaders(res.headers), body: collected.bytes() });
      });
      res.on("close", () => {
        if (!res.complete) fail(new Error("Connection closed before the response ended"));
      });
    });
    if (body === undefined || body instanceof Uint8Array) req.end(body);
    else writeStream(req, body).catch(abort);
  });
}

/** Write a streamed body, waiting for the socket to drain between chunks. */
async function writeStream(req: NodeRequestHandle, body: BodyStream): Promise<void> {
  let sent = 0;
  for await (const chunk of body.chunks()) {
    if (req.destroyed) return;
    sent += chunk.length;
    if (!req.write(chunk)) {
      await new Promise<void>((resolve) => {
        const go = () => {
          req.off("drain", go);
          req.off("close", go);
          resolve();
        };
        req.once("drain", go);
        req.once("close", go);
      });
    }
  }
  if (sent !== body.size) {
    throw new Error(`Request body was ${sent} bytes, not the ${body.size} announced`);
  }
  req.end();
}

async function* nodeChunks(
  res: NodeIncoming,
  h: {
    done: () => void;
    abort: (reason: unknown) => void;
    failure: () => unknown;
    waiting: ChunkTimer;
  },
): AsyncGenerator<Uint8Array> {
  let ended = false;
  const it = res[Symbol.asyncIterator]();
  try {
    for (;;) {
      let r: IteratorResult<Uint8Array>;
      const t = h.waiting.start();
      try {
        r = await it.next();
      } catch (e) {
        throw h.failure() ?? e;
      } finally {
        h.waiting.stop(t);
      }
      if (r.done) break;
      yield r.value;
    }
    if (!res.complete) {
      throw h.failure() ?? new Error("Connection closed before the response ended");
    }
    ended = true;
  } finally {
    h.done();
    if (!ended) h.abort(new Error("Response body not read to the end"));
  }
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
