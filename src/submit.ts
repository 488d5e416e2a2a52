/**
 * Submit options and the new task record they produce (pure; no I/O).
 *
 * @module
 */

import { fnv1a, hashId, newTaskId, nonce } from "./ids.ts";
import { validateName } from "./keys.ts";
import type { ResolvedQueueOptions } from "./options.ts";
import { resolveRetryPolicy, type RetryPolicy } from "./retry_policy.ts";
import { TASK_SCHEMA_VERSION, type TaskRecord } from "./task.ts";

/** Options of `queue.submit`. */
export interface SubmitOptions {
  /** Per-attempt time limit. @default 300 (the queue's defaultTimeoutSeconds) */
  timeoutSeconds?: number;
  /** Retries after the first attempt. @default 3 */
  maxRetries?: number;
  /** Back-off between retries. */
  retryPolicy?: Partial<RetryPolicy>;
  /** Not claimable before this time (Date or RFC 3339). A past time means now. */
  scheduleAt?: Date | string;
  /** Not claimable before now + this many seconds. */
  delaySeconds?: number;
  /** Expire if not started within this many seconds of submission. */
  ttlSeconds?: number;
  /** Expire if not started by this time (Date or RFC 3339). */
  expiresAt?: Date | string;
  /** Same key, same task: a second submit returns the first task and creates nothing. */
  idempotencyKey?: string;
}

/** Parse a Date or RFC 3339 string into ms; `TypeError` naming the option otherwise. */
export function parseTime(name: string, v: Date | string): number {
  const ms = v instanceof Date
    ? v.getTime()
    : typeof v === "string" && RFC3339.test(v)
    ? Date.parse(v)
    : Number.NaN;
  if (Number.isNaN(ms)) {
    throw new TypeError(
      `Invalid ${name} ${
        JSON.stringify(v)
      }: expected a Date or an RFC 3339 time such as "2026-01-28T09:00:00Z"`,
    );
  }
  return ms;
}

const RFC3339 = /^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?([Zz]|[+-]\d{2}:\d{2})$/;

function nonNegative(name: string, v: number | undefined): number | undefined {
  if (v === undefined) return undefined;
  if (typeof v !== "number" || !Number.isFinite(v) || v < 0) {
    throw new RangeError(`Invalid ${name}: ${JSON.stringify(v)} (a number >= 0)`);
  }
  return v;
}

/** Serialize and bound a task input; `TypeError`/`RangeError` with a clear message otherwise. */
export function encodeInput(input: unknown, maxBytes: number): unknown {
  let json: string | undefined;
  try {
    json = JSON.stringify(input);
  } catch (e) {
    throw new TypeError(`Task input is not JSON-serializable: ${(e as Error).message}`);
  }
  if (json === undefined) {
    throw new TypeError("Task input is not JSON-serializable (undefined, a function or a symbol)");
  }
  const bytes = new TextEncoder().encode(json).length;
  if (bytes > maxBytes) {
    throw new RangeError(
      `Task input is ${bytes} bytes, over the limit of ${maxBytes} (queue option maxInputBytes)`,
    );
  }
  return JSON.parse(json);
}

