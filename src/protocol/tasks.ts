/**
 * Reads and writes of task objects and their index entries: the only code that turns task
 * state into storage requests. It enforces the protocol's write rules:
 *
 * - every state change is one conditional write on the task object (invariant 2);
 * - a write whose answer was lost is recognised by its `write_id` on re-read (invariant 4);
 * - index entries are written *before* the task change that needs them and deleted
 *   *after*, so a crash between two requests leaves at worst a stale hint, never a task
 *   that no index points to (invariant 1; the monitor removes stale hints).
 *
 * @module
 */

import { writeStored } from "./stored.ts";
import type { Keys } from "./keys.ts";
import type { SignalWriter } from "./signals.ts";
import {
  parseTaskRecord,
  TASK_SCHEMA_VERSION,
  type TaskRecord,
  TaskRecordSchema,
} from "../task/task.ts";
import type { ObjectStore } from "../store/types.ts";

/** A task record together with the ETag it was read (or written) with. */
export interface Versioned {
  /** The record. */
  rec: TaskRecord;
  /** ETag of the stored object holding `rec`. */
  etag: string;
}

/** Task I/O over an {@link ObjectStore}. */
export class TaskStore {
  /** The store. */
  readonly store: ObjectStore;
  /** Key builder. */
  readonly keys: Keys;

  /** Wake-up signal writer, touched whenever a task becomes pending. */
  readonly signals: SignalWriter;

  readonly #laneOf: (rec: TaskRecord) => string;

  /**
   * Create task I/O for a store and key layout. `laneOf` says which lane a record's index
   * entries belong in under the bucket's current layout (its own `shard` unless a reshard
   * retired that lane).
   */
  constructor(
    store: ObjectStore,
    keys: Keys,
    signals: SignalWriter,
    laneOf: (rec: TaskRecord) => string = (rec) => rec.shard,
  ) {
    this.store = store;
    this.keys = keys;
    this.signals = signals;
    this.#laneOf = laneOf;
  }

  /** The lane a record's index entries belong in under the bucket's current layout. */
  laneOf(rec: TaskRecord): string {
    return this.#laneOf(rec);
  }

  /**
   * Write a transition that makes a task pending: the ready entry first, then the task
   * (compare-and-swap), then a wake-up signal. `null` when the task changed under us.
   * Shared by retry, the worker's back-off and the monitor's lease recovery. A task whose
   * lane a reshard retired moves to a current lane on the way.
   */
  async makePending(next: TaskRecord, etag: string): Promise<Versioned | null> {
    const lane = this.#laneOf(next);
    if (lane !== next.shard) next = { ...next, shard: lane };
    const entry = await this.putReady(next);
    const w = await this.replace(next, etag);
    if (w === null) {
      await this.deleteEntry(entry);
      return null;
    }
    await this.signals.touch(next.task_type);
    return w;
  }

  /** Read a task (one GET). `null` when absent; SchemaError when malformed. */
  async read(taskId: string, signal?: AbortSignal): Promise<Versioned | null> {
    const key = this.keys.task(taskId);
    const o = await this.store.get(key, { signal });
    if (o === null || o.kind !== "object") return null;
    return { rec: parseTaskRecord(key, o.body), etag: o.etag };
  }

  /**
   * Re-read only if changed since `etag` (conditional GET, one request, no body when
   * unchanged). Returns `"unchanged"`, the new version, or `null` when the task is gone.
   */
  async readIfChanged(
    taskId: string,
    etag: string,
    signal?: AbortSignal,
  ): Promise<Versioned | "unchanged" | null> {
    const key = this.keys.task(taskId);
    const o = await this.store.get(key, { ifNoneMatch: etag, signal });
    if (o === null) return null;
    if (o.kind === "not-modified") return "unchanged";
    return { rec: parseTaskRecord(key, o.body), etag: o.etag };
  }

