/**
 * The HTTP client of the S3 client: one request, its body whole or as a stream of chunks,
 * its answer whole or (when asked) as a stream of chunks. On Node it
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

import { runtimeName } from "./portable.ts";
import { nodeSender } from "./http_node.ts";
import {
  type BodyStream,
  type ChunkTimer,
  type HttpCall,
  type HttpReply,
  type HttpSend,
  HttpTimeoutError,
} from "./http_types.ts";

export { BodyCollector } from "./http_node.ts";
export {
  type BodyStream,
  type HttpCall,
  type HttpReply,
  type HttpSend,
  HttpTimeoutError,
  type ReplyHeaders,
} from "./http_types.ts";

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
  const runtime = runtimeName();
  const node = runtime === "node" ? nodeSender() : undefined;
  if (node !== undefined) return node;
  const fetchSend: HttpSend = (call) => viaFetch(call, (url, init) => globalThis.fetch(url, init));
  // Deno's fetch sends a streamed body chunked, without the Content-Length it was given,
  // and S3 refuses that (411 MissingContentLength); Deno's node:http sends the length.
  const streamSend = runtime === "deno" ? nodeSender() : undefined;
  if (streamSend === undefined) return fetchSend;
  return (call) => isStreamed(call) ? streamSend(call) : fetchSend(call);
}

function isStreamed(call: HttpCall): boolean {
  return call.body !== undefined && !(call.body instanceof Uint8Array);
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
  const done = () => {
    clearTimeout(timer);
    caller?.removeEventListener("abort", onAbort);
  };
  const failure = (e: unknown) =>
    timedOut && !caller?.aborted ? new HttpTimeoutError(call.timeoutMs) : e;
  // While a streamed body is read: the timeout counts only while a chunk is awaited.
  const waiting = {
    start: () =>
      setTimeout(() => {
        timedOut = true;
        controller.abort(new HttpTimeoutError(call.timeoutMs));
      }, call.timeoutMs),
    stop: (t: ReturnType<typeof setTimeout>) => clearTimeout(t),
  };
  let streaming = false;
  try {
    if (caller?.aborted) throw caller.reason;
    const body = call.body;
    const headers = { ...call.headers };
    let init: RequestInit = {
      method: call.method,
      headers,
      signal: controller.signal,
      redirect: "manual",
    };
    if (body instanceof Uint8Array) init.body = body as BodyInit;
    else if (body !== undefined) {
      headers["content-length"] = String(body.size);
      // deno-lint-ignore no-explicit-any
      init = { ...init, body: readableOf(body), duplex: "half" } as any;
    }
    const response = await fetchFn(call.url, init);
    const ok = response.status >= 200 && response.status < 300;
    if (call.stream && ok && response.body !== null && call.method !== "HEAD") {
      streaming = true;
      clearTimeout(timer); // the headers are in: from here, per chunk awaited
      return {
        status: response.status,
        headers: response.headers,
        body: new Uint8Array(),
        chunks: fetchChunks(response.body, done, failure, waiting),
      };
    }
    const bytes = call.method === "HEAD"
      ? new Uint8Array()
      : new Uint8Array(await response.arrayBuffer());
    return { status: response.status, headers: response.headers, body: bytes };
  } catch (e) {
    throw failure(e);
  } finally {
    if (!streaming) done();
  }
}

/** A request body stream as a web ReadableStream (pulled: one chunk per read). */
function readableOf(body: BodyStream): ReadableStream<Uint8Array> {
  let it: AsyncIterator<Uint8Array> | undefined;
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      it ??= body.chunks()[Symbol.asyncIterator]();
      const r = await it.next();
      if (r.done) controller.close();
      else controller.enqueue(r.value);
    },
    async cancel() {
      await it?.return?.();
    },
  }, { highWaterMark: 0 });
}

async function* fetchChunks(
  body: ReadableStream<Uint8Array>,
  done: () => void,
  failure: (e: unknown) => unknown,
  waiting: ChunkTimer,
): AsyncGenerator<Uint8Array> {
  const reader = body.getReader();
  let ended = false;
  try {
    for (;;) {
      let r: { done: boolean; value?: Uint8Array };
      const t = waiting.start();
      try {
        r = await reader.read();
      } catch (e) {
        throw failure(e);
      } finally {
        waiting.stop(t);
      }
      if (r.done) {
        ended = true;
        return;
      }
      if (r.value !== undefined) yield r.value;
    }
  } finally {
    done();
    if (!ended) await reader.cancel().catch(() => undefined);
  }
}
