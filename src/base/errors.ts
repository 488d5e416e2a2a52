/**
 * The few errors callers act on. S3 status codes are mapped to these in one place
 * (`src/s3/errors.ts`); everything above the storage seam sees only these classes.
 *
 * @module
 */

/**
 * Base class of every error oq throws on purpose.
 *
 * @example
 * ```ts
 * import { MemoryStore, OqError, Queue } from "../../mod.ts";
 * const queue = new Queue(new MemoryStore());
 * try {
 *   await queue.retry("0-NOSUCHTASK");
 * } catch (e) {
 *   if (e instanceof OqError) console.error(e.code, e.message);
 * }
 * ```
 */
export class OqError extends Error {
  /** A stable machine-readable code, e.g. `"PreconditionFailed"`. */
  readonly code: string;

  /** Create an error with a stable code. */
  constructor(code: string, message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = new.target.name;
    this.code = code;
  }
}

/** Where a storage error happened: operation, key and the store's own error code. */
export interface StoreErrorContext {
  /** Operation, e.g. `"PutObject"`. */
  operation: string;
  /** Bucket name, when known. */
  bucket?: string;
  /** Object key, when the operation had one. */
  key?: string;
  /** HTTP status, when a response arrived. */
  status?: number;
  /** The store's error code, e.g. `"SlowDown"`. */
  s3Code?: string;
  /** The store's request id, for support. */
  requestId?: string;
}

/**
 * A failed request to the object store. Never carries credentials.
 *
 * @example
 * ```ts
 * import { connect, StoreError } from "../../mod.ts";
 * try {
 *   const queue = await connect({ endpoint: "http://127.0.0.1:9000", bucket: "jobs" });
 *   await queue.stats();
 * } catch (e) {
 *   if (e instanceof StoreError) console.error(e.context.status, e.code, e.message); // no secret
 * }
 * ```
 */
export class StoreError extends OqError {
  /** Operation, key, status and the store's code. */
  readonly context: StoreErrorContext;

  /** Create a store error; the message is built from the context when not given. */
  constructor(code: string, context: StoreErrorContext, message?: string, options?: ErrorOptions) {
    super(code, message ?? describe(code, context), options);
    this.context = context;
  }
}

/**
 * A conditional request lost: 412 PreconditionFailed, or 409 ConditionalRequestConflict
 * (a concurrent conflicting write). Both mean "someone else wrote first: re-read".
 *
 * @example
 * ```ts
 * import { MemoryStore, PreconditionFailedError } from "../../mod.ts";
 * const store = new MemoryStore();
 * await store.put("k", "a", { ifNoneMatch: "*" });
 * try {
 *   await store.put("k", "b", { ifNoneMatch: "*" }); // already exists
 * } catch (e) {
 *   if (e instanceof PreconditionFailedError) console.log("someone else wrote first");
 * }
 * ```
 */
export class PreconditionFailedError extends StoreError {
  /**
   * True when an earlier attempt of the same request got no answer (timeout, reset, 5xx)
   * before this 412 arrived: that attempt may have been the winning write. Callers must
   * re-read and recognise their own write (by its nonce) before treating the race as lost.
   */
  readonly ambiguous: boolean;

  /** Create the error; `ambiguous` says an earlier attempt may have been applied. */
  constructor(
    code: string,
    context: StoreErrorContext,
    options?: { ambiguous?: boolean; message?: string; cause?: unknown },
  ) {
    super(
      code,
      context,
      options?.message,
      options?.cause !== undefined ? { cause: options.cause } : undefined,
    );
    this.ambiguous = options?.ambiguous ?? false;
  }
}

/**
 * 403: the credentials are wrong or lack permission.
 *
 * @example
 * ```ts
 * import { AccessDeniedError, connect } from "../../mod.ts";
 * try {
 *   await connect({ endpoint: "http://127.0.0.1:9000", bucket: "jobs" });
 * } catch (e) {
 *   if (e instanceof AccessDeniedError) console.error("check the access key and its policy");
 * }
 * ```
 */
export class AccessDeniedError extends StoreError {}

/**
 * The bucket does not exist (NoSuchBucket).
 *
 * @example
 * ```ts
 * import { connect, NoSuchBucketError } from "../../mod.ts";
 * try {
 *   await connect({ endpoint: "http://127.0.0.1:9000", bucket: "missing" });
 * } catch (e) {
 *   if (e instanceof NoSuchBucketError) console.error("run `oq init` first");
 * }
 * ```
 */
export class NoSuchBucketError extends StoreError {}

/**
 * A transient failure that persisted through the client's retries: 500, 502, 503
 * (SlowDown), 504, a reset connection or a timeout. A write that failed this way
 * may still have been applied.
 *
 * @example
 * ```ts
 * import { connect, TransientStoreError } from "../../mod.ts";
 * const queue = await connect({ endpoint: "http://127.0.0.1:9000", bucket: "jobs" });
 * try {
 *   await queue.submit("email", {});
 * } catch (e) {
 *   // Retried already; safe to submit again with the same idempotencyKey.
 *   if (e instanceof TransientStoreError) console.error("the store is struggling:", e.message);
 * }
 * ```
 */
export class TransientStoreError extends StoreError {}

/**
 * Missing or invalid configuration; the message names the env var or option to set.
 *
 * @example
 * ```ts
 * import { ConfigError, connect } from "../../mod.ts";
 * try {
 *   await connect({ env: {} }); // no endpoint, no bucket
 * } catch (e) {
 *   if (e instanceof ConfigError) console.error(e.message); // names S3_ENDPOINT, S3_BUCKET, ...
 * }
 * ```
 */
export class ConfigError extends OqError {
  /** Create a configuration error. */
  constructor(message: string) {
    super("ConfigError", message);
  }
}

/**
 * An object in the bucket does not match its schema; the message names the key.
 *
 * @example
 * ```ts
 * import { MemoryStore, Queue, SchemaError } from "../../mod.ts";
 * const store = new MemoryStore();
 * const queue = new Queue(store);
 * const task = await queue.submit("email", {});
 * const shard = task.id.split("-")[0]; // tasks/{shard}/{id}.json (docs/format.md)
 * await store.put(`tasks/${shard}/${task.id}.json`, "not json");
 * try {
 *   await queue.get(task.id);
 * } catch (e) {
 *   if (e instanceof SchemaError) console.error(e.key, e.message);
 * }
 * ```
 */
export class SchemaError extends OqError {
  /** Key of the offending object. */
  readonly key: string;
  /** ETag of the offending version, when the reader knows it (to report each version once). */
  etag?: string;

  /** Create a schema error for an object key. */
  constructor(key: string, message: string, options?: ErrorOptions) {
    super("SchemaError", `Object "${key}" does not match its schema: ${message}`, options);
    this.key = key;
  }
}

function describe(code: string, c: StoreErrorContext): string {
  const where = c.key !== undefined ? ` on "${c.key}"` : c.bucket ? ` on bucket "${c.bucket}"` : "";
  const status = c.status !== undefined
    ? ` (HTTP ${c.status}${c.s3Code ? ` ${c.s3Code}` : ""})`
    : "";
  return `${c.operation} failed${where}: ${code}${status}`;
}
