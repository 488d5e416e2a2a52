/**
 * Deleting a task (`queue.delete`, `oq delete`): the requests, in the order that keeps every
 * crash point safe (docs/format.md, "Deleting a task"):
 *
 * 1. **Mark** (one compare-and-swap on the task): the record gains `deleting_at`; a pending
 *    task (allowed only when asked for) becomes `cancelled` in the same write. A worker whose
 *    claim races it loses its own compare-and-swap and re-reads a task that is not pending;
 *    from then on no transition applies (src/task/transitions.ts), so nothing runs, retries
 *    or archives it, and `queue.get` answers "not found".
 * 2. **Index entries** the record can have (its ready entry, its TTL entry), every version.
 * 3. **Payloads** (`payloads/{home}/{task_id}/`), every version.
 * 4. **History**: every version of the task object but the current one.
 * 5. **The current version** (the mark) last.
 *
 * A crash between any two requests leaves the marked task object in place, so a re-run of
 * delete finds the mark and goes on from step 2, and so does the monitor's sweep when it meets
 * a mark older than a minute. Every step is idempotent.
 *
 * @module
 */

import type { QueueContext } from "./context.ts";
import type { Versioned } from "./tasks.ts";
import { versionPages } from "../store/paging.ts";
import type { DeleteEntry } from "../store/types.ts";
import type { TaskRecord, TaskStatus } from "../task/task.ts";
import { markDeleting } from "../task/transitions.ts";

/** Outcome of deleting one task. */
export interface DeleteTaskResult {
  /** Task id. */
  taskId: string;
  /** `true` when the task existed and is now gone; `false` when there was no such task. */
  deleted: boolean;
  /**
   * The task's status as deleted (`cancelled` for a pending task deleted with `pending`);
   * absent when not found.
   */
  status?: TaskStatus;
  /** Versions of the task object removed (its history and the current one). */
  versions: number;
  /** Payload object versions removed. */
  payloads: number;
}

/** Options of `queue.delete`. */
export interface DeleteTaskOptions {
  /** Also delete a pending task (it is cancelled in the marking write). @default false */
  pending?: boolean;
}

const MAX_CAS_ROUNDS = 16;

/**
 * Delete a task (see the module doc). Throws a `RangeError` for a task that may not be
 * deleted (running, or pending without `pending`), and a `TypeError` for an invalid id.
 */
export async function deleteTask(
  ctx: QueueContext,
  taskId: string,
  options: DeleteTaskOptions = {},
): Promise<DeleteTaskResult> {
  const marked = await markForDeletion(ctx, taskId, options);
  if (marked === null) return { taskId, deleted: false, versions: 0, payloads: 0 };
  const removed = await finishDeletion(ctx, marked.rec);
  return { taskId, deleted: true, status: marked.rec.status, ...removed };
}

/**
 * Step 1: the marking compare-and-swap, re-read and decided again when another write came
 * first. Returns the marked version (an existing mark as it is), `null` when not found.
 */
async function markForDeletion(
  ctx: QueueContext,
  taskId: string,
  options: DeleteTaskOptions,
): Promise<Versioned | null> {
  for (let round = 0; round < MAX_CAS_ROUNDS; round++) {
    const v = await ctx.tasks.read(taskId);
    if (v === null || v.rec.deleting_at !== undefined) return v;
    const t = markDeleting(v.rec, ctx.clock.now(), options);
    if (!t.ok) throw new RangeError(`Cannot delete task ${taskId}: ${t.reason}`);
    const w = await ctx.tasks.replace(t.next, v.etag);
    if (w !== null) return w;
  }
  throw new Error(`Task ${taskId} kept changing; try again`);
}

/**
 * Steps 2 to 5 for a marked record: index entries, payloads, history, then the current
 * version. Used by delete and by the monitor's sweep for a mark a crash left behind.
 */
export async function finishDeletion(
  ctx: QueueContext,
  rec: TaskRecord,
): Promise<{ versions: number; payloads: number }> {
  if (rec.deleting_at === undefined) {
    throw new TypeError(`Task ${rec.id} is not marked for deletion`);
  }
  const tasks = ctx.tasks;
  await tasks.dropReady(rec);
  if (rec.expires_at !== null) await tasks.deleteAllVersions(tasks.expiryKey(rec));
  const payloads = await ctx.payloads.removeAll(rec.id);
  const versions = await removeTaskVersions(ctx, rec.id);
  return { versions, payloads };
}

/**
 * Every version of the task object but the current one (history, delete markers), then the
 * current one: one LIST per 1,000 versions, one DeleteObjects per 1,000, one DELETE. The
 * current version goes only when every other one is gone, so a failure leaves the marked
 * task (and a re-run) rather than history without a task.
 */
async function removeTaskVersions(ctx: QueueContext, taskId: string): Promise<number> {
  const key = ctx.keys.task(taskId);
  const older: DeleteEntry[] = [];
  let current: DeleteEntry | null = null;
  for await (const page of versionPages(ctx.store, { prefix: key })) {
    for (const v of page.versions) {
      if (v.key !== key) continue;
      const entry = { key, versionId: v.versionId === "null" ? undefined : v.versionId };
      if (v.isLatest && !v.isDeleteMarker) current = entry;
      else older.push(entry);
    }
  }
  for (let i = 0; i < older.length; i += 1000) {
    const r = await ctx.store.deleteMany(older.slice(i, i + 1000));
    if (r.errors.length > 0) {
      const e = r.errors[0]!;
      throw new Error(
        `Could not delete ${r.errors.length} old version(s) of task ${taskId} ` +
          `(${e.code}: ${e.message}); run delete again`,
      );
    }
  }
  if (current !== null) await ctx.store.delete(key, { versionId: current.versionId });
  return older.length + (current ? 1 : 0);
}
