/**
 * Submit options and the new task record they produce (pure; no I/O).
 *
 * @module
 */

import { Bytes } from "./bytes.ts";
import { fnv1a, hashId, newTaskId, nonce } from "../base/ids.ts";
import { validateName } from "./names.ts";
import { checkSeconds, checkTime, MAX_DELAY_SECONDS, MAX_TIMEOUT_SECONDS } from "../base/limits.ts";
import { checkPriority } from "./priority.ts";
import { resolveRetryPolicy, type RetryPolicy } from "./retry_policy.ts";
import { TASK_SCHEMA_VERSION, type TaskRecord } from "./task.ts";
import { utf8Length } from "./payload_ref.ts";

/**
 * Options of `queue.submit`. Durations and times are bounded so that every time derived
 * from them is a valid date (src/base/limits.ts); a task that could never run (it would expire
 * before it becomes available, or `expiresAt` has passed) is refused with a `RangeError`.
 */
export interface SubmitOptions {
  /** Per-attempt time limit, in seconds: > 0, at most 31536000 (365 days). @default 300 (the queue's defaultTimeoutSeconds) */
  timeoutSeconds?: number;
  /** Retries after the first attempt. @default 3 */
  maxRetries?: number;
  /** Back-off between retries. */
  retryPolicy?: Partial<RetryPolicy>;
  /** Not claimable before this time (Date or RFC 3339), at most 9999-12-31T23:59:59.999Z. A past time means now. */
  scheduleAt?: Date | string;
  /** Not claimable before now + this many seconds: >= 0, at most 3153600000 (100 years). */
  delaySeconds?: number;
  /**
   * Expire if not started within this many seconds of submission: > 0, at most 3153600000
   * (100 years), and longer than the delay.
   */
  ttlSeconds?: number;
  /** Expire if not started by this time (Date or RFC 3339): in the future, after `scheduleAt`. */
  expiresAt?: Date | string;
  /** Same key, same task: a second submit returns the first task and creates nothing. */
  idempotencyKey?: string;
  /**
   * Deduplication window of `idempotencyKey`, in seconds from submission: > 0, at most
   * 3153600000 (100 years). Once it has passed, a submit with the same key replaces the
   * task, under the same id, with a new one, if the task has finished (a pending or running
   * task is still returned: a key never has two live tasks). Only with `idempotencyKey`.
   * @default forever (no window)
   */
  idempotencyTtlSeconds?: number;
  /** Times a handler may snooze the task (`SnoozeError`); beyond it the attempt fails. @default 100 */
  maxSnoozes?: number;
  /**
   * Priority level, an integer from -9 to 9: higher runs first. Each level is worth an hour
   * of waiting, so a lower level is never starved: it goes first once it has waited longer
   * than the difference is worth (docs/format.md, "Priorities"). Orders tasks of one type.
   * @default 0
   */
  priority?: number;
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

/** Serialize and bound a task input; `TypeError`/`RangeError` with a clear message otherwise. */
export function encodeInput(input: unknown, maxBytes: number): unknown {
  if (input instanceof Bytes) return input; // streamed beside the task, never JSON
  const json = toJson("input", input);
  if (json === undefined) {
    throw new TypeError("Task input is not JSON-serializable (undefined, a function or a symbol)");
  }
  checkBytes("input", json, maxBytes, "maxInputBytes");
  return JSON.parse(json);
}

/**
 * Serialize and bound a handler's output the way it will be stored: `undefined` (and a
 * function or symbol) is `null`; a value JSON cannot encode (a BigInt, a cycle, a throwing
 * `toJSON`) is a `TypeError`, one over `maxBytes` a `RangeError`, each with a clear message.
 *
 * @example
 * ```ts
 * import { encodeOutput } from "./new_task.ts";
 * encodeOutput({ at: new Date(0) }, 1024); // { at: "1970-01-01T00:00:00.000Z" }
 * ```
 */
export function encodeOutput(output: unknown, maxBytes: number): unknown {
  const json = encodeOutputJson(output, maxBytes);
  return json === null ? null : JSON.parse(json);
}

/** {@link encodeOutput}, but the JSON text (`null` for an output stored as `null`). */
export function encodeOutputJson(output: unknown, maxBytes: number): string | null {
  const json = toJson("output", output);
  if (json === undefined) return null;
  checkBytes("output", json, maxBytes, "maxOutputBytes");
  return json;
}

function toJson(what: string, value: unknown): string | undefined {
  try {
    return JSON.stringify(value);
  } catch (e) {
    throw new TypeError(`Task ${what} is not JSON-serializable: ${(e as Error).message}`);
  }
}

function checkBytes(what: string, json: string, maxBytes: number, option: string): void {
  // A UTF-16 unit is at most 3 UTF-8 bytes: a short text needs no encoding to be checked.
  if (json.length * 3 <= maxBytes) return;
  const size = utf8Length(json); // counted, not encoded: a large output is encoded once, later
  if (size > maxBytes) {
    throw new RangeError(
      `Task ${what} is ${size} bytes, over the limit of ${maxBytes} (queue option ${option})`,
    );
  }
}

/** The queue's defaults a new task takes (a part of its resolved options). */
export interface TaskDefaults {
  /** Input size limit in bytes. */
  maxInputBytes: number;
  /** Default per-attempt timeout. */
  defaultTimeoutSeconds: number;
  /** Default retries. */
  defaultMaxRetries: number;
  /** Default back-off. */
  defaultRetryPolicy: RetryPolicy;
}

/** Build the record of a new task. `now` is the store's time. */
export async function newTaskRecord(
  taskType: string,
  input: unknown,
  opts: SubmitOptions,
  q: TaskDefaults,
  now: number,
  placement: Placement | (() => Promise<Placement>),
  derived?: DerivedId,
): Promise<TaskRecord> {
  validateName("task type", taskType);
  const value = encodeInput(input, q.maxInputBytes);
  const timeout = checkSeconds(
    "timeoutSeconds",
    opts.timeoutSeconds ?? q.defaultTimeoutSeconds,
    MAX_TIMEOUT_SECONDS,
  );
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
  const { available, expires } = taskWindow(opts, now);

  if (
    opts.idempotencyKey !== undefined && (typeof opts.idempotencyKey !== "string" ||
      opts.idempotencyKey.length === 0 || opts.idempotencyKey.length > 1024)
  ) {
    throw new TypeError("Invalid idempotencyKey: a non-empty string of at most 1024 characters");
  }
  const keyWindow = idempotencyWindow(opts);
  if (
    opts.maxSnoozes !== undefined && (!Number.isInteger(opts.maxSnoozes) || opts.maxSnoozes < 0)
  ) {
    throw new RangeError(
      `Invalid maxSnoozes: ${JSON.stringify(opts.maxSnoozes)} (an integer >= 0)`,
    );
  }
  if (opts.priority !== undefined) checkPriority(opts.priority);
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
  // Optional fields are present only when used, so a plain task's bytes stay as they were.
  const extra: Partial<TaskRecord> = {};
  if (opts.maxSnoozes !== undefined) extra.max_snoozes = opts.maxSnoozes;
  if (opts.priority !== undefined && opts.priority !== 0) extra.priority = opts.priority;
  if (key !== null && keyWindow !== null) extra.idempotency_expires_at = iso(now + keyWindow);
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
    ...extra,
  };
}

