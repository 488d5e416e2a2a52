/**
 * The task: its states, its stored JSON (snake_case, schema-checked with zod, versioned by
 * `schema_version`) and the read model users see (camelCase, with `Date`s).
 *
 * @module
 */

import { z } from "zod";
import { checkStored, parseStored } from "../base/parse_stored.ts";
import type { RetryPolicy } from "./retry_policy.ts";
import { SchemaError } from "../base/errors.ts";
import { shardOfTaskId, validateName, validateShard } from "./names.ts";
import { MAX_INTERVAL_MS, MAX_TIMEOUT_SECONDS } from "../base/limits.ts";
import { type PayloadRef, PayloadRefSchema } from "./payload_ref.ts";
import { MAX_PRIORITY, MIN_PRIORITY } from "./priority.ts";
import { isoDate } from "./stored_time.ts";

export { TASK_STATUSES, TaskStatus, TERMINAL_STATUSES } from "./status.ts";
import { TASK_STATUSES, type TaskStatus, TERMINAL_STATUSES } from "./status.ts";

/**
 * The stored format version of a task whose input and output are inline. A task with a
 * payload reference (`input_ref` or `output_ref`) is written as version
 * {@link TASK_SCHEMA_VERSION_REFS}, so that a reader that knows nothing of references refuses
 * it instead of running its handler with a `null` input; every other task stays at 1.
 */
export const TASK_SCHEMA_VERSION = 1;
/** The stored format version of a task with a payload reference; the newest this code reads. */
export const TASK_SCHEMA_VERSION_REFS = 2;

/** One attempt's error, kept in the task's `errors` list (most recent last, bounded). */
export interface AttemptError {
  /** Attempt number that failed. */
  attempt: number;
  /** When (RFC 3339). */
  at: string;
  /** Error message. */
  message: string;
  /** What kind of failure. */
  kind: "retryable" | "permanent" | "timeout" | "lease_expired" | "cancelled";
  /** Worker that ran the attempt. */
  worker_id: string | null;
}

/** The stored task JSON (`tasks/{shard}/{id}.json`), format version 1; docs/format.md describes each field. */
export interface TaskRecord {
  schema_version: 1 | 2;
  id: string;
  shard: string;
  task_type: string;
  status: TaskStatus;
  input: unknown;
  output: unknown;
  /** The input is stored beside the task (then `input` is null); version 2 only. */
  input_ref?: PayloadRef;
  /** The output is stored beside the task (then `output` is null); version 2 only. */
  output_ref?: PayloadRef;
  created_at: string;
  updated_at: string;
  available_at: string;
  expires_at: string | null;
  timeout_seconds: number;
  max_retries: number;
  retry_count: number;
  retry_policy: {
    initial_interval_ms: number;
    max_interval_ms: number;
    multiplier: number;
    jitter_percent: number;
  };
  attempt: number;
  worker_id: string | null;
  claimed_at: string | null;
  lease_expires_at: string | null;
  cancel_requested: boolean;
  cancel_reason: string | null;
  last_error: string | null;
  errors: AttemptError[];
  completed_at: string | null;
  idempotency_key: string | null;
  revision: number;
  write_id: string;
  /** Optional fields, absent from tasks that never used the feature (so their bytes are unchanged). */
  /** Latest value reported by `ctx.progress` (JSON). */
  progress?: unknown;
  /** When that value was reported (store time). */
  progress_at?: string;
  /** Times the task was snoozed (`SnoozeError`, `ctx.snooze`). */
  snoozes?: number;
  /** Snoozes allowed (submit option `maxSnoozes`); absent: the default, 100. */
  max_snoozes?: number;
  /** Priority level, -9 to 9 (submit option `priority`); absent: 0. */
  priority?: number;
  /** End of the key's deduplication window (`idempotencyTtlSeconds`); absent: forever. */
  idempotency_expires_at?: string;
  /** Set when `queue.delete` marked the task (store time): it is gone for every reader and writer. */
  deleting_at?: string;
  /**
   * The lease group covering this attempt's lease (`{at stamp}/{group id}`: the entry
   * `deadlines/{shard}/{lease_group}.group`); absent: the lease has its own entry.
   */
  lease_group?: string;
  /**
   * `"ready"`: this attempt's lease is indexed by the task's ready entry (the key
   * `readyKey` gives for the record), kept since the claim, or by the lease entry its worker
   * writes once the attempt has run for a while (`leaseEntryAfterMs`), whichever exists.
   * Absent: by its own lease entry or its lease group's (docs/format.md, "Leases").
   */
  lease_index?: "ready";
  /**
   * The batch entry this task was submitted under (`submitMany`: one ready entry for the
   * tasks of a call that share a lane, due time and priority; src/protocol/ready_batches.ts).
   * While set, `readyKey` gives that entry. Kept while the task stays pending where it was
   * submitted; any other write (its claim too) drops it.
   */
  ready_batch?: string;
}

