/**
 * Queue options: defaults in one place, validated before any I/O.
 *
 * @module
 */

import { validatePrefix, validateShard } from "../task/names.ts";
import type { Clock } from "../base/clock.ts";
import { MAX_SHARD_COUNT } from "./layout.ts";
import {
  checkSeconds,
  DEFAULT_PAYLOAD_BYTES,
  MAX_PAYLOAD_BYTES,
  MAX_TIMEOUT_SECONDS,
} from "../base/limits.ts";
import {
  DEFAULT_RETRY_POLICY,
  resolveRetryPolicy,
  type RetryPolicy,
} from "../task/retry_policy.ts";
import { DEFAULT_SIGNAL_COALESCE_MS } from "./signals.ts";

/** How concurrent `submit()` calls are coalesced (queue option `submitCoalescing`). */
export interface SubmitCoalescing {
  /**
   * Groups written at once. A call made while this many are in flight waits for one of them
   * to end, then goes with every call that waited meanwhile. @default 4
   */
  maxInFlight?: number;
  /**
   * How long a call waits for others to join its group, in ms: more sharing at the price of
   * this much latency per submit. @default 0 (only calls made in the same turn, and those
   * that wait for a group to end, are grouped)
   */
  lingerMs?: number;
  /** Most tasks in one group. @default 1000 */
  maxTasks?: number;
}

/** {@link SubmitCoalescing} with its defaults. */
export type CoalescingSettings = Required<SubmitCoalescing>;

/** The defaults of {@link SubmitCoalescing}. */
export const DEFAULT_COALESCING: Readonly<CoalescingSettings> = Object.freeze({
  maxInFlight: 4,
  lingerMs: 0,
  maxTasks: 1000,
});

/** Options shared by {@link Queue} and `connect()`. */
export interface QueueOptions {
  /** Key prefix inside the bucket, e.g. `"oq/"`, to share a bucket. @default "" */
  prefix?: string;
  /**
   * Number of shards; shards are named `"0"` .. `"N-1"`. The bucket records its shard count
   * (`layout.json`, written by the first process): when this option is left unset, a process
   * uses the bucket's count; when it is set and differs, the process refuses to start.
   * @default 4 for a new bucket, else the bucket's
   */
  shardCount?: number;
  /**
   * Largest task input accepted, as serialized JSON bytes; at most 536870912 (512 MiB). An
   * input over `inlinePayloadBytes` is stored beside the task. @default 67108864 (64 MiB)
   */
  maxInputBytes?: number;
  /**
   * Largest handler output stored, as serialized JSON bytes; at most 536870912 (512 MiB). An
   * attempt whose output is larger (or not JSON-serializable) fails the task at once, without
   * a retry (the handler would return it again), with the reason as its error. An output
   * over `inlinePayloadBytes` is stored beside the task. @default 67108864 (64 MiB)
   */
  maxOutputBytes?: number;
  /**
   * Inputs and outputs whose JSON is larger than this are written as their own objects
   * beside the task (`payloads/{home}/{task_id}/...`, with their SHA-256 recorded in the
   * task) and read back transparently; smaller ones live inside the task object.
   * @default 262144 (256 KiB)
   */
  inlinePayloadBytes?: number;
  /** Default per-attempt timeout of submitted tasks, in seconds (at most 31536000, 365 days). @default 300 */
  defaultTimeoutSeconds?: number;
  /** Default retries after the first attempt. @default 3 */
  defaultMaxRetries?: number;
  /** Default retry back-off. @default {initialIntervalMs: 1000, maxIntervalMs: 60000, multiplier: 2, jitterPercent: 0.25} */
  defaultRetryPolicy?: Partial<RetryPolicy>;
  /** Minimum interval between two wake-up signals of one type from this queue. @default 10000 */
  signalCoalesceMs?: number;
  /**
   * Concurrent `submit()` calls written as one group whose tasks share a ready entry (see
   * {@link SubmitCoalescing}; docs/format.md "Coalesced submits"); `false` writes every call
   * on its own. @default {maxInFlight: 4, lingerMs: 0, maxTasks: 1000}
   */
  submitCoalescing?: SubmitCoalescing | false;
  /**
   * How often a process re-reads the bucket's layout (one conditional GET) to learn of a
   * reshard. @default 60000
   */
  layoutCheckIntervalMs?: number;
  /** Where warnings go. @default console.warn */
  warn?: (message: string) => void;
  /**
   * The clock every deadline and wait of this queue's workers, monitors and schedulers
   * reads. @default the store's time (`store.now()`) with real timers
   */
  clock?: Clock;
}

