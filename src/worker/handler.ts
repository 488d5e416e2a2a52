/**
 * The handler contract: what a task handler receives and how it steers the queue.
 *
 * @module
 */

import type { Task } from "../task/task.ts";
import { checkSeconds, MAX_DELAY_SECONDS } from "../base/limits.ts";

/**
 * Throw from a handler to retry the task with its retry policy. (Any other thrown error
 * is treated the same way; this class makes the intent explicit.)
 *
 * @example
 * ```ts
 * import { RetryableError } from "./handler.ts";
 * const handler = (input: { status: number }) => {
 *   if (input.status === 503) throw new RetryableError("upstream answered 503");
 *   return { delivered: true };
 * };
 * handler({ status: 200 });
 * ```
 */
export class RetryableError extends Error {
  /** Create a retryable error. */
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "RetryableError";
  }
}

/**
 * Throw from a handler to fail the task at once, whatever retries are left: it goes to
 * `failed`, the dead-letter state, with this message as `last_error`.
 *
 * @example
 * ```ts
 * import { PermanentError } from "./handler.ts";
 * const handler = (input: { to: string }) => {
 *   if (!input.to.includes("@")) throw new PermanentError("invalid address");
 *   return { sent: input.to };
 * };
 * handler({ to: "a@b.c" });
 * ```
 */
export class PermanentError extends Error {
  /** Create a permanent error. */
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "PermanentError";
  }
}

/**
 * Throw from a handler (or call `ctx.snooze(seconds)`) to put the task back to pending for
 * `seconds`, without counting a failed attempt: for work that is not ready yet (a rate
 * limit, a resource still being prepared). A task may be snoozed at most `maxSnoozes`
 * times (submit option, default 100); beyond that the attempt fails for good.
 *
 * @example
 * ```ts
 * import { SnoozeError } from "./handler.ts";
 * const handler = (input: { ready: boolean }) => {
 *   if (!input.ready) throw new SnoozeError(60); // look again in a minute
 *   return { done: true };
 * };
 * handler({ ready: true });
 * ```
 */
export class SnoozeError extends Error {
  /** Delay before the task is claimable again, in seconds (>= 0). */
  readonly seconds: number;

  /** Create a snooze request; `RangeError` unless `seconds` is a number from 0 to 100 years. */
  constructor(seconds: number, message?: string) {
    super(message ?? `snoozed for ${seconds}s`);
    this.name = "SnoozeError";
    this.seconds = checkSeconds("snooze seconds", seconds, MAX_DELAY_SECONDS, true);
  }
}

/**
 * Why a handler's `ctx.signal` was aborted (its `reason`).
 *
 * @example
 * ```ts
 * import { MemoryStore, Queue, TaskAbortedError, Worker } from "../../mod.ts";
 * const worker = new Worker(new Queue(new MemoryStore()), "w1");
 * worker.task("crawl", async (_input, ctx) => {
 *   ctx.signal.addEventListener("abort", () => {
 *     const why = ctx.signal.reason;
 *     if (why instanceof TaskAbortedError) console.log(`stopping: ${why.kind}`); // "timeout", ...
 *   });
 * });
 * ```
 */
export class TaskAbortedError extends Error {
  /** `timeout`, `cancelled` (cancel requested), `lease_lost` or `shutdown`. */
  readonly kind: "timeout" | "cancelled" | "lease_lost" | "shutdown";

  /** Create the abort reason. */
  constructor(kind: TaskAbortedError["kind"], message: string) {
    super(message);
    this.name = "TaskAbortedError";
    this.kind = kind;
  }
}

/** What a handler receives besides the input. */
export interface TaskContext {
  /** Aborted on timeout, cancellation request, lease loss or worker shutdown; `reason` is a {@link TaskAbortedError}. */
  readonly signal: AbortSignal;
  /** The task as claimed (status `running`). */
  readonly task: Task;
  /** Attempt number, 1 for the first run. */
  readonly attempt: number;
  /** The worker running it. */
  readonly workerId: string;
  /** True once a cancellation was requested (the signal is aborted too). */
  isCancellationRequested(): boolean;
  /**
   * Push the lease and the timeout to now + `seconds` (for long tasks). Costs two PUTs.
   * Throws when the lease is already lost.
   */
  extendLease(seconds: number): Promise<void>;
  /**
   * Record the task's progress (a number, or any JSON value up to 4 KiB) so `queue.get`,
   * `oq get`, `oq tail` and the console show it. Writes are coalesced: at most one PUT per
   * `progressIntervalMs` (default 5 s) per task, and the last value is written with the
   * outcome. Throws a `TypeError`/`RangeError` at once for a value that cannot be stored.
   */
  progress(value: unknown): void;
  /** Put the task back to pending for `seconds` without a failed attempt: throws a {@link SnoozeError}. */
  snooze(seconds: number): never;
}

/**
 * A task handler: gets the input, returns the output (JSON-serializable) or throws. An
 * output JSON cannot encode (a BigInt, a cycle) or over the queue's `maxOutputBytes` fails
 * the task at once, without a retry (it would be returned again), with the reason as its error.
 */
export type Handler<I = unknown, O = unknown> = (input: I, ctx: TaskContext) => O | Promise<O>;

/** Turn anything thrown into an Error (handlers may throw strings or objects). */
export function coerceError(e: unknown): Error {
  if (e instanceof Error) return e;
  try {
    return new Error(typeof e === "string" ? e : JSON.stringify(e));
  } catch {
    return new Error(String(e));
  }
}