/** Schema of {@link AttemptError}. */
export const AttemptErrorSchema: z.ZodType<AttemptError> = z.object({
  attempt: z.number().int().nonnegative(),
  at: isoDate,
  message: z.string(),
  kind: z.enum(["retryable", "permanent", "timeout", "lease_expired", "cancelled"]),
  worker_id: z.string().nullable(),
});

/** Schema of {@link TaskRecord}. */
export const TaskRecordSchema: z.ZodType<TaskRecord> = z.object({
  schema_version: z.union([z.literal(TASK_SCHEMA_VERSION), z.literal(TASK_SCHEMA_VERSION_REFS)]),
  id: z.string(),
  shard: z.string(),
  task_type: z.string(),
  status: z.enum(TASK_STATUSES as [TaskStatus, ...TaskStatus[]]),
  input: z.unknown(),
  output: z.unknown(),
  input_ref: PayloadRefSchema.optional(),
  output_ref: PayloadRefSchema.optional(),
  created_at: isoDate,
  updated_at: isoDate,
  available_at: isoDate,
  expires_at: isoDate.nullable(),
  // Bounded like the submit options, so a hand-made record cannot derive an invalid date.
  timeout_seconds: z.number().positive().max(MAX_TIMEOUT_SECONDS),
  max_retries: z.number().int().nonnegative(),
  retry_count: z.number().int().nonnegative(),
  retry_policy: z.object({
    initial_interval_ms: z.number().nonnegative().max(MAX_INTERVAL_MS),
    max_interval_ms: z.number().nonnegative().max(MAX_INTERVAL_MS),
    multiplier: z.number().positive(),
    jitter_percent: z.number().nonnegative(),
  }),
  attempt: z.number().int().nonnegative(),
  worker_id: z.string().nullable(),
  claimed_at: isoDate.nullable(),
  lease_expires_at: isoDate.nullable(),
  cancel_requested: z.boolean(),
  cancel_reason: z.string().nullable(),
  last_error: z.string().nullable(),
  errors: z.array(AttemptErrorSchema),
  completed_at: isoDate.nullable(),
  idempotency_key: z.string().nullable(),
  revision: z.number().int().nonnegative(),
  write_id: z.string(),
  progress: z.unknown().optional(),
  progress_at: isoDate.optional(),
  snoozes: z.number().int().nonnegative().optional(),
  max_snoozes: z.number().int().nonnegative().optional(),
  priority: z.number().int().min(MIN_PRIORITY).max(MAX_PRIORITY).optional(),
  idempotency_expires_at: isoDate.optional(),
  deleting_at: isoDate.optional(),
  lease_group: z.string().regex(/^\d{8}T\d{6}\.\d{3}Z\/g[A-Za-z0-9_-]{16}$/).optional(),
  lease_index: z.literal("ready").optional(),
  ready_batch: z.string().regex(/^[0-9A-HJKMNP-TV-Z]{26}$/).optional(),
}).refine(
  // Version 2 exists for references: a record says 2 exactly when it carries one.
  (r) => (r.schema_version === TASK_SCHEMA_VERSION_REFS) === hasPayloadRef(r),
  "schema_version 2 is for a task with a payload reference (input_ref or output_ref), 1 otherwise",
);

/** True when a record stores its input or output beside the task. */
export function hasPayloadRef(rec: Pick<TaskRecord, "input_ref" | "output_ref">): boolean {
  return rec.input_ref !== undefined || rec.output_ref !== undefined;
}

/** Parse stored bytes into a record; a mismatch is a {@link SchemaError} naming the key. */
export function parseTaskRecord(key: string, body: Uint8Array): TaskRecord {
  return checkTaskRecord(key, parseStored(key, body, TaskRecordSchema, TASK_SCHEMA_VERSION_REFS));
}

