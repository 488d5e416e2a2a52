/**
 * Worker options (defaults in one place, validated before any I/O), events and results.
 *
 * @module
 */

import { checkMs, checkSeconds, MAX_INTERVAL_MS } from "../base/limits.ts";
import { DEFAULT_POLL_SETTINGS, type PollSettings } from "./poll_schedule.ts";
import type { Task } from "../task/task.ts";

/** Options of {@link Worker.run}. */
export interface WorkerRunOptions extends Partial<PollSettings> {
  /** Handlers running at once. @default 1 */
  concurrency?: number;
  /** Run a {@link Monitor} inside the worker. @default true */
  withMonitor?: boolean;
  /** Interval of the embedded monitor's lease checks while tasks run. @default 15 */
  monitorCheckIntervalS?: number;
  /** Lease time beyond a task's timeout before the monitor may recover it. @default 10 */
  leaseGraceSeconds?: number;
  /** Interval of a running task's cancellation check (one conditional GET). @default 5000 */
  cancelCheckIntervalMs?: number;
  /** Heartbeat interval while tasks run. @default 30000 */
  heartbeatIntervalMs?: number;
  /** Heartbeat interval while idle. @default 300000 */
  idleHeartbeatIntervalMs?: number;
  /** Keys per LIST of a lane. @default 100 */
  listLimit?: number;
  /**
   * How long candidates from one LIST are kept for the next free slots before the lane is
   * listed again (one LIST then feeds many claims). @default 2000
   */
  candidateTtlMs?: number;
  /** Time `stop()` waits for running handlers before giving their tasks back. @default 30000 */
  shutdownTimeoutMs?: number;
  /**
   * After a timeout, a lost lease or the end of `shutdownTimeoutMs`, how long a handler that
   * ignores its abort signal is waited for before the attempt is settled without it (the
   * timeout recorded, or the task given back). @default 1000
   */
  abortGraceMs?: number;
  /** At most one progress write (`ctx.progress`) per running task per this interval. @default 5000 */
  progressIntervalMs?: number;
  /**
   * A claim keeps the task's ready entry as the index of its lease instead of writing a
   * lease entry; an attempt still running after this long writes its lease entry then (one
   * PUT, so that the monitor recovers it if the worker dies). A task that ends sooner never
   * pays for one: one PUT less per task. 0: every claim writes its lease entry, or its lease
   * group's, first (docs/format.md, "Leases"). @default 10000
   */
  leaseEntryAfterMs?: number;
  /**
   * While its lanes are active, how often the worker counts the live workers of its task
   * types (one LIST of the heartbeats, and a GET per worker not seen before). Each of N
   * such workers lists a type's active lanes every `pollIntervalMs` x N (at most
   * `maxPollIntervalMs`; sooner after a listing that found several tasks), so together
   * they list about every `pollIntervalMs` whatever their number, and they share each batch
   * entry's tasks out among themselves (docs/format.md, "Shares"). 0: no count; every worker
   * lists at `pollIntervalMs`, and batches are not shared out (docs/polling.md).
   * @default 60000
   */
  peerCheckIntervalMs?: number;
}

/** Events of a worker. */
export interface WorkerEvents extends Record<string, unknown> {
  /** A task was claimed and its handler starts. */
  "task:claimed": { task: Task };
  /** The handler returned and the output is stored. */
  "task:completed": { task: Task; durationMs: number };
  /** The attempt failed and the task waits for a retry at `retryAt`. */
  "task:retried": { task: Task; error: Error; retryAt: Date };
  /** The task failed for good (the dead-letter state). */
  "task:failed": { task: Task; error: Error };
  /** The task ended cancelled (a cancel was requested while it ran). */
  "task:cancelled": { task: Task };
  /** The handler snoozed the task (`SnoozeError`): pending again from `until`, no failure counted. */
  "task:snoozed": { task: Task; until: Date };
  /** The worker gave the task back at shutdown. */
  "task:released": { task: Task };
  /**
   * The outcome was not recorded: the lease was lost (timeout, monitor) before, or nothing
   * could be written (the store kept failing; the lease entry then stays, and the monitor
   * retries the task when its lease ends). `reason` says which.
   */
  "task:lost": { taskId: string; reason: string };
  /**
   * Something failed in the worker itself (poll, claim, unreadable task); it keeps running.
   * A bad object (a `SchemaError`) is reported once per worker, not at every meeting.
   */
  "worker:error": { error: Error; context: string };
}

