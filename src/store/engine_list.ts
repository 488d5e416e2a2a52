/**
 * Listing for the storage engine: ListObjectsV2 and ListObjectVersions as pure functions
 * over a {@link BucketState}, with S3's pagination (max-keys capped at 1000, opaque
 * continuation tokens, key and version-id markers) and delimiter grouping.
 *
 * @module
 */

import { compareKeys } from "./sorted_keys.ts";
import { type BucketState, EngineError, latest, type Version } from "./engine_state.ts";
import type {
  ListOptions,
  ListPage,
  ListVersionsOptions,
  ObjectInfo,
  VersionInfo,
  VersionPage,
} from "./types.ts";

const MAX_KEYS = 1000;

/**
 * ListObjectsV2 over the current, non-deleted versions of a bucket.
 *
 * @example
 * ```ts
 * import { StorageEngine } from "./engine.ts";
 * import { listObjects } from "./engine_list.ts";
 * const engine = new StorageEngine(() => Date.now());
 * engine.createBucket("b");
 * const page = listObjects(engine.bucket("b"), { prefix: "a/", delimiter: "/" });
 * ```
 */
export function listObjects(b: BucketState, opts: ListOptions = {}): ListPage {
  const prefix = opts.prefix ?? "";
  const max = clampMaxKeys(opts.maxKeys);
  // S3 answers max-keys=0 with an empty, non-truncated page.
  if (max === 0) return { objects: [], commonPrefixes: [], isTruncated: false };
  let after = opts.startAfter ?? "";
  if (opts.continuationToken) after = decodeToken(opts.continuationToken);
  const objects: ObjectInfo[] = [];
  const commonPrefixes: string[] = [];
  let last: string | undefined;
  let truncated = false;
  for (const key of b.keys.from(after > prefix ? after : prefix)) {
    if (!key.startsWith(prefix)) {
      if (compareKeys(key, prefix) > 0) break;
      continue;
    }
    if (compareKeys(key, after) <= 0) continue;
    const v = latest(b, key);
    if (!v || v.deleteMarker) continue;
    let cp: string | undefined;
    if (opts.delimiter) {
      const i = key.indexOf(opts.delimiter, prefix.length);
      if (i >= 0) cp = key.slice(0, i + opts.delimiter.length);
    }
    if (cp !== undefined && cp === commonPrefixes[commonPrefixes.length - 1]) continue;
    if (objects.length + commonPrefixes.length >= max) {
      truncated = true;
      break;
    }
    if (cp !== undefined) {
      commonPrefixes.push(cp);
      last = cp + "\u{10FFFF}"; // resume after every key under this prefix
    } else {
      objects.push(info(key, v, b.versioning !== "Unversioned"));
      last = key;
    }
  }
  return {
    objects,
    commonPrefixes,
    isTruncated: truncated,
    nextContinuationToken: truncated && last !== undefined ? encodeToken(last) : undefined,
  };
}

/**
 * ListObjectVersions over a bucket: keys ascending, each key's versions newest first.
 *
 * @example
 * ```ts
 * import { StorageEngine } from "./engine.ts";
 * import { listObjectVersions } from "./engine_list.ts";
 * const engine = new StorageEngine(() => Date.now());
 * engine.createBucket("b");
 * const page = listObjectVersions(engine.bucket("b"), { maxKeys: 100 });
 * ```
 */
export function listObjectVersions(b: BucketState, opts: ListVersionsOptions = {}): VersionPage {
  const prefix = opts.prefix ?? "";
  const max = clampMaxKeys(opts.maxKeys);
  if (max === 0) return { versions: [], isTruncated: false };
  const out: VersionInfo[] = [];
  const keyMarker = opts.keyMarker ?? "";
  for (const key of b.keys.from(keyMarker > prefix ? keyMarker : prefix)) {
    if (!key.startsWith(prefix)) {
      if (compareKeys(key, prefix) > 0) break;
      continue;
    }
    const cmp = compareKeys(key, keyMarker);
    if (cmp < 0 || (cmp === 0 && opts.versionIdMarker === undefined)) continue;
    const versions = [...(b.objects.get(key) ?? [])].reverse();
    let start = 0;
    if (cmp === 0 && opts.versionIdMarker !== undefined) {
      start = versions.findIndex((v) => v.versionId === opts.versionIdMarker) + 1;
      if (start === 0) continue;
    }
    for (let i = start; i < versions.length; i++) {
      if (out.length >= max) {
        const lastOut = out[out.length - 1]!;
        return {
          versions: out,
          isTruncated: true,
          nextKeyMarker: lastOut.key,
          nextVersionIdMarker: lastOut.versionId,
        };
      }
      const v = versions[i]!;
      out.push({
        key,
        versionId: v.versionId,
        isLatest: i === 0,
        isDeleteMarker: v.deleteMarker,
        etag: v.etag,
        size: v.size,
        lastModified: new Date(v.lastModified),
      });
    }
  }
  return { versions: out, isTruncated: false };
}

/** Encode the key a listing resumes after as an opaque continuation token (base64 of UTF-8). */
export function encodeToken(s: string): string {
  return btoa(String.fromCharCode(...new TextEncoder().encode(s)));
}

/** Decode a continuation token made by {@link encodeToken}; InvalidArgument when malformed. */
export function decodeToken(t: string): string {
  try {
    return new TextDecoder().decode(Uint8Array.from(atob(t), (c) => c.charCodeAt(0)));
  } catch {
    throw new EngineError("InvalidArgument", 400, "The continuation token provided is incorrect");
  }
}

function info(key: string, v: Version, versioned: boolean): ObjectInfo {
  return {
    key,
    etag: v.etag,
    size: v.size,
    lastModified: new Date(v.lastModified),
    versionId: versioned ? v.versionId : undefined,
  };
}

function clampMaxKeys(n: number | undefined): number {
  if (n === undefined) return MAX_KEYS;
  if (!Number.isInteger(n) || n < 0) {
    throw new EngineError("InvalidArgument", 400, "max-keys must be a non-negative integer");
  }
  return Math.min(n, MAX_KEYS);
}