/**
 * {@link parseTaskRecord} for a record already parsed from JSON (one a batch entry carries,
 * src/protocol/ready_batches.ts): the same checks, for the task object at `key`.
 */
export function taskRecordOf(key: string, json: unknown): TaskRecord {
  return checkTaskRecord(key, checkStored(key, json, TaskRecordSchema, TASK_SCHEMA_VERSION_REFS));
}

function checkTaskRecord(key: string, rec: TaskRecord): TaskRecord {
  // The record must be the task its key names: an object copied or written by someone else
  // under another task's key (or with a name that could not be a key) is not trusted.
  // The id names the object's home shard; `shard` is the index lane, which differs from
  // the home shard only after a reshard (src/protocol/layout.ts).
  let problem: string | null = null;
  let home = "";
  try {
    home = shardOfTaskId(rec.id);
    validateShard(rec.shard);
    validateName("task type", rec.task_type);
  } catch (e) {
    problem = (e as Error).message;
  }
  if (problem === null && !key.endsWith(`tasks/${home}/${rec.id}.json`)) {
    problem = `id "${rec.id}" is not the task this key holds`;
  }
  if (problem !== null) throw new SchemaError(key, problem);
  return rec;
}

function date(s: string | null): Date | null {
  return s === null ? null : new Date(s);
}

/**
 * A task as users see it: a snapshot read from the bucket. Time checks take the
 * authoritative time from `queue.now()`, never the local clock.
 *
 * @example
 * ```ts
 * import { MemoryStore, Queue } from "../../mod.ts";
 * const queue = new Queue(new MemoryStore());
 * const { id } = await queue.submit("email", { to: "a@b.c" });
 * const task = await queue.get(id);
 * if (task && task.isAvailableAt(await queue.now())) console.log("claimable");
 * ```
 */
export class Task {
  /** Task id (`{shard}-{body}`). */
  readonly id: string;
  /** Shard the task lives in. */
  readonly shard: string;
  /** Task type (selects the handler). */
  readonly taskType: string;
  /** Current state. */
  readonly status: TaskStatus;
  /**
   * Input given at submit. For an input stored beside the task ({@link Task.inputRef}) this
   * is the value once loaded (`queue.get`, a handler's `ctx.task`), `null` when not loaded
   * (`get(id, { payloads: false })`, `list`, `getHistory`).
   */
  readonly input: unknown;
  /** Handler output once completed (or `null`); loaded like {@link Task.input}. */
  readonly output: unknown;
  /** Hash and size of the input when it is stored beside the task, else `null`. */
  readonly inputRef: PayloadRef | null;
  /** Hash and size of the output when it is stored beside the task, else `null`. */
  readonly outputRef: PayloadRef | null;
  /** Submit time. */
  readonly createdAt: Date;
  /** Time of the last write. */
  readonly updatedAt: Date;
  /** Not claimable before this time. */
  readonly availableAt: Date;
  /** Expires (never runs) if not started by this time. */
  readonly expiresAt: Date | null;
  /** Per-attempt time limit in seconds. */
  readonly timeoutSeconds: number;
  /** Retries allowed after the first attempt. */
  readonly maxRetries: number;
  /** Retries done so far. */
  readonly retryCount: number;
  /** Back-off between retries. */
  readonly retryPolicy: RetryPolicy;
  /** Error of the most recent failed attempt. */
  readonly lastError: string | null;
  /** Errors of recent attempts, oldest first. */
  readonly errors: ReadonlyArray<
    { attempt: number; at: Date; message: string; kind: string; workerId: string | null }
  >;
  /** Number of times the task was claimed. */
  readonly attempt: number;
  /** Worker running (or that last ran) the task. */
  readonly workerId: string | null;
  /** When the current attempt was claimed. */
  readonly claimedAt: Date | null;
  /** The running attempt's lease ends at this time. */
  readonly leaseExpiresAt: Date | null;
  /** Cancellation was requested while running. */
  readonly cancelRequested: boolean;
  /** Reason given to `cancel`. */
  readonly cancelReason: string | null;
  /** When the task reached a terminal state. */
  readonly completedAt: Date | null;
  /** Idempotency key given at submit. */
  readonly idempotencyKey: string | null;
  /** End of the key's deduplication window (`idempotencyTtlSeconds`); `null`: forever. */
  readonly idempotencyExpiresAt: Date | null;
  /** Write counter, +1 on every write. */
  readonly revision: number;
  /** Latest value the handler reported with `ctx.progress` (or `null`). */
  readonly progress: unknown;
  /** When the progress was recorded. */
  readonly progressAt: Date | null;
  /** Times the task was snoozed. */
  readonly snoozes: number;
  /** Priority level, -9 to 9 (higher runs first); 0 unless given at submit. */
  readonly priority: number;

