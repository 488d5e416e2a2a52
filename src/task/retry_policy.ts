/**
 * Retry policy: exponential back-off with a cap and jitter.
 *
 * @module
 */

import { MAX_INTERVAL_MS } from "../base/limits.ts";

/** How long to wait before each retry of a failed task. */
export interface RetryPolicy {
  /** Delay before the first retry (at most 365 days). @default 1000 */
  initialIntervalMs: number;
  /** Upper bound of a delay (at most 365 days). @default 60000 */
  maxIntervalMs: number;
  /** Growth factor per retry. @default 2 */
  multiplier: number;
  /** Random spread around the delay, as a fraction (0.25 = ±25%). @default 0.25 */
  jitterPercent: number;
}

/**
 * The default retry policy: 1 s, doubling, capped at 60 s, ±25% jitter.
 *
 * @example
 * ```ts
 * import { DEFAULT_RETRY_POLICY, MemoryStore, Queue } from "../../mod.ts";
 * const queue = new Queue(new MemoryStore());
 * // The default, with a longer cap:
 * await queue.submit("sync", {}, { retryPolicy: { ...DEFAULT_RETRY_POLICY, maxIntervalMs: 600_000 } });
 * ```
 */
export const DEFAULT_RETRY_POLICY: Readonly<RetryPolicy> = Object.freeze({
  initialIntervalMs: 1000,
  maxIntervalMs: 60_000,
  multiplier: 2,
  jitterPercent: 0.25,
});

const RANGES: Record<keyof RetryPolicy, string> = {
  initialIntervalMs: `ms from 0 to ${MAX_INTERVAL_MS} (365 days)`,
  maxIntervalMs: `ms from initialIntervalMs to ${MAX_INTERVAL_MS} (365 days)`,
  multiplier: "a number >= 1",
  jitterPercent: "a fraction from 0 to 1",
};

/** Fill defaults and validate (intervals at most 365 days); throws `RangeError` naming the bad field. */
export function resolveRetryPolicy(p: Partial<RetryPolicy> = {}): RetryPolicy {
  const out = { ...DEFAULT_RETRY_POLICY, ...stripUndefined(p) };
  const check = (name: keyof RetryPolicy, ok: boolean) => {
    if (!ok) {
      throw new RangeError(
        `Invalid retryPolicy.${name}: ${JSON.stringify(out[name])} (${RANGES[name]})`,
      );
    }
  };
  check(
    "initialIntervalMs",
    Number.isFinite(out.initialIntervalMs) && out.initialIntervalMs >= 0 &&
      out.initialIntervalMs <= MAX_INTERVAL_MS,
  );
  check(
    "maxIntervalMs",
    Number.isFinite(out.maxIntervalMs) && out.maxIntervalMs >= out.initialIntervalMs &&
      out.maxIntervalMs <= MAX_INTERVAL_MS,
  );
  check("multiplier", Number.isFinite(out.multiplier) && out.multiplier >= 1);
  check(
    "jitterPercent",
    Number.isFinite(out.jitterPercent) && out.jitterPercent >= 0 && out.jitterPercent <= 1,
  );
  return out;
}

/**
 * The delay before retry number `retryIndex` (0 for the first retry):
 * `min(max, initial * multiplier^retryIndex)`, then spread by ±jitter.
 *
 * @example
 * ```ts
 * import { backoffDelayMs, DEFAULT_RETRY_POLICY } from "./retry_policy.ts";
 * backoffDelayMs(DEFAULT_RETRY_POLICY, 2, () => 0.5); // 4000
 * ```
 */
export function backoffDelayMs(
  policy: RetryPolicy,
  retryIndex: number,
  random: () => number = Math.random,
): number {
  const base = Math.min(
    policy.maxIntervalMs,
    policy.initialIntervalMs * policy.multiplier ** Math.max(0, retryIndex),
  );
  const spread = base * policy.jitterPercent * (2 * random() - 1);
  return Math.max(0, Math.round(base + spread));
}

function stripUndefined<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}
