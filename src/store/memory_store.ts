/**
 * The in-memory object store: S3 semantics (from {@link StorageEngine}) without a network,
 * for fast tests with an injected clock and for embedding.
 *
 * @module
 */

import {
  AccessDeniedError,
  NoSuchBucketError,
  PreconditionFailedError,
  StoreError,
  type StoreErrorContext,
} from "../base/errors.ts";
import { RequestCounters, type RequestMeter } from "../s3/counters.ts";
import { EngineError, StorageEngine } from "./engine.ts";
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
  ObjectStore,
  PutBody,
  PutOptions,
  PutResult,
  StoredObject,
  StreamBody,
  StreamedObject,
  VersioningState,
  VersionPage,
} from "./types.ts";
import { chunksOf, collectBody, isStreamBody, StreamBodyError } from "./streams.ts";

/** Options of {@link MemoryStore}. */
export interface MemoryStoreOptions {
  /** Bucket name. @default "oq" */
  bucket?: string;
  /** Clock in ms since the epoch (inject a fake clock in tests). @default Date.now */
  clock?: () => number;
  /**
   * Share an engine (e.g. with a dev server); a new one is created otherwise.
   * @internal
   */
  engine?: StorageEngine;
  /** Create the bucket with versioning enabled. @default true */
  createBucket?: boolean;
}

const encoder = new TextEncoder();

/**
 * An {@link ObjectStore} held in memory, with the semantics of a versioned S3 bucket.
 *
 * @example
 * ```ts
 * import { MemoryStore } from "./memory_store.ts";
 * const store = new MemoryStore();
 * const { etag } = await store.put("a.json", "{}", { ifNoneMatch: "*" });
 * await store.put("a.json", '{"x":1}', { ifMatch: etag });
 * ```
 */
export class MemoryStore implements ObjectStore {
  /**
   * The engine holding the data.
   * @internal
   */
  readonly engine: StorageEngine;
  /** Bucket name. */
  readonly bucket: string;
  readonly #counters = new RequestCounters();
  /** See {@link ObjectStore}. */
  readonly name: string;
  readonly #clock: () => number;

  /** Create a store; by default a new engine with one versioned bucket. */
  constructor(options: MemoryStoreOptions = {}) {
    this.#clock = options.clock ?? (() => Date.now());
    this.engine = options.engine ?? new StorageEngine(this.#clock);
    this.bucket = options.bucket ?? "oq";
    this.name = `memory/${this.bucket}`;
    if (options.createBucket ?? true) {
      if (!this.engine.hasBucket(this.bucket)) {
        this.engine.createBucket(this.bucket);
        this.engine.setVersioning(this.bucket, true);
      }
    }
  }

  /** See {@link ObjectStore}. */
  get counters(): RequestMeter {
    return this.#counters;
  }

  /** See {@link ObjectStore}. */
  now(): number {
    return this.#clock();
  }

  /** See {@link ObjectStore}. */
  clockUncertaintyMs(): number {
    return 0;
  }

  /** See {@link ObjectStore}. */
  clockSynced(): boolean {
    return true;
  }

  /** See {@link ObjectStore}. */
  headBucket(): Promise<boolean> {
    this.#counters.add("BUCKET");
    return Promise.resolve(this.engine.hasBucket(this.bucket));
  }

  /** See {@link ObjectStore}. */
  createBucket(): Promise<void> {
    return this.#op(
      "BUCKET",
      "CreateBucket",
      undefined,
      () => this.engine.createBucket(this.bucket),
    );
  }

