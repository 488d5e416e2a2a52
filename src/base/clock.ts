/**
 * The clock of a process: what time it is, and timers that fire after a delay. One clock
 * per queue, injected (queue option `clock`): every deadline a worker, monitor or scheduler
 * keeps (task timeouts, leases, stop deadlines, loop waits, schedules) reads it, so tests
 * drive every loop with a fake clock instead of sleeping. By default the time is the
 * store's (the HTTP `Date` of its responses: spec invariant 6) and the timers are real.
 *
 * @module
 */

import { type LongTimeout, setLongTimeout } from "./timer.ts";

/** Time and timers. */
export interface Clock {
  /** The current time in ms since the epoch. */
  now(): number;
  /**
   * Call `fn` once after `ms` milliseconds (any length). `unref`: the timer alone does not
   * keep the process alive.
   */
  setTimer(fn: () => void, ms: number, options?: { unref?: boolean }): LongTimeout;
}

/**
 * A clock that reads the time from `now` (e.g. the store's) and runs real timers.
 *
 * @example
 * ```ts
 * import { clockOf } from "./clock.ts";
 * const clock = clockOf(() => Date.now());
 * const t = clock.setTimer(() => console.log("a second later"), 1000, { unref: true });
 * t.cancel();
 * ```
 */
export function clockOf(now: () => number): Clock {
  return {
    now,
    setTimer: (fn, ms, options) => setLongTimeout(fn, ms, { unref: options?.unref }),
  };
}

/** Wait `ms` on a clock (resolves at once for 0 or less). */
export function sleepOn(clock: Clock, ms: number): Promise<void> {
  if (!(ms > 0)) return Promise.resolve();
  return new Promise((resolve) => clock.setTimer(resolve, ms));
}
