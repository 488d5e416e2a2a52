/**
 * State changes by operators: cancel a task, retry a finished one. Each is a
 * compare-and-swap on the task, re-read and decided again when another write came first.
 *
 * @module
 */

import type { QueueContext } from "../protocol/context.ts";
import { Task } from "../task/task.ts";
import * as transitions from "../task/transitions.ts";

/** Outcome of cancelling one task. */
export interface CancelResult {
  /** Task id. */
  taskId: string;
  /**
   * `cancelled`: it was pending and is now cancelled. `requested`: it is running; its
   * handler is told, and the task ends `cancelled` when the handler returns. `skipped`:
   * nothing changed, `reason` says why (not found, already finished, ...).
   */
  outcome: "cancelled" | "requested" | "skipped";
  /** Why it was skipped. */
  reason?: string;
  /** The task's state after the call (absent when not found). */
  status?: string;
}

const MAX_CAS_ROUNDS = 16;

/** Cancel a task (see `Queue.cancel`). Costs a GET and a PUT, plus a LIST for a pending one. */
export async function cancelTask(
  ctx: QueueContext,
  taskId: string,
  options: { reason?: string } = {},
): Promise<CancelResult> {
  const tasks = ctx.tasks;
  for (let round = 0; round < MAX_CAS_ROUNDS; round++) {
    const v = await tasks.read(taskId);
    if (v === null) return { taskId, outcome: "skipped", reason: "task not found" };
    const t = transitions.cancel(v.rec, ctx.clock.now(), options.reason ?? null);
    if (!t.ok) return { taskId, outcome: "skipped", reason: t.reason, status: t.status };
    const w = await tasks.replace(t.next, v.etag);
    if (w === null) continue; // changed under us: re-read and decide again
    if (w.rec.status === "cancelled") {
      // The entry's version id is unknown here: delete each of its versions by id.
      await tasks.dropReady(v.rec);
      return { taskId, outcome: "cancelled", status: "cancelled" };
    }
    return { taskId, outcome: "requested", status: w.rec.status };
  }
  return { taskId, outcome: "skipped", reason: "task kept changing; try again" };
}

/** Retry a failed, cancelled or expired task (see `Queue.retry`). */
export async function retryTask(ctx: QueueContext, taskId: string): Promise<Task> {
  await ctx.syncLayout();
  for (let round = 0; round < MAX_CAS_ROUNDS; round++) {
    const v = await ctx.tasks.read(taskId);
    if (v === null) throw new RangeError(`Task ${JSON.stringify(taskId)} not found`);
    const t = transitions.retry(v.rec, ctx.clock.now());
    if (!t.ok) throw new RangeError(`Cannot retry task ${taskId}: ${t.reason}`);
    const w = await ctx.tasks.makePending(t.next, v.etag);
    if (w) return new Task(w.rec);
  }
  throw new Error(`Task ${taskId} kept changing; try again`);
}
