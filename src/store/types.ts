/**
 * The storage seam: the one interface that the queue, worker, monitor and scheduler use.
 * Nothing above this layer sees fetch, XML or S3 status codes.
 *
 * Semantics follow Amazon S3 (see docs/format.md and the conformance suite in
 * tests/store_conformance.ts): strong read-after-write consistency, conditional writes
 * (`If-None-Match: *`, `If-Match`), lexicographic listing, versioning with delete markers.
 *
 * @module
 */

import type { RequestMeter } from "../s3/counters.ts";
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
} from "../s3/types.ts";

export type {
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
  StreamBody,
  StreamedObject,
  VersionInfo,
  VersioningState,
  VersionPage,
} from "../s3/types.ts";

/**
 * A bucket in an S3-compatible object store. Every method is one request (batch helpers
 * say how many), and every request is counted in {@link ObjectStore.counters}.
 *
 * Errors: a lost condition throws {@link PreconditionFailedError}; a missing object is
 * `null` from `get`/`head`; other failures throw the typed errors of `src/base/errors.ts`.
 */
export interface ObjectStore {
  /** A short name for messages and test output (`"memory"`, `"s3 http://127.0.0.1:9000/b"`). */
  readonly name: string;
  /** Request counts by operation: the cost metric. */
  readonly counters: RequestMeter;

  /**
   * The store's time in milliseconds since the epoch: the last server `Date` header plus
   * local elapsed time (S3 stores), or the injected clock (memory store).
   */
  now(): number;
  /** Uncertainty of {@link ObjectStore.now} in milliseconds (about 1000 for HTTP `Date`). */
  clockUncertaintyMs(): number;
  /** True once at least one response has set the clock (always true for memory stores). */
  clockSynced(): boolean;

  /** Does the bucket exist and can we reach it? (HeadBucket) */
  headBucket(signal?: AbortSignal): Promise<boolean>;
  /** Create the bucket; succeeds when it already exists and is ours. (CreateBucket) */
  createBucket(signal?: AbortSignal): Promise<void>;
  /** GetBucketVersioning. */
  getVersioning(signal?: AbortSignal): Promise<VersioningState>;
  /** PutBucketVersioning: enable (true) or suspend (false). */
  putVersioning(enabled: boolean, signal?: AbortSignal): Promise<void>;
  /** PutBucketLifecycleConfiguration: replace the bucket's lifecycle rules. */
  putLifecycle(rules: LifecycleRule[], signal?: AbortSignal): Promise<void>;

  /** GetObject. `null` when the key (or version) does not exist or is a delete marker. */
  get(key: string, options?: GetOptions): Promise<StoredObject | NotModified | null>;
  /**
   * GetObject with the body as a stream (a payload of many megabytes is never held whole):
   * `null` when the key (or version) does not exist or is a delete marker. Iterate `chunks`
   * to the end or stop early; a failure while reading rejects the iteration.
   */
  getStream(
    key: string,
    options?: Pick<GetOptions, "versionId" | "signal">,
  ): Promise<StreamedObject | null>;
  /** HeadObject. `null` when absent. */
  head(key: string, options?: GetOptions): Promise<ObjectInfo | null>;
  /**
   * PutObject, optionally conditional. The body is bytes, a string (written as UTF-8), or a
   * {@link StreamBody} sent as it is produced (its size and SHA-256 known up front).
   */
  put(key: string, body: PutBody, options?: PutOptions): Promise<PutResult>;
  /** DeleteObject. Deleting an absent key succeeds. */
  delete(
    key: string,
    options?: { versionId?: string; signal?: AbortSignal },
  ): Promise<DeleteResult>;
  /** DeleteObjects; split into requests of at most 1000 entries. */
  deleteMany(entries: DeleteEntry[], signal?: AbortSignal): Promise<DeleteManyResult>;
  /** ListObjectsV2, one page. */
  list(options?: ListOptions): Promise<ListPage>;
  /** ListObjectVersions, one page. */
  listVersions(options?: ListVersionsOptions): Promise<VersionPage>;
}
