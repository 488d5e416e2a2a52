/**
 * Task priorities: an integer level from -9 (lowest) to 9 (highest), 0 by default. A level
 * is worth {@link PRIORITY_STEP_MS} (one hour) of waiting: the ready entry of a task of
 * level `p` that became available at `t` sorts as if it had become available at
 * `t - p hours`. Workers list a lane oldest-first and claim in that order, so a task of a
 * higher level goes first unless a lower one has waited longer than the difference in
 * levels is worth. That ordering is the aging that keeps low levels from starving: a task
 * of level -9 waits at most 18 hours behind a stream of level-9 work, then goes first.
 *
 * The level costs no request: it is in the ready entry's key, which a worker lists anyway
 * (docs/format.md, "Priorities").
 *
 * @module
 */

import { MAX_TIME_MS } from "../base/limits.ts";

/** Lowest priority level. */
export const MIN_PRIORITY = -9;
/** Highest priority level. */
export const MAX_PRIORITY = 9;
/** What one level is worth in waiting time (ms): an hour. */
export const PRIORITY_STEP_MS = 3_600_000;
/** The largest shift of a sort time from the due time, either way (ms). */
export const MAX_PRIORITY_SHIFT_MS = MAX_PRIORITY * PRIORITY_STEP_MS;

/** Check a `priority` submit option; `RangeError` naming it otherwise. */
export function checkPriority(value: unknown): number {
  if (
    typeof value !== "number" || !Number.isInteger(value) || value < MIN_PRIORITY ||
    value > MAX_PRIORITY
  ) {
    throw new RangeError(
      `Invalid priority: ${
        JSON.stringify(value)
      } (an integer from ${MIN_PRIORITY} to ${MAX_PRIORITY}; higher runs first, 0 is the default)`,
    );
  }
  return value;
}

/**
 * The time a ready entry sorts by: the due time moved earlier by the level's worth
 * (clamped to the stamps a key can hold).
 */
export function sortTime(dueAt: number, priority: number): number {
  return Math.min(Math.max(dueAt - priority * PRIORITY_STEP_MS, 0), MAX_TIME_MS);
}

/** The due time back from a sort time and a level (inverse of {@link sortTime} inside the clamp). */
export function dueTime(sortAt: number, priority: number): number {
  return sortAt + priority * PRIORITY_STEP_MS;
}