/** Build the record of a new task. `now` is the store's time. */
export async function newTaskRecord(
  taskType: string,
  input: unknown,
  opts: SubmitOptions,
  q: ResolvedQueueOptions,
  now: number,
  placement: Placement | (() => Promise<Placement>),
  derived?: DerivedId,
): Promise<TaskRecord> {
  validateName("task type", taskType);
  const value = encodeInput(input, q.maxInputBytes);
  const timeout = opts.timeoutSeconds ?? q.defaultTimeoutSeconds;
  if (!(typeof timeout === "number" && timeout > 0 && Number.isFinite(timeout))) {
    throw new RangeError(
      `Invalid timeoutSeconds: ${JSON.stringify(opts.timeoutSeconds)} (a number > 0)`,
    );
  }
  const maxRetries = opts.maxRetries ?? q.defaultMaxRetries;
  if (!Number.isInteger(maxRetries) || maxRetries < 0) {
    throw new RangeError(
      `Invalid maxRetries: ${JSON.stringify(opts.maxRetries)} (an integer >= 0)`,
    );
  }
  const policy = opts.retryPolicy
    ? resolveRetryPolicy({ ...q.defaultRetryPolicy, ...opts.retryPolicy })
    : q.defaultRetryPolicy;
  if (opts.scheduleAt !== undefined && opts.delaySeconds !== undefined) {
    throw new TypeError("Give scheduleAt or delaySeconds, not both");
  }
  if (opts.expiresAt !== undefined && opts.ttlSeconds !== undefined) {
    throw new TypeError("Give expiresAt or ttlSeconds, not both");
  }
  const delay = nonNegative("delaySeconds", opts.delaySeconds);
  const ttl = nonNegative("ttlSeconds", opts.ttlSeconds);
  let available = now;
  if (opts.scheduleAt !== undefined) {
    available = Math.max(now, parseTime("scheduleAt", opts.scheduleAt));
  }
  if (delay !== undefined) available = now + delay * 1000;
  let expires: number | null = null;
  if (opts.expiresAt !== undefined) expires = parseTime("expiresAt", opts.expiresAt);
  if (ttl !== undefined) expires = now + ttl * 1000;

  if (
    opts.idempotencyKey !== undefined && (typeof opts.idempotencyKey !== "string" ||
      opts.idempotencyKey.length === 0 || opts.idempotencyKey.length > 1024)
  ) {
    throw new TypeError("Invalid idempotencyKey: a non-empty string of at most 1024 characters");
  }
  // Everything is validated: only now learn where the task goes (this may read the layout).
  const place = typeof placement === "function" ? await placement() : placement;
  let id: string;
  let key: string | null = null;
  if (derived !== undefined) {
    id = await derivedTaskId(place.keyShardCount, derived);
  } else if (opts.idempotencyKey !== undefined) {
    key = opts.idempotencyKey;
    // Same key, same id: the create-only write of the task itself is the idempotency record.
    id = await derivedTaskId(place.keyShardCount, { tag: "k", material: key });
  } else {
    id = newTaskId(place.pickShard(), now);
  }
  const iso = (ms: number) => new Date(ms).toISOString();
  return {
    schema_version: TASK_SCHEMA_VERSION,
    id,
    shard: place.laneFor(id),
    task_type: taskType,
    status: "pending",
    input: value,
    output: null,
    created_at: iso(now),
    updated_at: iso(now),
    available_at: iso(available),
    expires_at: expires === null ? null : iso(expires),
    timeout_seconds: timeout,
    max_retries: maxRetries,
    retry_count: 0,
    retry_policy: {
      initial_interval_ms: policy.initialIntervalMs,
      max_interval_ms: policy.maxIntervalMs,
      multiplier: policy.multiplier,
      jitter_percent: policy.jitterPercent,
    },
    attempt: 0,
    worker_id: null,
    claimed_at: null,
    lease_expires_at: null,
    cancel_requested: false,
    cancel_reason: null,
    last_error: null,
    errors: [],
    completed_at: null,
    idempotency_key: key,
    revision: 0,
    write_id: nonce(),
  };
}

/** A task id derived from material (idempotency keys, schedule runs): same material, same id. */
export interface DerivedId {
  /** One letter after the shard that says what the material was (`k`: idempotency key, `s`: schedule run). */
  tag: string;
  /** What the id is derived from. */
  material: string;
}

/**
 * `{shard}-{tag}{base32(sha256(material))}`, the shard picked by FNV-1a of the material
 * among `keyShardCount` shards (the bucket's `key_shard_count`, fixed for its life, so a
 * key names the same task before and after a reshard).
 */
export async function derivedTaskId(keyShardCount: number, d: DerivedId): Promise<string> {
  return `${fnv1a(d.material) % keyShardCount}-${d.tag}${await hashId(d.material)}`;
}

/** A placement for records built only to validate options (nothing is written). */
export const PROBE_PLACEMENT: Placement = {
  pickShard: () => "0",
  keyShardCount: 1,
  laneFor: () => "0",
};

/** Where a new task goes: the bucket layout's part of building a record. */
export interface Placement {
  /** A lane for a task with a generated id (its home shard too). */
  pickShard(): string;
  /** The shard count ids derived from keys use. */
  keyShardCount: number;
  /** The lane of a task id (its home shard while that is a lane). */
  laneFor(taskId: string): string;
}
