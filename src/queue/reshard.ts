/**
 * Changing a bucket's shard count (`oq reshard N`, {@link reshard}) and moving work out of
 * shards that are no longer lanes.
 *
 * A task's object never moves (its id names its home shard, so `get(id)` stays one GET);
 * what moves is its index lane, the record's `shard`. Growing adds lanes and moves nothing.
 * Shrinking retires lanes `N` .. `old-1`: every pending (ready or delayed) and running task
 * indexed there is moved to a current lane with the protocol's write order: the new index
 * entry first, then the task (compare-and-swap on its ETag, so a claim or completion that
 * races the move wins or loses cleanly), then the old entry is deleted. A running task's
 * worker sees the changed ETag at its next write, re-reads, finds its attempt still its
 * own, and goes on. Nothing is lost (an entry is deleted only after its task is indexed
 * elsewhere, or when its task is finished or gone) and nothing runs twice (the move is one
 * conditional write that changes no state).
 *
 * Processes learn the new layout within `layoutCheckIntervalMs` (they re-read it before
 * acting); one that has not yet may still submit into a retired lane. So the command
 * moves work twice: at once, and again after that interval. Monitors check retired lanes
 * once per sweep pass as a backstop (src/monitor/sweep.ts).
 *
 * @module
 */

import { ORPHAN_ENTRY_AGE_MS } from "../worker/claim.ts";
import { SchemaError } from "../base/errors.ts";
import {
  changedLayoutRecord,
  type Layout,
  MAX_SHARD_COUNT,
  readLayout,
  writeLayout,
} from "../protocol/layout.ts";
import type { Queue } from "./queue.ts";
import { type EntryRef, tasksOf } from "../protocol/tasks.ts";
import * as transitions from "../task/transitions.ts";
import { VERSION } from "../base/version.ts";

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

/** Options of {@link reshard}. */
export interface ReshardOptions {
  /**
   * Wait `layoutCheckIntervalMs` (plus the store clock's uncertainty and 2 s) after the
   * change and move again, to catch what processes that had not yet re-read the layout
   * submitted meanwhile. @default true
   */
  wait?: boolean;
  /** How to wait (tests pass a fake). @default a timer */
  sleep?: (ms: number) => Promise<void>;
  /** Called after each lane is drained. */
  onProgress?: (shard: string, result: DrainResult) => void;
  /** Called with each task object that cannot be parsed. */
  onInvalid?: (error: SchemaError) => void;
  /** Recorded in the layout's change log. @default "oq <version> reshard" */
  by?: string;
}

/** What {@link reshard} did. */
export interface ReshardResult {
  /** Shard count before. */
  from: number;
  /** Shard count after. */
  to: number;
  /** False when the bucket already had `to` shards. */
  changed: boolean;
  /** Shards that are no longer lanes (their tasks keep their ids and objects). */
  retired: string[];
  /** Work moved, summed over the passes. */
  drained: DrainResult;
  /** Passes over the retired lanes. */
  passes: number;
}

/** Empty counts. */
export function emptyDrain(): DrainResult {
  return { entries: 0, movedPending: 0, movedRunning: 0, removed: 0, kept: 0, invalid: 0 };
}

function addDrain(a: DrainResult, b: DrainResult): void {
  for (const k of Object.keys(a) as (keyof DrainResult)[]) a[k] += b[k];
}

/**
 * Change the bucket's shard count to `to` and move pending, delayed and running work out
 * of the shards that are no longer lanes. Safe while producers, workers and monitors run;
 * safe to run again after an interruption (it moves what is left).
 *
 * @example
 * ```ts
 * import { MemoryStore, Queue } from "../../mod.ts";
 * import { reshard } from "./reshard.ts";
 * const queue = new Queue(new MemoryStore(), { shardCount: 8 });
 * await queue.submit("send_email", { to: "a@b.c" });
 * const r = await reshard(queue, 4, { wait: false });
 * console.log(r.from, r.to, r.retired); // 8 4 ["4", "5", "6", "7"]
 * ```
 */
