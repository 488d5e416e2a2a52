/**
 * What the console's buttons and its JSON API do. Each action is the library's own
 * operation on the console's queue (`queue.cancel`, `queue.retry`, `queue.retryFailed`,
 * `queue.cancelByType`, `queue.triggerSchedule`, `enableSchedule`, `disableSchedule`);
 * nothing here changes a task or a schedule by itself. Bulk actions run in the background
 * as jobs whose progress pages and the API report.
 *
 * @module
 */

import { StoreError } from "../base/errors.ts";
import type { Queue } from "../queue/queue.ts";
import type { CancelResult } from "../queue/state_changes.ts";
import type { SetPausedResult } from "../protocol/flow.ts";
import type { Schedule } from "../schedule/schedule.ts";
import type { Task } from "../task/task.ts";
import { validateName } from "../task/names.ts";
import { randomHex } from "./security.ts";
import type { SnapshotCache } from "./snapshot.ts";

/** A bulk action running in the background. */
export interface Job {
  /** Job id (random). */
  id: string;
  /** What it does. */
  kind: "retry-failed" | "cancel-type";
  /** The task type it works on. */
  taskType: string;
  /** `running`, then `done` or `failed` (`error` says why). */
  state: "running" | "done" | "failed";
  /** Tasks to handle (known once they are found; 0 before). */
  total: number;
  /** Tasks handled so far. */
  done: number;
  /** Tasks changed: retried, or cancelled (pending) plus cancel requested (running). */
  changed: number;
  /** Tasks left unchanged. */
  skipped: number;
  /** The first 100 skipped tasks with the reason. */
  skippedTasks: Array<{ taskId: string; reason: string }>;
  /** Why it failed. */
  error: string | null;
  /** Store time it started. */
  startedAt: Date;
  /** Store time it ended. */
  finishedAt: Date | null;
}

/** HTTP statuses of {@link ActionError}. */
export type ActionStatus = 400 | 404 | 409 | 500 | 503;

/** An action refused or failed, with the HTTP status that says which. */
export class ActionError extends Error {
  /** HTTP status: 400 bad input, 404 not found, 409 wrong state, 503 store unreachable, 500 other. */
  readonly status: ActionStatus;
  /** Make one. */
  constructor(status: ActionStatus, message: string) {
    super(message);
    this.name = "ActionError";
    this.status = status;
  }
}

/** Jobs kept after they end (the oldest finished ones are forgotten first). */
const MAX_JOBS = 50;

/** The actions of one console. */
export class Actions {
  readonly #queue: Queue;
  readonly #cache: SnapshotCache;
  readonly #describe: (e: unknown) => string;
  readonly #jobs = new Map<string, Job>();

  /** Actions on the console's queue; `describe` turns an error into a message without secrets. */
  constructor(queue: Queue, cache: SnapshotCache, describe: (e: unknown) => string) {
    this.#queue = queue;
    this.#cache = cache;
    this.#describe = describe;
  }

