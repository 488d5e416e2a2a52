/**
 * The monitor's slow sweep over task objects: the backstop that repairs indexes (a pending
 * task without its ready entry, a running task without its lease entry) and applies
 * retention (archive or purge finished tasks, a purge with its payloads), and, once per
 * shard per pass, removes payloads no task points to. Each step reads one LIST page of one shard
 * and at most `maxGets` tasks; the cursor resumes where the previous step stopped, and
 * finished tasks already seen (same ETag) are not read again.
 *
 * The protocol's write order (index entry first, task second) means a crash never needs
 * this sweep; it exists for entries lost otherwise (an external delete, a lifecycle rule
 * set too tight, a bug).
 *
 * @module
 */

import type { QueueContext } from "../protocol/context.ts";
import { SchemaError } from "../base/errors.ts";
import { drainLane, moveTask } from "../protocol/lanes.ts";
import { sweepPayloads } from "./payload_sweep.ts";
import { finishDeletion } from "../protocol/delete.ts";
import { repairGroup } from "../protocol/lease_groups.ts";
import type { TaskRecord } from "../task/task.ts";

import * as transitions from "../task/transitions.ts";

/** Retention of finished tasks (completed, failed, cancelled, expired). */
export interface RetentionOptions {
  /** Archive finished tasks this long after they finished (status `archived`). */
  archiveAfterSeconds?: number;
  /** Delete finished or archived tasks, with their whole history, this long after they finished. */
  purgeAfterSeconds?: number;
}

/** Counts of one sweep step. */
export interface SweepResult {
  /** Task objects looked at (from the LIST page). */
  scanned: number;
  /** Task objects read (GET). */
  read: number;
  /** Ready entries re-created for pending tasks that had none. */
  readyRepaired: number;
  /** Lease entries re-created for running tasks that had none. */
  leaseRepaired: number;
  /** Tasks archived by retention. */
  archived: number;
  /** Tasks purged by retention. */
  purged: number;
  /** Deletions a crash left midway (a task marked `deleting_at`), finished. */
  deletionsFinished: number;
  /** Objects that do not match the task schema (reported, left alone). */
  invalid: number;
  /** Pending or running tasks moved out of a lane a reshard retired. */
  moved: number;
  /** Payload versions no task points to, removed (src/monitor/payload_sweep.ts). */
  payloadsRemoved: number;
  /** A full pass over every shard ended with this step. */
  passCompleted: boolean;
  /** Requests sent (LIST, GET, HEAD, PUT; DELETEs are free and not counted). */
  requests: number;
}

const CACHE_LIMIT = 200_000;
/** Objects younger than this may be mid-change (index first, then task): not repaired yet. */
const SETTLE_MS = 60_000;

/** A resumable sweep over every shard's task objects. */
export class Sweeper {
  readonly #queue: QueueContext;
  readonly #retention: RetentionOptions;
  readonly #maxGets: number;
  readonly #settled = new Map<string, string>(); // key -> ETag of a finished task needing nothing
  #shard = 0;
  #after: string | undefined;
  /** Called with each schema error met. */
  onInvalid: (e: SchemaError) => void = () => {};

  /** Create a sweeper; `maxGets` bounds the task reads of one step. */
  constructor(queue: QueueContext, retention: RetentionOptions = {}, maxGets = 200) {
    this.#queue = queue;
    this.#retention = retention;
    this.#maxGets = maxGets;
  }

