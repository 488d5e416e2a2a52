/**
 * The storage engine behind the in-memory store and `oq dev`: one implementation of S3's
 * semantics for what oq and ordinary S3 tools use (buckets, versioning with delete markers,
 * conditional writes, ListObjectsV2 and ListObjectVersions with pagination).
 *
 * Failures are {@link EngineError}s carrying the S3 error code and HTTP status, so the
 * memory store maps them to oq's typed errors and the dev server to S3 XML error bodies.
 * Every operation is synchronous, so each one is atomic: exactly one of many concurrent
 * conditional writers wins, as on S3.
 *
 * The data model ({@link EngineError}, {@link Version}, {@link BucketState} and the option
 * types) lives in `engine_state.ts` and is re-exported here; listing is in `engine_list.ts`
 * and lifecycle expiration in `engine_lifecycle.ts`.
 *
 * @module
 */

import { md5Hex } from "../s3/md5.ts";
import { compareKeys, SortedKeys } from "./sorted_keys.ts";
import {
  type BucketState,
  dropKey,
  EngineError,
  type EngineGetOptions,
  type EngineGetResult,
  type EnginePutOptions,
  type ExternalBody,
  latest,
  type MutationListener,
  normalizeEtag,
  type Version,
} from "./engine_state.ts";
import { listObjects, listObjectVersions } from "./engine_list.ts";
import { applyLifecycleRules } from "./engine_lifecycle.ts";
import type {
  DeleteResult,
  LifecycleRule,
  ListOptions,
  ListPage,
  ListVersionsOptions,
  PutResult,
  VersionPage,
} from "./types.ts";

export { EngineError, normalizeEtag } from "./engine_state.ts";
export type {
  BucketState,
  EngineGetOptions,
  EngineGetResult,
  EnginePutOptions,
  ExternalBody,
  MutationListener,
  Version,
} from "./engine_state.ts";

/**
 * Buckets held in memory with S3 semantics.
 *
 * @example
 * ```ts
 * import { StorageEngine } from "./engine.ts";
 * const engine = new StorageEngine(() => Date.now());
 * engine.createBucket("b");
 * engine.put("b", "k", new TextEncoder().encode("v"), { ifNoneMatch: "*" });
 * ```
 */
export class StorageEngine {
  readonly #buckets = new Map<string, BucketState>();
  readonly #clock: () => number;
  #seq = 0;
  /** Called after each mutation (bucket, key or null for bucket-level changes). */
  onMutation: MutationListener | null = null;

  /** Create an engine whose timestamps come from `clock` (ms since the epoch). */
  constructor(clock: () => number) {
    this.#clock = clock;
  }

  /** The engine's clock. */
  now(): number {
    return this.#clock();
  }

  /** Bucket names with creation times, sorted by name. */
  listBuckets(): Array<{ name: string; createdAt: number }> {
    return [...this.#buckets.values()]
      .map((b) => ({ name: b.name, createdAt: b.createdAt }))
      .sort((a, b) => compareKeys(a.name, b.name));
  }

  /** True when the bucket exists. */
  hasBucket(name: string): boolean {
    return this.#buckets.has(name);
  }

  /** Create a bucket; an existing bucket is left as it is (BucketAlreadyOwnedByYou is success). */
  createBucket(name: string): void {
    if (this.#buckets.has(name)) return;
    this.#buckets.set(name, {
      name,
      createdAt: this.#clock(),
      versioning: "Unversioned",
      lifecycle: [],
      objects: new Map(),
      keys: new SortedKeys(),
    });
    this.#changed(this.bucket(name), null);
  }

  /** Delete an empty bucket (BucketNotEmpty otherwise). */
  deleteBucket(name: string): void {
    const b = this.bucket(name);
    if (b.objects.size > 0) {
      throw new EngineError("BucketNotEmpty", 409, "The bucket you tried to delete is not empty");
    }
    this.#buckets.delete(name);
    this.#changed(b, null);
  }

