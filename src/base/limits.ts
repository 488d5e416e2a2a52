/**
 * The largest durations and times oq accepts, and their checks. The bounds keep every time
 * oq derives from them (`available_at`, `expires_at`, a lease's end, a retry's time) a valid
 * date with a four-digit year, so that index keys stay sortable and no request fails with
 * "Invalid Date". Every wait of these lengths runs on `setLongTimeout` (src/base/timer.ts).
 *
 * | what                                                     | at most                     |
 * | -------------------------------------------------------- | --------------------------- |
 * | a task's timeout, a lease extension                      | 31,536,000 s (365 days)     |
 * | a delay or a TTL                                         | 3,153,600,000 s (100 years) |
 * | a time (`scheduleAt`, `expiresAt`)                       | 9999-12-31T23:59:59.999Z    |
 * | an interval (polls, checks, heartbeats, back-off, grace) | 365 days                    |
 * | a task's input or output (`maxInputBytes`, `maxOutputBytes`) | 512 MiB of JSON        |
 *
 * @module
 */

/** Longest per-attempt timeout (and lease extension): 365 days, in seconds. */
export const MAX_TIMEOUT_SECONDS = 365 * 86_400;
/** Longest delay or TTL of a task: 100 years (of 365 days), in seconds. */
export const MAX_DELAY_SECONDS = 100 * 365 * 86_400;
/** Longest interval of a loop, a check or a back-off: 365 days, in ms. */
export const MAX_INTERVAL_MS = 365 * 86_400_000;
/**
 * The largest input or output a queue may be configured to accept: 512 MiB of JSON. A value
 * is held whole in memory as JSON text (the store seam takes and returns whole bodies), and
 * JavaScript engines cap a string near 2^29 UTF-16 units (V8: 536,870,888).
 */
export const MAX_PAYLOAD_BYTES = 512 * 1024 * 1024;
/** The default `maxInputBytes` and `maxOutputBytes`: 64 MiB of JSON. */
export const DEFAULT_PAYLOAD_BYTES = 64 * 1024 * 1024;
/** The latest time oq stores: 9999-12-31T23:59:59.999Z (a four-digit year). */
export const MAX_TIME_MS = Date.UTC(9999, 11, 31, 23, 59, 59, 999);

function show(v: unknown): string {
  return typeof v === "number" ? String(v) : JSON.stringify(v) ?? String(v);
}

function describeMs(ms: number): string {
  const days = ms / 86_400_000;
  return days >= 730 ? `${days / 365} years` : `${days} days`;
}

/**
 * Check a duration in seconds: a finite number > 0 (>= 0 with `allowZero`) and at most
 * `max`; `RangeError` naming the option and the range otherwise.
 *
 * @example
 * ```ts
 * import { checkSeconds, MAX_TIMEOUT_SECONDS } from "./limits.ts";
 * checkSeconds("timeoutSeconds", 30, MAX_TIMEOUT_SECONDS); // 30
 * ```
 */
export function checkSeconds(name: string, v: unknown, max: number, allowZero = false): number {
  if (typeof v !== "number" || !Number.isFinite(v) || (allowZero ? v < 0 : v <= 0) || v > max) {
    throw new RangeError(
      `Invalid ${name}: ${show(v)} (a number of seconds ${allowZero ? ">= 0" : "> 0"}, ` +
        `at most ${max} = ${describeMs(max * 1000)})`,
    );
  }
  return v;
}

/**
 * Check a duration in milliseconds: a finite number > 0 (>= 0 with `allowZero`) and at
 * most `max` (default {@link MAX_INTERVAL_MS}).
 *
 * @example
 * ```ts
 * import { checkMs } from "./limits.ts";
 * checkMs("pollIntervalMs", 500); // 500
 * ```
 */
export function checkMs(
  name: string,
  v: unknown,
  allowZero = false,
  max = MAX_INTERVAL_MS,
): number {
  if (typeof v !== "number" || !Number.isFinite(v) || (allowZero ? v < 0 : v <= 0) || v > max) {
    throw new RangeError(
      `Invalid ${name}: ${show(v)} (a number of milliseconds ${allowZero ? ">= 0" : "> 0"}, ` +
        `at most ${max} = ${describeMs(max)})`,
    );
  }
  return v;
}

/** Check that a time (ms) is not after {@link MAX_TIME_MS}; `RangeError` naming the option. */
export function checkTime(name: string, given: unknown, ms: number): number {
  if (ms > MAX_TIME_MS) {
    throw new RangeError(
      `Invalid ${name} ${show(given instanceof Date ? new Date(ms).toISOString() : given)}: ` +
        `after ${new Date(MAX_TIME_MS).toISOString()}, the latest time oq stores`,
    );
  }
  return ms;
}