  /** One step: one LIST page of one shard, at most `maxGets` reads. */
  async step(): Promise<SweepResult> {
    const q = this.#queue;
    const r: SweepResult = {
      scanned: 0,
      read: 0,
      readyRepaired: 0,
      leaseRepaired: 0,
      archived: 0,
      purged: 0,
      deletionsFinished: 0,
      invalid: 0,
      moved: 0,
      payloadsRemoved: 0,
      passCompleted: false,
      requests: 0,
    };
    const homes = (await q.syncLayout()).homeShards;
    const shard = homes[this.#shard % homes.length]!;
    const page = await q.tasks.listObjects(shard, { startAfter: this.#after });
    r.requests++;
    let last: string | undefined;
    for (const obj of page.objects) {
      if (r.read >= this.#maxGets) break;
      last = obj.key;
      r.scanned++;
      if (this.#settled.get(obj.key) === obj.etag) continue;
      // Too young to act on (it may be mid-change): not read, it is seen next pass.
      if (q.clock.now() - obj.lastModified.getTime() < SETTLE_MS) continue;
      r.read++;
      r.requests++;
      let v;
      try {
        v = await q.tasks.readAt(obj.key);
      } catch (e) {
        if (!(e instanceof SchemaError)) throw e;
        r.invalid++;
        this.onInvalid(e);
        continue;
      }
      if (v === null) continue;
      const settledNow = await this.#visit(v.rec, v.etag, obj.lastModified.getTime(), r);
      if (settledNow) this.#remember(obj.key, v.etag);
    }
    const pageDone = last === undefined || last === page.objects[page.objects.length - 1]?.key;
    if (pageDone && !page.isTruncated) {
      // The shard's tasks are done for this pass: now its payloads no task points to.
      const p = await sweepPayloads(q, shard, Math.max(1, this.#maxGets - r.read), this.onInvalid);
      r.payloadsRemoved += p.removed;
      r.requests += p.requests;
      this.#after = undefined;
      this.#shard++;
      r.passCompleted = this.#shard % homes.length === 0;
      if (r.passCompleted) await this.#drainRetired(r);
    } else {
      this.#after = last;
    }
    return r;
  }

  // Returns true when the task needs nothing until it changes.
  async #visit(
    rec: TaskRecord,
    etag: string,
    modifiedAt: number,
    r: SweepResult,
  ): Promise<boolean> {
    const q = this.#queue;
    const tasks = q.tasks;
    const now = q.clock.now();
    if (now - modifiedAt < SETTLE_MS) return false;
    if (rec.deleting_at !== undefined) {
      // A delete stopped after its mark (a crash): finish it (LISTs plus free DELETEs).
      await finishDeletion(q, rec);
      this.#settled.delete(q.keys.task(rec.id));
      r.deletionsFinished++;
      r.requests += rec.expires_at === null ? 3 : 4;
      return false;
    }
    if ((rec.status === "pending" || rec.status === "running") && tasks.laneOf(rec) !== rec.shard) {
      // Its lane was retired by a reshard after a stale process indexed it there.
      if ((await moveTask(q, rec.id, this.onInvalid)).startsWith("moved")) r.moved++;
      r.requests += 4;
      return false;
    }
    if (rec.status === "pending") {
      r.requests++;
      if (!(await tasks.hasEntry(tasks.readyKey(rec)))) {
        if (rec.ready_batch !== undefined) {
          // Its batch entry is gone (deleted from outside): its own entry, then the task.
          const t = transitions.leaveBatch(rec, q.clock.now());
          if (t.ok && await tasks.makePending(t.next, etag)) r.readyRepaired++;
          r.requests += 2;
          return false;
        }
        await tasks.putReady(rec);
        await tasks.signals.touch(rec.task_type);
        r.readyRepaired++;
        r.requests++;
      }
      return false;
    }
    if (rec.status === "running") {
      r.requests++;
      if (rec.lease_group !== undefined) {
        // A group's entry must exist and name the task (its body is read: one GET).
        if (await repairGroup(q, rec)) {
          r.leaseRepaired++;
          r.requests++;
        }
      } else if (rec.lease_expires_at !== null && !(await this.#leaseIndexed(rec, now))) {
        await tasks.putLease(rec);
        r.leaseRepaired++;
        r.requests++;
      }
      return false;
    }
    const finishedAt = Date.parse(rec.completed_at ?? rec.updated_at);
    const { archiveAfterSeconds: archive, purgeAfterSeconds: purge } = this.#retention;
    if (purge !== undefined && now - finishedAt >= purge * 1000) {
      await this.#purge(rec);
      r.purged++;
      r.requests++;
      return false;
    }
    if (archive !== undefined && rec.status !== "archived" && now - finishedAt >= archive * 1000) {
      const t = transitions.archive(rec, now);
      if (t.ok && await tasks.replace(t.next, etag)) r.archived++;
      r.requests++;
      return false;
    }
    return true;
  }

  // Once per pass: work a process with an old layout indexed in a retired lane (a reshard
  // moves everything; this is the backstop). Two LISTs per retired lane when empty.
  async #drainRetired(r: SweepResult): Promise<void> {
    for (const shard of (await this.#queue.syncLayout()).retiredShards) {
      const d = await drainLane(this.#queue, shard, this.onInvalid);
      r.moved += d.movedPending + d.movedRunning;
      r.requests += 2 + 4 * (d.movedPending + d.movedRunning);
    }
  }

  // A running task's lease has its entry: its own lease entry, or (`lease_index: "ready"`)
  // its ready entry or its lease entry. Once such a lease has ended, only its lease entry
  // counts: the ready entry makes workers of the type recover the task, the lease entry
  // makes the monitor do it too (none of the type may be running). One HEAD, two at most.
  async #leaseIndexed(rec: TaskRecord, now: number): Promise<boolean> {
    const tasks = this.#queue.tasks;
    const ended = Date.parse(rec.lease_expires_at ?? "") <= now;
    if (rec.lease_index === "ready" && !ended && await tasks.hasEntry(tasks.readyKey(rec))) {
      return true;
    }
    return await tasks.hasEntry(tasks.leaseKey(rec));
  }

  /** Delete every version of a task (its whole history) and its payloads. */
  async #purge(rec: TaskRecord): Promise<void> {
    await this.#queue.tasks.purge(rec.id, rec);
    this.#settled.delete(this.#queue.keys.task(rec.id));
  }

  #remember(key: string, etag: string): void {
    if (this.#settled.size >= CACHE_LIMIT) {
      const oldest = this.#settled.keys().next().value;
      if (oldest !== undefined) this.#settled.delete(oldest);
    }
    this.#settled.set(key, etag);
  }
}
