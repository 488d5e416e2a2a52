/**
 * Bulk operations: cancel many ids or every task of a type; retry many ids or every failed
 * task of a type. Each works batch by batch with a bounded number of requests in flight,
 * and reports progress.
 *
 * @module
 */

import { type CancelResult, cancelTask, retryTask } from "./state_changes.ts";
import { type IndexedTask, indexedTasks } from "../protocol/ready_batches.ts";
import type { ObjectInfo } from "../store/types.ts";
import type { QueueContext } from "../protocol/context.ts";
import { validateName } from "../task/names.ts";
import { mapLimit } from "../base/concurrency.ts";
import { TaskCensus } from "./census.ts";
import { leasedTaskIds } from "../protocol/lease_groups.ts";

/** What a bulk cancel did. */
export interface BulkCancelResult {
  /** Pending tasks now cancelled. */
  cancelled: string[];
  /** Running tasks whose cancellation was requested (they end cancelled when their handler returns). */
  requested: string[];
  /** Tasks left unchanged, with the reason (not found, already finished, ...). */
  skipped: Array<{ taskId: string; reason: string }>;
}

/** Options of bulk cancels. */
export interface BulkCancelOptions {
  /** Reason stored on each cancelled task. */
  reason?: string;
  /** Requests in flight at once. @default 16 */
  concurrency?: number;
  /** Called after each batch with the running totals. */
  onProgress?: (
    progress: { done: number; cancelled: number; requested: number; skipped: number },
  ) => void;
}

function collect(out: BulkCancelResult, r: CancelResult): void {
  if (r.outcome === "cancelled") out.cancelled.push(r.taskId);
  else if (r.outcome === "requested") out.requested.push(r.taskId);
  else out.skipped.push({ taskId: r.taskId, reason: r.reason ?? "skipped" });
}

function progress(out: BulkCancelResult, o: BulkCancelOptions): void {
  const done = out.cancelled.length + out.requested.length + out.skipped.length;
  o.onProgress?.({
    done,
    cancelled: out.cancelled.length,
    requested: out.requested.length,
    skipped: out.skipped.length,
  });
}

/** Cancel each id (see `Queue.cancel`); invalid ids are skipped with the reason. */
export async function cancelMany(
  q: QueueContext,
  ids: readonly string[],
  o: BulkCancelOptions = {},
): Promise<BulkCancelResult> {
  const out: BulkCancelResult = { cancelled: [], requested: [], skipped: [] };
  const concurrency = o.concurrency ?? 16;
  for (let i = 0; i < ids.length; i += 500) {
    const batch = ids.slice(i, i + 500);
    const results = await mapLimit(batch, concurrency, async (id) => {
      try {
        return await cancelTask(q, id, { reason: o.reason });
      } catch (e) {
        if (e instanceof TypeError) {
          return { taskId: String(id), outcome: "skipped", reason: e.message } as CancelResult;
        }
        throw e;
      }
    });
    for (const r of results) collect(out, r);
    progress(out, o);
  }
  return out;
}

/** Options of {@link cancelByType}. */
export interface CancelByTypeOptions extends BulkCancelOptions {
  /**
   * Also request cancellation of running tasks of the type (one GET per running task of
   * any type, found through the lease index). @default false: pending tasks only
   */
  includeRunning?: boolean;
}

/**
 * Cancel every pending task of a type (scheduled ones included), found through the ready
 * index of every shard: one LIST per 1000 tasks, then one GET and one PUT per task.
 */
export async function cancelByType(
  q: QueueContext,
  taskType: string,
  o: CancelByTypeOptions = {},
): Promise<BulkCancelResult> {
  validateName("task type", taskType);
  const out: BulkCancelResult = { cancelled: [], requested: [], skipped: [] };
  const concurrency = o.concurrency ?? 16;
  for (const shard of (await q.syncLayout()).shards) {
    // Page through the lane in key order: entries already handled sort before `after`, so
    // an entry that stays (a skipped task's) is never listed twice, and memory stays one
    // page however long the lane is.
    let after: string | undefined;
    for (;;) {
      // A fresh listing from `after` each time: the cancels change the lane under it.
      const page = await q.tasks.indexPage(q.keys.readyTypePrefix(shard, taskType), after);
      if (page.objects.length === 0) break;
      after = page.objects[page.objects.length - 1]!.key;
      const indexed = await indexedTasks(q, page.objects.map((obj) => obj.key));
      const ids = [...new Set(indexed.map((t) => t.taskId))];
      const results = await mapLimit(
        ids,
        concurrency,
        (id) => cancelTask(q, id, { reason: o.reason }),
      );
      for (const r of results) collect(out, r);
      await dropBatchEntries(q, page.objects, indexed, results);
      progress(out, o);
      if (!page.isTruncated) break;
    }
    if (o.includeRunning) await cancelRunningOfType(q, shard, taskType, out, o, concurrency);
  }
  return out;
}

