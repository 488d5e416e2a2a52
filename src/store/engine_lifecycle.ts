/**
 * Lifecycle expiration for the storage engine, as a function over a {@link BucketState}:
 * current-version expiration, noncurrent-version expiration and removal of orphaned
 * (expired-object) delete markers, rule by rule in the bucket's configured order.
 *
 * @module
 */

import { type BucketState, dropKey, latest } from "./engine_state.ts";

const DAY_MS = 86_400_000;

/** What lifecycle application needs from the engine that owns the bucket. */
export interface LifecycleHooks {
  /**
   * Expire the current version of `key` as a plain DeleteObject would: a delete marker in
   * versioned buckets, removal in unversioned ones (the engine notifies the mutation).
   */
  expireCurrent(key: string): void;
  /** Report that the versions of `key` were changed in place by lifecycle application. */
  changed(key: string): void;
}

/**
 * Apply the bucket's lifecycle rules at time `now` (ms since the epoch): expire current
 * versions older than `expirationDays` (through {@link LifecycleHooks.expireCurrent}),
 * noncurrent versions older than `noncurrentVersionExpirationDays` (counted from when the
 * next version was written) and orphaned delete markers. Returns how many versions were
 * removed or expired.
 *
 * @example
 * ```ts
 * import { StorageEngine } from "./engine.ts";
 * import { applyLifecycleRules } from "./engine_lifecycle.ts";
 * const engine = new StorageEngine(() => Date.now());
 * engine.createBucket("b");
 * const removed = applyLifecycleRules(engine.bucket("b"), engine.now(), {
 *   expireCurrent: (key) => engine.delete("b", key),
 *   changed: () => {},
 * });
 * ```
 */
export function applyLifecycleRules(b: BucketState, now: number, hooks: LifecycleHooks): number {
  let removed = 0;
  for (const rule of b.lifecycle) {
    const keys: string[] = [];
    for (const key of b.keys.from(rule.prefix)) {
      if (!key.startsWith(rule.prefix)) break;
      keys.push(key);
    }
    for (const key of keys) {
      if (rule.expirationDays !== undefined) {
        const current = latest(b, key);
        if (
          current && !current.deleteMarker &&
          now - current.lastModified >= rule.expirationDays * DAY_MS
        ) {
          hooks.expireCurrent(key);
          removed++;
        }
      }
      const versions = b.objects.get(key);
      if (!versions) continue;
      const before = versions.length;
      if (rule.noncurrentVersionExpirationDays !== undefined) {
        const limit = rule.noncurrentVersionExpirationDays * DAY_MS;
        // A version becomes noncurrent when the next one is written.
        for (let i = versions.length - 2; i >= 0; i--) {
          if (now - versions[i + 1]!.lastModified >= limit) versions.splice(i, 1);
        }
      }
      if (rule.expiredObjectDeleteMarker && versions.length === 1 && versions[0]!.deleteMarker) {
        versions.length = 0;
      }
      if (versions.length === before) continue;
      removed += before - versions.length;
      if (versions.length === 0) dropKey(b, key);
      hooks.changed(key);
    }
  }
  return removed;
}
