/**
 * The console's own request meter: an {@link ObjectStore} that passes every call to the
 * store it wraps and counts it by kind, so the console can show what it spends itself,
 * apart from whatever else the same store serves in the user's process.
 *
 * @module
 */

import { RequestCounters, type RequestCounts, type RequestKind } from "../s3/counters.ts";
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
  StreamedObject,
  VersioningState,
  VersionPage,
} from "../store/types.ts";

/** Seconds in the 30-day month the cost projections use. */
export const MONTH_SECONDS = 30 * 24 * 3600;

/**
 * A store that counts each call it passes on, by kind, in its own {@link RequestCounters}.
 * A call counts once whether or not the inner store retried it (the inner store's own
 * counters count each HTTP request).
 *
 * @example
 * ```ts
 * import { MemoryStore } from "../store/memory_store.ts";
 * import { MeteredStore } from "./metered_store.ts";
 * const store = new MeteredStore(new MemoryStore());
 * await store.get("x");
 * console.log(store.counters.snapshot().GET); // 1
 * ```
 */
export class MeteredStore implements ObjectStore {
  /** The store calls are passed to. */
  readonly inner: ObjectStore;
  /** This wrapper's counts. */
  readonly counters: RequestCounters = new RequestCounters();

  /** Wrap a store. */
  constructor(inner: ObjectStore) {
    this.inner = inner;
  }

  /** The inner store's name. */
  get name(): string {
    return this.inner.name;
  }

  #count<T>(kind: RequestKind, n: number, call: () => Promise<T>): Promise<T> {
    this.counters.add(kind, n);
    return call();
  }

  /** The inner store's time. */
  now(): number {
    return this.inner.now();
  }
  /** The inner store's clock uncertainty. */
  clockUncertaintyMs(): number {
    return this.inner.clockUncertaintyMs();
  }
  /** Whether the inner store's clock is set. */
  clockSynced(): boolean {
    return this.inner.clockSynced();
  }
  /** HeadBucket (counted as BUCKET). */
  headBucket(signal?: AbortSignal): Promise<boolean> {
    return this.#count("BUCKET", 1, () => this.inner.headBucket(signal));
  }
  /** CreateBucket (BUCKET). */
  createBucket(signal?: AbortSignal): Promise<void> {
    return this.#count("BUCKET", 1, () => this.inner.createBucket(signal));
  }
  /** GetBucketVersioning (BUCKET). */
  getVersioning(signal?: AbortSignal): Promise<VersioningState> {
    return this.#count("BUCKET", 1, () => this.inner.getVersioning(signal));
  }
  /** PutBucketVersioning (BUCKET). */
  putVersioning(enabled: boolean, signal?: AbortSignal): Promise<void> {
    return this.#count("BUCKET", 1, () => this.inner.putVersioning(enabled, signal));
  }
  /** PutBucketLifecycleConfiguration (BUCKET). */
  putLifecycle(rules: LifecycleRule[], signal?: AbortSignal): Promise<void> {
    return this.#count("BUCKET", 1, () => this.inner.putLifecycle(rules, signal));
  }
  /** GetObject (GET). */
  get(key: string, options?: GetOptions): Promise<StoredObject | NotModified | null> {
    return this.#count("GET", 1, () => this.inner.get(key, options));
  }
  /** HeadObject (HEAD). */
  head(key: string, options?: GetOptions): Promise<ObjectInfo | null> {
    return this.#count("HEAD", 1, () => this.inner.head(key, options));
  }
  /** GetObject, streamed (GET). */
  getStream(
    key: string,
    options?: Pick<GetOptions, "versionId" | "signal">,
  ): Promise<StreamedObject | null> {
    return this.#count("GET", 1, () => this.inner.getStream(key, options));
  }
  /** PutObject (PUT). */
  put(key: string, body: PutBody, options?: PutOptions): Promise<PutResult> {
    return this.#count("PUT", 1, () => this.inner.put(key, body, options));
  }
  /** DeleteObject (DELETE). */
  delete(
    key: string,
    options?: { versionId?: string; signal?: AbortSignal },
  ): Promise<DeleteResult> {
    return this.#count("DELETE", 1, () => this.inner.delete(key, options));
  }
  /** DeleteObjects (DELETE_MANY, one per 1000 entries). */
  deleteMany(entries: DeleteEntry[], signal?: AbortSignal): Promise<DeleteManyResult> {
    const n = Math.ceil(entries.length / 1000);
    return this.#count("DELETE_MANY", n, () => this.inner.deleteMany(entries, signal));
  }
  /** ListObjectsV2 (LIST). */
  list(options?: ListOptions): Promise<ListPage> {
    return this.#count("LIST", 1, () => this.inner.list(options));
  }
  /** ListObjectVersions (LIST_VERSIONS). */
  listVersions(options?: ListVersionsOptions): Promise<VersionPage> {
    return this.#count("LIST_VERSIONS", 1, () => this.inner.listVersions(options));
  }
}

/** Requests of every kind, summed. */
export function totalRequests(counts: RequestCounts): number {
  return Object.values(counts).reduce((a, b) => a + b, 0);
}

/**
 * USD per 30-day month of `perRefresh` requests sent every `refreshMs`, at AWS S3 Standard
 * list prices (us-east-1).
 */
export function monthlyCost(perRefresh: RequestCounts, refreshMs: number): number {
  return RequestCounters.cost(perRefresh) * (MONTH_SECONDS * 1000 / refreshMs);
}
