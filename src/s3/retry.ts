/**
 * Retry plumbing: capped exponential backoff with full jitter, an abortable sleep, and
 * combining abort signals without `AbortSignal.any` (absent from some runtimes).
 *
 * @module
 */

/**
 * Delay before retry number `retry` (1 for the first retry): a uniformly random value in
 * `[0, min(capMs, baseMs * 2^(retry-1))]` ("full jitter", which spreads competing
 * clients best).
 *
 * @example
 * ```ts
 * import { backoffDelayMs } from "./retry.ts";
 * backoffDelayMs(3, 100, 5000, () => 0.5); // 200: half of min(5000, 100 * 4)
 * ```
 */
export function backoffDelayMs(
  retry: number,
  baseMs: number,
  capMs: number,
  random: () => number = Math.random,
): number {
  const ceiling = Math.min(capMs, baseMs * 2 ** Math.max(0, retry - 1));
  return Math.floor(random() * ceiling);
}

/**
 * Wait `ms` milliseconds; rejects with the signal's reason as soon as `signal` aborts.
 *
 * @example
 * ```ts
 * import { sleep } from "./retry.ts";
 * await sleep(1);
 * ```
 */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal!.reason);
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}