  /** The state of a bucket; NoSuchBucket when absent. */
  bucket(name: string): BucketState {
    const b = this.#buckets.get(name);
    if (!b) throw new EngineError("NoSuchBucket", 404, "The specified bucket does not exist");
    return b;
  }

  /** Install a restored bucket (used by the directory-backed variant at start-up). */
  restoreBucket(state: BucketState): void {
    this.#buckets.set(state.name, state);
    for (const versions of state.objects.values()) {
      for (const v of versions) this.#seq = Math.max(this.#seq, versionSeq(v.versionId));
    }
  }

  /** Enable or suspend versioning. */
  setVersioning(name: string, enabled: boolean): void {
    const b = this.bucket(name);
    b.versioning = enabled ? "Enabled" : "Suspended";
    this.#changed(b, null);
  }

  /** Replace the lifecycle rules. */
  setLifecycle(name: string, rules: LifecycleRule[]): void {
    const b = this.bucket(name);
    b.lifecycle = rules.map((r) => ({ ...r }));
    this.#changed(b, null);
  }

  /**
   * PutObject with optional conditions, evaluated as AWS does: `If-None-Match: *` fails
   * when the key has a current object, `If-None-Match: <etag>` when that object has this
   * ETag; `If-Match` answers NoSuchKey when there is no current object and fails unless
   * the ETag matches (`*` matches any). The body is bytes (copied) or an
   * {@link ExternalBody} with `opts.etag`.
   */
  put(
    name: string,
    key: string,
    body: Uint8Array | ExternalBody,
    opts: EnginePutOptions = {},
  ): PutResult {
    const b = this.bucket(name);
    validateKey(key);
    const current = latest(b, key);
    const live = current && !current.deleteMarker ? current : undefined;
    if (opts.ifNoneMatch !== undefined && live && etagMatches(opts.ifNoneMatch, live.etag)) {
      throw preconditionFailed();
    }
    if (opts.ifMatch !== undefined) {
      if (!live) throw new EngineError("NoSuchKey", 404, "The specified key does not exist.");
      if (!etagMatches(opts.ifMatch, live.etag)) throw preconditionFailed();
    }
    const external = !(body instanceof Uint8Array);
    if (external && opts.etag === undefined) {
      throw new TypeError("An external body needs its ETag (opts.etag)");
    }
    const version: Version = {
      versionId: b.versioning === "Enabled" ? this.#nextVersionId() : "null",
      deleteMarker: false,
      body: external ? new Uint8Array(0) : opts.transfer ? body as Uint8Array : body.slice(),
      size: body instanceof Uint8Array ? body.length : body.size,
      etag: opts.etag ?? md5Hex(body as Uint8Array),
      contentType: opts.contentType ?? "application/octet-stream",
      lastModified: this.#clock(),
    };
    if (external) version.blob = (body as ExternalBody).blob;
    if (opts.headers !== undefined && Object.keys(opts.headers).length > 0) {
      version.headers = { ...opts.headers };
    }
    this.#append(b, key, version);
    return {
      etag: version.etag,
      versionId: b.versioning === "Unversioned" ? undefined : version.versionId,
    };
  }

  /** GetObject/HeadObject semantics. Throws NoSuchKey, NoSuchVersion, MethodNotAllowed, PreconditionFailed. */
  get(name: string, key: string, opts: EngineGetOptions = {}): EngineGetResult {
    const b = this.bucket(name);
    let v: Version | undefined;
    if (opts.versionId !== undefined) {
      v = b.objects.get(key)?.find((x) => x.versionId === opts.versionId);
      if (!v) throw new EngineError("NoSuchVersion", 404, "The specified version does not exist.");
      if (v.deleteMarker) {
        throw new EngineError(
          "MethodNotAllowed",
          405,
          "The specified method is not allowed against this resource.",
        );
      }
    } else {
      v = latest(b, key);
      if (!v || v.deleteMarker) {
        throw new EngineError("NoSuchKey", 404, "The specified key does not exist.");
      }
    }
    if (opts.ifMatch !== undefined && !etagMatches(opts.ifMatch, v.etag)) {
      throw preconditionFailed();
    }
    if (opts.ifNoneMatch !== undefined && etagMatches(opts.ifNoneMatch, v.etag)) {
      return { notModified: true, etag: v.etag };
    }
    return { notModified: false, key, version: v, versioned: b.versioning !== "Unversioned" };
  }

