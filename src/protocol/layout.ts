/**
 * The bucket's layout: `layout.json`, the facts every process using a bucket (and prefix)
 * must agree on, recorded in the bucket itself. Written when the bucket is initialised or
 * first used; changed only by `oq reshard` ({@link reshard} in src/queue/reshard.ts).
 *
 * - `format`: the storage format version; a process refuses a bucket of a newer format.
 * - `shard_count`: the number of shards (index lanes `0` .. `N-1`) that producers submit to
 *   and workers poll.
 * - `key_shard_count`: the shard count that ids derived from a key (idempotency keys,
 *   schedule runs) are computed with. Fixed for the bucket's life, so that the same key
 *   names the same task before and after a reshard.
 * - `home_shard_count`: task objects live under `tasks/{s}/` for `s` below this number
 *   (the largest shard count the bucket ever had): a task's object never moves, its id
 *   names it, and only its index lane (the record's `shard`) changes in a reshard.
 *
 * @module
 */

import { z } from "zod";
import { ConfigError } from "../base/errors.ts";
import { fnv1a, nonce } from "../base/ids.ts";
import type { Keys } from "./keys.ts";
import { shardOfTaskId } from "../task/names.ts";
import { readStored, type Stored, writeStored } from "./stored.ts";
import { listPages } from "../store/paging.ts";
import type { ObjectStore } from "../store/types.ts";

/**
 * The storage format this oq reads and writes (docs/format.md).
 *
 * @example
 * ```ts
 * import { LAYOUT_FORMAT, MemoryStore, Queue } from "../../mod.ts";
 * const queue = new Queue(new MemoryStore());
 * (await queue.syncLayout()).record.format === LAYOUT_FORMAT; // true
 * ```
 */
export const LAYOUT_FORMAT = 2;
/** The largest shard count a layout may have. */
export const MAX_SHARD_COUNT = 256;

const count: z.ZodNumber = z.number().int().min(1).max(MAX_SHARD_COUNT);

/** One change of the shard count, kept in the layout for operators. */
export interface LayoutChange {
  /** When (store time, RFC 3339). */
  at: string;
  /** Shard count before; `null` when the layout was created. */
  from: number | null;
  /** Shard count after. */
  to: number;
  /** Who made it (`oq <version> <command>`). */
  by: string;
}

/** The stored layout (`layout.json`); docs/format.md describes each field. */
export interface LayoutRecord {
  /** Version of this object's schema: 1. */
  schema_version: 1;
  /** Storage format version of the bucket. */
  format: number;
  /** Index lanes `0` .. `shard_count-1`. */
  shard_count: number;
  /** Shard count of ids derived from keys; never changes. */
  key_shard_count: number;
  /** Shards `0` .. `home_shard_count-1` may hold task objects. */
  home_shard_count: number;
  /** Creation time. */
  created_at: string;
  /** Time of the last change. */
  updated_at: string;
  /** The last 100 changes. */
  changes: LayoutChange[];
  /** +1 on every write. */
  revision: number;
  /** Random nonce of the latest write. */
  write_id: string;
}

/** Schema of {@link LayoutChange}. */
export const LayoutChangeSchema: z.ZodType<LayoutChange> = z.object({
  at: z.string(),
  from: count.nullable(),
  to: count,
  by: z.string(),
});

/** Schema of {@link LayoutRecord}. */
export const LayoutSchema: z.ZodType<LayoutRecord> = z.object({
  schema_version: z.literal(1),
  format: z.number().int().min(1),
  shard_count: count,
  key_shard_count: count,
  home_shard_count: count,
  created_at: z.string(),
  updated_at: z.string(),
  changes: z.array(LayoutChangeSchema).max(100),
  revision: z.number().int().nonnegative(),
  write_id: z.string(),
}).refine((l) => l.home_shard_count >= Math.max(l.shard_count, l.key_shard_count), {
  message: "home_shard_count must cover shard_count and key_shard_count",
  path: ["home_shard_count"],
});

