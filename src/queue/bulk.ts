/**
 * Bulk cancellation: many ids, or every task of a type. Works page by page (bounded
 * memory apart from the result lists) with a bounded number of requests in flight, and
 * reports progress.
 *
 * @module
 */

import { type CancelResult, cancelTask } from "./state_changes.ts";
import type { QueueContext } from "../protocol/context.ts";
import { validateName } from "../task/names.ts";
import { mapLimit } from "../base/concurrency.ts";

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
      const ids = [
        ...new Set(
          page.objects.map((obj) => q.keys.parseReady(obj.key)?.taskId).filter((
            id,
          ): id is string => id !== undefined),
        ),
      ];
      const results = await mapLimit(
        ids,
        concurrency,
        (id) => cancelTask(q, id, { reason: o.reason }),
      );
      for (const r of results) collect(out, r);
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
    const ids = page.objects.map((obj) => leaseTaskId(q, obj.key)).filter((
      id,
    ): id is string => !!id);
    const results = await mapLimit(ids, concurrency, async (id) => {
      const v = await q.tasks.read(id).catch(() => null);
      if (!v || v.rec.task_type !== taskType || v.rec.status !== "running") return null;
      return await cancelTask(q, id, { reason: o.reason });
    });
    for (const r of results) if (r) collect(out, r);
    progress(out, o);
  }
}

function leaseTaskId(q: QueueContext, key: string): string | undefined {
  const d = q.keys.parseDeadline(key);
  return d?.kind === "lease" ? d.taskId : undefined;
}