  async #run<T>(taskId: string | null, op: () => Promise<T>): Promise<T> {
    try {
      // As every oq process does before it acts: the bucket's layout (one GET a minute).
      await this.#queue.syncLayout();
      return await op();
    } catch (e) {
      throw this.#asActionError(e);
    } finally {
      if (taskId !== null) this.#cache.forget(taskId);
      this.#cache.invalidate();
    }
  }

  #asActionError(e: unknown): ActionError {
    if (e instanceof ActionError) return e;
    const message = this.#describe(e);
    if (e instanceof TypeError) return new ActionError(400, message);
    if (e instanceof RangeError) {
      return new ActionError(/not found/.test(message) ? 404 : 409, message);
    }
    return new ActionError(e instanceof StoreError ? 503 : 500, message);
  }

  /** Cancel a task (`queue.cancel`): pending ones at once, running ones by request. */
  cancel(taskId: string, reason?: string): Promise<CancelResult> {
    return this.#run(taskId, async () => {
      const r = await this.#queue.cancel(taskId, { reason: reason || undefined });
      if (r.outcome === "skipped") {
        throw new ActionError(
          r.reason === "task not found" ? 404 : 409,
          `Not cancelled: ${r.reason}`,
        );
      }
      return r;
    });
  }

  /** Retry a failed, cancelled or expired task (`queue.retry`). */
  retry(taskId: string): Promise<Task> {
    return this.#run(taskId, () => this.#queue.retry(taskId));
  }

  /** Submit a run of a schedule now (`queue.triggerSchedule`). */
  triggerSchedule(scheduleId: string): Promise<Task> {
    return this.#run(null, () => this.#queue.triggerSchedule(scheduleId));
  }

  /** Enable or disable a schedule (`queue.enableSchedule` / `disableSchedule`). */
  setScheduleEnabled(scheduleId: string, enabled: boolean): Promise<Schedule> {
    return this.#run(
      null,
      () =>
        enabled ? this.#queue.enableSchedule(scheduleId) : this.#queue.disableSchedule(scheduleId),
    );
  }

  /** Pause or resume a task type for every worker (`queue.pause` / `queue.resume`). */
  setPaused(taskType: string, paused: boolean, reason?: string): Promise<SetPausedResult> {
    return this.#run(
      null,
      () =>
        paused
          ? this.#queue.pause(taskType, { reason: reason || undefined })
          : this.#queue.resume(taskType),
    );
  }

  /** Start retrying every failed task of a type (`queue.retryFailed`, with the console's census). */
  retryFailed(taskType: string): Job {
    return this.#start("retry-failed", taskType, async (job) => {
      const r = await this.#queue.retryFailed(taskType, {
        census: this.#cache.census,
        onProgress: (p) => Object.assign(job, { total: p.total, done: p.done }),
      });
      job.changed = r.retried.length;
      return r.skipped;
    });
  }

  /** Start cancelling every pending task of a type, and running ones with `includeRunning` (`queue.cancelByType`). */
  cancelByType(taskType: string, includeRunning: boolean): Job {
    return this.#start("cancel-type", taskType, async (job) => {
      job.total = this.#cache.census.list({ state: "pending", taskType }).matched +
        (includeRunning ? this.#cache.census.list({ state: "running", taskType }).matched : 0);
      const r = await this.#queue.cancelByType(taskType, {
        includeRunning,
        reason: "cancelled from the console",
        onProgress: (p) => {
          job.done = p.done;
          job.total = Math.max(job.total, p.done);
        },
      });
      job.changed = r.cancelled.length + r.requested.length;
      return r.skipped;
    });
  }

  #start(
    kind: Job["kind"],
    taskType: string,
    work: (job: Job) => Promise<Array<{ taskId: string; reason: string }>>,
  ): Job {
    try {
      validateName("task type", taskType);
    } catch (e) {
      throw this.#asActionError(e);
    }
    const job: Job = {
      id: randomHex(8),
      kind,
      taskType,
      state: "running",
      total: 0,
      done: 0,
      changed: 0,
      skipped: 0,
      skippedTasks: [],
      error: null,
      startedAt: new Date(this.#queue.store.now()),
      finishedAt: null,
    };
    this.#jobs.set(job.id, job);
    this.#trim();
    void work(job).then((skipped) => {
      job.skipped = skipped.length;
      job.skippedTasks = skipped.slice(0, 100);
      job.done = job.changed + job.skipped;
      job.total = Math.max(job.total, job.done);
      job.state = "done";
    }, (e) => {
      job.state = "failed";
      job.error = this.#describe(e);
    }).finally(() => {
      job.finishedAt = new Date(this.#queue.store.now());
      this.#cache.invalidate();
    });
    return job;
  }

  #trim(): void {
    for (const [id, j] of this.#jobs) {
      if (this.#jobs.size <= MAX_JOBS) break;
      if (j.state !== "running") this.#jobs.delete(id);
    }
  }

  /** A job by id; `undefined` when unknown (or forgotten, or started by another instance). */
  job(id: string): Job | undefined {
    return this.#jobs.get(id);
  }

  /** Jobs still running. */
  running(): Job[] {
    return [...this.#jobs.values()].filter((j) => j.state === "running");
  }
}
