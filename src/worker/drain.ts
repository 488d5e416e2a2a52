/**
 * Drain mode, for cron-triggered and serverless runs (a Cloudflare scheduled handler, a
 * Lambda invocation, a Kubernetes CronJob): claim and run tasks until none is due or the
 * time budget would be exceeded, let the running handlers finish inside the budget (or give
 * their tasks back, retry count unchanged), and return what happened.
 *
 * @module
 */

import type { Clock } from "../base/clock.ts";
import { checkMs } from "../base/limits.ts";
import type { HasContext } from "../protocol/context.ts";
import { Monitor } from "../monitor/monitor.ts";
import { WORKER_DEFAULTS, type WorkerEvents, type WorkerRunOptions } from "./options.ts";
import type { PollResult } from "./options.ts";
import { DEFAULT_POLL_SETTINGS } from "./poll_schedule.ts";

/** Options of `worker.runUntilIdle()`: the worker's run options plus the time budget. */
export interface DrainOptions extends Omit<WorkerRunOptions, "shutdownTimeoutMs"> {
  /**
   * The whole time budget of the run, in ms (e.g. a little under a platform's limit: 50000
   * for a 60 s function). Claiming stops `reserveMs` before its end; handlers still running
   * at `abortGraceMs` + 1 s before its end are aborted and their tasks released.
   * @default no limit: run until no task is due and every handler has finished
   */
  maxTimeMs?: number;
  /**
   * Stop claiming when less than this remains of `maxTimeMs`: the time a task claimed last
   * gets to finish. @default a fifth of `maxTimeMs`
   */
  reserveMs?: number;
}

/** Why {@link runUntilIdle} stopped claiming. */
export type DrainStopReason = "idle" | "budget";

/** What one drain run did (counts of this worker's tasks, by outcome). */
export interface DrainSummary {
  /** Tasks claimed and started. */
  claimed: number;
  /** Tasks completed. */
  completed: number;
  /** Attempts that failed and left the task waiting for a retry. */
  retried: number;
  /** Tasks that failed for good. */
  failed: number;
  /** Tasks that ended cancelled. */
  cancelled: number;
  /** Tasks given back at the end of the budget (pending again, retry count unchanged). */
  released: number;
  /** Tasks whose outcome could not be recorded (lease lost; the monitor retries them). */
  lost: number;
  /** Tasks of dead workers recovered by the run's monitor cycle (`withMonitor`). */
  recovered: number;
  /** Errors reported as `worker:error` during the run (poll, claim, monitor). */
  errors: number;
  /** Time the run took, in ms of the queue's clock. */
  elapsedMs: number;
  /** `"idle"`: no task was due; `"budget"`: claiming stopped because time ran short. */
  stoppedBecause: DrainStopReason;
}

/** What drain mode needs of a worker (the public API of `Worker`). */
export interface DrainableWorker {
  /** Apply options without starting the loop. */
  configure(options: WorkerRunOptions): unknown;
  /** One poll: claim up to the free slots and start the handlers. */
  pollOnce(): Promise<PollResult>;
  /** Ids of the tasks running now. */
  readonly inFlight: string[];
  /** Listen to an event. */
  on<K extends keyof WorkerEvents>(
    event: K,
    listener: (payload: WorkerEvents[K]) => void,
  ): () => void;
  /** Wait until every running handler has finished. */
  drain(): Promise<void>;
  /** Stop: let handlers finish within `timeoutMs`, then abort and release the rest. */
  stop(options?: { timeoutMs?: number }): Promise<void>;
}

// Time kept after aborting the last handlers to record their release (a GET and two PUTs).
const RELEASE_ALLOWANCE_MS = 1000;

const FINISH_EVENTS = [
  "task:completed",
  "task:retried",
  "task:failed",
  "task:cancelled",
  "task:released",
  "task:lost",
  "worker:error", // also when a handler's run failed outside the handler
] as const;

/**
 * Run `worker` in drain mode (see `Worker.runUntilIdle`, which calls this): one monitor
 * cycle (unless `withMonitor: false`), then polls that claim due tasks up to `concurrency`
 * until polls with a free slot claim nothing for a poll interval (`"idle"`) or `reserveMs` of
 * the budget is left (`"budget"`); then it waits for the running handlers, aborting and releasing those
 * still running shortly before the budget ends. Writes no heartbeat. Resolves with the
 * counts once nothing of the worker runs any more.
 */
