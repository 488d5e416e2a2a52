/**
 * Deduplication windows (submit option `idempotencyTtlSeconds`): when a submit that finds
 * its key's task already stored may replace it with a new task (pure; no I/O). The rules
 * (docs/format.md, "Deduplication windows"):
 *
 * - a task without a window (`idempotency_expires_at` absent) holds its key forever;
 * - within the window, a re-submit returns the stored task;
 * - after the window, a finished task (completed, failed, cancelled, expired, archived) is
 *   replaced by the new one under the same id; a live task (pending or running) is still
 *   returned, so a key never has two live tasks: the window ends for good only when the
 *   task it guards has finished.
 *
 * @module
 */

import type { TaskRecord, TaskStatus } from "./task.ts";

/** States in which a task will still run or runs now: never replaced by a re-submit. */
const LIVE: readonly TaskStatus[] = ["pending", "running"];

/** True when the record carries a deduplication window and it has ended at `now` (store ms). */
function keyWindowPassed(rec: TaskRecord, now: number): boolean {
  return rec.idempotency_key !== null && rec.idempotency_expires_at !== undefined &&
    Date.parse(rec.idempotency_expires_at) <= now;
}

/**
 * True when a submit at `now` (store ms) that finds `rec` under its key replaces it: the
 * window has ended and the task has finished.
 *
 * @example
 * ```ts
 * import { replaceableByKey } from "./idempotency.ts";
 * import type { TaskRecord } from "./task.ts";
 * declare const stored: TaskRecord;
 * replaceableByKey(stored, Date.now()); // false for a task without a window
 * ```
 */
export function replaceableByKey(rec: TaskRecord, now: number): boolean {
  return keyWindowPassed(rec, now) && !LIVE.includes(rec.status);
}

/**
 * The record that replaces `old` under its id: the new task as built, its revision counting
 * on from the old one's, so the object's history (`queue.getHistory`, ordered by revision)
 * shows the old task's versions, then the new task's.
 */
export function replacementOf(next: TaskRecord, old: TaskRecord): TaskRecord {
  return { ...next, revision: old.revision + 1 };
}
