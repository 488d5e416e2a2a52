/**
 * Bucket set-up (`oq init`): create the bucket if absent, enable versioning, and install
 * lifecycle rules so the churn of index entries, signals and heartbeats cannot pile up
 * old versions or delete markers.
 *
 * @module
 */

import { Keys } from "../protocol/keys.ts";
import { ensureLayout } from "../protocol/layout.ts";
import { VERSION } from "../base/version.ts";
import type { LifecycleRule, ObjectStore, VersioningState } from "../store/types.ts";

/** Options of {@link initBucket}. */
export interface InitOptions {
  /** Enable versioning (task history). @default true */
  versioning?: boolean;
  /** Days after which noncurrent versions under the index prefixes are removed. @default 1 */
  indexNoncurrentDays?: number;
  /**
   * Days after which noncurrent versions of task objects (their history) are removed.
   * @default undefined: history is kept until the task is purged
   */
  taskHistoryDays?: number;
  /**
   * Shard count recorded in the bucket's layout when it has none yet; an existing layout
   * with another count is a ConfigError (change it with `oq reshard`).
   * @default 4, or the shards a bucket used before layouts existed
   */
  shardCount?: number;
}

/** What {@link initBucket} did. */
export interface InitResult {
  /** The bucket was created by this call. */
  created: boolean;
  /** Versioning state after the call. */
  versioning: VersioningState;
  /** Lifecycle rules installed. */
  rules: LifecycleRule[];
  /** The bucket's shard count (from its layout, written by this call when absent). */
  shardCount: number;
}

/**
 * The lifecycle rules oq installs for a queue's key prefix (`""`, or ending with `/`).
 *
 * @example
 * ```ts
 * import { lifecycleRules, MemoryStore, Queue } from "../../mod.ts";
 * const queue = new Queue(new MemoryStore(), { prefix: "myapp/" });
 * const rules = lifecycleRules(queue.options.prefix); // what `oq init` installs, to merge with your own
 * rules.map((r) => r.prefix); // ["myapp/ready/", "myapp/deadlines/", ...]
 * ```
 */
export function lifecycleRules(prefix = "", o: InitOptions = {}): LifecycleRule[] {
  const days = o.indexNoncurrentDays ?? 1;
  const p = new Keys(prefix).prefix; // validated
  const churn = ["ready/", "deadlines/", "signals/", "workers/", "schedule-runs/"];
  const rules: LifecycleRule[] = churn.map((prefix) => ({
    id: `oq-${prefix.slice(0, -1)}`,
    prefix: `${p}${prefix}`,
    noncurrentVersionExpirationDays: days,
    expiredObjectDeleteMarker: true,
  }));
  if (o.taskHistoryDays !== undefined) {
    rules.push({
      id: "oq-task-history",
      prefix: `${p}tasks/`,
      noncurrentVersionExpirationDays: o.taskHistoryDays,
    });
  }
  return rules;
}

/**
 * Create the bucket if absent, enable versioning and install oq's lifecycle rules for the
 * queue key prefix `prefix` ({@link lifecycleRules}), and write the bucket's layout when absent.
 * Idempotent. Replaces the bucket's lifecycle configuration (S3 has one per bucket).
 *
 * @example
 * ```ts
 * import { initBucket } from "./init.ts";
 * import { MemoryStore } from "../store/memory_store.ts";
 * const r = await initBucket(new MemoryStore({ createBucket: false }));
 * console.log(r.created, r.versioning); // true "Enabled"
 * ```
 */
export async function initBucket(
  store: ObjectStore,
  prefix = "",
  o: InitOptions = {},
): Promise<InitResult> {
  const keys = new Keys(prefix);
  let created = false;
  if (!(await store.headBucket())) {
    await store.createBucket();
    created = true;
  }
  if (o.versioning ?? true) await store.putVersioning(true);
  const rules = lifecycleRules(keys.prefix, o);
  await store.putLifecycle(rules);
  const layout = await ensureLayout(store, keys, {
    shardCount: o.shardCount ?? 4,
    explicit: o.shardCount !== undefined,
    by: `oq ${VERSION} init`,
  });
  return {
    created,
    versioning: await store.getVersioning(),
    rules,
    shardCount: layout.rec.shard_count,
  };
}