/** Counts of one {@link Worker.pollOnce}. */
export interface PollResult {
  /** Lanes listed (LIST requests). */
  listed: number;
  /** Wake-up signal checks made (GETs). */
  wakeChecks: number;
  /** Tasks claimed and started. */
  claimed: number;
  /** Candidates skipped (lost races, stale entries, ...). */
  skipped: number;
}

/** Defaults of {@link WorkerRunOptions} (poll settings: {@link DEFAULT_POLL_SETTINGS}). */
export const WORKER_DEFAULTS = {
  concurrency: 1,
  withMonitor: true,
  monitorCheckIntervalS: 15,
  leaseGraceSeconds: 10,
  cancelCheckIntervalMs: 5000,
  heartbeatIntervalMs: 30_000,
  idleHeartbeatIntervalMs: 300_000,
  listLimit: 100,
  candidateTtlMs: 2000,
  shutdownTimeoutMs: 30_000,
  abortGraceMs: 1000,
  progressIntervalMs: 5000,
  leaseEntryAfterMs: 10_000,
  peerCheckIntervalMs: 60_000,
} as const;

/** Worker options after defaults. */
export type ResolvedWorkerOptions =
  & Required<Omit<WorkerRunOptions, keyof PollSettings>>
  & PollSettings;

/** Fill defaults and validate (intervals finite, at most 365 days); throws `RangeError` naming the option. */
export function resolveWorkerOptions(
  options: WorkerRunOptions,
  signalCoalesceMs: number,
): ResolvedWorkerOptions {
  const given = Object.fromEntries(Object.entries(options).filter(([, v]) => v !== undefined));
  const o = { ...WORKER_DEFAULTS, ...DEFAULT_POLL_SETTINGS, ...given } as ResolvedWorkerOptions;
  if (!Number.isInteger(o.concurrency) || o.concurrency < 1) {
    throw new RangeError(`Invalid concurrency: ${o.concurrency}`);
  }
  if (!(typeof o.listLimit === "number" && o.listLimit > 0)) {
    throw new RangeError(`Invalid listLimit: ${o.listLimit}`);
  }
  // Intervals: finite and at most 365 days (longer waits run on chained timers).
  const positive = [
    "pollIntervalMs",
    "maxPollIntervalMs",
    "idleAfterMs",
    "wakeCheckIntervalMs",
    "safetyPollIntervalMs",
    "cancelCheckIntervalMs",
    "heartbeatIntervalMs",
    "idleHeartbeatIntervalMs",
    "progressIntervalMs",
  ] as const;
  for (const k of positive) checkMs(k, o[k]);
  for (
    const k of [
      "candidateTtlMs",
      "shutdownTimeoutMs",
      "abortGraceMs",
      "leaseEntryAfterMs",
      "peerCheckIntervalMs",
    ] as const
  ) {
    checkMs(k, o[k], true);
  }
  checkSeconds("monitorCheckIntervalS", o.monitorCheckIntervalS, MAX_INTERVAL_MS / 1000);
  checkSeconds("leaseGraceSeconds", o.leaseGraceSeconds, MAX_INTERVAL_MS / 1000, true);
  if (o.idleAfterMs <= signalCoalesceMs + o.wakeCheckIntervalMs) {
    throw new RangeError(
      "idleAfterMs must exceed the queue's signalCoalesceMs plus wakeCheckIntervalMs, or wake-ups can be missed",
    );
  }
  return o;
}
