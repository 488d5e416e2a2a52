/**
 * The Queue: what producers and operators use. Submit, read, cancel and retry tasks.
 *
 * @module
 */

import {
  type BulkCancelOptions,
  type BulkCancelResult,
  type BulkRetryOptions,
  type BulkRetryResult,
  cancelByType,
  type CancelByTypeOptions,
  cancelMany,
  retryFailed,
  type RetryFailedOptions,
  retryMany,
} from "./bulk.ts";
import {
  getHistory,
  listReady,
  listTasks,
  type ListTasksOptions,
  type QueueStats,
  stats,
} from "./inspect.ts";
import { type CancelResult, cancelTask, retryTask } from "./state_changes.ts";
import { deleteTask, type DeleteTaskOptions, type DeleteTaskResult } from "../protocol/delete.ts";
import { waitForTask, type WaitOptions } from "./wait.ts";
import { QueueContext } from "../protocol/context.ts";
import {
  getTypeControl,
  listTypeControls,
  setPaused,
  type SetPausedResult,
  type TypeControl,
} from "../protocol/flow.ts";
import type { Keys } from "../protocol/keys.ts";
import { type LimitOptions, setLimits } from "../protocol/type_limits.ts";
import type { Layout } from "../protocol/layout.ts";
import {
  type QueueOptions,
  type ResolvedQueueOptions,
  resolveQueueOptions,
} from "../protocol/options.ts";
import { submitTasks } from "../protocol/submit_group.ts";
import { type Submit, submitter } from "../protocol/submit_coalescer.ts";
import type { Schedule, ScheduleLastRun } from "../schedule/schedule.ts";
import {
  createSchedule,
  type CreateScheduleOptions,
  deleteSchedule,
  disableSchedule,
  enableSchedule,
  getSchedule,
  listSchedules,
  triggerSchedule,
} from "../schedule/operations.ts";
import { getScheduleLastRun } from "../schedule/last_run.ts";
import type { ObjectStore } from "../store/types.ts";
import type { SubmitOptions } from "../task/new_task.ts";
import { Task } from "../task/task.ts";

/**
 * A queue in one bucket (and key prefix). Create it with `connect()` for S3, or directly
 * over any {@link ObjectStore} (e.g. a `MemoryStore` in tests).
 *
 * @example
 * ```ts
 * import { MemoryStore, Queue } from "../../mod.ts";
 * const queue = new Queue(new MemoryStore());
 * const task = await queue.submit("send_email", { to: "a@b.c" }, { maxRetries: 5 });
 * console.log(task.id, task.status); // "2-01JD...", "pending"
 * ```
 */
export class Queue {
  /**
   * The queue's protocol layer: every request about its tasks, index entries, signals and
   * layout goes through it. Workers, monitors and schedulers take it from the queue they
   * are given.
   *
   * @internal
   */
  readonly context: QueueContext;
  readonly #submit: Submit;

  /** Create a queue over a store. Validates options; does no I/O. */
  constructor(store: ObjectStore, options: QueueOptions = {}) {
    this.context = new QueueContext(store, resolveQueueOptions(options));
    this.#submit = submitter(this.context);
  }

  /** The object store. */
  get store(): ObjectStore {
    return this.context.store;
  }

  /** Resolved options. */
  get options(): ResolvedQueueOptions {
    return this.context.options;
  }

  /**
   * Key builder for this queue's layout (the queue's own code and the CLI's).
   *
   * @internal
   */
  get keys(): Keys {
    return this.context.keys;
  }

  /**
   * The shard names producers submit to and workers poll (`"0"` .. `"N-1"`): the bucket's
   * layout once it has been read ({@link Queue.syncLayout}), the configured count before.
   */
  get shards(): readonly string[] {
    return this.context.layout.shards;
  }

  /** Shards that may hold task objects: the current ones and those a reshard retired. */
  get homeShards(): readonly string[] {
    return this.context.layout.homeShards;
  }

