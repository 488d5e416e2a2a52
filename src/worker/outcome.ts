/**
 * How an attempt ended (the handler's outcome) and what the worker finally wrote for it.
 *
 * @module
 */

import { withOutputRef } from "../protocol/payloads.ts";
import { PayloadError, type PayloadRef } from "../task/payload_ref.ts";
import { coerceError, PermanentError, SnoozeError, TaskAbortedError } from "./handler.ts";
import type { Task, TaskRecord } from "../task/task.ts";
import * as transitions from "../task/transitions.ts";
import type { Emitter } from "../base/events.ts";
import type { WorkerEvents } from "./options.ts";

/**
 * How an attempt ended, as far as the worker is concerned. A failure's `failure` is the
 * kind recorded in the task's `errors` (`permanent` dead-letters at once).
 */
export type Outcome =
  | { kind: "completed"; output: unknown; outputRef?: PayloadRef }
  | { kind: "failed"; error: Error; failure: "retryable" | "permanent" | "timeout" | "cancelled" }
  /** Given back; `unstarted`: the handler never ran, so the attempt is not spent. */
  | { kind: "released"; unstarted?: boolean }
  | { kind: "snoozed"; seconds: number };

/** What was finally written for the attempt. */
export type Recorded =
  | {
    kind: "completed" | "retried" | "failed" | "cancelled" | "released" | "snoozed";
    task: Task;
    error?: Error;
    retryAt?: Date;
  }
  | { kind: "lost"; taskId: string; reason: string };

/** The transition that records `outcome` on the attempt `ref` of `rec`. */
export function transitionFor(
  outcome: Outcome,
  rec: TaskRecord,
  now: number,
  ref: transitions.AttemptRef,
): transitions.Transition {
  return outcome.kind === "completed"
    ? withOutputRef(transitions.complete(rec, now, ref, outcome.output), outcome.outputRef)
    : outcome.kind === "released"
    ? (outcome.unstarted ? transitions.unclaim : transitions.release)(rec, now, ref)
    : outcome.kind === "snoozed"
    ? transitions.snooze(rec, now, ref, outcome.seconds * 1000)
    : transitions.failAttempt(rec, now, ref, {
      message: outcome.error.message || outcome.error.name,
      kind: outcome.failure,
      permanent: outcome.failure === "permanent",
    });
}

/** What was recorded, from the state the outcome's write left the task in. */
export function recordedOf(outcome: Outcome, task: Task): Recorded {
  const error = outcome.kind === "failed" ? outcome.error : undefined;
  switch (task.status) {
    case "completed":
      return { kind: "completed", task };
    case "cancelled":
      return { kind: "cancelled", task, error };
    case "failed":
      return { kind: "failed", task, error };
    default:
      return outcome.kind === "released"
        ? { kind: "released", task }
        : outcome.kind === "snoozed"
        ? { kind: "snoozed", task, retryAt: task.availableAt }
        : { kind: "retried", task, error, retryAt: task.availableAt };
  }
}

/**
 * The outcome of a handler that threw `e`, its signal's abort `reason` known.
 *
 * - A shutdown gives the task back. A timeout or a cancel request, once the signal was
 *   aborted for it, is why the attempt ended, whatever the handler threw: an `--exec`
 *   command killed on a cancel is a cancellation, not a timeout.
 * - `SnoozeError` snoozes the task.
 * - `PermanentError` fails it at once. So does a `PayloadError` of the task's own input
 *   (`ownInputKey`: raw bytes the handler streamed), since reading again gives the same bytes.
 * - Anything else is retryable.
 */
export function handlerFailure(e: unknown, reason: unknown, ownInputKey?: string): Outcome {
  if (reason instanceof TaskAbortedError) {
    if (reason.kind === "shutdown") return { kind: "released" };
    if (reason.kind === "timeout" || reason.kind === "cancelled") {
      return { kind: "failed", error: reason, failure: reason.kind };
    }
  }
  if (e instanceof SnoozeError) return { kind: "snoozed", seconds: e.seconds };
  const error = coerceError(e);
  const ownInput = error instanceof PayloadError && ownInputKey !== undefined &&
    error.key === ownInputKey;
  return {
    kind: "failed",
    error,
    failure: error instanceof PermanentError || ownInput ? "permanent" : "retryable",
  };
}

/** Emit the worker event of an attempt's recorded outcome (`durationMs`: claim to outcome). */
export function emitRecorded(events: Emitter<WorkerEvents>, r: Recorded, durationMs: number): void {
  if (r.kind === "lost") {
    return void events.emit("task:lost", { taskId: r.taskId, reason: r.reason });
  }
  const { task } = r;
  switch (r.kind) {
    case "completed":
      return void events.emit("task:completed", { task, durationMs });
    case "retried":
      return void events.emit("task:retried", { task, error: r.error!, retryAt: r.retryAt! });
    case "failed":
      return void events.emit("task:failed", {
        task,
        error: r.error ?? new Error(task.lastError ?? "failed"),
      });
    case "cancelled":
      return void events.emit("task:cancelled", { task });
    case "released":
      return void events.emit("task:released", { task });
    case "snoozed":
      return void events.emit("task:snoozed", { task, until: r.retryAt! });
  }
}
