/**
 * The monitor's listings of the deadline index: one LIST per shard, or one LIST of
 * `deadlines/` for every shard at once while the index is small. In the steady state of a
 * queue that keeps up the index holds a few entries (with leases in the ready entry, only
 * those of attempts running past `leaseEntryAfterMs`), and one page answers for every
 * shard: a cycle costs one LIST instead of one per shard. A truncated page covers the
 * shards before its last key; the others are listed one by one, and the monitor lists
 * shard by shard for a while (`backoffMs`) before it tries one page again.
 *
 * @module
 */

import type { QueueContext } from "../protocol/context.ts";
import { pageCovers } from "../store/paging.ts";
import type { VersionInfo } from "../store/types.ts";

/** One shard's part of a listing: its versions, soonest first, and whether that is all of them. */
export interface ShardPage {
  /** The shard. */
  shard: string;
  /** Entry versions of the shard's deadline index, in key (time) order. */
  versions: VersionInfo[];
}

/**
 * Lists the deadline index of shards, together while it is small.
 *
 * @example
 * ```ts
 * import { MemoryStore, Monitor, Queue } from "../../mod.ts";
 * const monitor = new Monitor(new Queue(new MemoryStore()));
 * await monitor.runOnce({ sweep: false }); // the first cycle also reads (here: creates) the layout
 * // While the deadline index is small, a cycle lists every shard's entries with one LIST.
 * (await monitor.runOnce({ sweep: false })).requests; // 1, for the 4 shards
 * ```
 */
export class DeadlinePages {
  readonly #queue: QueueContext;
  readonly #perShard: number;
  readonly #backoffMs: number;
  #shardByShardUntil = Number.NEGATIVE_INFINITY;

  /** `perShard`: entries per shard a page holds; `backoffMs`: shard by shard after a truncated page. */
  constructor(queue: QueueContext, perShard: number, backoffMs: number) {
    this.#queue = queue;
    this.#perShard = perShard;
    this.#backoffMs = backoffMs;
  }

  /**
   * The deadline pages of `shards` (one LIST, or one per shard), each passed to `visit` in
   * the order given; `listed` is told of each LIST sent.
   */
  async each(
    shards: readonly string[],
    visit: (page: ShardPage) => Promise<void>,
    listed: () => void,
  ): Promise<void> {
    const q = this.#queue;
    let left = [...shards];
    const now = q.clock.now();
    if (shards.length >= 2 && now >= this.#shardByShardUntil) {
      const limit = Math.min(1000, this.#perShard * shards.length);
      const page = await q.store.listVersions({ prefix: q.keys.deadlinesRoot(), maxKeys: limit });
      listed();
      if (page.isTruncated) this.#shardByShardUntil = now + this.#backoffMs;
      // Truncated: a shard whose keys all sort before the last key is whole; the shard
      // holding the last key, or after it, is listed on its own.
      const covered = shards.filter((s) => pageCovers(page, q.keys.deadlinePrefix(s)) === "whole");
      for (const shard of covered) {
        const p = q.keys.deadlinePrefix(shard);
        await visit({ shard, versions: page.versions.filter((v) => v.key.startsWith(p)) });
      }
      left = shards.filter((s) => !covered.includes(s));
    }
    for (const shard of left) {
      const page = await q.tasks.deadlineVersions(shard, this.#perShard);
      listed();
      await visit({ shard, versions: page.versions });
    }
  }
}
