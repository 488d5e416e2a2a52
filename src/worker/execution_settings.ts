/**
 * What the execution of a claimed task (src/worker/execution.ts) needs from its worker.
 *
 * @module
 */

import type { EntryRef } from "../protocol/tasks.ts";

/** Settings of an execution. */
export interface ExecutionSettings {
  /** Worker id. */
  workerId: string;
  /** Extra lease time beyond the timeout. */
  leaseGraceMs: number;
  /** Interval of the running task's cancel/lease check (conditional GET). */
  cancelCheckIntervalMs: number;
  /** Wait this long for a handler after aborting it on timeout before recording the timeout. */
  abortGraceMs: number;
  /** At most one progress write per this interval. @default 5000 */
  progressIntervalMs?: number;
  /**
   * Give up the entry covering the attempt's lease once it is not needed (default: delete
   * it; the worker's lease groups keep a group's entry until its last task ends).
   */
  releaseLease?: (lease: EntryRef, taskId: string) => Promise<void>;
  /**
   * A lease indexed by the task's ready entry (`lease_index: "ready"`) gets its own lease
   * entry once the attempt has run this long, and the ready entry goes. @default 10000
   */
  leaseEntryAfterMs?: number;
  /** The attempt wrote its lease entry after `leaseEntryAfterMs` (the embedded monitor is told). */
  leaseEntryWritten?: () => void;
  /** Asked just before the handler runs (limiter.ts); false: give the task back unstarted. */
  beforeStart?: () => Promise<boolean>;
}
