/**
 * Waiting for a task to finish (`queue.waitFor`): one GET, then conditional GETs
 * (`If-None-Match` on the last ETag seen: a 304 has no body) at intervals that double from
 * `minIntervalMs` to `maxIntervalMs` while nothing changes, and start over when the task's
 * status changes. About 12 GETs per waiting minute at the defaults (docs/format.md).
 *
 * @module
 */

import { OqError } from "../base/errors.ts";
import type { QueueContext } from "../protocol/context.ts";
import { Task, type TaskStatus } from "../task/task.ts";
import { checkMs } from "../base/limits.ts";

/** Options of `queue.waitFor`. */
export interface WaitOptions {
  /** Give up after this many milliseconds with a {@link WaitTimeoutError}. @default no limit */
  timeoutMs?: number;
  /** Abort the wait: it rejects with the signal's reason. */
  signal?: AbortSignal;
  /** First interval between checks. @default 250 */
  minIntervalMs?: number;
  /** Longest interval between checks (the back-off stops there). @default 5000 */
  maxIntervalMs?: number;
}

/** Statuses `waitFor` returns on: nothing runs any more. */
const FINISHED: readonly TaskStatus[] = ["completed", "failed", "cancelled", "expired", "archived"];

/**
 * `queue.waitFor` gave up: the task had not finished within `timeoutMs`. `task` is the task
 * as last seen.
 *
 * @example
 * ```ts
 * import { MemoryStore, Queue, WaitTimeoutError } from "../../mod.ts";
 * const queue = new Queue(new MemoryStore());
 * const { id } = await queue.submit("report", {});
 * try {
 *   await queue.waitFor(id, { timeoutMs: 10 });
 * } catch (e) {
 *   if (e instanceof WaitTimeoutError) console.log(e.task.status); // "pending"
 * }
 * ```
 */
export class WaitTimeoutError extends OqError {
  /** The task as last seen. */
  readonly task: Task;

  /** Create the error. */
  constructor(task: Task, timeoutMs: number) {
    super(
      "WaitTimeout",
      `Task ${task.id} did not finish within ${timeoutMs} ms (it is ${task.status})`,
    );
    this.task = task;
  }
}

/** Wait until a task is finished (see `Queue.waitFor`). */
export async function waitForTask(
  ctx: QueueContext,
  taskId: string,
  options: WaitOptions = {},
): Promise<Task> {
  const min = checkMs("minIntervalMs", options.minIntervalMs ?? 250);
  const max = Math.max(min, checkMs("maxIntervalMs", options.maxIntervalMs ?? 5000));
  const timeoutMs = options.timeoutMs === undefined
    ? undefined
    : checkMs("timeoutMs", options.timeoutMs, true);
  const { signal } = options;
  signal?.throwIfAborted();
  const clock = ctx.clock;
  const deadline = timeoutMs === undefined ? Number.POSITIVE_INFINITY : clock.now() + timeoutMs;
  let v = await ctx.tasks.read(taskId, signal);
  if (v === null || v.rec.deleting_at !== undefined) {
    throw new RangeError(`Task ${JSON.stringify(taskId)} not found`);
  }
  let interval = min;
  for (;;) {
    if (FINISHED.includes(v.rec.status)) return new Task(v.rec);
    const left = deadline - clock.now();
    if (left <= 0) throw new WaitTimeoutError(new Task(v.rec), timeoutMs!);
    await sleep(clock, Math.min(interval, left), signal);
    const r = await ctx.tasks.readIfChanged(taskId, v.etag, signal);
    if (r === null || (r !== "unchanged" && r.rec.deleting_at !== undefined)) {
      throw new Error(`Task ${taskId} was deleted while it was waited for`);
    }
    if (r === "unchanged") {
      interval = Math.min(interval * 2, max);
      continue;
    }
    // A new status (claimed, retried) is a sign of activity: look sooner again.
    interval = r.rec.status === v.rec.status ? Math.min(interval * 2, max) : min;
    v = r;
  }
}

function sleep(clock: QueueContext["clock"], ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    const onAbort = () => {
      t.cancel();
      reject(signal!.reason);
    };
    const t = clock.setTimer(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}
