/**
 * The shapes of S3's requests and answers that the client speaks and the storage seam
 * (`src/store/types.ts`) adopts as its own vocabulary: objects, pages of listings, versions,
 * conditional options, lifecycle rules. Defined here, with the client, so that `s3/`
 * depends on nothing above it; `store/` re-exports them.
 *
 * @module
 */

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

/**
 * A body written as it is produced (a payload of many megabytes never held whole): its
 * length and SHA-256 known up front (the SHA-256 is signed as the payload hash, so the
 * store refuses bytes that differ), its bytes chunk by chunk. `chunks()` starts again from
 * the first byte on each call (a retried request sends the body again).
 *
 * @example
 * ```ts
 * import type { StreamBody } from "./types.ts";
 * const body: StreamBody = {
 *   size: 3,
 *   sha256: "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad", // "abc"
 *   async *chunks() {
 *     yield new TextEncoder().encode("abc");
 *   },
 * };
 * ```
 */
export interface StreamBody {
  /** Length in bytes of all the chunks together. */
  readonly size: number;
  /** Lowercase hex SHA-256 of all the bytes. */
  readonly sha256: string;
  /** The bytes, in order, from the start. */
  chunks(): AsyncIterable<Uint8Array>;
}

/** What `ObjectStore.put` writes: bytes, a string (as UTF-8) or a {@link StreamBody}. */
export type PutBody = Uint8Array | string | StreamBody;

/**
 * An object read as a stream (`ObjectStore.getStream`): its metadata, then its bytes as
 * they arrive. Iterate `chunks` to the end, or stop early (`break`), which closes the
 * connection; a chunk is valid until the next one is asked for. A failure while reading
 * rejects the iteration with a `StoreError`.
 */
export interface StreamedObject extends ObjectInfo {
  /** Content-Type as stored. */
  contentType?: string;
  /** The body, chunk by chunk. */
  chunks: AsyncIterable<Uint8Array>;
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

/** Options of `ObjectStore.get` and `ObjectStore.head`. */
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

/** Options of `ObjectStore.put`. */
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

/** Options of `ObjectStore.list` (ListObjectsV2). */
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

/** Options of `ObjectStore.listVersions` (ListObjectVersions). */
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