export async function reshard(
  queue: Queue,
  to: number,
  options: ReshardOptions = {},
): Promise<ReshardResult> {
  if (!Number.isInteger(to) || to < 1 || to > MAX_SHARD_COUNT) {
    throw new RangeError(
      `Invalid shard count: ${JSON.stringify(to)} (an integer from 1 to ${MAX_SHARD_COUNT})`,
    );
  }
  await queue.syncLayout({ force: true });
  let from = 0;
  let changed = false;
  for (let round = 0; round < 8 && !changed; round++) {
    const cur = await readLayout(queue.store, queue.keys);
    if (cur === null || cur === "unchanged") throw new Error("The bucket's layout disappeared");
    from = cur.rec.shard_count;
    if (from === to) break;
    const by = options.by ?? `oq ${VERSION} reshard`;
    const next = changedLayoutRecord(cur.rec, to, queue.store.now(), by);
    changed = (await writeLayout(queue.store, queue.keys, next, cur.etag)) !== null;
  }
  const layout = await queue.syncLayout({ force: true });
  if (layout.record.shard_count !== to) {
    throw new Error(`The bucket's layout kept changing; it now has ${layout.record.shard_count}`);
  }
  const result: ReshardResult = {
    from,
    to,
    changed,
    retired: [...layout.retiredShards],
    drained: emptyDrain(),
    passes: 0,
  };
  const pass = async () => {
    result.passes++;
    const r = emptyDrain();
    for (const shard of layout.retiredShards) {
      const one = await drainLane(queue, shard, options.onInvalid);
      options.onProgress?.(shard, one);
      addDrain(r, one);
    }
    addDrain(result.drained, r);
    return r;
  };
  await pass();
  if (options.wait ?? true) {
    const sleep = options.sleep ?? ((ms: number) => new Promise((r) => setTimeout(r, ms)));
    const settleMs = queue.options.layoutCheckIntervalMs + queue.store.clockUncertaintyMs() +
      2000;
    await sleep(settleMs);
    // Entries of submits in progress are young; give them the orphan age to get their task.
    for (let i = 0; i < 3; i++) {
      const r = await pass();
      if (r.kept === 0) break;
      await sleep(ORPHAN_ENTRY_AGE_MS / 2);
    }
  }
  return result;
}

/**
 * Move the work indexed in `shard` (a retired lane) to current lanes: one LIST per 1,000
 * entries of `ready/{shard}/` and `deadlines/{shard}/`, then per pending or running task one
 * GET, one PUT per index entry it needs, one PUT for the task and a LIST plus free DELETEs
 * for its old entries.
 */
export async function drainLane(
  queue: Queue,
  shard: string,
  onInvalid: (error: SchemaError) => void = () => {},
): Promise<DrainResult> {
  const r = emptyDrain();
  const layout = await queue.syncLayout();
  if (layout.isLane(shard)) return r; // a lane again (a later reshard grew back)
  for (const prefix of [queue.keys.readyShardPrefix(shard), queue.keys.deadlinePrefix(shard)]) {
    let keyMarker: string | undefined;
    let versionIdMarker: string | undefined;
    for (;;) {
      const page = await queue.store.listVersions({ prefix, keyMarker, versionIdMarker });
      for (const v of page.versions) {
        const ref: EntryRef = { key: v.key, versionId: v.versionId };
        if (v.isDeleteMarker || !v.isLatest) {
          await tasksOf(queue).deleteEntry(ref);
          continue;
        }
        const taskId = queue.keys.parseReady(v.key)?.taskId ??
          queue.keys.parseDeadline(v.key)?.taskId;
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
          queue.store.now() - v.lastModified.getTime() <= ORPHAN_ENTRY_AGE_MS
        ) {
          r.kept++; // the producer writes the entry before the task: wait for it
          continue;
        }
        await tasksOf(queue).deleteEntry(ref);
        if (outcome === "gone" || outcome === "in-lane" || outcome === "finished") r.removed++;
      }
      if (!page.isTruncated) break;
      keyMarker = page.nextKeyMarker;
      versionIdMarker = page.nextVersionIdMarker;
    }
  }
  return r;
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
  queue: Queue,
  taskId: string,
  onInvalid: (error: SchemaError) => void = () => {},
): Promise<MoveOutcome> {
  const tasks = tasksOf(queue);
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
    const t = transitions.moveLane(rec, queue.store.now(), lane);
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
      await tasks.deleteAllVersions(tasks.readyKey(rec));
      if (rec.expires_at !== null) await tasks.deleteAllVersions(tasks.expiryKey(rec));
      await tasks.signals.touch(rec.task_type);
      return "moved-pending";
    }
    if (rec.lease_expires_at !== null) await tasks.deleteAllVersions(tasks.leaseKey(rec));
    return "moved-running";
  }
  throw new Error(`Task ${taskId} kept changing while it was moved; run the reshard again`);
}

/** A layout for display: shard counts and the change log. */
export function describeLayout(layout: Layout): {
  format: number;
  shardCount: number;
  keyShardCount: number;
  homeShardCount: number;
  retiredShards: string[];
  changes: Array<{ at: string; from: number | null; to: number; by: string }>;
} {
  const r = layout.record;
  return {
    format: r.format,
    shardCount: r.shard_count,
    keyShardCount: r.key_shard_count,
    homeShardCount: r.home_shard_count,
    retiredShards: [...layout.retiredShards],
    changes: r.changes,
  };
}
