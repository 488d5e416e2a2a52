/**
 * The batch entries a worker has listed (src/protocol/ready_batches.ts): each one's body,
 * read once, and the named tasks this worker has seen leave it (claimed, by it or another
 * worker, finished, moved to an entry of their own, gone). A listed batch entry becomes
 * one candidate per named task not seen leaving; once every named task has left, the worker
 * deletes the entry (by version id). A task that leaves never comes back, so what was seen
 * stays true; another worker that shares the batch learns it by reading the task.
 *
 * The body carries the records the tasks were written with and their ETags: a claim assumes
 * one instead of reading the task ({@link BatchEntries.written}). A write that loses tells
 * {@link BatchEntries.lost}: another worker took the task (the batch is shared: its tasks are
 * read first from then on), or the store's ETags are not MD5s (nothing is assumed any more).
 *
 * Workers that share a type share its batches out without a request
 * (src/worker/batch_shares.ts): each takes its own share of every batch first, claiming
 * without reading, and keeps only that share's records; the other shares come after, once
 * the listing left no batch waiting.
 *
 * @module
 */

import { mapLimit } from "../base/concurrency.ts";
import { SchemaError } from "../base/errors.ts";
import type { QueueContext } from "../protocol/context.ts";
import {
  type BatchBody,
  MAX_BATCH_TASKS,
  readBatchBody,
  type WrittenRecord,
} from "../protocol/ready_batches.ts";
import type { EntryRef, Versioned } from "../protocol/tasks.ts";
import { taskRecordOf } from "../task/task.ts";
import type { BatchHandle, Candidate } from "./claim.ts";
import {
  ALONE,
  NO_PEERS,
  ownShare,
  type Part,
  Passes,
  type PeerCount,
  type PeerSource,
  sharedOut,
  shareSignature,
  sharesOf,
} from "./batch_shares.ts";

export type { PeerCount, PeerSource } from "./batch_shares.ts";

// Batches kept before the ones not listed for a while are forgotten.
const MAX_KEPT = 256;
const FORGET_AFTER_MS = 600_000;
/**
 * Records kept to claim without reading, over all batches (about 1 KB each, up to 256 KiB
 * per batch): bodies past this wait for a later listing (see {@link BatchEntries.expand}).
 * A worker at 180 tasks/s uses them up in about 11 s; 5,000 made its peak RSS 50 MiB
 * larger (records live long enough to reach V8's old space) for no fewer requests.
 */
export const MAX_RECORDS = 2_000;

interface Tracked {
  ref: EntryRef;
  /** The tasks' type. */
  taskType: string;
  /** Named tasks (none when the body was unreadable: the entry is left alone). */
  ids: ReadonlySet<string>;
  left: Set<string>;
  listedAt: number;
  /** Records the body carries (checked), of tasks not yet claimed assuming them. */
  written: Map<string, Versioned>;
  /** A write assuming a record lost: another worker shares the batch; read its tasks first. */
  shared: boolean;
  /** A write assuming a record won: this worker may assume several at once. */
  proven: boolean;
  /** Until then, the one task being claimed assuming its record (the others are read). */
  probe?: string;
  /**
   * How the batch was last shared out (src/worker/batch_shares.ts, shareSignature; `""`:
   * never, every record kept).
   */
  sharedAs: string;
}

/**
 * The batch entries one worker tracks.
 *
 * @example
 * ```ts
 * import { MemoryStore, Queue, Worker } from "../../mod.ts";
 * const queue = new Queue(new MemoryStore());
 * // Two tasks, one ready entry naming both.
 * await queue.submitMany([["email", {}], ["email", {}]]);
 * const worker = new Worker(queue, "w1").task("email", () => ({ sent: true }));
 * (await worker.pollOnce()).claimed; // 2
 * await worker.drain(); // and the entry is deleted once both have ended
 * ```
 */