  /** DeleteObject: a delete marker in versioned buckets, or removal of one version. */
  delete(name: string, key: string, versionId?: string): DeleteResult {
    const b = this.bucket(name);
    const versions = b.objects.get(key);
    if (versionId !== undefined) {
      const i = versions?.findIndex((v) => v.versionId === versionId) ?? -1;
      if (!versions || i < 0) return { versionId, deleteMarker: false };
      const [removed] = versions.splice(i, 1);
      if (versions.length === 0) dropKey(b, key);
      this.#changed(b, key);
      return { versionId, deleteMarker: removed!.deleteMarker };
    }
    if (b.versioning === "Unversioned") {
      if (versions) {
        dropKey(b, key);
        this.#changed(b, key);
      }
      return { deleteMarker: false };
    }
    const marker: Version = {
      versionId: b.versioning === "Enabled" ? this.#nextVersionId() : "null",
      deleteMarker: true,
      body: new Uint8Array(0),
      size: 0,
      etag: "",
      contentType: "",
      lastModified: this.#clock(),
    };
    this.#append(b, key, marker);
    return { versionId: marker.versionId, deleteMarker: true };
  }

  /** ListObjectsV2 over the current, non-deleted versions. */
  list(name: string, opts: ListOptions = {}): ListPage {
    return listObjects(this.bucket(name), opts);
  }

  /** ListObjectVersions: keys ascending, each key's versions newest first. */
  listVersions(name: string, opts: ListVersionsOptions = {}): VersionPage {
    return listObjectVersions(this.bucket(name), opts);
  }

  /**
   * Apply the bucket's lifecycle rules at the engine's current time: expire current
   * versions older than `expirationDays` (a delete marker in versioned buckets, as on S3),
   * noncurrent versions and orphaned delete markers. Returns how many versions were
   * removed or expired.
   */
  applyLifecycle(name: string): number {
    const b = this.bucket(name);
    return applyLifecycleRules(b, this.#clock(), {
      expireCurrent: (key) => this.delete(name, key),
      changed: (key) => this.#changed(b, key),
    });
  }

  #append(b: BucketState, key: string, v: Version): void {
    let versions = b.objects.get(key);
    if (!versions) {
      versions = [];
      b.objects.set(key, versions);
      b.keys.add(key);
    }
    if (v.versionId === "null") {
      const i = versions.findIndex((x) => x.versionId === "null");
      if (i >= 0) versions.splice(i, 1);
    }
    versions.push(v);
    this.#changed(b, key);
  }

  #nextVersionId(): string {
    this.#seq += 1;
    // Sortable, unique and opaque enough: zero-padded sequence plus a random tail.
    const rand = crypto.getRandomValues(new Uint8Array(6));
    const tail = [...rand].map((x) => x.toString(16).padStart(2, "0")).join("");
    return `${this.#seq.toString().padStart(12, "0")}.${tail}`;
  }

  #changed(b: BucketState, key: string | null): void {
    this.onMutation?.(b, key);
  }
}

function versionSeq(id: string): number {
  const n = Number.parseInt(id.split(".")[0] ?? "", 10);
  return Number.isFinite(n) ? n : 0;
}

/** Does an `If-Match` / `If-None-Match` value (`*` or an ETag, quoted or not) match `etag`? */
function etagMatches(condition: string, etag: string): boolean {
  return condition.trim() === "*" || normalizeEtag(condition) === etag;
}

function preconditionFailed(): EngineError {
  return new EngineError(
    "PreconditionFailed",
    412,
    "At least one of the pre-conditions you specified did not hold",
  );
}

function validateKey(key: string): void {
  if (key.length === 0 || new TextEncoder().encode(key).length > 1024) {
    throw new EngineError("KeyTooLongError", 400, "Object keys must be 1 to 1024 bytes long");
  }
}
