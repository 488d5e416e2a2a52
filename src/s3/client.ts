/**
 * An S3 client for exactly what oq needs: each method is one HTTP request (DeleteObjects
 * one per 1000 keys), signed with SigV4, retried only on transient failures, counted in
 * {@link RequestCounters}, and feeding the store clock with every response's `Date`.
 *
 * @module
 */

import { NoSuchBucketError, StoreError } from "../base/errors.ts";
import { RequestCounters } from "./counters.ts";
import type {
  DeleteEntry,
  DeleteManyResult,
  DeleteResult,
  GetOptions,
  LifecycleRule,
  ListOptions,
  ListPage,
  ListVersionsOptions,
  NotModified,
  ObjectInfo,
  PutBody,
  PutOptions,
  PutResult,
  StoredObject,
  StreamedObject,
  VersioningState,
  VersionPage,
} from "./types.ts";
import * as bucketOps from "./bucket_ops.ts";
import { ServerClock } from "./clock.ts";
import { type S3ClientConfig, type S3ClientOptions, validateS3Options } from "./config.ts";
import { conditionalEtag, unquoteEtag } from "./etag.ts";
import { RequestSigner } from "./sign.ts";
import * as listOps from "./list_ops.ts";
import { type S3Call, type S3Reply, S3Transport } from "./transport.ts";
import { describeBucket, validateKey } from "./url.ts";
import { mapS3Error } from "./errors.ts";

const encoder = new TextEncoder();

/**
 * S3 over fetch for one bucket.
 *
 * @example
 * ```ts
 * import { S3Client } from "./client.ts";
 * const s3 = new S3Client({
 *   endpoint: "http://127.0.0.1:9000",
 *   bucket: "oq-dev",
 *   accessKeyId: "minio",
 *   secretAccessKey: "minio123",
 * });
 * s3.name; // "s3 http://127.0.0.1:9000/oq-dev"
 * ```
 */
export class S3Client {
  /** Validated configuration, defaults filled in; without the secrets (the signer has them). */
  readonly config: S3ClientConfig;
  /** Requests sent, by kind (retries included). */
  readonly counters: RequestCounters;
  /** The store's clock, learnt from `Date` headers. */
  readonly clock: ServerClock;
  /** `s3 {endpoint}/{bucket}`, for messages. */
  readonly name: string;
  readonly #t: S3Transport;

  /** Validate the options (TypeError/RangeError) and create the client; no I/O. */
  constructor(options: S3ClientOptions) {
    this.config = validateS3Options(options);
    this.counters = options.counters ?? new RequestCounters();
    this.clock = new ServerClock({ localNow: this.config.localNow });
    this.name = `s3 ${describeBucket(this.config)}`;
    // The secrets go to the signer alone (private fields), never into a property.
    const signer = new RequestSigner({
      accessKeyId: this.config.accessKeyId,
      secretAccessKey: options.secretAccessKey,
      sessionToken: options.sessionToken || undefined,
      region: this.config.region,
    });
    this.#t = new S3Transport(this.config, signer, this.counters, this.clock);
  }