  /** See {@link ObjectStore}. */
  getVersioning(): Promise<VersioningState> {
    return this.#op(
      "BUCKET",
      "GetBucketVersioning",
      undefined,
      () => this.engine.bucket(this.bucket).versioning,
    );
  }

  /** See {@link ObjectStore}. */
  putVersioning(enabled: boolean): Promise<void> {
    return this.#op(
      "BUCKET",
      "PutBucketVersioning",
      undefined,
      () => this.engine.setVersioning(this.bucket, enabled),
    );
  }

  /** See {@link ObjectStore}. */
  putLifecycle(rules: LifecycleRule[]): Promise<void> {
    return this.#op(
      "BUCKET",
      "PutBucketLifecycleConfiguration",
      undefined,
      () => this.engine.setLifecycle(this.bucket, rules),
    );
  }

  /** See {@link ObjectStore}. */
  get(key: string, options: GetOptions = {}): Promise<StoredObject | NotModified | null> {
    return this.#op("GET", "GetObject", key, () => this.#read(key, options));
  }

  /** See {@link ObjectStore}: the stored bytes handed out in chunks of 64 KiB. */
  getStream(
    key: string,
    options: Pick<GetOptions, "versionId" | "signal"> = {},
  ): Promise<StreamedObject | null> {
    return this.#op("GET", "GetObject", key, () => {
      const r = this.#read(key, { versionId: options.versionId });
      if (r === null || r.kind === "not-modified") return null;
      const { body, kind: _kind, ...meta } = r;
      return { ...meta, chunks: chunksOf(body) };
    });
  }

  /** See {@link ObjectStore}. */
  head(key: string, options: GetOptions = {}): Promise<ObjectInfo | null> {
    return this.#op("HEAD", "HeadObject", key, () => {
      const r = this.#read(key, options);
      if (r === null) return null;
      if (r.kind === "not-modified") return null;
      const { body: _body, kind: _kind, contentType: _ct, ...meta } = r;
      return meta;
    });
  }

  /** See {@link ObjectStore}. */
  put(key: string, body: PutBody, options: PutOptions = {}): Promise<PutResult> {
    if (isStreamBody(body)) return this.#putStream(key, body, options);
    const bytes = typeof body === "string" ? encoder.encode(body) : body;
    return this.#op("PUT", "PutObject", key, () => {
      try {
        return this.engine.put(this.bucket, key, bytes, options);
      } catch (e) {
        // AWS answers 404 to If-Match on a missing key: for a conditional write that is a lost condition.
        if (e instanceof EngineError && e.code === "NoSuchKey") {
          throw new PreconditionFailedError(
            "PreconditionFailed",
            this.#ctx("PutObject", key, 404, e.code),
          );
        }
        throw e;
      }
    });
  }

  /** See {@link ObjectStore}. */
  delete(key: string, options: { versionId?: string } = {}): Promise<DeleteResult> {
    return this.#op(
      "DELETE",
      "DeleteObject",
      key,
      () => this.engine.delete(this.bucket, key, options.versionId),
    );
  }

  /** See {@link ObjectStore}. */
  async deleteMany(entries: DeleteEntry[]): Promise<DeleteManyResult> {
    const result: DeleteManyResult = { deleted: [], errors: [] };
    for (let i = 0; i < entries.length; i += 1000) {
      await this.#op("DELETE_MANY", "DeleteObjects", undefined, () => {
        for (const entry of entries.slice(i, i + 1000)) {
          try {
            this.engine.delete(this.bucket, entry.key, entry.versionId);
            result.deleted.push({ ...entry });
          } catch (e) {
            if (!(e instanceof EngineError)) throw e;
            result.errors.push({ ...entry, code: e.code, message: e.message });
          }
        }
      });
    }
    return result;
  }

  /** See {@link ObjectStore}. */
  list(options: ListOptions = {}): Promise<ListPage> {
    return this.#op(
      "LIST",
      "ListObjectsV2",
      undefined,
      () => this.engine.list(this.bucket, options),
    );
  }

  /** See {@link ObjectStore}. */
  listVersions(options: ListVersionsOptions = {}): Promise<VersionPage> {
    return this.#op(
      "LIST_VERSIONS",
      "ListObjectVersions",
      undefined,
      () => this.engine.listVersions(this.bucket, options),
    );
  }

  // A streamed body is read whole first (a refused one is still a request), then written.
  async #putStream(key: string, body: StreamBody, options: PutOptions): Promise<PutResult> {
    let bytes: Uint8Array;
    try {
      bytes = await collectBody(body);
    } catch (e) {
      if (!(e instanceof StreamBodyError)) throw e;
      this.#counters.add("PUT");
      throw new StoreError(e.code, this.#ctx("PutObject", key, 400, e.code), e.message);
    }
    return await this.put(key, bytes, options);
  }

  #read(key: string, options: GetOptions): StoredObject | NotModified | null {
    try {
      const r = this.engine.get(this.bucket, key, options);
      if (r.notModified) return { kind: "not-modified", etag: r.etag };
      const v = r.version;
      return {
        kind: "object",
        key,
        etag: v.etag,
        size: v.size,
        lastModified: new Date(v.lastModified),
        versionId: r.versioned ? v.versionId : undefined,
        body: v.body.slice(),
        contentType: v.contentType,
      };
    } catch (e) {
      if (
        e instanceof EngineError &&
        ["NoSuchKey", "NoSuchVersion", "MethodNotAllowed"].includes(e.code)
      ) {
        return null;
      }
      throw e;
    }
  }

  #op<T>(
    kind: Parameters<RequestCounters["add"]>[0],
    operation: string,
    key: string | undefined,
    fn: () => T,
  ): Promise<T> {
    this.#counters.add(kind);
    try {
      return Promise.resolve(fn());
    } catch (e) {
      return Promise.reject(this.#map(e, operation, key));
    }
  }

  #map(e: unknown, operation: string, key: string | undefined): unknown {
    if (!(e instanceof EngineError)) return e;
    const ctx = this.#ctx(operation, key, e.status, e.code);
    switch (e.code) {
      case "PreconditionFailed":
      case "ConditionalRequestConflict":
        return new PreconditionFailedError(e.code, ctx);
      case "NoSuchBucket":
        return new NoSuchBucketError(e.code, ctx);
      case "AccessDenied":
        return new AccessDeniedError(e.code, ctx);
      default:
        return new StoreError(e.code, ctx);
    }
  }

  #ctx(
    operation: string,
    key: string | undefined,
    status: number,
    s3Code: string,
  ): StoreErrorContext {
    return { operation, bucket: this.bucket, key, status, s3Code };
  }
}
