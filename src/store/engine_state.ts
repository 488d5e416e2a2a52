/**
 * The data model of the storage engine: the error type, stored versions, bucket state and
 * the options and results of conditional reads and writes, plus the small helpers over a
 * {@link BucketState} that the engine, its listing and its lifecycle code share.
 *
 * Everything here is re-exported by `engine.ts`, which stays the module to import from.
 *
 * @module
 */

import type { SortedKeys } from "./sorted_keys.ts";
import type { LifecycleRule, VersioningState } from "./types.ts";

/** An S3-style failure: error code (e.g. `"PreconditionFailed"`) and HTTP status. */
export class EngineError extends Error {
  /** S3 error code. */
  readonly code: string;
  /** HTTP status S3 answers with. */
  readonly status: number;

  /** Create an engine error. */
  constructor(code: string, status: number, message: string) {
    super(message);
    this.name = "EngineError";
    this.code = code;
    this.status = status;
  }
}

/**
 * A body kept outside the engine: `oq dev --dir` streams uploads to files and hands the
 * engine only their size and name, so memory grows with the number of keys, not bytes.
 */
export interface ExternalBody {
  /** Size in bytes. */
  readonly size: number;
  /** The name the body is kept under (a file name of the directory store). */
  readonly blob: string;
}

/** One stored version of an object, or a delete marker. */
export interface Version {
  /** Version id; `"null"` for writes made while versioning was off or suspended. */
  versionId: string;
  /** True for delete markers. */
  deleteMarker: boolean;
  /** Body bytes (empty for delete markers and for bodies kept elsewhere, see `blob`). */
  body: Uint8Array;
  /** Body size in bytes (0 for delete markers). */
  size: number;
  /** Name of the body when it is kept outside the engine ({@link ExternalBody}). */
  blob?: string;
  /** ETag, md5 of the body as on S3 for single-part uploads (unquoted). */
  etag: string;
  /** Content-Type. */
  contentType: string;
  /**
   * Response headers stored with the object, by lowercase name: user metadata
   * (`x-amz-meta-*`) and representation headers (`cache-control`, `expires`, ...).
   */
  headers?: Record<string, string>;
  /** Write time in ms since the epoch. */
  lastModified: number;
}

/** State of one bucket. Exported for persistence by the directory-backed dev store. */
export interface BucketState {
  /** Bucket name. */
  name: string;
  /** Creation time in ms. */
  createdAt: number;
  /** Versioning state. */
  versioning: VersioningState;
  /** Lifecycle rules. */
  lifecycle: LifecycleRule[];
  /** Access key id of the account that owns the bucket (the dev server's accounts). */
  owner?: string;
  /** The LocationConstraint the bucket was created with (`""` or absent: us-east-1). */
  location?: string;
  /** Versions per key, oldest first. */
  objects: Map<string, Version[]>;
  /** Keys in S3 order. */
  keys: SortedKeys;
}

/** Conditions and attributes of a PUT. */
export interface EnginePutOptions {
  /** `"*"`: create only; an ETag: fail when the current object has this ETag. */
  ifNoneMatch?: string;
  /** Compare-and-swap on the current ETag (quoted or not); `"*"`: the key must exist. */
  ifMatch?: string;
  /** Content-Type to store. */
  contentType?: string;
  /** The ETag of the body when the caller computed it (required for an {@link ExternalBody}). */
  etag?: string;
  /** Response headers to store with the object ({@link Version.headers}). */
  headers?: Record<string, string>;
  /** The caller hands the body bytes over: the engine keeps them without a copy. @default false */
  transfer?: boolean;
}

/** Conditions of a GET/HEAD. */
export interface EngineGetOptions {
  /** Read a specific version. */
  versionId?: string;
  /** 412 unless the ETag matches. */
  ifMatch?: string;
  /** 304 when the ETag matches. */
  ifNoneMatch?: string;
}

/** Result of a GET: the version read, or `notModified` for a matching If-None-Match. */
export type EngineGetResult =
  | { notModified: false; key: string; version: Version; versioned: boolean }
  | { notModified: true; etag: string };

/** Hook called after every mutation, so a persistent variant can write through. */
export type MutationListener = (bucket: BucketState, key: string | null) => void;

/** Strip the quotes (and a weak `W/` prefix) of an ETag as sent in a header. */
export function normalizeEtag(etag: string): string {
  let e = etag.trim();
  if (e.startsWith("W/")) e = e.slice(2);
  if (e.length >= 2 && e.startsWith('"') && e.endsWith('"')) e = e.slice(1, -1);
  return e;
}

/** The newest version (or delete marker) of `key`, or `undefined` when the key has none. */
export function latest(b: BucketState, key: string): Version | undefined {
  const versions = b.objects.get(key);
  return versions?.[versions.length - 1];
}

/** Remove `key` and all its versions from the bucket (no mutation notification). */
export function dropKey(b: BucketState, key: string): void {
  b.objects.delete(key);
  b.keys.delete(key);
}