  /**
   * Build the read model from a stored record; `loaded` holds the values of its payload
   * references when they were read.
   */
  constructor(rec: TaskRecord, loaded: { input?: unknown; output?: unknown } = {}) {
    this.id = rec.id;
    this.shard = rec.shard;
    this.taskType = rec.task_type;
    this.status = rec.status;
    this.input = "input" in loaded ? loaded.input : rec.input;
    this.output = ("output" in loaded ? loaded.output : rec.output) ?? null;
    this.inputRef = rec.input_ref ? { ...rec.input_ref } : null;
    this.outputRef = rec.output_ref ? { ...rec.output_ref } : null;
    this.createdAt = new Date(rec.created_at);
    this.updatedAt = new Date(rec.updated_at);
    this.availableAt = new Date(rec.available_at);
    this.expiresAt = date(rec.expires_at);
    this.timeoutSeconds = rec.timeout_seconds;
    this.maxRetries = rec.max_retries;
    this.retryCount = rec.retry_count;
    this.retryPolicy = {
      initialIntervalMs: rec.retry_policy.initial_interval_ms,
      maxIntervalMs: rec.retry_policy.max_interval_ms,
      multiplier: rec.retry_policy.multiplier,
      jitterPercent: rec.retry_policy.jitter_percent,
    };
    this.lastError = rec.last_error;
    this.errors = rec.errors.map((e) => ({
      attempt: e.attempt,
      at: new Date(e.at),
      message: e.message,
      kind: e.kind,
      workerId: e.worker_id,
    }));
    this.attempt = rec.attempt;
    this.workerId = rec.worker_id;
    this.claimedAt = date(rec.claimed_at);
    this.leaseExpiresAt = date(rec.lease_expires_at);
    this.cancelRequested = rec.cancel_requested;
    this.cancelReason = rec.cancel_reason;
    this.completedAt = date(rec.completed_at);
    this.idempotencyKey = rec.idempotency_key;
    this.idempotencyExpiresAt = date(rec.idempotency_expires_at ?? null);
    this.revision = rec.revision;
    this.progress = rec.progress ?? null;
    this.progressAt = date(rec.progress_at ?? null);
    this.snoozes = rec.snoozes ?? 0;
    this.priority = rec.priority ?? 0;
  }

  /** True when pending and claimable at `now` (available and not expired). */
  isAvailableAt(now: Date): boolean {
    return this.status === "pending" && this.availableAt.getTime() <= now.getTime() &&
      !this.isExpiredAt(now);
  }

  /** True when `expires_at` has passed at `now` (whatever the state). */
  isExpiredAt(now: Date): boolean {
    return this.expiresAt !== null && this.expiresAt.getTime() <= now.getTime();
  }

  /** True when running and the lease has ended at `now`. */
  isLeaseExpiredAt(now: Date): boolean {
    return this.status === "running" && this.leaseExpiresAt !== null &&
      this.leaseExpiresAt.getTime() <= now.getTime();
  }

  /** True in a terminal state. */
  get isTerminal(): boolean {
    return TERMINAL_STATUSES.includes(this.status);
  }

  /** A plain JSON form (camelCase, ISO times), e.g. for `--json` output. */
  toJSON(): Record<string, unknown> {
    const out: Record<string, unknown> = Object.assign({}, this) as Record<string, unknown>;
    out.errors = this.errors.map((e) => ({ ...e }));
    // References only where there are some: a task without one prints as before.
    if (this.inputRef === null) delete out.inputRef;
    if (this.outputRef === null) delete out.outputRef;
    if (this.idempotencyExpiresAt === null) delete out.idempotencyExpiresAt;
    return out;
  }
}