  /** HeadBucket: true when the bucket exists and we may use it, false on 404. */
  headBucket(signal?: AbortSignal): Promise<boolean> {
    return bucketOps.headBucket(this.#t, signal);
  }

  /** CreateBucket; success when the bucket already exists and is ours. */
  createBucket(signal?: AbortSignal): Promise<void> {
    return bucketOps.createBucket(this.#t, this.config.region, signal);
  }

  /** GetBucketVersioning. */
  getBucketVersioning(signal?: AbortSignal): Promise<VersioningState> {
    return bucketOps.getBucketVersioning(this.#t, signal);
  }

  /** PutBucketVersioning: Enabled (true) or Suspended (false). */
  putBucketVersioning(enabled: boolean, signal?: AbortSignal): Promise<void> {
    return bucketOps.putBucketVersioning(this.#t, enabled, signal);
  }

  /** Replace the lifecycle rules (an empty list deletes the configuration). */
  putBucketLifecycle(rules: LifecycleRule[], signal?: AbortSignal): Promise<void> {
    return bucketOps.putBucketLifecycle(this.#t, rules, signal);
  }

  /** ListObjectsV2, one page. */
  listObjects(options?: ListOptions): Promise<ListPage> {
    return listOps.listObjects(this.#t, options);
  }

  /** ListObjectVersions, one page, in the server's order. */
  listObjectVersions(options?: ListVersionsOptions): Promise<VersionPage> {
    return listOps.listObjectVersions(this.#t, options);
  }

  /** DeleteObjects, one request per 1000 entries; per-key failures in `errors`. */
  deleteObjects(entries: DeleteEntry[], signal?: AbortSignal): Promise<DeleteManyResult> {
    return listOps.deleteObjects(this.#t, entries, signal);
  }

  /**
   * GetObject. `null` when the key or version does not exist or is a delete marker;
   * `{ kind: "not-modified" }` when `ifNoneMatch` still matches (304); a failed `ifMatch`
   * throws PreconditionFailedError.
   */
  async getObject(
    key: string,
    options: GetOptions = {},
  ): Promise<StoredObject | NotModified | null> {
    const reply = await this.#get(key, options, false);
    if (reply === null) return null;
    if (reply.status === 304) {
      const etag = reply.headers.get("etag") ?? options.ifNoneMatch ?? "";
      return { kind: "not-modified", etag: unquoteEtag(etag) };
    }
    return withContentType<StoredObject>(reply, {
      kind: "object",
      ...objectInfo(key, reply, reply.body.length),
      body: reply.body,
    });
  }

  /**
   * GetObject with the body as a stream: `null` when the key or version does not exist or
   * is a delete marker. The request (and its retries) ends when the response's headers
   * arrive; a failure while the chunks are read is not retried and rejects the iteration
   * with a TransientStoreError (the caller may read again from the start).
   */
  async getObjectStream(
    key: string,
    options: Pick<GetOptions, "versionId" | "signal"> = {},
  ): Promise<StreamedObject | null> {
    const reply = await this.#get(key, options, true);
    if (reply === null) return null;
    const size = Number(reply.headers.get("content-length") ?? NaN);
    const where = { operation: "GetObject", bucket: this.config.bucket, key };
    return withContentType<StreamedObject>(reply, {
      ...objectInfo(key, reply, Number.isSafeInteger(size) ? size : -1),
      chunks: storeErrors(reply.chunks ?? oneChunk(reply.body), where, options.signal),
    });
  }

  // One GetObject, whole or streamed; conditions as headers.
  #get(key: string, options: GetOptions, stream: boolean): Promise<S3Reply | null> {
    validateKey(key);
    const headers: Record<string, string> = {};
    if (options.ifMatch !== undefined) {
      headers["if-match"] = conditionalEtag(options.ifMatch, "GET");
    }
    if (options.ifNoneMatch !== undefined) {
      headers["if-none-match"] = conditionalEtag(options.ifNoneMatch, "GET");
    }
    return this.#read({
      operation: "GetObject",
      kind: "GET",
      method: "GET",
      key,
      query: [["versionId", options.versionId]],
      headers,
      accept: [304],
      stream,
      signal: options.signal,
    });
  }

  /**
   * HeadObject. `null` when absent (a HEAD answer has no body, so a missing bucket also
   * reads as absent). `ifMatch` is honoured; `ifNoneMatch` is not sent, since a HEAD
   * costs the same either way: compare the returned ETag instead.
   */
  async headObject(key: string, options: GetOptions = {}): Promise<ObjectInfo | null> {
    validateKey(key);
    const headers: Record<string, string> = {};
    if (options.ifMatch !== undefined) {
      headers["if-match"] = conditionalEtag(options.ifMatch, "HEAD");
    }
    const reply = await this.#read({
      operation: "HeadObject",
      kind: "HEAD",
      method: "HEAD",
      key,
      query: [["versionId", options.versionId]],
      headers,
      signal: options.signal,
    });
    if (reply === null) return null;
    return objectInfo(key, reply, Number(reply.headers.get("content-length") ?? "0"));
  }

  /**
   * PutObject. `ifNoneMatch: "*"` creates only; `ifMatch` replaces only that ETag. A lost
   * condition throws PreconditionFailedError, with `ambiguous` set when an earlier
   * attempt of this write may have been applied.
   */
  async putObject(
    key: string,
    body: PutBody,
    options: PutOptions = {},
  ): Promise<PutResult> {
    validateKey(key);
    if (options.ifNoneMatch !== undefined && options.ifNoneMatch !== "*") {
      throw new TypeError('Option "ifNoneMatch" of a PUT must be "*"');
    }
    if (options.ifNoneMatch !== undefined && options.ifMatch !== undefined) {
      throw new TypeError('Options "ifMatch" and "ifNoneMatch" cannot be combined');
    }
    const headers: Record<string, string> = {
      "content-type": options.contentType ?? "application/octet-stream",
    };
    if (options.ifNoneMatch === "*") headers["if-none-match"] = "*";
    if (options.ifMatch !== undefined) {
      headers["if-match"] = conditionalEtag(options.ifMatch, "PUT");
    }
    const reply = await this.#t.send({
      operation: "PutObject",
      kind: "PUT",
      method: "PUT",
      key,
      headers,
      body: typeof body === "string" ? encoder.encode(body) : body,
      signal: options.signal,
    });
    const result: PutResult = { etag: unquoteEtag(reply.headers.get("etag") ?? "") };
    const versionId = reply.headers.get("x-amz-version-id");
    if (versionId) result.versionId = versionId;
    return result;
  }

  /** DeleteObject (with a version id: permanent). Deleting an absent key succeeds. */
  async deleteObject(
    key: string,
    options: { versionId?: string; signal?: AbortSignal } = {},
  ): Promise<DeleteResult> {
    validateKey(key);
    const reply = await this.#read({
      operation: "DeleteObject",
      kind: "DELETE",
      method: "DELETE",
      key,
      query: [["versionId", options.versionId]],
      signal: options.signal,
    });
    const result: DeleteResult = {
      deleteMarker: reply?.headers.get("x-amz-delete-marker") === "true",
    };
    const versionId = reply?.headers.get("x-amz-version-id");
    if (versionId) result.versionId = versionId;
    return result;
  }

  // A request whose "not found" is `null`, not an error: 404 (other than NoSuchBucket),
  // or 405, S3's answer to a GET/HEAD of a delete marker's version id.
  async #read(call: S3Call): Promise<S3Reply | null> {
    try {
      return await this.#t.send(call);
    } catch (e) {
      const status = e instanceof StoreError ? e.context.status : undefined;
      if ((status === 404 || status === 405) && !(e instanceof NoSuchBucketError)) return null;
      throw e;
    }
  }
}