/** Options after defaults and validation. */
export interface ResolvedQueueOptions {
  /** Key prefix. */
  prefix: string;
  /** Shard names from the configured (or default) shard count; the bucket's layout decides. */
  shards: string[];
  /** True when `shardCount` was given (then it must match the bucket's layout). */
  shardCountExplicit: boolean;
  /** Layout re-read interval. */
  layoutCheckIntervalMs: number;
  /** Input size limit in bytes. */
  maxInputBytes: number;
  /** Output size limit in bytes. */
  maxOutputBytes: number;
  /** Inputs and outputs over this many JSON bytes are stored beside the task. */
  inlinePayloadBytes: number;
  /** Default timeout. */
  defaultTimeoutSeconds: number;
  /** Default retries. */
  defaultMaxRetries: number;
  /** Default back-off. */
  defaultRetryPolicy: RetryPolicy;
  /** Signal coalescing window. */
  signalCoalesceMs: number;
  /** How concurrent submits are grouped; `null`: each on its own. */
  submitCoalescing: CoalescingSettings | null;
  /** Warning sink. */
  warn: (message: string) => void;
  /** The injected clock, if one was given (else the context uses the store's). */
  clock: Clock | undefined;
}

function positiveInt(
  name: string,
  v: number | undefined,
  dflt: number,
  min = 1,
  max = Number.MAX_SAFE_INTEGER,
): number {
  const n = v ?? dflt;
  if (!Number.isInteger(n) || n < min || n > max) {
    const range = max === Number.MAX_SAFE_INTEGER ? `>= ${min}` : `from ${min} to ${max}`;
    throw new RangeError(`Invalid ${name}: ${JSON.stringify(v)} (an integer ${range})`);
  }
  return n;
}

/** Fill defaults and validate; throws `TypeError`/`RangeError` naming the option. */
export function resolveQueueOptions(o: QueueOptions = {}): ResolvedQueueOptions {
  const shardCount = positiveInt("shardCount", o.shardCount, 4);
  if (shardCount > MAX_SHARD_COUNT) {
    throw new RangeError(`Invalid shardCount: ${shardCount} (at most ${MAX_SHARD_COUNT})`);
  }
  const timeout = checkSeconds(
    "defaultTimeoutSeconds",
    o.defaultTimeoutSeconds ?? 300,
    MAX_TIMEOUT_SECONDS,
  );
  return {
    prefix: validatePrefix(o.prefix ?? ""),
    shards: Array.from({ length: shardCount }, (_, i) => validateShard(String(i))),
    shardCountExplicit: o.shardCount !== undefined,
    layoutCheckIntervalMs: positiveInt("layoutCheckIntervalMs", o.layoutCheckIntervalMs, 60_000),
    maxInputBytes: positiveInt(
      "maxInputBytes",
      o.maxInputBytes,
      DEFAULT_PAYLOAD_BYTES,
      1,
      MAX_PAYLOAD_BYTES,
    ),
    maxOutputBytes: positiveInt(
      "maxOutputBytes",
      o.maxOutputBytes,
      DEFAULT_PAYLOAD_BYTES,
      1,
      MAX_PAYLOAD_BYTES,
    ),
    inlinePayloadBytes: positiveInt("inlinePayloadBytes", o.inlinePayloadBytes, 256 * 1024),
    defaultTimeoutSeconds: timeout,
    defaultMaxRetries: positiveInt("defaultMaxRetries", o.defaultMaxRetries, 3, 0),
    defaultRetryPolicy: resolveRetryPolicy(o.defaultRetryPolicy ?? DEFAULT_RETRY_POLICY),
    signalCoalesceMs: positiveInt(
      "signalCoalesceMs",
      o.signalCoalesceMs,
      DEFAULT_SIGNAL_COALESCE_MS,
      0,
    ),
    submitCoalescing: resolveCoalescing(o.submitCoalescing),
    warn: o.warn ?? ((m) => console.warn(m)),
    clock: o.clock,
  };
}

function resolveCoalescing(c: SubmitCoalescing | false | undefined): CoalescingSettings | null {
  if (c === false) return null;
  if (c !== undefined && (typeof c !== "object" || c === null)) {
    throw new TypeError(`Invalid submitCoalescing: ${JSON.stringify(c)} (an object or false)`);
  }
  const d = DEFAULT_COALESCING;
  return {
    maxInFlight: positiveInt("submitCoalescing.maxInFlight", c?.maxInFlight, d.maxInFlight),
    lingerMs: positiveInt("submitCoalescing.lingerMs", c?.lingerMs, d.lingerMs, 0, 60_000),
    maxTasks: positiveInt("submitCoalescing.maxTasks", c?.maxTasks, d.maxTasks, 1, 100_000),
  };
}