/**
 * The checked `idempotencyTtlSeconds` in ms (`null` without one): a `TypeError` when it is
 * not a number or comes without an `idempotencyKey`, a `RangeError` when out of range.
 */
function idempotencyWindow(opts: SubmitOptions): number | null {
  const ttl: unknown = opts.idempotencyTtlSeconds;
  if (ttl === undefined) return null;
  if (opts.idempotencyKey === undefined) {
    throw new TypeError(
      "idempotencyTtlSeconds needs an idempotencyKey: it is how long the key deduplicates",
    );
  }
  if (typeof ttl !== "number") {
    throw new TypeError(
      `Invalid idempotencyTtlSeconds: ${JSON.stringify(ttl)} (a number of seconds)`,
    );
  }
  return checkSeconds("idempotencyTtlSeconds", ttl, MAX_DELAY_SECONDS) * 1000;
}

/**
 * When a task becomes available and when it expires (store ms), from the submit options;
 * `RangeError` naming the options when a value is out of range or the task could never
 * run: it would expire before (or when) it becomes available, or `expiresAt` has passed.
 */
function taskWindow(
  opts: SubmitOptions,
  now: number,
): { available: number; expires: number | null } {
  let available = now;
  if (opts.scheduleAt !== undefined) {
    const at = checkTime("scheduleAt", opts.scheduleAt, parseTime("scheduleAt", opts.scheduleAt));
    available = Math.max(now, at);
  }
  if (opts.delaySeconds !== undefined) {
    available = now +
      checkSeconds("delaySeconds", opts.delaySeconds, MAX_DELAY_SECONDS, true) * 1000;
  }
  let expires: number | null = null;
  if (opts.expiresAt !== undefined) {
    expires = checkTime("expiresAt", opts.expiresAt, parseTime("expiresAt", opts.expiresAt));
    if (expires <= now) {
      throw new RangeError(
        `Invalid expiresAt ${JSON.stringify(new Date(expires).toISOString())}: already past ` +
          `(the store's time is ${new Date(now).toISOString()}); the task could never run`,
      );
    }
  }
  if (opts.ttlSeconds !== undefined) {
    expires = now + checkSeconds("ttlSeconds", opts.ttlSeconds, MAX_DELAY_SECONDS) * 1000;
  }
  if (expires !== null && expires <= available) {
    const end = opts.ttlSeconds !== undefined ? `ttlSeconds (${opts.ttlSeconds})` : "expiresAt";
    const start = opts.delaySeconds !== undefined
      ? `delaySeconds (${opts.delaySeconds})`
      : "scheduleAt";
    throw new RangeError(
      `The task would expire before it becomes available: ${end} ends at ` +
        `${new Date(expires).toISOString()}, ${start} makes it available at ` +
        `${new Date(available).toISOString()}; give a ${
          opts.ttlSeconds !== undefined ? "longer TTL" : "later expiry"
        } or a shorter wait`,
    );
  }
  return { available, expires };
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