function withContentType<T extends { contentType?: string }>(reply: S3Reply, object: T): T {
  const contentType = reply.headers.get("content-type");
  if (contentType !== null) object.contentType = contentType;
  return object;
}

async function* oneChunk(body: Uint8Array): AsyncGenerator<Uint8Array> {
  if (body.length > 0) yield body;
}

/** A streamed body whose read failures are store errors (the caller's abort as itself). */
async function* storeErrors(
  chunks: AsyncIterable<Uint8Array>,
  where: { operation: string; bucket: string; key: string },
  signal?: AbortSignal,
): AsyncGenerator<Uint8Array> {
  const it = chunks[Symbol.asyncIterator]();
  try {
    for (;;) {
      let r: IteratorResult<Uint8Array>;
      try {
        r = await it.next();
      } catch (e) {
        if (signal?.aborted) throw signal.reason;
        const timeout = e instanceof Error && e.name === "TimeoutError";
        throw mapS3Error({
          ...where,
          kind: timeout ? "timeout" : "network",
          s3Code: timeout ? "Timeout" : "NetworkError",
          detail: `reading the body: ${e instanceof Error ? e.message : String(e)}`,
        });
      }
      if (r.done) return;
      yield r.value;
    }
  } finally {
    await it.return?.();
  }
}

function objectInfo(key: string, reply: S3Reply, size: number): ObjectInfo {
  const info: ObjectInfo = {
    key,
    etag: unquoteEtag(reply.headers.get("etag") ?? ""),
    size,
    lastModified: new Date(Date.parse(reply.headers.get("last-modified") ?? "")),
  };
  const versionId = reply.headers.get("x-amz-version-id");
  if (versionId) info.versionId = versionId;
  return info;
}
