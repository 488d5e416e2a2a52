/**
 * The task state machine as data: for each operation, the states it applies to and the
 * states it may lead to from each. The transition functions (src/task/transitions.ts)
 * consult it before anything else ({@link refusal}) and check every write against it
 * ({@link checkTransition}), so the code cannot drift from it; tests/transition_table.test.ts
 * walks every (state, operation) pair; docs/format.md's table is rendered from it and
 * checked by the gate (scripts/check_transitions.ts).
 *
 * Where an operation has several next states, the record decides: a cancel request, the
 * retries left, the snooze limit (see each function).
 *
 * @module
 */

import { TASK_STATUSES, type TaskStatus } from "./task.ts";

/** One operation's rule. */
export interface OperationRule {
  /** The states the operation applies to, each with the states it may lead to. */
  readonly from: Readonly<Partial<Record<TaskStatus, readonly TaskStatus[]>>>;
  /** Why it does not apply to a task in `status` (a state not in `from`). */
  readonly refuse: (status: TaskStatus) => string;
  /** Who performs it and when, for docs/format.md (per state where it differs). */
  readonly by: string | Readonly<Partial<Record<TaskStatus, string>>>;
}

const notRunning = (s: TaskStatus) => `task is ${s}, not running`;
const MARK = "`delete` marks it (`deleting_at`): gone for every reader, and no operation applies " +
  "any more; then every object of the task is removed";

/** The transition table: operation → state → possible next states. */
export const TRANSITIONS = {
  claim: {
    from: { pending: ["running"] },
    refuse: (s) => `task is ${s}`,
    by: "a worker, once `available_at` has come and before `expires_at`",
  },
  complete: {
    from: { running: ["completed", "cancelled"] },
    refuse: notRunning,
    by: "its worker, with the output; `cancelled` when a cancel was requested meanwhile",
  },
  failAttempt: {
    from: { running: ["pending", "failed", "cancelled"] },
    refuse: notRunning,
    by: "its worker on a failure or timeout: `pending` with back-off while retries are left, " +
      "`failed` on `PermanentError`, an output the task cannot hold, or retries exhausted; " +
      "`cancelled` after a cancel request",
  },
  recoverLease: {
    from: { running: ["pending", "failed", "cancelled"] },
    refuse: (s) => `task is ${s}`,
    by: "the monitor when the lease expired (the worker crashed, hung or overran its timeout): " +
      "as `failAttempt`",
  },
  extendLease: {
    from: { running: ["running"] },
    refuse: notRunning,
    by: "its worker (`ctx.extendLease`): the lease moves",
  },
  release: {
    from: { running: ["pending", "cancelled"] },
    refuse: notRunning,
    by: "its worker at shutdown: available at once, not a failure; `cancelled` after a " +
      "cancel request",
  },
  setProgress: {
    from: { running: ["running"] },
    refuse: notRunning,
    by: "its worker records `ctx.progress` (coalesced)",
  },
  snooze: {
    from: { running: ["pending", "failed", "cancelled"] },
    refuse: notRunning,
    by: "its worker on a snooze: no failed attempt; `failed` beyond `max_snoozes`; " +
      "`cancelled` after a cancel request",
  },
  cancel: {
    from: { pending: ["cancelled"], running: ["running"] },
    refuse: (s) => `task is already ${s}`,
    by: {
      pending: "`cancel`, at once",
      running: "`cancel` sets `cancel_requested`; its worker then ends the task (as `cancelled`)",
    },
  },
  expire: {
    from: { pending: ["expired"] },
    refuse: (s) => `task is ${s}`,
    by: "the monitor, or a worker that meets it, after `expires_at`",
  },
  retry: {
    from: { failed: ["pending"], cancelled: ["pending"], expired: ["pending"] },
    refuse: (s) => `only failed, cancelled or expired tasks can be retried (task is ${s})`,
    by: "`retry`: available at once, retry count reset",
  },
  archive: {
    from: {
      completed: ["archived"],
      failed: ["archived"],
      cancelled: ["archived"],
      expired: ["archived"],
    },
    refuse: (s) => `only finished tasks can be archived (task is ${s})`,
    by: "retention",
  },
  moveLane: {
    from: { pending: ["pending"], running: ["running"] },
    refuse: (s) => `only pending and running tasks have index entries (task is ${s})`,
    by: "a reshard moves the task's index entry to another lane; nothing else changes",
  },
  leaveBatch: {
    from: { pending: ["pending"] },
    refuse: (s) => `only a pending task waits under a batch entry (task is ${s})`,
    by: "the sweep gives a task whose batch entry is missing its own ready entry",
  },
  markDeleting: {
    from: {
      pending: ["cancelled"],
      completed: ["completed"],
      failed: ["failed"],
      cancelled: ["cancelled"],
      expired: ["expired"],
      archived: ["archived"],
    },
    refuse: () => "task is running; cancel it and delete it once it has finished",
    by: {
      pending: "`delete` with `pending`: cancelled and marked (`deleting_at`) in one write; " +
        "then every object of the task is removed",
      completed: MARK,
      failed: MARK,
      cancelled: MARK,
      expired: MARK,
      archived: MARK,
    },
  },
} as const satisfies Record<string, OperationRule>;

/** An operation on a task record. */
export type Operation = keyof typeof TRANSITIONS;

/** Every operation, in the table's order. */
export const OPERATIONS: readonly Operation[] = Object.keys(TRANSITIONS) as Operation[];

/** The states `op` may lead to from `status`; empty when it does not apply. */
export function nextStates(op: Operation, status: TaskStatus): readonly TaskStatus[] {
  const rule: OperationRule = TRANSITIONS[op];
  return rule.from[status] ?? [];
}

/** Why `op` does not apply to a task in `status`, or `null` when the table allows it. */
export function refusal(op: Operation, status: TaskStatus): string | null {
  return nextStates(op, status).length > 0 ? null : TRANSITIONS[op].refuse(status);
}

/**
 * Throws when the table does not allow `op` to move a task from `from` to `to`: a write
 * the code is about to make that the table does not list is a bug, never stored.
 */
export function checkTransition(op: Operation, from: TaskStatus, to: TaskStatus): void {
  if (!nextStates(op, from).includes(to)) {
    throw new Error(`Transition table: ${op} may not move a ${from} task to ${to}`);
  }
}

/** The rows of docs/format.md's table: operation, from, to, by (pairs with equal next states merged). */
export function transitionRows(): string[][] {
  const rows: string[][] = [];
  for (const op of OPERATIONS) {
    const rule: OperationRule = TRANSITIONS[op];
    const groups = new Map<string, { from: TaskStatus[]; to: string; by: string }>();
    for (const s of TASK_STATUSES) {
      const to = nextStates(op, s).join(", ");
      if (to === "") continue;
      const by = typeof rule.by === "string" ? rule.by : rule.by[s] ?? "";
      const g = groups.get(`${to}|${by}`) ?? { from: [], to, by };
      g.from.push(s);
      groups.set(`${to}|${by}`, g);
    }
    for (const g of groups.values()) rows.push([`\`${op}\``, g.from.join(", "), g.to, g.by]);
  }
  return rows;
}