export async function runUntilIdle(
  worker: DrainableWorker,
  queue: HasContext,
  options: DrainOptions = {},
): Promise<DrainSummary> {
  const clock: Clock = queue.context.clock;
  const started = clock.now();
  const summary: DrainSummary = {
    claimed: 0,
    completed: 0,
    retried: 0,
    failed: 0,
    cancelled: 0,
    released: 0,
    lost: 0,
    recovered: 0,
    errors: 0,
    elapsedMs: 0,
    stoppedBecause: "idle",
  };
  const offs = [
    worker.on("task:claimed", () => void summary.claimed++),
    worker.on("task:completed", () => void summary.completed++),
    worker.on("task:retried", () => void summary.retried++),
    worker.on("task:failed", () => void summary.failed++),
    worker.on("task:cancelled", () => void summary.cancelled++),
    worker.on("task:released", () => void summary.released++),
    worker.on("task:lost", () => void summary.lost++),
    worker.on("worker:error", () => void summary.errors++),
  ];
  let stopped = false;
  try {
    const { maxTimeMs, reserveMs, ...runOptions } = options;
    const budget = resolveBudget(maxTimeMs, reserveMs);
    worker.configure(runOptions);
    const concurrency = runOptions.concurrency ?? WORKER_DEFAULTS.concurrency;
    const abortGraceMs = runOptions.abortGraceMs ?? WORKER_DEFAULTS.abortGraceMs;
    const claimEnd = started + budget.maxTimeMs - budget.reserveMs;
    if (runOptions.withMonitor ?? WORKER_DEFAULTS.withMonitor) {
      // One lease-recovery cycle first: with only cron-started workers, nobody else
      // returns the tasks of a run that was killed mid-way. No sweep (that is `oq monitor`).
      summary.recovered = await new Monitor(queue, {}).runOnce({ sweep: false }).then(
        (r) => r.recovered,
        () => (summary.errors++, 0),
      );
    }
    // Idle takes two polls that find nothing, a poll interval (at least the store clock's
    // uncertainty) apart: a task submitted just now by a process whose clock runs a little
    // ahead (another isolate, another machine) is due by the second.
    const confirmMs = Math.max(
      runOptions.pollIntervalMs ?? DEFAULT_POLL_SETTINGS.pollIntervalMs,
      queue.context.store.clockUncertaintyMs(),
    );
    let emptySince: number | null = null;
    for (;;) {
      if (clock.now() >= claimEnd) {
        summary.stoppedBecause = "budget";
        break;
      }
      const r = await worker.pollOnce();
      if (r.claimed > 0) {
        emptySince = null;
        continue; // more may be due: poll again at once
      }
      if (worker.inFlight.length < concurrency) { // a free slot and nothing to claim
        emptySince ??= clock.now();
        if (clock.now() - emptySince >= confirmMs) break;
        await nextFinish(worker, clock, Math.min(claimEnd, emptySince + confirmMs));
        continue;
      }
      await nextFinish(worker, clock, claimEnd);
    }
    // Let the running handlers finish, up to the point where releasing them still fits.
    if (Number.isFinite(budget.maxTimeMs)) {
      const releaseAt = started + budget.maxTimeMs - abortGraceMs - RELEASE_ALLOWANCE_MS;
      stopped = true;
      await worker.stop({ timeoutMs: Math.max(0, releaseAt - clock.now()) });
    } else {
      await worker.drain();
    }
  } finally {
    if (!stopped) await worker.stop({ timeoutMs: 0 });
    for (const off of offs) off();
  }
  summary.elapsedMs = clock.now() - started;
  return summary;
}

function resolveBudget(
  maxTimeMs: number | undefined,
  reserveMs: number | undefined,
): { maxTimeMs: number; reserveMs: number } {
  if (maxTimeMs === undefined) {
    if (reserveMs !== undefined) throw new RangeError('Option "reserveMs" needs "maxTimeMs"');
    return { maxTimeMs: Number.POSITIVE_INFINITY, reserveMs: 0 };
  }
  checkMs("maxTimeMs", maxTimeMs);
  const reserve = reserveMs ?? Math.floor(maxTimeMs / 5);
  checkMs("reserveMs", reserve, true);
  if (reserve >= maxTimeMs) {
    throw new RangeError(
      `Option "reserveMs" (${reserve}) must be less than "maxTimeMs" (${maxTimeMs})`,
    );
  }
  return { maxTimeMs, reserveMs: reserve };
}

// Resolve once a handler of the worker has finished and left its slot, or at `until`.
function nextFinish(worker: DrainableWorker, clock: Clock, until: number): Promise<void> {
  return new Promise((resolve) => {
    let done = false;
    const offs: Array<() => void> = [];
    // Handler timers do not keep the process alive by themselves: this wait must.
    const keepAlive = setInterval(() => {}, 60_000);
    const finish = () => {
      if (done) return;
      done = true;
      timer?.cancel();
      clearInterval(keepAlive);
      for (const off of offs) off();
      // The slot is freed just after the outcome event: one macrotask later it is.
      setTimeout(resolve, 0);
    };
    const timer = Number.isFinite(until)
      ? clock.setTimer(finish, Math.max(0, until - clock.now()))
      : undefined;
    for (const event of FINISH_EVENTS) offs.push(worker.on(event, finish));
    // An outcome event may have fired before this wait began (while the caller awaited a
    // poll), with its slot freed a few microtasks later: look once all of those have run.
    const busy = worker.inFlight.length;
    setTimeout(() => {
      if (worker.inFlight.length < busy) finish();
    }, 0);
  });
}
