/**
 * The S3-backed {@link ObjectStore}: a thin adapter over {@link S3Client}, which does the
 * signing, retries, error mapping, request counting and clock estimation.
 *
 * @module
 */

import { S3Client } from "../s3/client.ts";
import type { S3ClientOptions } from "../s3/config.ts";
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
  ObjectStore,
  PutBody,
  PutOptions,
  PutResult,
  StoredObject,
  StreamedObject,
  VersioningState,
  VersionPage,
} from "./types.ts";

/**
 * An {@link ObjectStore} on one bucket of an S3-compatible server (AWS S3, MinIO, Ceph
 * RGW, moto, ...). Construction validates the options and does no I/O.
 *
 * @example
 * ```ts
 * import { S3Store } from "./s3_store.ts";
 * const store = new S3Store({
 *   endpoint: "http://127.0.0.1:9000",
 *   bucket: "oq-dev",
 *   region: "us-east-1",
 *   accessKeyId: "minio",
 *   secretAccessKey: "minio123",
 * });
 * store.name; // "s3 http://127.0.0.1:9000/oq-dev"
 * ```
 */
export class S3Store implements ObjectStore {
  /**
   * The underlying client (its clock, counters and configuration).
   * @internal
   */
  readonly client: S3Client;
  /** `s3 {endpoint}/{bucket}`. */
  readonly name: string;
  /** Requests sent, by kind, retries included. */
  readonly counters: RequestMeter;

  /** Create a store from client options, or around an existing client. */
  constructor(options: S3ClientOptions | S3Client) {
    this.client = options instanceof S3Client ? options : new S3Client(options);
    this.name = this.client.name;
    this.counters = this.client.counters;
  }

  /** Server time estimated from `Date` headers (the local clock until the first response). */
  now(): number {
    return this.client.clock.now();
  }

  /** Half-width of the server-time estimate (`Infinity` until the first response). */
  clockUncertaintyMs(): number {
    return this.client.clock.uncertaintyMs();
  }

  /** True once a response carried a `Date` header. */
  clockSynced(): boolean {
    return this.client.clock.synced();
  }

  /** HeadBucket. */
  headBucket(signal?: AbortSignal): Promise<boolean> {
    return this.client.headBucket(signal);
  }

  /** CreateBucket (an existing bucket of ours is fine). */
  createBucket(signal?: AbortSignal): Promise<void> {
    return this.client.createBucket(signal);
  }

  /** GetBucketVersioning. */
  getVersioning(signal?: AbortSignal): Promise<VersioningState> {
    return this.client.getBucketVersioning(signal);
  }

  /** PutBucketVersioning. */
  putVersioning(enabled: boolean, signal?: AbortSignal): Promise<void> {
    return this.client.putBucketVersioning(enabled, signal);
  }

  /** PutBucketLifecycleConfiguration (an empty list deletes the configuration). */
  putLifecycle(rules: LifecycleRule[], signal?: AbortSignal): Promise<void> {
    return this.client.putBucketLifecycle(rules, signal);
  }

  /** GetObject. */
  get(key: string, options?: GetOptions): Promise<StoredObject | NotModified | null> {
    return this.client.getObject(key, options);
  }

  /** GetObject, the body streamed. */
  getStream(
    key: string,
    options?: Pick<GetOptions, "versionId" | "signal">,
  ): Promise<StreamedObject | null> {
    return this.client.getObjectStream(key, options);
  }

  /** HeadObject. */
  head(key: string, options?: GetOptions): Promise<ObjectInfo | null> {
    return this.client.headObject(key, options);
  }

  /** PutObject. */
  put(key: string, body: PutBody, options?: PutOptions): Promise<PutResult> {
    return this.client.putObject(key, body, options);
  }

  /** DeleteObject. */
  delete(
    key: string,
    options?: { versionId?: string; signal?: AbortSignal },
  ): Promise<DeleteResult> {
    return this.client.deleteObject(key, options);
  }

  /** DeleteObjects, one request per 1000 entries. */
  deleteMany(entries: DeleteEntry[], signal?: AbortSignal): Promise<DeleteManyResult> {
    return this.client.deleteObjects(entries, signal);
  }

  /** ListObjectsV2, one page. */
  list(options?: ListOptions): Promise<ListPage> {
    return this.client.listObjects(options);
  }

  /** ListObjectVersions, one page. */
  listVersions(options?: ListVersionsOptions): Promise<VersionPage> {
    return this.client.listObjectVersions(options);
  }
}