export class BatchEntries {
  readonly #queue: QueueContext;
  readonly #error: (error: Error, context: string) => void;
  readonly #tracked = new Map<string, Tracked>();
  readonly #peers: PeerSource;
  readonly #seed = Math.random().toString(36).slice(2);
  // False once the store showed ETags that are not MD5s of the bytes (SSE-KMS, some servers).
  #assume = true;
  readonly #passes = new Passes();
  // Records reserved by the bodies being read (MAX_BATCH_TASKS each).
  #reading = 0;

  /**
   * Batches of `queue`; `error` reports a body that cannot be read (a bad one once); `peers`
   * counts the live workers of a type, this one included, with this one's rank among them,
   * and is told when another worker took a task of this worker's share.
   */
  constructor(
    queue: QueueContext,
    error: (error: Error, context: string) => void,
    peers: PeerSource = NO_PEERS,
  ) {
    this.#queue = queue;
    this.#error = error;
    this.#peers = peers;
  }

  /**
   * Replace each batch entry among `candidates` by one candidate per named task this worker
   * has not seen leave it (reading the bodies not known yet: one GET each, 8 at a time).
   * Returns the tasks' own entries first, then each batch's tasks in runs (one, from a place
   * in the batch of this worker's own, or the shares of the workers that share the type).
   *
   * Bodies are read, in listing order, only while the records this worker holds stay under
   * {@link MAX_RECORDS}: the batches past that are `deferred` (left out, their bodies not
   * read), to be read at a later listing once claims have used records up. Reading them all
   * would give records up as soon as they are read, and their tasks would each be read
   * before their claims.
   */
  async expand(
    candidates: readonly Candidate[],
    now: number,
  ): Promise<{ candidates: Candidate[]; deferred: number }> {
    const batches = candidates.filter((c) => c.entry.batchId !== undefined);
    if (batches.length === 0) return { candidates: [...candidates], deferred: 0 };
    // Batches are shared out among the workers counted: count them first.
    if (batches.some((c) => this.#peers.count(c.entry.taskType) === undefined)) {
      await this.#peers.first();
    }
    const unknown: Candidate[] = [];
    for (const c of batches) {
      const known = this.#tracked.get(c.entry.key);
      if (known !== undefined && known.ref.versionId === c.versionId && !this.#resharing(known)) {
        known.listedAt = now;
      } else unknown.push(c);
    }
    const read = await this.#readBodies(unknown, now);
    const deferred = unknown.length - read;
    // Each batch in runs with an `order` of their own among the candidates (src/worker/
    // listing.ts, orderLevels): workers that share a lane start on different tasks.
    const out = candidates.filter((c) => c.entry.batchId === undefined);
    for (const c of batches) {
      const t = this.#tracked.get(c.entry.key);
      if (t === undefined) continue; // gone since the LIST, deferred, or to be read again
      for (const part of this.#parts(c.entry.key, t, now, deferred > 0)) {
        const batch = this.#handle(c.entry.key, t, part);
        for (const taskId of part.ids) {
          if (!t.left.has(taskId)) out.push({ ...c, entry: { ...c.entry, taskId }, batch });
        }
      }
    }
    // (After the shares are known: a worker that shares the type keeps its own records only.)
    this.#forget(now);
    return { candidates: out, deferred };
  }

  // A batch's tasks in runs (src/worker/batch_shares.ts); with others, their shares only
  // when no batch waits for records (`waiting`: work of its own to come), and not those
  // passed.
  #parts(key: string, t: Tracked, now: number, waiting: boolean): Part[] {
    const peers = this.#peers.count(t.taskType) ?? ALONE;
    const parts = sharesOf(key, t.taskType, [...t.ids], peers, this.#seed);
    this.#shareOut(key, t, peers);
    if (parts.length === 1) return parts; // not shared out
    if (waiting) return parts.slice(0, 1);
    return parts.filter((p) => !this.#passes.passed(p, now));
  }

  // Share batch `key` out among `peers` if not yet: the records of the others' shares are
  // dropped, and a write lost under the last count says nothing of this one. Not shared out
  // (alone, or the counts change), nothing changes: what was dropped stays dropped.
  #shareOut(key: string, t: Tracked, peers: PeerCount): void {
    const as = shareSignature(peers);
    if (as === "" || t.sharedAs === as) return;
    t.sharedAs = as;
    t.shared = false;
    const own = ownShare(key, [...t.ids], peers);
    for (const id of t.written.keys()) if (!own.has(id)) t.written.delete(id);
  }

  // To be shared out otherwise than when this worker kept only its own share's records: the
  // body is read again (one GET), for the records of its new share.
  #resharing(t: Tracked): boolean {
    const as = shareSignature(this.#peers.count(t.taskType) ?? ALONE);
    return t.sharedAs !== "" && as !== "" && as !== t.sharedAs;
  }

  // Read the bodies of `unknown` in order, 8 at a time, while the records held (and those
  // being read, at most MAX_BATCH_TASKS a body) leave room for them; the number read.
  async #readBodies(unknown: readonly Candidate[], now: number): Promise<number> {
    let next = 0;
    while (next < unknown.length) {
      // Bodies that surely fit: one that did not would make the oldest batch give all its
      // records up.
      // A worker that shares the batches of the type out keeps its own share's records only.
      const peers = this.#peers.count(unknown[next]!.entry.taskType) ?? ALONE;
      const most = Math.ceil(MAX_BATCH_TASKS / (sharedOut(peers) ? peers.sharing : 1));
      const fit = Math.floor((MAX_RECORDS - this.#recordsHeld() - this.#reading) / most);
      if (fit <= 0) break;
      const chunk = unknown.slice(next, next + Math.min(8, fit));
      next += chunk.length;
      this.#reading += chunk.length * most;
      await mapLimit(chunk, 8, (c) => this.#know(c, now, () => this.#reading -= most));
    }
    return next;
  }

  #recordsHeld(): number {
    let records = 0;
    for (const t of this.#tracked.values()) records += t.written.size;
    return records;
  }

  /** `taskId` left the batch entry `key` (a no-op for an entry not tracked here). */
  async left(key: string, taskId: string): Promise<void> {
    const t = this.#tracked.get(key);
    if (t === undefined || !t.ids.has(taskId)) return;
    t.left.add(taskId);
    if (t.left.size < t.ids.size) return;
    this.#tracked.delete(key);
    await this.#queue.tasks.deleteEntry(t.ref);
  }

  /**
   * The record of `taskId` that the batch entry `key` carries, to claim it without reading
   * it (each record once). None once a write assuming one lost to another worker, nor while
   * other workers of the type are known to run, but for this worker's `own` share of the
   * batch (a lost PUT costs as much as 12 GETs, and workers that share a batch meet where they
   * take the same tasks). Before the first count of peers, one claim at a time
   * assumes (the others read) until one such write has won in the batch: a worker that
   * meets another at its first claim there loses one write, not one per claim in flight.
   */
  written(key: string, taskId: string, own = false): Versioned | undefined {
    const t = this.#tracked.get(key);
    const w = t?.written.get(taskId);
    if (!this.#assume || t === undefined || t.shared || w === undefined) return undefined;
    const peers = this.#peers.count(t.taskType);
    if (peers !== undefined && peers.sharing > 1 && !(own && peers.settled !== false)) {
      return undefined;
    }
    if (peers === undefined && !t.proven) {
      if (t.probe !== undefined) return undefined;
      t.probe = taskId;
    }
    t.written.delete(taskId);
    return w;
  }

  /** A write that assumed a record of batch `key` won. */
  won(key: string): void {
    const t = this.#tracked.get(key);
    if (t !== undefined) t.proven = true;
  }

  /** The claim given the record of `taskId` in batch `key` has ended. */
  settled(key: string, taskId: string): void {
    const t = this.#tracked.get(key);
    if (t?.probe === taskId) t.probe = undefined;
  }

  /** A write that assumed `written` lost; `current` is the task as it is now. */
  lost(key: string, written: Versioned, current: Versioned | null): void {
    if (current === null) return; // not written yet: the producer is still at it
    if (current.rec.write_id === written.rec.write_id) this.#assume = false;
    else {
      const t = this.#tracked.get(key);
      if (t !== undefined) {
        t.shared = true;
        t.written.clear();
      }
    }
  }

  #handle(key: string, t: Tracked, part: Part): BatchHandle {
    return {
      left: (taskId) => this.left(key, taskId),
      order: part.order,
      wanted: () => !this.#passes.passed(part, this.#queue.clock.now()),
      notClaimable: (_taskId, takenBy) => {
        if (takenBy === null) return; // cancelled, expired, gone: nobody's work
        // A task of this worker's share taken by another: the workers do not agree on who
        // they are (one started or stopped since a count).
        if (part.own) return this.#peers.disagree(t.taskType);
        this.#passes.taken(part, this.#queue.keys.worker(takenBy), this.#queue.clock.now());
      },
      written: (taskId) => this.written(key, taskId, part.own),
      lost: (written, current) => this.lost(key, written, current),
      won: () => this.won(key),
      settled: (taskId) => this.settled(key, taskId),
    };
  }

  // Read the body of `c` and track its batch. `read` is called as the read ends, in the
  // same turn as its records join those held (no moment counts them twice).
  async #know(c: Candidate, now: number, read: () => void): Promise<void> {
    let body: BatchBody | null;
    try {
      body = await readBatchBody(this.#queue, c.entry.key);
    } catch (e) {
      read();
      this.#error(e as Error, `batch entry ${c.entry.key}`);
      if (!(e instanceof SchemaError)) return; // read again at the next listing
      body = { ids: [], records: new Map() };
    }
    read();
    if (body === null) return; // deleted since the LIST
    // Read again (shared out anew): what was seen leave is still true.
    const before = this.#tracked.get(c.entry.key);
    this.#tracked.set(c.entry.key, {
      ref: { key: c.entry.key, versionId: c.versionId },
      taskType: c.entry.taskType,
      ids: new Set(body.ids),
      left: before?.ref.versionId === c.versionId ? before.left : new Set(),
      listedAt: now,
      written: this.#checked(body.records),
      shared: false,
      proven: false,
      sharedAs: "",
    });
    const peers = this.#peers.count(c.entry.taskType);
    if (peers !== undefined) this.#shareOut(c.entry.key, this.#tracked.get(c.entry.key)!, peers);
  }

  // The records that check as a task object read from the bucket would, all at once (one
  // pass over a body keeps the schema's code warm: checked one by one between requests, a
  // record cost several times more). One that does not check is not assumed: the task is
  // read, and its own check reports what is wrong.
  #checked(records: Map<string, WrittenRecord>): Map<string, Versioned> {
    const out = new Map<string, Versioned>();
    for (const [id, w] of records) {
      try {
        out.set(id, { rec: taskRecordOf(this.#queue.keys.task(id), w.record), etag: w.etag });
      } catch {
        // not assumed
      }
    }
    return out;
  }

  // Past MAX_RECORDS (listings of several lanes read at once), the batches listed longest
  // ago give their records up; past MAX_KEPT batches, those not listed for a while go.
  #forget(now: number): void {
    let records = this.#recordsHeld();
    if (records > MAX_RECORDS) {
      const oldest = [...this.#tracked.values()].sort((a, b) => a.listedAt - b.listedAt);
      for (const t of oldest) {
        if (records <= MAX_RECORDS) break;
        records -= t.written.size;
        t.written.clear();
      }
    }
    if (this.#tracked.size <= MAX_KEPT) return;
    for (const [key, t] of this.#tracked) {
      if (t.listedAt < now - FORGET_AFTER_MS) this.#tracked.delete(key);
    }
  }
}
