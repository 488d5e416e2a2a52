/**
 * How an attempt ended (the handler's outcome) and what the worker finally wrote for it.
 *
 * @module
 */

import type { Task } from "../task/task.ts";

/**
 * How an attempt ended, as far as the worker is concerned. A failure's `failure` is the
 * kind recorded in the task's `errors` (`permanent` dead-letters at once).
 */
export type Outcome =
  | { kind: "completed"; output: unknown }
  | { kind: "failed"; error: Error; failure: "retryable" | "permanent" | "timeout" | "cancelled" }
  | { kind: "released" }
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
