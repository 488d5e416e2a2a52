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

import { writeOrRead, type WriteOutcome, writtenOf } from "./stored.ts";
import type { Keys } from "./keys.ts";
import type { SignalWriter } from "./signals.ts";
import { hasPayloadRef, parseTaskRecord, type TaskRecord } from "../task/task.ts";
import { SchemaError } from "../base/errors.ts";
import { listPages, versionPages } from "../store/paging.ts";
import type { ListPage, ObjectStore, VersionPage } from "../store/types.ts";
import type { PayloadStore } from "./payloads.ts";

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
  readonly #payloads: PayloadStore | undefined;

  /**
   * Create task I/O for a store and key layout. `laneOf` says which lane a record's index
   * entries belong in under the bucket's current layout (its own `shard` unless a reshard
   * retired that lane). `payloads`, when given, are removed with a purged task.
   */
  constructor(
    store: ObjectStore,
    keys: Keys,
    signals: SignalWriter,
    laneOf: (rec: TaskRecord) => string = (rec) => rec.shard,
    payloads?: PayloadStore,
  ) {
    this.store = store;
    this.keys = keys;
    this.signals = signals;
    this.#laneOf = laneOf;
    this.#payloads = payloads;
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
  read(taskId: string, signal?: AbortSignal): Promise<Versioned | null> {
    return this.readAt(this.keys.task(taskId), undefined, signal);
  }

  /**
   * Read the task object at `key` (from a listing), or one of its versions (one GET).
   * `null` when absent; a SchemaError carrying the version's ETag when malformed.
   */
  async readAt(key: string, versionId?: string, signal?: AbortSignal): Promise<Versioned | null> {
    const v = versionId === "null" ? undefined : versionId;
    const o = await this.store.get(key, { versionId: v, signal });
    if (o === null || o.kind !== "object") return null;
    try {
      return { rec: parseTaskRecord(key, o.body), etag: o.etag };
    } catch (e) {
      if (e instanceof SchemaError) e.etag = o.etag;
      throw e;
    }
  }

  /**
   * One page of a shard's task objects (ListObjectsV2: keys, ETags and times, no bodies),
   * oldest id first.
   */
  listObjects(
    shard: string,
    o: { startAfter?: string; continuationToken?: string; maxKeys?: number } = {},
  ): Promise<ListPage> {
    return this.store.list({ prefix: this.keys.tasksPrefix(shard), maxKeys: 1000, ...o });
  }

  /** Every page of a shard's task objects (one LIST per 1,000). */
  objectPages(shard: string): AsyncGenerator<ListPage> {
    return listPages(this.store, { prefix: this.keys.tasksPrefix(shard) });
  }

  /** Every stored version id of a task, newest first (one LIST per 1,000 versions). */
  async versionIds(taskId: string): Promise<string[]> {
    const key = this.keys.task(taskId);
    const ids: string[] = [];
    for await (const page of versionPages(this.store, { prefix: key })) {
      for (const v of page.versions) if (v.key === key && !v.isDeleteMarker) ids.push(v.versionId);
    }
    return ids;
  }

  /**
   * Delete a task with every version (its whole history), then its payloads: LISTs plus
   * free DELETEs. Payloads go last, so a crash in between leaves orphan payloads (removed by
   * the sweep, src/monitor/payload_sweep.ts), never a task whose payload is gone. Given the
   * task's last record (`rec`), a task without a payload reference costs no LIST of
   * payloads: its input and output never had one (an orphan of a lost attempt is the
   * sweep's).
   */
  async purge(taskId: string, rec?: TaskRecord): Promise<void> {
    const key = this.keys.task(taskId);
    for await (const page of versionPages(this.store, { prefix: key })) {
      const refs = page.versions.filter((v) => v.key === key).map((v) => ({
        key,
        versionId: v.versionId === "null" ? undefined : v.versionId,
      }));
      if (refs.length) await this.store.deleteMany(refs);
    }
    if (this.#payloads && (rec === undefined || hasPayloadRef(rec))) {
      await this.#payloads.removeAll(taskId);
    }
  }

  /** True when an index entry exists (one HEAD). */
  async hasEntry(key: string): Promise<boolean> {
    return (await this.store.head(key)) !== null;
  }

  /** One page of a lane of the ready index, with version ids (ListObjectVersions), due order. */
  laneVersions(
    shard: string,
    taskType: string,
    maxKeys: number,
    signal?: AbortSignal,
    after?: { keyMarker: string; versionIdMarker?: string },
  ): Promise<VersionPage> {
    const prefix = this.keys.readyTypePrefix(shard, taskType);
    return this.store.listVersions({ prefix, maxKeys, signal, ...after });
  }

  /** One page of a shard's deadline index (lease and TTL entries), soonest first. */
  deadlineVersions(shard: string, maxKeys: number): Promise<VersionPage> {
    return this.store.listVersions({ prefix: this.keys.deadlinePrefix(shard), maxKeys });
  }

  /** One page of current entries under an index prefix (ListObjectsV2), after `startAfter`. */
  indexPage(prefix: string, startAfter?: string): Promise<ListPage> {
    return this.store.list({ prefix, startAfter, maxKeys: 1000 });
  }

  /**
   * Every page of current entries under an index prefix (ListObjectsV2, one request per
   * 1,000; `startAfter` resumes after a key).
   */
  indexPages(prefix: string, startAfter?: string): AsyncGenerator<ListPage> {
    return listPages(this.store, { prefix, startAfter });
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
  async create(rec: TaskRecord): Promise<Versioned | null> {
    return writtenOf(await this.#write(rec, { ifNoneMatch: "*" }, true));
  }

  /** Compare-and-swap a task from `etag` to `next`. `null` when another write came first. */
  async replace(next: TaskRecord, etag: string): Promise<Versioned | null> {
    return writtenOf(await this.#write(next, { ifMatch: etag }, true));
  }

  /**
   * {@link create} (no `etag`) or {@link replace} that, when it loses, returns the task as
   * it is now (`current`, `null` when absent) from the re-read the write made to check it
   * was not its own: the caller decides again without reading it once more.
   */
  writeOrRead(rec: TaskRecord, etag?: string): Promise<WriteOutcome<TaskRecord>> {
    return this.#write(rec, etag === undefined ? { ifNoneMatch: "*" } : { ifMatch: etag }, false);
  }

  #write(
    rec: TaskRecord,
    cond: { ifNoneMatch: "*" } | { ifMatch: string },
    quiet: boolean,
  ): Promise<WriteOutcome<TaskRecord>> {
    // `quiet`: a re-read that fails counts as "not ours" (a lost race is then just lost).
    const read = quiet
      ? (k: string) => this.readAt(k).catch(() => null)
      : (k: string) => this.readAt(k);
    return writeOrRead(this.store, this.keys.task(rec.id), rec, cond, read);
  }

  /** Write a ready entry (claimable from `available_at`). Not for a task under a batch entry. */
  putReady(rec: TaskRecord): Promise<EntryRef> {
    if (rec.ready_batch !== undefined) {
      throw new TypeError(`Task ${rec.id} is indexed by batch entry ${rec.ready_batch}`);
    }
    return this.#putEntry(this.readyKey(rec));
  }

  /**
   * The ready key a pending record should have: its own, or its batch entry's
   * (src/protocol/ready_batches.ts).
   */
  readyKey(rec: TaskRecord): string {
    const due = Date.parse(rec.available_at);
    const priority = rec.priority ?? 0;
    if (rec.ready_batch !== undefined) {
      return this.keys.readyBatch(rec.shard, rec.task_type, due, rec.ready_batch, priority);
    }
    return this.keys.ready(rec.shard, rec.task_type, due, rec.id, priority);
  }

  /**
   * Delete every version of the ready entry of `rec`, a task that no longer needs it. Not a
   * batch entry: it indexes other tasks too, and goes once its worker has seen them all leave.
   */
  async dropReady(rec: TaskRecord): Promise<void> {
    if (rec.ready_batch === undefined) await this.deleteAllVersions(this.readyKey(rec));
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

  /** Write the lease entry of a running record that has its own (not a lease group's). */
  putLease(rec: TaskRecord): Promise<EntryRef> {
    if (rec.lease_group !== undefined) {
      throw new TypeError(`Task ${rec.id}'s lease is covered by lease group ${rec.lease_group}`);
    }
    return this.#putEntry(this.leaseKey(rec));
  }

  /**
   * The deadline entry covering a running record's lease: its own lease entry, or its lease
   * group's (src/protocol/lease_groups.ts).
   */
  leaseKey(rec: TaskRecord): string {
    if (rec.lease_expires_at === null) throw new TypeError(`Task ${rec.id} has no lease`);
    if (rec.lease_group !== undefined) return this.keys.leaseGroup(rec.shard, rec.lease_group);
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
