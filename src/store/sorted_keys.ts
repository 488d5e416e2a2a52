/**
 * A sorted set of object keys in S3 order (by Unicode code point, which is UTF-8 byte
 * order), kept in chunks so inserts stay cheap with hundreds of thousands of keys.
 *
 * @module
 */

const CHUNK = 512;

/** Compare two keys by code point (= UTF-8 byte order, S3's listing order). */
export function compareKeys(a: string, b: string): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const x = a.charCodeAt(i);
    const y = b.charCodeAt(i);
    if (x === y) continue;
    // Surrogates (0xD800-0xDFFF) encode code points above 0xFFFF: they sort after 0xE000-0xFFFF.
    const sx = x >= 0xd800 && x <= 0xdfff ? x + 0x2000 : x >= 0xe000 ? x - 0x800 : x;
    const sy = y >= 0xd800 && y <= 0xdfff ? y + 0x2000 : y >= 0xe000 ? y - 0x800 : y;
    return sx - sy;
  }
  return a.length - b.length;
}

/**
 * Sorted unique strings with ordered iteration from any start point.
 *
 * @example
 * ```ts
 * import { SortedKeys } from "./sorted_keys.ts";
 * const s = new SortedKeys();
 * s.add("b"); s.add("a");
 * console.log([...s.from("")]); // ["a", "b"]
 * ```
 */
export class SortedKeys {
  #chunks: string[][] = [];
  #size = 0;

  /** Number of keys. */
  get size(): number {
    return this.#size;
  }

  /** Insert a key (no-op when present). */
  add(key: string): void {
    if (this.#chunks.length === 0) {
      this.#chunks.push([key]);
      this.#size = 1;
      return;
    }
    const ci = this.#chunkFor(key);
    const chunk = this.#chunks[ci]!;
    const i = lowerBound(chunk, key);
    if (i < chunk.length && chunk[i] === key) return;
    chunk.splice(i, 0, key);
    this.#size++;
    if (chunk.length > CHUNK * 2) {
      this.#chunks.splice(ci, 1, chunk.slice(0, CHUNK), chunk.slice(CHUNK));
    }
  }

  /** Remove a key (no-op when absent). */
  delete(key: string): void {
    if (this.#chunks.length === 0) return;
    const ci = this.#chunkFor(key);
    const chunk = this.#chunks[ci]!;
    const i = lowerBound(chunk, key);
    if (chunk[i] !== key) return;
    chunk.splice(i, 1);
    this.#size--;
    if (chunk.length === 0) this.#chunks.splice(ci, 1);
  }

  /** Keys greater than or equal to `start`, in order. */
  *from(start: string): IterableIterator<string> {
    if (this.#chunks.length === 0) return;
    let ci = this.#chunkFor(start);
    let i = lowerBound(this.#chunks[ci]!, start);
    for (; ci < this.#chunks.length; ci++, i = 0) {
      const chunk = this.#chunks[ci]!;
      // Copy-free iteration; callers must not mutate while iterating.
      for (; i < chunk.length; i++) yield chunk[i]!;
    }
  }

  // Index of the chunk whose range contains key (the first chunk whose last key >= key).
  #chunkFor(key: string): number {
    let lo = 0;
    let hi = this.#chunks.length - 1;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      const c = this.#chunks[mid]!;
      if (compareKeys(c[c.length - 1]!, key) < 0) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }
}

function lowerBound(arr: string[], key: string): number {
  let lo = 0;
  let hi = arr.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (compareKeys(arr[mid]!, key) < 0) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}
