/**
 * Sends one S3 operation: signs it, fetches it with a per-attempt timeout, feeds the
 * clock, counts every attempt, retries transient failures with backoff, and maps the
 * final failure to oq's errors.
 *
 * @module
 */

import type { RequestCounters, RequestKind } from "./counters.ts";
import type { ServerClock } from "./clock.ts";
import type { S3ClientConfig } from "./config.ts";
import {
  codeForStatus,
  isRetryable,
  mapS3Error,
  mayHaveBeenApplied,
  type S3Failure,
} from "./errors.ts";
import { backoffDelayMs, sleep } from "./retry.ts";
import {
  type HttpReply,
  type HttpSend,
  httpSender,
  HttpTimeoutError,
  type ReplyHeaders,
} from "../runtime/http_client.ts";
import type { RequestSigner } from "./sign.ts";
import { buildUrl, type Query } from "./url.ts";
import type { StreamBody } from "./types.ts";
import { childText, parseXml } from "./xml.ts";

/** One S3 operation to send. */
export interface S3Call {
  /** S3 operation name for messages, e.g. `"PutObject"`. */
  operation: string;
  /** Counter bucket of each attempt. */
  kind: RequestKind;
  /** HTTP method. */
  method: "GET" | "HEAD" | "PUT" | "POST" | "DELETE";
  /** Object key; absent for bucket operations. */
  key?: string;
  /** Query parameters. */
  query?: Query;
  /** Extra headers. */
  headers?: Record<string, string>;
  /** Body: whole, or a stream with its length and hash known. */
  body?: Uint8Array | StreamBody;
  /** Answer a 2xx response with its body as chunks ({@link S3Reply.chunks}). */
  stream?: boolean;
  /** Caller's abort signal: aborting stops the request and any further retry. */
  signal?: AbortSignal;
  /** Non-2xx statuses handed back to the caller instead of thrown (e.g. 304). */
  accept?: readonly number[];
}

/** A response, body read. */
export interface S3Reply {
  /** HTTP status. */
  status: number;
  /** Response headers. */
  headers: ReplyHeaders;
  /** Body bytes (empty for HEAD, and when streamed). */
  body: Uint8Array;
  /** The body as it arrives, for a 2xx answer to a call with `stream: true`. */
  chunks?: AsyncIterable<Uint8Array>;
}

type Outcome = { reply: S3Reply } | { failure: S3Failure };

const decoder = new TextDecoder();

/** The request executor shared by every operation of an {@link S3Client}. */
export class S3Transport {
  readonly #config: S3ClientConfig;
  readonly #counters: RequestCounters;
  readonly #clock: ServerClock;
  readonly #signer: RequestSigner;
  readonly #send: HttpSend;

  /** The bucket every request addresses. */
  get bucket(): string {
    return this.#config.bucket;
  }

  /** Create a transport for one bucket; `signer` holds the credentials. */
  constructor(
    config: S3ClientConfig,
    signer: RequestSigner,
    counters: RequestCounters,
    clock: ServerClock,
  ) {
    this.#config = config;
    this.#signer = signer;
    this.#counters = counters;
    this.#clock = clock;
    this.#send = httpSender(config.fetch);
  }

