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

import { sleepOn } from "../base/clock.ts";
import type { Queue } from "./queue.ts";
import { drainLane, type DrainResult, emptyDrain, ORPHAN_ENTRY_AGE_MS } from "../protocol/lanes.ts";
import type { SchemaError } from "../base/errors.ts";
import {
  changedLayoutRecord,
  type Layout,
  MAX_SHARD_COUNT,
  readLayout,
  writeLayout,
} from "../protocol/layout.ts";
import { VERSION } from "../base/version.ts";

/** Options of {@link reshard}. */
export interface ReshardOptions {
  /**
   * Wait `layoutCheckIntervalMs` (plus the store clock's uncertainty and 2 s) after the
   * change and move again, to catch what processes that had not yet re-read the layout
   * submitted meanwhile. @default true
   */
  wait?: boolean;
  /** How to wait (tests pass a fake). @default a timer of the queue's clock */
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
  from_: Queue,
  to: number,
  options: ReshardOptions = {},
): Promise<ReshardResult> {
  const queue = from_.context;
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
    const next = changedLayoutRecord(cur.rec, to, queue.clock.now(), by);
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
    const sleep = options.sleep ?? ((ms: number) => sleepOn(queue.clock, ms));
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