  /** Create a task (If-None-Match: *). Returns the new version, or `null` if the id exists. */
  create(rec: TaskRecord): Promise<Versioned | null> {
    return this.#write(rec, { ifNoneMatch: "*" });
  }

  /** Compare-and-swap a task from `etag` to `next`. `null` when another write came first. */
  replace(next: TaskRecord, etag: string): Promise<Versioned | null> {
    return this.#write(next, { ifMatch: etag });
  }

  #write(
    rec: TaskRecord,
    cond: { ifNoneMatch: "*" } | { ifMatch: string },
  ): Promise<Versioned | null> {
    return writeStored(
      this.store,
      this.keys.task(rec.id),
      rec,
      cond,
      TaskRecordSchema,
      TASK_SCHEMA_VERSION,
    );
  }

  /** Write a ready entry (claimable from `available_at`). */
  putReady(rec: TaskRecord): Promise<EntryRef> {
    return this.#putEntry(this.readyKey(rec));
  }

  /** The ready key a pending record should have. */
  readyKey(rec: TaskRecord): string {
    return this.keys.ready(rec.shard, rec.task_type, Date.parse(rec.available_at), rec.id);
  }

  /** Write the expiry entry of a record with `expires_at` (written at submit, before the task). */
  putExpiry(rec: TaskRecord): Promise<EntryRef> {
    if (rec.expires_at === null) throw new TypeError(`Task ${rec.id} has no expiry`);
    return this.#putEntry(this.expiryKey(rec));
  }

  /** The TTL deadline key of a record with `expires_at`. */
  expiryKey(rec: TaskRecord): string {
    if (rec.expires_at === null) throw new TypeError(`Task ${rec.id} has no expiry`);
    return this.keys.deadline(rec.shard, Date.parse(rec.expires_at), rec.id, "ttl");
  }

  /** Write a lease entry for a running record. */
  putLease(rec: TaskRecord): Promise<EntryRef> {
    return this.#putEntry(this.leaseKey(rec));
  }

  /** The lease key a running record should have. */
  leaseKey(rec: TaskRecord): string {
    if (rec.lease_expires_at === null) throw new TypeError(`Task ${rec.id} has no lease`);
    return this.keys.deadline(rec.shard, Date.parse(rec.lease_expires_at), rec.id, "lease");
  }

  async #putEntry(key: string): Promise<EntryRef> {
    // Entries are empty objects: all they say is in the key.
    const r = await this.store.put(key, "", { contentType: "application/octet-stream" });
    return { key, versionId: r.versionId };
  }

  /**
   * Delete an index entry. With a version id the delete removes exactly the version that
   * was judged stale: it leaves no delete marker (invariant 10) and can never remove a
   * newer write of the same key. Failures are ignored: a stale entry is harmless, and the
   * next poll or monitor cycle removes it.
   */
  async deleteEntry(entry: EntryRef): Promise<void> {
    // (Deleting by key alone in a versioned bucket would leave a delete marker.)
    const versionId = entry.versionId && entry.versionId !== "null" ? entry.versionId : undefined;
    await this.store.delete(entry.key, { versionId }).catch(() => undefined);
  }

  /**
   * Delete every version of a key (one LIST plus free DELETEs), for entries whose version
   * id is unknown: leaves no delete marker behind.
   */
  async deleteAllVersions(key: string): Promise<void> {
    const page = await this.store.listVersions({ prefix: key, maxKeys: 100 }).catch(() => null);
    const refs =
      page?.versions.filter((v) => v.key === key).map((v) => ({ key, versionId: v.versionId })) ??
        [{ key }];
    await Promise.all(refs.map((r) => this.deleteEntry(r)));
  }
}

/** An index entry: its key and, in versioned buckets, the version to delete. */
export interface EntryRef {
  /** Entry key. */
  key: string;
  /** Version id from the PUT or from ListObjectVersions (absent or "null" when unversioned). */
  versionId?: string;
}
