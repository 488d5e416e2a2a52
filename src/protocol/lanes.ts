/**
 * Moving index entries between lanes (shards): the part of a reshard that every monitor's
 * sweep also runs, as a backstop, on shards a reshard retired. A task's object never moves;
 * its record's `shard` (its lane) changes with one compare-and-swap, its new index entries
 * written before and its old ones deleted after (src/queue/reshard.ts has the whole story).
 *
 * @module
 */

import { SchemaError } from "../base/errors.ts";
import { versionPages } from "../store/paging.ts";
import * as transitions from "../task/transitions.ts";
import { readBatchEntry } from "./ready_batches.ts";
import type { QueueContext } from "./context.ts";
import type { EntryRef } from "./tasks.ts";
import { readGroup } from "./lease_groups.ts";

/** How long an index entry may point to a missing task before it is treated as orphaned. */
export const ORPHAN_ENTRY_AGE_MS = 60_000;

/** Counts of moving the work out of retired lanes. */
export interface DrainResult {
  /** Entries (ready, lease, TTL) looked at. */
  entries: number;
  /** Pending tasks moved to a current lane. */
  movedPending: number;
  /** Running tasks whose lease entry moved to a current lane. */
  movedRunning: number;
  /** Entries removed because their task was already elsewhere, finished or gone. */
  removed: number;
  /** Entries left for a later pass: their task is not written yet (a submit in progress). */
  kept: number;
  /** Task objects that could not be parsed (reported through `onInvalid`, entry kept). */
  invalid: number;
}

/** Empty counts. */
export function emptyDrain(): DrainResult {
  return { entries: 0, movedPending: 0, movedRunning: 0, removed: 0, kept: 0, invalid: 0 };
}

/**
 * Move the work indexed in `shard` (a retired lane) to current lanes: one LIST per 1,000
 * entries of `ready/{shard}/` and `deadlines/{shard}/`, then per pending or running task one
 * GET, one PUT per index entry it needs, one PUT for the task and a LIST plus free DELETEs
 * for its old entries.
 */
export async function drainLane(
  queue: QueueContext,
  shard: string,
  onInvalid: (error: SchemaError) => void = () => {},
): Promise<DrainResult> {
  const r = emptyDrain();
  const layout = await queue.syncLayout();
  if (layout.isLane(shard)) return r; // a lane again (a later reshard grew back)
  for (const prefix of [queue.keys.readyShardPrefix(shard), queue.keys.deadlinePrefix(shard)]) {
    for await (const page of versionPages(queue.store, { prefix })) {
      for (const v of page.versions) {
        const ref: EntryRef = { key: v.key, versionId: v.versionId };
        if (v.isDeleteMarker || !v.isLatest) {
          await queue.tasks.deleteEntry(ref);
          continue;
        }
        const deadline = queue.keys.parseDeadline(v.key);
        if (queue.keys.parseReadyBatch(v.key) !== null) {
          // A batch entry: each task it names moves to an entry of its own in its new lane.
          r.entries++;
          const read = (key: string) => readBatchEntry(queue, key);
          if (await drainNamed(queue, ref, r, onInvalid, read)) await queue.tasks.deleteEntry(ref);
          continue;
        }
        if (deadline?.kind === "group") {
          r.entries++;
          const read = async (key: string) => (await readGroup(queue, key))?.rec.task_ids ?? null;
          if (await drainNamed(queue, ref, r, onInvalid, read)) await queue.tasks.deleteEntry(ref);
          continue;
        }
        const taskId = queue.keys.parseReady(v.key)?.taskId ?? deadline?.taskId;
        if (taskId === undefined) continue; // not ours: leave it alone
        r.entries++;
        const outcome = await moveTask(queue, taskId, onInvalid);
        if (outcome === "invalid") {
          r.invalid++;
          continue;
        }
        if (outcome === "moved-pending") r.movedPending++;
        if (outcome === "moved-running") r.movedRunning++;
        if (
          outcome === "gone" &&
          queue.clock.now() - v.lastModified.getTime() <= ORPHAN_ENTRY_AGE_MS
        ) {
          r.kept++; // the producer writes the entry before the task: wait for it
          continue;
        }
        await queue.tasks.deleteEntry(ref);
        if (outcome === "gone" || outcome === "in-lane" || outcome === "finished") r.removed++;
      }
    }
  }
  return r;
}

// Move the tasks an entry in a retired lane names (a lease group's, or a batch entry's: `read`
// gives the ids from its body); true when none is left under it.
async function drainNamed(
  queue: QueueContext,
  ref: EntryRef,
  r: DrainResult,
  onInvalid: (error: SchemaError) => void,
  read: (key: string) => Promise<readonly string[] | null>,
): Promise<boolean> {
  let ids;
  try {
    ids = await read(ref.key);
  } catch (e) {
    if (!(e instanceof SchemaError)) throw e;
    onInvalid(e);
    r.invalid++;
    return false;
  }
  let done = true;
  for (const taskId of ids ?? []) {
    const outcome = await moveTask(queue, taskId, onInvalid);
    if (outcome === "moved-running") r.movedRunning++;
    if (outcome === "moved-pending") r.movedPending++;
    if (outcome === "invalid") done = false;
  }
  return done;
}

/** What {@link moveTask} found and did. */
export type MoveOutcome =
  | "moved-pending"
  | "moved-running"
  | "in-lane"
  | "finished"
  | "gone"
  | "invalid";

/**
 * Put a pending or running task into its lane under the current layout, if it is not
 * there: new index entries, then the task (compare-and-swap), then the old entries.
 */
export async function moveTask(
  queue: QueueContext,
  taskId: string,
  onInvalid: (error: SchemaError) => void = () => {},
): Promise<MoveOutcome> {
  const tasks = queue.tasks;
  for (let round = 0; round < 16; round++) {
    let v;
    try {
      v = await tasks.read(taskId);
    } catch (e) {
      if (!(e instanceof SchemaError)) throw e;
      onInvalid(e);
      return "invalid";
    }
    if (v === null) return "gone";
    const { rec } = v;
    if (rec.status !== "pending" && rec.status !== "running") return "finished";
    const lane = tasks.laneOf(rec);
    if (lane === rec.shard) return "in-lane";
    const t = transitions.moveLane(rec, queue.clock.now(), lane);
    if (!t.ok) return "finished";
    const next = t.next;
    // Index first: the task must never be in a lane without its entries.
    const added: EntryRef[] = [];
    if (next.status === "pending") {
      added.push(await tasks.putReady(next));
      if (next.expires_at !== null) added.push(await tasks.putExpiry(next));
    } else if (next.lease_expires_at !== null) {
      added.push(await tasks.putLease(next));
    }
    const w = await tasks.replace(next, v.etag);
    if (w === null) {
      // Claimed, finished or moved meanwhile: drop our entries and look again.
      await Promise.all(added.map((e) => tasks.deleteEntry(e)));
      continue;
    }
    if (rec.status === "pending") {
      await tasks.dropReady(rec);
      if (rec.expires_at !== null) await tasks.deleteAllVersions(tasks.expiryKey(rec));
      await tasks.signals.touch(rec.task_type);
      return "moved-pending";
    }
    // A lease group's entry covers other tasks too: it is left to its worker and monitor.
    // A lease indexed by the ready entry may have its lease entry too.
    if (rec.lease_expires_at !== null && rec.lease_group === undefined) {
      await tasks.deleteAllVersions(tasks.leaseKey(rec));
    }
    if (rec.lease_index === "ready") await tasks.dropReady(rec);
    return "moved-running";
  }
  throw new Error(`Task ${taskId} kept changing while it was moved; run the reshard again`);
}