  /** The shard count ids derived from keys are computed with (fixed for the bucket's life). */
  get keyShardCount(): number {
    return this.context.layout.keyShardCount;
  }

  /** The bucket's layout as last read, `null` before {@link Queue.syncLayout}. */
  get layout(): Layout | null {
    return this.context.layout.layout;
  }

  /**
   * Read the bucket's layout (creating it when the bucket has none), or re-read it when
   * `layoutCheckIntervalMs` has passed (one conditional GET). Every producer, worker and
   * monitor calls this before it acts, so a reshard reaches them within that interval.
   * Throws a ConfigError when an explicitly configured shard count disagrees with the
   * bucket's at start-up.
   */
  syncLayout(options: { force?: boolean } = {}): Promise<Layout> {
    return this.context.syncLayout(options);
  }

  /** Requests this queue has sent for the layout (reads, re-checks, its creation). */
  get layoutRequests(): number {
    return this.context.layout.requests;
  }

  /** The store's time (the last response's `Date` plus elapsed time; a HeadBucket if none). */
  async now(): Promise<Date> {
    return new Date(await this.context.now());
  }

  /**
   * Submit a task: two PUTs (ready entry, then the task, create-only), plus a wake-up PUT
   * at most once per `signalCoalesceMs` per type. Calls made together share a ready entry:
   * k tasks, k + 1 PUTs (queue option `submitCoalescing`); one with an `idempotencyKey` goes
   * alone.
   */
  async submit(taskType: string, input: unknown, options: SubmitOptions = {}): Promise<Task> {
    return (await this.#submit(taskType, input, options)).task;
  }

  /**
   * Submit many tasks (up to 16 at a time). `shared` options apply to every task; each
   * entry's own options win. Returns the tasks in order. Fails on the first invalid entry
   * before writing anything.
   */
  async submitMany(
    entries: ReadonlyArray<readonly [string, unknown, SubmitOptions?]>,
    shared: SubmitOptions = {},
  ): Promise<Task[]> {
    return (await submitTasks(this.context, entries, shared)).map((s) => s.task);
  }

  /**
   * Read a task (one GET). `null` when it does not exist. An input or output stored beside
   * the task (over `inlinePayloadBytes`) is read too (one GET each, its SHA-256 checked; a
   * missing or corrupt one is a `PayloadError`), unless `payloads: false`: then `input` or
   * `output` is `null` and `inputRef` / `outputRef` say what is stored. A task being
   * deleted ({@link Queue.delete}) is `null` too.
   */
  async get(taskId: string, options: { payloads?: boolean } = {}): Promise<Task | null> {
    const v = await this.context.tasks.read(taskId);
    if (v === null || v.rec.deleting_at !== undefined) return null;
    if (options.payloads === false) return new Task(v.rec);
    return new Task(v.rec, await this.context.payloads.load(v.rec));
  }

  /** Tasks of a shard, filtered (archived ones only when asked for). Scans: see docs. */
  list(shard: string, options: ListTasksOptions = {}): Promise<Task[]> {
    return listTasks(this.context, shard, options);
  }

  /** Ids of a shard's tasks due now, from the ready index. */
  listReady(shard: string, options: { limit?: number; taskType?: string } = {}): Promise<string[]> {
    return listReady(this.context, shard, options);
  }

  /** Every version of a task, oldest first (from bucket versioning). */
  getHistory(taskId: string): Promise<Task[]> {
    return getHistory(this.context, taskId);
  }

  /** Counts per shard from the indexes. */
  stats(): Promise<QueueStats> {
    return stats(this.context);
  }

  /**
   * Cancel a task. Pending: it becomes `cancelled` and leaves the ready index. Running:
   * `cancel_requested` is set; the worker aborts the handler's `ctx.signal` when it next
   * checks (see WorkerRunOptions.cancelCheckIntervalMs) and records `cancelled` when the
   * handler returns. Finished tasks are left as they are (`skipped`, with the reason).
   */
  cancel(taskId: string, options: { reason?: string } = {}): Promise<CancelResult> {
    return cancelTask(this.context, taskId, options);
  }

  /**
   * Delete a finished task (completed, failed, cancelled, expired, archived), or with
   * `pending: true` a pending one, with its index entries, payloads and every history
   * version. Safe against a worker claiming it at that moment: the first write marks the
   * task (a compare-and-swap; a pending task is cancelled in it), so either the claim wins
   * and delete refuses the running task, or the mark wins and the task never runs. A crash
   * midway leaves the marked task, which `get` reports as not found and a re-run of delete
   * (or the monitor's sweep) removes. Throws a `RangeError` for a running task (cancel it
   * first) or a pending one without `pending`; `deleted: false` when there is no such task.
   * Costs, for a finished task without TTL or payloads: GET, PUT, 3 LIST, a DeleteObjects
   * for its history and a DELETE (docs/format.md, "Deleting a task").
   *
   * @example
   * ```ts
   * import { MemoryStore, Queue } from "../../mod.ts";
   * const queue = new Queue(new MemoryStore());
   * const task = await queue.submit("report", { day: "2026-12-06" });
   * const r = await queue.delete(task.id, { pending: true });
   * console.log(r.deleted, await queue.get(task.id)); // true null
   * ```
   */
  delete(taskId: string, options: DeleteTaskOptions = {}): Promise<DeleteTaskResult> {
    return deleteTask(this.context, taskId, options);
  }

  /** Cancel many tasks (see {@link Queue.cancel}); progress through `onProgress`. */
  cancelMany(ids: readonly string[], options: BulkCancelOptions = {}): Promise<BulkCancelResult> {
    return cancelMany(this.context, ids, options);
  }

  /** Cancel every pending task of a type (and running ones with `includeRunning`). */
  cancelByType(taskType: string, options: CancelByTypeOptions = {}): Promise<BulkCancelResult> {
    return cancelByType(this.context, taskType, options);
  }

  /**
   * Move a failed, cancelled or expired task back to pending, available now, with its
   * retry count reset. History keeps every earlier version.
   */
  retry(taskId: string): Promise<Task> {
    return retryTask(this.context, taskId);
  }

  /** Retry many tasks (see {@link Queue.retry}); the ones that cannot be retried are skipped with the reason. */
  retryMany(ids: readonly string[], options: BulkRetryOptions = {}): Promise<BulkRetryResult> {
    return retryMany(this.context, ids, options);
  }

  /** Retry every failed task of a type (found by a census of the task objects). */
  retryFailed(taskType: string, options: RetryFailedOptions = {}): Promise<BulkRetryResult> {
    return retryFailed(this.context, taskType, options);
  }

  /**
   * Pause a task type for every worker: no worker claims its tasks from its next wake-up
   * check on (`wakeCheckIntervalMs`, 2.5 s by default). Running tasks finish normally,
   * submitting still works, and the tasks wait, pending, until {@link Queue.resume}.
   * Idempotent. See docs/operations.md, "Pausing a task type".
   *
   * @example
   * ```ts
   * import { MemoryStore, Queue } from "../../mod.ts";
   * const queue = new Queue(new MemoryStore());
   * await queue.pause("send_email", { reason: "provider outage" });
   * await queue.isPaused("send_email"); // true
   * await queue.resume("send_email");
   * ```
   */
  pause(taskType: string, options: { reason?: string } = {}): Promise<SetPausedResult> {
    return setPaused(this.context, taskType, true, options);
  }

  /** Resume a paused task type: idle workers are woken at once through its signal. */
  resume(taskType: string): Promise<SetPausedResult> {
    return setPaused(this.context, taskType, false);
  }

  /** Whether a task type is paused (one GET). */
  async isPaused(taskType: string): Promise<boolean> {
    return (await getTypeControl(this.context, taskType)).paused;
  }

  /** Every paused task type, with the reason and when it was paused (one LIST, one GET each). */
  pausedTypes(): Promise<TypeControl[]> {
    return listTypeControls(this.context, (c) => c.paused);
  }

  /**
   * Limit a task type across every worker: `concurrency` (at most that many running at
   * once) and `ratePerSecond` or `ratePerMinute` (at most that many starts in any such
   * window). An absent field keeps that limit, `null` removes it. Workers apply it at their
   * next wake-up check (2.5 s by default); a crashed worker's share frees when its lease
   * ends. Types without limits cost nothing extra. See docs/format.md, "Concurrency limit".
   *
   * @example
   * ```ts
   * import { MemoryStore, Queue } from "../../mod.ts";
   * const queue = new Queue(new MemoryStore());
   * await queue.setLimit("call_api", { concurrency: 5, ratePerSecond: 10 });
   * (await queue.getControl("call_api")).concurrency; // 5
   * await queue.clearLimit("call_api");
   * ```
   */
  setLimit(taskType: string, limits: LimitOptions): Promise<SetPausedResult> {
    return setLimits(this.context, taskType, limits);
  }

  /** Remove every limit of a task type (its concurrency and rate limits). */
  clearLimit(taskType: string): Promise<SetPausedResult> {
    return setLimits(this.context, taskType, { concurrency: null, ratePerSecond: null });
  }

  /** A task type's flow control: paused or not, and its limits (one GET). */
  getControl(taskType: string): Promise<TypeControl> {
    return getTypeControl(this.context, taskType);
  }

  /** Every task type with a concurrency or rate limit (one LIST, one GET each). */
  limits(): Promise<TypeControl[]> {
    return listTypeControls(this.context, (c) => c.concurrency !== null || c.rateLimit !== null);
  }

  /**
   * Wait until a task has finished (completed, failed, cancelled, expired or archived) and
   * return it (check `task.status`). Rejects with a {@link WaitTimeoutError} after
   * `timeoutMs`, with the signal's reason when `signal` aborts, with a `RangeError` when the
   * task does not exist. One GET, then conditional GETs backing off from 250 ms to 5 s.
   */
  waitFor(taskId: string, options: WaitOptions = {}): Promise<Task> {
    return waitForTask(this.context, taskId, options);
  }

  /** Create a cron schedule; an existing id is a ScheduleExistsError unless `upsert` (docs/scheduling.md). */
  createSchedule(
    scheduleId: string,
    taskType: string,
    input: unknown,
    cron: string,
    options: CreateScheduleOptions = {},
  ): Promise<Schedule> {
    return createSchedule(this.context, scheduleId, taskType, input, cron, options);
  }

  /** Read a schedule (one GET); `null` when it does not exist. */
  getSchedule(scheduleId: string): Promise<Schedule | null> {
    return getSchedule(this.context, scheduleId);
  }

  /** Every schedule, by id (one LIST per 1000 plus one GET each). */
  listSchedules(): Promise<Schedule[]> {
    return listSchedules(this.context);
  }

  /** Delete a schedule and its last-run record; true when it existed. */
  deleteSchedule(scheduleId: string): Promise<boolean> {
    return deleteSchedule(this.context, scheduleId);
  }

  /** Enable a schedule from now on (missed runs are not replayed). */
  enableSchedule(scheduleId: string): Promise<Schedule> {
    return enableSchedule(this.context, scheduleId);
  }

  /** Disable a schedule: no run is submitted until it is enabled again. */
  disableSchedule(scheduleId: string): Promise<Schedule> {
    return disableSchedule(this.context, scheduleId);
  }

  /** Submit an extra run of a schedule now (the regular runs are not disturbed). */
  triggerSchedule(scheduleId: string): Promise<Task> {
    return triggerSchedule(this.context, scheduleId);
  }

  /** The last regular run of a schedule, or `null` before its first run. */
  getScheduleLastRun(scheduleId: string): Promise<ScheduleLastRun | null> {
    return getScheduleLastRun(this.context, scheduleId);
  }
}
