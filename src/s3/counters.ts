/**
 * Request accounting by operation: the cost metric of oq (on S3, cost is requests).
 *
 * @module
 */

/** Operations counted. Bucket operations are grouped under `BUCKET`. */
export type RequestKind =
  | "PUT"
  | "GET"
  | "HEAD"
  | "LIST"
  | "LIST_VERSIONS"
  | "DELETE"
  | "DELETE_MANY"
  | "BUCKET";

/** The request kinds in display order. */
export const REQUEST_KINDS: readonly RequestKind[] = [
  "PUT",
  "GET",
  "HEAD",
  "LIST",
  "LIST_VERSIONS",
  "DELETE",
  "DELETE_MANY",
  "BUCKET",
];

/** AWS S3 Standard list prices in USD per request (us-east-1). */
export const PRICE_PER_REQUEST: Readonly<Record<RequestKind, number>> = {
  PUT: 0.005 / 1000,
  LIST: 0.005 / 1000,
  LIST_VERSIONS: 0.005 / 1000,
  DELETE_MANY: 0.005 / 1000, // DeleteObjects is a POST, billed as a PUT-class request
  BUCKET: 0.005 / 1000,
  GET: 0.0004 / 1000,
  HEAD: 0.0004 / 1000,
  DELETE: 0,
};

/** A snapshot of request counts by kind. */
export type RequestCounts = Record<RequestKind, number>;

/**
 * What a store has sent, by kind (`store.counters`): the reading side of the counts, which
 * only the store itself adds to.
 */
export interface RequestMeter {
  /** A copy of the current counts. */
  snapshot(): RequestCounts;
  /** Total requests of all kinds. */
  total(): number;
  /** Reset all counts to zero. */
  reset(): void;
}

/**
 * Counts requests by kind. Counted once per HTTP request actually sent (retries count),
 * and also counted for failed requests, since S3 bills those too.
 *
 * @example
 * ```ts
 * import { RequestCounters } from "./counters.ts";
 * const c = new RequestCounters();
 * c.add("PUT");
 * const before = c.snapshot();
 * c.add("GET", 2);
 * console.log(RequestCounters.diff(c.snapshot(), before).GET); // 2
 * ```
 */
export class RequestCounters implements RequestMeter {
  #counts: RequestCounts = emptyCounts();

  /** Record `n` requests of a kind. */
  add(kind: RequestKind, n = 1): void {
    this.#counts[kind] += n;
  }

  /** A copy of the current counts. */
  snapshot(): RequestCounts {
    return { ...this.#counts };
  }

  /** Total requests of all kinds. */
  total(): number {
    return REQUEST_KINDS.reduce((sum, k) => sum + this.#counts[k], 0);
  }

  /** Reset all counts to zero. */
  reset(): void {
    this.#counts = emptyCounts();
  }

  /** `after - before`, per kind. */
  static diff(after: RequestCounts, before: RequestCounts): RequestCounts {
    const out = emptyCounts();
    for (const k of REQUEST_KINDS) out[k] = after[k] - before[k];
    return out;
  }

  /** Cost in USD of a set of counts at AWS list prices. */
  static cost(counts: RequestCounts): number {
    return REQUEST_KINDS.reduce((sum, k) => sum + counts[k] * PRICE_PER_REQUEST[k], 0);
  }
}

/** All-zero counts. */
export function emptyCounts(): RequestCounts {
  return {
    PUT: 0,
    GET: 0,
    HEAD: 0,
    LIST: 0,
    LIST_VERSIONS: 0,
    DELETE: 0,
    DELETE_MANY: 0,
    BUCKET: 0,
  };
}
