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

import type { RequestCounters } from "./counters.ts";

/** Versioning state of a bucket, as GetBucketVersioning reports it. */
export type VersioningState = "Enabled" | "Suspended" | "Unversioned";

/** Metadata of one stored object (the current version unless a version id was asked for). */
export interface ObjectInfo {
  /** Object key. */
  key: string;
  /** ETag without surrounding quotes. */
  etag: string;
  /** Size in bytes. */
  size: number;
  /** Last modification time, as the store reports it. */
  lastModified: Date;
  /** Version id, when the bucket is versioned (`"null"` for pre-versioning objects). */
  versionId?: string;
}

/** An object read with its body. */
export interface StoredObject extends ObjectInfo {
  /** Discriminant against {@link NotModified}. */
  kind: "object";
  /** Raw body bytes. */
  body: Uint8Array;
  /** Content-Type as stored. */
  contentType?: string;
}

/** Returned by a conditional GET whose `ifNoneMatch` ETag still matches (HTTP 304). */
export interface NotModified {
  /** Discriminant against {@link StoredObject}. */
  kind: "not-modified";
  /** The ETag that still matches. */
  etag: string;
}

/** Options of {@link ObjectStore.get} and {@link ObjectStore.head}. */
export interface GetOptions {
  /** Read this version instead of the current one. */
  versionId?: string;
  /** Conditional GET: fail with {@link PreconditionFailedError} unless the ETag matches. */
  ifMatch?: string;
  /** Conditional GET: answer {@link NotModified} when the ETag still matches. */
  ifNoneMatch?: string;
  /** Abort the request. */
  signal?: AbortSignal;
}

/** Options of {@link ObjectStore.put}. */
export interface PutOptions {
  /** Create-only write: fails with PreconditionFailedError when the key exists. */
  ifNoneMatch?: "*";
  /** Compare-and-swap: fails with PreconditionFailedError unless the current ETag matches. */
  ifMatch?: string;
  /** Content-Type header. Defaults to `application/octet-stream`. */
  contentType?: string;
  /** Abort the request. */
  signal?: AbortSignal;
}

/** Result of a successful PUT. */
export interface PutResult {
  /** ETag of the written object, without quotes. */
  etag: string;
  /** Version id of the new version, when the bucket is versioned. */
  versionId?: string;
}

/** Result of a DELETE. */
export interface DeleteResult {
  /** Version id of the delete marker created, or of the version removed. */
  versionId?: string;
  /** True when the delete created (or removed) a delete marker. */
  deleteMarker: boolean;
}

/** One entry of a batch delete. */
export interface DeleteEntry {
  /** Object key. */
  key: string;
  /** Remove this version permanently instead of adding a delete marker. */
  versionId?: string;
}

/** Outcome of a batch delete: which entries were removed and which failed. */
export interface DeleteManyResult {
  /** Entries removed (or already absent). */
  deleted: DeleteEntry[];
  /** Entries that failed, with the store's error code. */
  errors: Array<DeleteEntry & { code: string; message: string }>;
}

/** Options of {@link ObjectStore.list} (ListObjectsV2). */
export interface ListOptions {
  /** Only keys starting with this prefix. */
  prefix?: string;
  /** Group keys sharing a prefix up to this delimiter into `commonPrefixes`. */
  delimiter?: string;
  /** Start listing after this key (exclusive). */
  startAfter?: string;
  /** Maximum keys (and common prefixes) per page, at most 1000. @default 1000 */
  maxKeys?: number;
  /** Token from the previous page's `nextContinuationToken`. */
  continuationToken?: string;
  /** Abort the request. */
  signal?: AbortSignal;
}

/** One page of ListObjectsV2. */
export interface ListPage {
  /** Objects in lexicographic (UTF-8 byte) order of key. */
  objects: ObjectInfo[];
  /** Common prefixes when a delimiter was given, in order. */
  commonPrefixes: string[];
  /** True when more results follow. */
  isTruncated: boolean;
  /** Pass as `continuationToken` to get the next page. */
  nextContinuationToken?: string;
}

/** Options of {@link ObjectStore.listVersions} (ListObjectVersions). */
export interface ListVersionsOptions {
  /** Only keys starting with this prefix. */
  prefix?: string;
  /** Start after this key (with `versionIdMarker`: after this version of it). */
  keyMarker?: string;
  /** Start after this version of `keyMarker`. */
  versionIdMarker?: string;
  /** Maximum entries per page, at most 1000. @default 1000 */
  maxKeys?: number;
  /** Abort the request. */
  signal?: AbortSignal;
}

/** One version (or delete marker) of an object. */
export interface VersionInfo {
  /** Object key. */
  key: string;
  /** Version id (`"null"` for objects written while versioning was off). */
  versionId: string;
  /** True for the current version of the key. */
  isLatest: boolean;
  /** True when this entry is a delete marker (then etag is empty and size 0). */
  isDeleteMarker: boolean;
  /** ETag without quotes (empty for delete markers). */
  etag: string;
  /** Size in bytes (0 for delete markers). */
  size: number;
  /** When this version was written. */
  lastModified: Date;
}

/** One page of ListObjectVersions: keys ascending, versions of a key newest first. */
export interface VersionPage {
  /** Versions and delete markers, in the order S3 returns them. */
  versions: VersionInfo[];
  /** True when more results follow. */
  isTruncated: boolean;
  /** Pass as `keyMarker` for the next page. */
  nextKeyMarker?: string;
  /** Pass as `versionIdMarker` for the next page. */
  nextVersionIdMarker?: string;
}

/** A lifecycle rule, limited to what oq installs. */
export interface LifecycleRule {
  /** Rule id. */
  id: string;
  /** Key prefix the rule applies to. */
  prefix: string;
  /** Permanently remove noncurrent versions this many days after they became noncurrent. */
  noncurrentVersionExpirationDays?: number;
  /** Remove delete markers that no longer hide any version. */
  expiredObjectDeleteMarker?: boolean;
  /** Expire current versions this many days after creation. */
  expirationDays?: number;
}

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
  readonly counters: RequestCounters;

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
  /** HeadObject. `null` when absent. */
  head(key: string, options?: GetOptions): Promise<ObjectInfo | null>;
  /** PutObject, optionally conditional. */
  put(key: string, body: Uint8Array | string, options?: PutOptions): Promise<PutResult>;
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
