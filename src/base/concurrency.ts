/**
 * Bounded concurrency for batches of requests.
 *
 * @module
 */

/**
 * Map with at most `limit` promises in flight, keeping order.
 *
 * @example
 * ```ts
 * import { mapLimit } from "./concurrency.ts";
 * const doubled = await mapLimit([1, 2, 3], 2, (n) => Promise.resolve(n * 2)); // [2, 4, 6]
 * ```
 */
export async function mapLimit<T, R>(
  items: ReadonlyArray<T>,
  limit: number,
  fn: (item: T, i: number) => Promise<R>,
): Promise<R[]> {
  const out = new Array<R>(items.length);
  let next = 0;
  const lanes = Array.from({ length: Math.min(limit, items.length) }, async () => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i]!, i);
    }
  });
  await Promise.all(lanes);
  return out;
}
