/**
 * The contract of the S3 client's HTTP senders (`http_client.ts` over fetch,
 * `http_node.ts` over `node:http`): one request, its body whole or streamed, its answer
 * whole or streamed, a timeout, the caller's abort.
 *
 * @module
 */

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
  /** Body, if any: whole, or produced chunk by chunk with its length known. */
  body?: Uint8Array | BodyStream;
  /**
   * Answer a 2xx response with its body as chunks ({@link HttpReply.chunks}) instead of
   * whole; other statuses (errors, 304) are still read whole.
   */
  stream?: boolean;
  /** The caller's signal: aborting it aborts the request (body included) with its reason. */
  signal?: AbortSignal;
  /**
   * Milliseconds for the whole exchange (response body included); past it the request is
   * aborted and the call rejects with {@link HttpTimeoutError}. For a streamed response,
   * until its headers, then for each chunk awaited (a slow reader is not cut off, a
   * stalled server is).
   */
  timeoutMs: number;
}

/**
 * A request body sent as it is produced: its length up front (sent as `Content-Length`:
 * S3 refuses a chunked upload without one), its bytes chunk by chunk. `chunks()` starts
 * from the first byte each time it is called, so a retried request sends it again.
 *
 * @example
 * ```ts
 * import type { BodyStream } from "./http_types.ts";
 * const body: BodyStream = {
 *   size: 3,
 *   async *chunks() {
 *     yield new Uint8Array([1, 2]);
 *     yield new Uint8Array([3]);
 *   },
 * };
 * ```
 */
export interface BodyStream {
  /** Length in bytes of all the chunks together. */
  readonly size: number;
  /** The bytes, in order, from the start. */
  chunks(): AsyncIterable<Uint8Array>;
}

/** The rejection of a call that did not complete within its `timeoutMs`. */
export class HttpTimeoutError extends Error {
  /** Create a timeout error. */
  constructor(timeoutMs: number) {
    super(`No complete response within ${timeoutMs} ms`);
    this.name = "TimeoutError";
  }
}

/** A response, body read whole (empty for HEAD), or given as chunks when streamed. */
export interface HttpReply {
  /** HTTP status. */
  status: number;
  /** Response headers. */
  headers: ReplyHeaders;
  /** Body bytes (empty when the body is in {@link HttpReply.chunks}). */
  body: Uint8Array;
  /**
   * The body as it arrives, for a 2xx answer to a call with `stream: true`. Iterate it to
   * the end or stop early (`break`, `return()`), which closes the connection; a chunk is
   * valid until the next is asked for. A failure or timeout while reading rejects the
   * iteration.
   */
  chunks?: AsyncIterable<Uint8Array>;
}

/** Sends one request. */
export type HttpSend = (call: HttpCall) => Promise<HttpReply>;

/** A timer armed while a chunk of a streamed response is awaited. */
export interface ChunkTimer {
  start(): ReturnType<typeof setTimeout>;
  stop(t: ReturnType<typeof setTimeout>): void;
}