async function cancelRunningOfType(
  q: QueueContext,
  shard: string,
  taskType: string,
  out: BulkCancelResult,
  o: BulkCancelOptions,
  concurrency: number,
): Promise<void> {
  for await (const page of q.tasks.indexPages(q.keys.deadlinePrefix(shard))) {
    const ids = [
      ...new Set(
        (await mapLimit(page.objects, concurrency, (o) => leasedTaskIds(q, o.key))).flat(),
      ),
    ];
    const results = await mapLimit(ids, concurrency, async (id) => {
      const v = await q.tasks.read(id).catch(() => null);
      if (!v || v.rec.task_type !== taskType || v.rec.status !== "running") return null;
      return await cancelTask(q, id, { reason: o.reason });
    });
    for (const r of results) if (r) collect(out, r);
    progress(out, o);
  }
}

/** What a bulk retry did. */
export interface BulkRetryResult {
  /** Tasks moved back to pending. */
  retried: string[];
  /** Tasks left unchanged, with the reason (not found, not failed, cancelled or expired, ...). */
  skipped: Array<{ taskId: string; reason: string }>;
}

/** Options of bulk retries. */
export interface BulkRetryOptions {
  /** Requests in flight at once. @default 16 */
  concurrency?: number;
  /** Called after each batch with the running totals (`total`: tasks to retry). */
  onProgress?: (
    progress: { done: number; total: number; retried: number; skipped: number },
  ) => void;
}

/**
 * Retry each id (see `Queue.retry`), in batches of 500, reporting progress after each. A
 * task that cannot be retried (not found, running, completed, an invalid id) is skipped
 * with the reason; a store failure stops the run and is thrown.
 */
export async function retryMany(
  q: QueueContext,
  ids: readonly string[],
  o: BulkRetryOptions = {},
): Promise<BulkRetryResult> {
  const out: BulkRetryResult = { retried: [], skipped: [] };
  const concurrency = o.concurrency ?? 16;
  for (let i = 0; i < ids.length; i += 500) {
    const batch = ids.slice(i, i + 500);
    const results = await mapLimit(batch, concurrency, async (id) => {
      try {
        await retryTask(q, id);
        return null;
      } catch (e) {
        if (e instanceof RangeError || e instanceof TypeError) return e.message;
        throw e;
      }
    });
    for (const [j, reason] of results.entries()) {
      if (reason === null) out.retried.push(batch[j]!);
      else out.skipped.push({ taskId: String(batch[j]), reason });
    }
    o.onProgress?.({
      done: out.retried.length + out.skipped.length,
      total: ids.length,
      retried: out.retried.length,
      skipped: out.skipped.length,
    });
  }
  return out;
}

/** Options of {@link retryFailed}. */
export interface RetryFailedOptions extends BulkRetryOptions {
  /**
   * The census to find the failed tasks with (refreshed first: a full refresh that reads
   * every new or changed object). @default a new census: one LIST per 1000 task objects and one GET per task
   */
  census?: TaskCensus;
}

/**
 * Retry every failed task (the dead letters) of a type. The failed tasks are found by a
 * census of the task objects (failed tasks are in no index), then each is retried with
 * `Queue.retry`: one GET and two PUTs per task (ready entry, task).
 */
export async function retryFailed(
  q: QueueContext,
  taskType: string,
  o: RetryFailedOptions = {},
): Promise<BulkRetryResult> {
  validateName("task type", taskType);
  const census = o.census ?? new TaskCensus(q);
  await census.refresh({ maxReads: Infinity, full: true });
  const page = census.list({ state: "failed", taskType, limit: Number.MAX_SAFE_INTEGER });
  // Oldest first, the order they failed in (roughly): the page is newest first.
  const ids = page.entries.map((e) => e.id).reverse();
  return await retryMany(q, ids, o);
}

// A batch entry whose tasks have all left it (cancelled here, running, finished or gone) is
// deleted: no worker may be listing the lane to find that out.
async function dropBatchEntries(
  q: QueueContext,
  listed: readonly ObjectInfo[],
  indexed: readonly IndexedTask[],
  results: readonly CancelResult[],
): Promise<void> {
  const stays = new Set(
    results.filter((r) => r.outcome === "skipped" && r.status === "pending").map((r) => r.taskId),
  );
  for (const o of listed) {
    if (q.keys.parseReadyBatch(o.key) === null) continue;
    const named = indexed.filter((t) => t.entryKey === o.key);
    if (named.length > 0 && named.every((t) => !stays.has(t.taskId))) {
      await q.tasks.deleteAllVersions(o.key);
    }
  }
}
