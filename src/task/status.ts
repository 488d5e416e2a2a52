/**
 * The states of a task, as values and types (the transitions between them are in
 * transitions.ts).
 *
 * @module
 */

/**
 * The states of a task. Who moves a task out of each state:
 * - `pending`: a worker claims it (running); `cancel` (cancelled); the monitor or a worker
 *   when `expires_at` passed (expired).
 * - `running`: its worker records the outcome (completed, pending for a retry, failed, or
 *   cancelled after a cancel request); the monitor when the lease expired (pending or failed).
 * - `completed`, `failed` (the dead-letter state), `cancelled`, `expired`: terminal;
 *   `retry` moves failed, cancelled and expired tasks back to pending; retention archives them.
 * - `archived`: final.
 *
 * @example
 * ```ts
 * import { MemoryStore, Queue, TaskStatus } from "../../mod.ts";
 * const queue = new Queue(new MemoryStore());
 * const task = await queue.submit("email", {});
 * task.status === TaskStatus.Pending; // true
 * ```
 */
export const TaskStatus = {
  Pending: "pending",
  Running: "running",
  Completed: "completed",
  Failed: "failed",
  Cancelled: "cancelled",
  Expired: "expired",
  Archived: "archived",
} as const;

/** A task state: `"pending" | "running" | "completed" | "failed" | "cancelled" | "expired" | "archived"`. */
export type TaskStatus = typeof TaskStatus[keyof typeof TaskStatus];

/**
 * Every status, in lifecycle order.
 *
 * @example
 * ```ts
 * import { TASK_STATUSES } from "../../mod.ts";
 * TASK_STATUSES[0]; // "pending"
 * ```
 */
export const TASK_STATUSES: readonly TaskStatus[] = Object.values(TaskStatus);

/** Terminal states: nothing runs any more (retry and archive may still move them). */
export const TERMINAL_STATUSES: readonly TaskStatus[] = [
  "completed",
  "failed",
  "cancelled",
  "expired",
  "archived",
];