/** Shard names `"0"` .. `"n-1"`. */
export function shardNames(n: number): string[] {
  return Array.from({ length: n }, (_, i) => String(i));
}

/**
 * The layout a process works with: the stored record and the names derived from it.
 *
 * @example
 * ```ts
 * import { MemoryStore, Queue } from "../../mod.ts";
 * const queue = new Queue(new MemoryStore());
 * const layout = await queue.syncLayout(); // written by the first process, read by every other
 * layout.shards; // ["0", "1", "2", "3"]
 * ```
 */
export class Layout {
  /** The stored record. */
  readonly record: LayoutRecord;
  /** Index lanes producers submit to and workers poll: `"0"` .. `"shard_count-1"`. */
  readonly shards: readonly string[];
  /** Every shard that may hold task objects: `"0"` .. `"home_shard_count-1"`. */
  readonly homeShards: readonly string[];
  /** Shards that held lanes in an earlier layout and are lanes no longer. */
  readonly retiredShards: readonly string[];

  /** Wrap a stored record. */
  constructor(record: LayoutRecord) {
    this.record = record;
    this.shards = shardNames(record.shard_count);
    this.homeShards = shardNames(record.home_shard_count);
    this.retiredShards = this.homeShards.slice(record.shard_count);
  }

  /** The shard count ids derived from keys are computed with. */
  get keyShardCount(): number {
    return this.record.key_shard_count;
  }

  /**
   * The lane of a task: its home shard (the id's) while that is a lane, otherwise a lane
   * picked by a hash of the id (after a reshard removed the home shard's lane).
   */
  laneFor(taskId: string): string {
    const home = shardOfTaskId(taskId);
    return this.isLane(home) ? home : String(fnv1a(taskId) % this.record.shard_count);
  }

  /** True when `shard` is one of the current lanes. */
  isLane(shard: string): boolean {
    const n = Number(shard);
    return String(n) === shard && n < this.record.shard_count;
  }
}

/** Build the first layout record of a bucket. */
export function newLayoutRecord(shardCount: number, now: number, by: string): LayoutRecord {
  const at = new Date(now).toISOString();
  return {
    schema_version: 1,
    format: LAYOUT_FORMAT,
    shard_count: shardCount,
    key_shard_count: shardCount,
    home_shard_count: shardCount,
    created_at: at,
    updated_at: at,
    changes: [{ at, from: null, to: shardCount, by }],
    revision: 0,
    write_id: nonce(),
  };
}

/** The record after changing the shard count to `to`. */
export function changedLayoutRecord(
  rec: LayoutRecord,
  to: number,
  now: number,
  by: string,
): LayoutRecord {
  const at = new Date(now).toISOString();
  return {
    ...rec,
    shard_count: to,
    home_shard_count: Math.max(rec.home_shard_count, to),
    updated_at: at,
    changes: [...rec.changes, { at, from: rec.shard_count, to, by }].slice(-100),
    revision: rec.revision + 1,
    write_id: nonce(),
  };
}

/** Read the layout; `null` when the bucket has none yet, `"unchanged"` when `ifNoneMatch` matches. */
export async function readLayout(
  store: ObjectStore,
  keys: Keys,
  ifNoneMatch?: string,
): Promise<Stored<LayoutRecord> | "unchanged" | null> {
  const r = await readStored(store, keys.layout(), LayoutSchema, 1, ifNoneMatch);
  if (r !== null && r !== "unchanged") checkFormat(store, keys, r.rec);
  return r;
}

/** Write a layout: create-only, or compare-and-swap from `etag`. `null` when another write came first. */
export function writeLayout(
  store: ObjectStore,
  keys: Keys,
  rec: LayoutRecord,
  etag?: string,
): Promise<Stored<LayoutRecord> | null> {
  return writeStored(
    store,
    keys.layout(),
    rec,
    etag === undefined ? { ifNoneMatch: "*" } : { ifMatch: etag },
    LayoutSchema,
    1,
  );
}