  /**
   * Send `call`, retrying transient failures up to `maxAttempts` attempts in all. Returns
   * 2xx replies and those in `call.accept`; throws the mapped StoreError otherwise, or
   * the caller's abort reason when `call.signal` aborts.
   */
  async send(call: S3Call): Promise<S3Reply> {
    const url = buildUrl(this.#config, call.key, call.query);
    const headers = call.headers ?? {};
    const hasCondition = Object.keys(headers).some((h) => /^if-(none-)?match$/i.test(h));
    const conditionalWrite = hasCondition && call.method !== "GET" && call.method !== "HEAD";
    const ifMatch = Object.keys(headers).some((h) => h.toLowerCase() === "if-match");
    let mayHaveApplied = false;
    for (let attempt = 1;; attempt++) {
      if (call.signal?.aborted) throw call.signal.reason;
      this.#counters.add(call.kind);
      const outcome = await this.#attempt(call, url, headers);
      if ("reply" in outcome) return outcome.reply;
      const f = outcome.failure;
      if (!isRetryable(f) || attempt >= this.#config.maxAttempts) {
        const tries = attempt > 1 ? ` (after ${attempt} attempts)` : "";
        throw mapS3Error({
          ...f,
          detail: (f.detail ?? "") + tries,
          conditionalWrite,
          ifMatch,
          mayHaveApplied,
        });
      }
      if (call.method !== "GET" && call.method !== "HEAD" && mayHaveBeenApplied(f)) {
        mayHaveApplied = true;
      }
      const c = this.#config;
      await sleep(
        backoffDelayMs(attempt, c.retryBaseDelayMs, c.retryMaxDelayMs, c.random),
        call.signal,
      );
    }
  }

  async #attempt(call: S3Call, url: string, headers: Record<string, string>): Promise<Outcome> {
    const base = { operation: call.operation, bucket: this.#config.bucket, key: call.key };
    const signed = await this.#signer.sign({
      method: call.method,
      url,
      headers,
      body: call.body,
      // The store's clock once known: a skewed local clock would fail every signature.
      timeMs: this.#clock.synced() ? this.#clock.now() : this.#clock.localNow(),
    });
    const sentAt = this.#clock.localNow();
    let response: HttpReply;
    try {
      response = await this.#send({
        method: call.method,
        url,
        headers: signed,
        body: call.body,
        stream: call.stream,
        signal: call.signal,
        timeoutMs: this.#config.requestTimeoutMs,
      });
      this.#clock.observe(response.headers.get("date"), sentAt, this.#clock.localNow());
    } catch (e) {
      if (call.signal?.aborted) throw call.signal.reason;
      if (e instanceof HttpTimeoutError) {
        return {
          failure: {
            ...base,
            kind: "timeout",
            s3Code: "Timeout",
            detail: `no complete response within ${this.#config.requestTimeoutMs} ms`,
            cause: cleanCause(e, this.#signer),
          },
        };
      }
      return {
        failure: {
          ...base,
          kind: "network",
          s3Code: "NetworkError",
          detail: this.#signer.redact(describe(e)),
          cause: cleanCause(e, this.#signer),
        },
      };
    }
    const { status, body } = response;
    if ((status >= 200 && status < 300) || call.accept?.includes(status)) {
      return { reply: response };
    }
    const parsed = parseErrorBody(body);
    return {
      failure: {
        ...base,
        kind: "http",
        status,
        s3Code: parsed.code ?? codeForStatus(status),
        requestId: response.headers.get("x-amz-request-id") ??
          response.headers.get("x-amzn-requestid") ?? parsed.requestId,
        detail: parsed.message !== undefined ? this.#signer.redact(parsed.message) : undefined,
      },
    };
  }
}

/** Code, message and request id of an S3 XML error body; empty when there is none. */
export function parseErrorBody(body: Uint8Array): {
  code?: string;
  message?: string;
  requestId?: string;
} {
  if (body.length === 0) return {};
  try {
    const root = parseXml(decoder.decode(body));
    if (root.name !== "Error") return {};
    const code = childText(root, "Code")?.trim();
    return {
      code: code || undefined,
      message: childText(root, "Message"),
      requestId: childText(root, "RequestId"),
    };
  } catch {
    return {};
  }
}

/**
 * What fetch threw, fit to be an error's `cause`: a plain Error with its name, code,
 * message and stack (credentials and signatures redacted), down its own cause chain, and
 * nothing else. A fetch implementation may attach the signed Request, whose headers carry
 * the signature and the session token.
 */
export function cleanCause(e: unknown, signer: Pick<RequestSigner, "redact">, depth = 0): Error {
  if (!(e instanceof Error)) return new Error(signer.redact(String(e)));
  const inner = depth < 4 && e.cause !== undefined
    ? { cause: cleanCause(e.cause, signer, depth + 1) }
    : undefined;
  const clean = new Error(signer.redact(e.message), inner);
  clean.name = e.name;
  const code = (e as { code?: unknown }).code;
  if (typeof code === "string" || typeof code === "number") {
    Object.assign(clean, { code });
  }
  if (e.stack !== undefined) clean.stack = signer.redact(e.stack);
  return clean;
}

function describe(e: unknown): string {
  if (!(e instanceof Error)) return String(e);
  const cause = e.cause instanceof Error ? `: ${e.cause.message}` : "";
  return `${e.message}${cause}`;
}
