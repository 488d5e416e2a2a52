/**
 * The census's vocabulary: its states, entries, counts and pages, and the pure functions
 * that classify, filter and page entries (the class that keeps them current is in
 * census.ts).
 *
 * @module
 */

import type { TaskRecord, TaskStatus } from "../task/task.ts";

/**
 * What the census counts: the task statuses, with `pending` split into `ready` (due now)
 * and `scheduled` (due later: delayed tasks and retries waiting for their back-off).
 */
export type CensusState =
  | "ready"
  | "scheduled"
  | "running"
  | "completed"
  | "failed"
  | "cancelled"
  | "expired"
  | "archived";

/**
 * Every census state, in lifecycle order.
 *
 * @example
 * ```ts
 * import { CENSUS_STATES } from "../../mod.ts";
 * CENSUS_STATES.includes("scheduled"); // true: pending tasks due later count apart
 * ```
 */
export const CENSUS_STATES: readonly CensusState[] = [
  "ready",
  "scheduled",
  "running",
  "completed",
  "failed",
  "cancelled",
  "expired",
  "archived",
];

/** Longest `lastError` a census entry keeps (the task itself keeps all of it). */
const ERROR_CHARS = 300;

/** What the census keeps of one task: enough to count, filter and list it. */
export interface CensusEntry {
  /** Task id. */
  id: string;
  /** Lane (the task's `shard`). */
  shard: string;
  /** Task type. */
  taskType: string;
  /** Stored status. */
  status: TaskStatus;
  /** Submit time. */
  createdAt: Date;
  /** Time of the last write. */
  updatedAt: Date;
  /** Not claimable before this time. */
  availableAt: Date;
  /** Claims so far. */
  attempt: number;
  /** Retries so far. */
  retryCount: number;
  /** Retries allowed. */
  maxRetries: number;
  /** The latest attempt's error, cut to 300 characters. */
  lastError: string | null;
  /** A cancel was requested while it runs. */
  cancelRequested: boolean;
}

/** Tasks of one state, type and shard. */
export interface CensusCount {
  /** State. */
  state: CensusState;
  /** Task type. */
  taskType: string;
  /** Lane. */
  shard: string;
  /** Number of tasks. */
  count: number;
}

/** What one {@link TaskCensus.refresh} did. */
export interface CensusRefresh {
  /** Store time of the refresh (the counts' `ready` and `scheduled` are as of then). */
  at: Date;
  /** A full refresh (every task object listed), or a light one (the indexes only). */
  full: boolean;
  /** Store time of the last full refresh: finished tasks are counted as of then at least. */
  fullAt: Date;
  /** Task objects listed (full), or known (light). */
  objects: number;
  /** Task objects read (GET) by this refresh: new or changed since the previous one. */
  read: number;
  /** Task objects listed but not read yet (over `maxReadsPerRefresh`): not counted yet. */
  unread: number;
  /** Objects that are not valid tasks (reported once through the queue's `warn`). */
  invalid: number;
  /** LIST requests of this refresh (task objects when full, the two indexes when light). */
  lists: number;
}

/** Filter and page of {@link TaskCensus.list}. */
export interface CensusListOptions {
  /** Only this state (`pending` means `ready` or `scheduled`). */
  state?: CensusState | "pending";
  /** Only this task type. */
  taskType?: string;
  /** Only this lane. */
  shard?: string;
  /** Only ids starting with this. */
  idPrefix?: string;
  /** Continue after this cursor (a page's `next`). */
  cursor?: string;
  /** At most this many entries. @default 50 */
  limit?: number;
}

/** One page of {@link TaskCensus.list}. */
export interface CensusPage {
  /** Entries, newest first (by creation time, then id). */
  entries: CensusEntry[];
  /** Cursor of the next page; `null` on the last page. */
  next: string | null;
  /** Entries matching the filter, over all pages. */
  matched: number;
}

/** The census entry of a task record (its error cut to a short excerpt). */
export function entryOf(rec: TaskRecord): CensusEntry {
  const err = rec.last_error;
  return {
    id: rec.id,
    shard: rec.shard,
    taskType: rec.task_type,
    status: rec.status,
    createdAt: new Date(rec.created_at),
    updatedAt: new Date(rec.updated_at),
    availableAt: new Date(rec.available_at),
    attempt: rec.attempt,
    retryCount: rec.retry_count,
    maxRetries: rec.max_retries,
    lastError: err === null || err.length <= ERROR_CHARS ? err : `${err.slice(0, ERROR_CHARS)}…`,
    cancelRequested: rec.cancel_requested,
  };
}

/** The census state of an entry: pending splits into ready (due by `readyBy`) and scheduled. */
export function stateOf(e: CensusEntry, readyBy: number): CensusState {
  if (e.status !== "pending") return e.status;
  return e.availableAt.getTime() <= readyBy ? "ready" : "scheduled";
}

/** Whether an entry passes a listing's filters. */
export function matches(e: CensusEntry, o: CensusListOptions, readyBy: number): boolean {
  if (o.state !== undefined) {
    if (o.state === "pending" ? e.status !== "pending" : stateOf(e, readyBy) !== o.state) {
      return false;
    }
  }
  if (o.taskType !== undefined && e.taskType !== o.taskType) return false;
  if (o.shard !== undefined && e.shard !== o.shard) return false;
  return o.idPrefix === undefined || e.id.startsWith(o.idPrefix);
}

/** A listing cursor (a page's `next`): `{createdAt ms}:{id}`. */
export function parseCursor(cursor: string): { at: number; id: string } {
  const i = cursor.indexOf(":");
  const at = Number(cursor.slice(0, i));
  if (i < 1 || !Number.isFinite(at)) {
    throw new TypeError(`Invalid cursor ${JSON.stringify(cursor)}: pass a page's "next"`);
  }
  return { at, id: cursor.slice(i + 1) };
}

/** Newest first: an entry comes after the cursor when it is older, or as old with a smaller id. */
export function isAfter(e: CensusEntry, c: { at: number; id: string }): boolean {
  const t = e.createdAt.getTime();
  return t < c.at || (t === c.at && e.id < c.id);
}

/** Code-unit order of two strings. */
export function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