function where(store: ObjectStore, keys: Keys): string {
  return `${store.name}${keys.prefix ? ` (prefix "${keys.prefix}")` : ""}`;
}

function checkFormat(store: ObjectStore, keys: Keys, rec: LayoutRecord): void {
  if (rec.format > LAYOUT_FORMAT) {
    throw new ConfigError(
      `The bucket at ${where(store, keys)} uses storage format ${rec.format}, newer than this ` +
        `oq understands (${LAYOUT_FORMAT}): upgrade oq`,
    );
  }
}

/** What a process asks for when it opens a bucket. */
export interface LayoutWish {
  /** The shard count it was configured with. */
  shardCount: number;
  /** True when the count was set explicitly (option, flag or env), not a default. */
  explicit: boolean;
  /** Who is asking (for the layout's change log), e.g. `"oq 0.2.0 connect"`. */
  by: string;
}

/**
 * The bucket's layout, created when absent. A bucket used before layouts existed is
 * inspected first (one LIST with a delimiter per index prefix), so its existing shards are
 * kept. An explicit shard count that differs from the bucket's is a {@link ConfigError}
 * naming both values; a default one yields to the bucket's.
 */
export async function ensureLayout(
  store: ObjectStore,
  keys: Keys,
  wish: LayoutWish,
): Promise<Stored<LayoutRecord>> {
  for (let round = 0; round < 8; round++) {
    const found = await readLayout(store, keys);
    if (found !== null && found !== "unchanged") {
      checkWish(store, keys, found.rec, wish);
      return found;
    }
    const inUse = await shardsInUse(store, keys);
    let n = wish.shardCount;
    if (inUse > n) {
      if (wish.explicit) {
        throw new ConfigError(
          `Shard count mismatch: this process is configured with ${n} shards (option shardCount, ` +
            `--shard-count or OQ_SHARD_COUNT) but the bucket at ${where(store, keys)} holds ` +
            `tasks in shards 0-${inUse - 1}: configure at least ${inUse}, or remove the setting ` +
            `to use the bucket's`,
        );
      }
      n = inUse;
    }
    const created = await writeLayout(store, keys, newLayoutRecord(n, store.now(), wish.by));
    if (created !== null) return created;
    // Another process created it first: read theirs and check it on the next round.
  }
  throw new Error(`The layout at ${where(store, keys)} kept changing; try again`);
}

/** Refuse a layout that an explicitly configured shard count disagrees with. */
export function checkWish(
  store: ObjectStore,
  keys: Keys,
  rec: LayoutRecord,
  wish: LayoutWish,
): void {
  if (wish.explicit && wish.shardCount !== rec.shard_count) {
    throw new ConfigError(
      `Shard count mismatch: this process is configured with ${wish.shardCount} shards (option ` +
        `shardCount, --shard-count or OQ_SHARD_COUNT) but the bucket at ${where(store, keys)} ` +
        `has ${rec.shard_count}: remove the setting to use the bucket's ${rec.shard_count}, or ` +
        `change the bucket's with \`oq reshard ${wish.shardCount}\` (docs/operations.md)`,
    );
  }
}

/**
 * The number of shards a bucket without a layout already uses: one more than the highest
 * shard name under `tasks/`, `ready/` and `deadlines/` (0 for an empty bucket).
 */
export async function shardsInUse(store: ObjectStore, keys: Keys): Promise<number> {
  let highest = -1;
  for (const top of ["tasks/", "ready/", "deadlines/"]) {
    for await (
      const page of listPages(store, { prefix: `${keys.prefix}${top}`, delimiter: "/" })
    ) {
      for (const p of page.commonPrefixes) {
        const name = p.slice(keys.prefix.length + top.length, -1);
        if (/^(0|[1-9][0-9]{0,2})$/.test(name)) highest = Math.max(highest, Number(name));
      }
    }
  }
  return highest + 1;
}
