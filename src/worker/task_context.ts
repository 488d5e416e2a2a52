/**
 * The context a handler gets (`ctx`): its task, signal, attempt and the calls it may make.
 * What costs something to make (the Task, the AbortController) is made when first read.
 *
 * @module
 */

import { SnoozeError, type TaskContext } from "./handler.ts";
import type { LazyAbort } from "./lazy_abort.ts";
import { Task, type TaskRecord } from "../task/task.ts";

/** What an execution gives its handler's context. */
export interface ContextSource {
  /** The record as claimed. */
  rec: TaskRecord;
  /** The handler's input (read from beside the task when it has a reference). */
  input: unknown;
  /** The execution's abort. */
  abort: LazyAbort;
  /** This worker. */
  workerId: string;
  /** Whether a cancel request was seen. */
  cancelRequested(): boolean;
  /** Extend the lease. */
  extendLease(seconds: number): Promise<void>;
  /** Report progress. */
  progress(value: unknown): void;
}

/**
 * The context of one attempt.
 *
 * @example
 * ```ts
 * import { LazyAbort } from "./lazy_abort.ts";
 * import { taskContext } from "./task_context.ts";
 * import { newTaskRecord, PROBE_PLACEMENT } from "../task/new_task.ts";
 * import { resolveQueueOptions } from "../protocol/options.ts";
 * const rec = await newTaskRecord("job", { n: 1 }, {}, resolveQueueOptions({}), 0, PROBE_PLACEMENT);
 * const ctx = taskContext({
 *   rec, input: rec.input, abort: new LazyAbort(), workerId: "w1",
 *   cancelRequested: () => false, extendLease: async () => {}, progress: () => {},
 * });
 * ctx.task.taskType; // "job"
 * ```
 */
export function taskContext(s: ContextSource): TaskContext {
  let task: Task | undefined;
  return {
    get signal() {
      return s.abort.signal;
    },
    get task() {
      return task ??= new Task(s.rec, s.rec.input_ref ? { input: s.input } : {});
    },
    attempt: s.rec.attempt,
    workerId: s.workerId,
    isCancellationRequested: s.cancelRequested,
    extendLease: s.extendLease,
    progress: s.progress,
    snooze: (seconds: number): never => {
      throw new SnoozeError(seconds);
    },
  };
}
