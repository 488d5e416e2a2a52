/**
 * Timers for every delay oq accepts. A `setTimeout` holds at most 2^31 - 1 ms (about 24.8
 * days) on every runtime: a longer delay fires at once (Node, Bun and Deno set it to 1 ms),
 * so a task timeout of 30 days would kill each attempt as it starts. A long delay here runs
 * as a chain of timers of at most that length.
 *
 * @module
 */

import { unrefTimer } from "../runtime/portable.ts";

/** The longest delay one `setTimeout` can hold (2^31 - 1 ms, about 24.8 days). */
export const MAX_TIMER_MS = 2 ** 31 - 1;

/** The timer functions a {@link setLongTimeout} runs on (the global ones unless tests inject others). */
export interface TimerFunctions {
  /** Start a timer of at most {@link MAX_TIMER_MS}; returns its handle. */
  set(fn: () => void, ms: number): unknown;
  /** Cancel a timer by its handle. */
  clear(handle: unknown): void;
}

const GLOBAL_TIMERS: TimerFunctions = {
  set: (fn, ms) => setTimeout(fn, ms),
  clear: (h) => clearTimeout(h as ReturnType<typeof setTimeout>),
};

/** Options of {@link setLongTimeout}. */
export interface LongTimeoutOptions {
  /** Do not keep the process alive for this timer alone. @default false */
  unref?: boolean;
  /** Timer functions to use. @default the global setTimeout and clearTimeout */
  timers?: TimerFunctions;
}

/** A running {@link setLongTimeout}. */
export interface LongTimeout {
  /** Cancel it (a no-op once it has fired). */
  cancel(): void;
}

/**
 * Call `fn` once after `ms` milliseconds, however long that is: a delay over
 * {@link MAX_TIMER_MS} runs as a chain of shorter timers. `Infinity` never fires; a
 * negative or NaN delay fires at the next turn.
 *
 * @example
 * ```ts
 * import { setLongTimeout } from "./timer.ts";
 * const t = setLongTimeout(() => console.log("30 days later"), 30 * 86_400_000, { unref: true });
 * t.cancel();
 * ```
 */
export function setLongTimeout(
  fn: () => void,
  ms: number,
  options: LongTimeoutOptions = {},
): LongTimeout {
  const timers = options.timers ?? GLOBAL_TIMERS;
  let remaining = ms > 0 ? ms : 0;
  let handle: unknown;
  let live = true;
  const arm = () => {
    const chunk = Math.min(remaining, MAX_TIMER_MS);
    remaining -= chunk;
    handle = timers.set(() => {
      if (!live) return;
      if (remaining > 0) return arm();
      live = false;
      fn();
    }, chunk);
    if (options.unref) unrefTimer(handle);
  };
  arm();
  return {
    cancel() {
      live = false;
      timers.clear(handle);
    },
  };
}
