/**
 * Task state transitions as pure functions, shared by the queue, the worker and the
 * monitor. Each takes the current record and returns the next one, or says why the
 * transition does not apply. Every transition bumps `revision` and `write_id`, so every
 * write changes the object's bytes and ETag (invariant 3).
 *
 * Which operation applies to which state, and which states it may lead to, is data:
 * `TRANSITIONS` in src/task/transition_table.ts (rendered in docs/format.md). Each
 * function asks the table first and refuses what it does not list; every write is checked
 * against it.
 *
 * @module
 */

import { backoffDelayMs } from "./retry_policy.ts";
import { type Operation, refusal } from "./transition_table.ts";
import type { AttemptError, TaskRecord } from "./task.ts";
import { iso, no, type Transition, write } from "./transition_write.ts";

/** Errors kept per task (most recent). */
export const MAX_ERRORS_KEPT = 20;

export type { Transition } from "./transition_write.ts";

/** The identity of one attempt: only its worker may record its outcome. */
export interface AttemptRef {
  /** Worker that claimed the task. */
  workerId: string;
  /** Attempt number it claimed. */
  attempt: number;
}

function mine(op: Operation, rec: TaskRecord, ref: AttemptRef): string | null {
  const refused = refusal(op, rec.status);
  if (refused !== null) return refused;
  if (rec.worker_id !== ref.workerId || rec.attempt !== ref.attempt) {
    return `lease lost: attempt ${rec.attempt} is held by ${rec.worker_id ?? "nobody"}`;
  }
  return null;
}

function withError(rec: TaskRecord, e: AttemptError): AttemptError[] {
  return [...rec.errors, e].slice(-MAX_ERRORS_KEPT);
}

/** pending → running for `workerId`, its lease (`leaseMs`) indexed by its own entry or `index`. */
export function claim(
  rec: TaskRecord,
  now: number,
  workerId: string,
  leaseMs: number,
  index?: { group: string } | "ready",
): Transition {
  const refused = refusal("claim", rec.status);
  if (refused !== null) return no(rec, refused);
  if (Date.parse(rec.available_at) > now) return no(rec, "task is not available yet");
  if (rec.expires_at !== null && Date.parse(rec.expires_at) <= now) {
    return no(rec, "task has expired");
  }
  return write("claim", rec, now, {
    status: "running",
    attempt: rec.attempt + 1,
    worker_id: workerId,
    claimed_at: iso(now),
    lease_expires_at: iso(now + leaseMs),
    cancel_requested: false,
    ...(index === "ready" ? { lease_index: index } : {}),
    ...(typeof index === "object" ? { lease_group: index.group } : {}),
  });
}

/** running → completed (or cancelled when a cancel was requested), storing the output. */
export function complete(
  rec: TaskRecord,
  now: number,
  ref: AttemptRef,
  output: unknown,
): Transition {
  const err = mine("complete", rec, ref);
  if (err) return no(rec, err);
  return write("complete", rec, now, {
    status: rec.cancel_requested ? "cancelled" : "completed",
    output: output === undefined ? null : output,
    completed_at: iso(now),
    lease_expires_at: null,
  });
}

/** What went wrong in an attempt. */
export interface Failure {
  /** Error message to record. */
  message: string;
  /** Kind of failure. */
  kind: AttemptError["kind"];
  /** Dead-letter at once, whatever retries are left. */
  permanent: boolean;
}

function failOrRetry(
  op: Operation,
  rec: TaskRecord,
  now: number,
  f: Failure,
  workerId: string | null,
  random: () => number,
) {
  const error: AttemptError = {
    attempt: rec.attempt,
    at: iso(now),
    message: f.message,
    kind: f.kind,
    worker_id: workerId,
  };
  const base = { last_error: f.message, errors: withError(rec, error), lease_expires_at: null };
  if (rec.cancel_requested) {
    return write(op, rec, now, { ...base, status: "cancelled", completed_at: iso(now) });
  }
  if (f.permanent || rec.retry_count >= rec.max_retries) {
    return write(op, rec, now, { ...base, status: "failed", completed_at: iso(now) });
  }
  const policy = {
    initialIntervalMs: rec.retry_policy.initial_interval_ms,
    maxIntervalMs: rec.retry_policy.max_interval_ms,
    multiplier: rec.retry_policy.multiplier,
    jitterPercent: rec.retry_policy.jitter_percent,
  };
  const delay = backoffDelayMs(policy, rec.retry_count, random);
  return write(op, rec, now, {
    ...base,
    status: "pending",
    retry_count: rec.retry_count + 1,
    available_at: iso(now + delay),
  });
}

/** running → pending (retry after back-off), failed (dead letter) or cancelled. */
export function failAttempt(
  rec: TaskRecord,
  now: number,
  ref: AttemptRef,
  failure: Failure,
  random: () => number = Math.random,
): Transition {
  const err = mine("failAttempt", rec, ref);
  if (err) return no(rec, err);
  return failOrRetry("failAttempt", rec, now, failure, ref.workerId, random);
}

/** A running task whose lease ended (its worker died or hung): retry or dead-letter it. */
export function recoverLease(
  rec: TaskRecord,
  now: number,
  random: () => number = Math.random,
): Transition {
  const refused = refusal("recoverLease", rec.status);
  if (refused !== null) return no(rec, refused);
  if (rec.lease_expires_at === null || Date.parse(rec.lease_expires_at) > now) {
    return no(rec, "lease has not expired");
  }
  const message =
    `lease expired at ${rec.lease_expires_at}: worker ${rec.worker_id ?? "?"} stopped ` +
    `(crashed, hung, or exceeded timeout ${rec.timeout_seconds}s)`;
  return failOrRetry(
    "recoverLease",
    rec,
    now,
    { message, kind: "lease_expired", permanent: false },
    rec.worker_id,
    random,
  );
}

/** A running task's lease moves to `now + leaseMs` (long tasks, `ctx.extendLease`). */
export function extendLease(
  rec: TaskRecord,
  now: number,
  ref: AttemptRef,
  leaseMs: number,
): Transition {
  const err = mine("extendLease", rec, ref);
  if (err) return no(rec, err);
  return write("extendLease", rec, now, { lease_expires_at: iso(now + leaseMs) });
}

/** running → pending at once, not counted as a failure (graceful shutdown gives work back). */
export function release(rec: TaskRecord, now: number, ref: AttemptRef): Transition {
  const err = mine("release", rec, ref);
  if (err) return no(rec, err);
  if (rec.cancel_requested) {
    return write("release", rec, now, {
      status: "cancelled",
      completed_at: iso(now),
      lease_expires_at: null,
    });
  }
  return write("release", rec, now, {
    status: "pending",
    available_at: iso(now),
    lease_expires_at: null,
  });
}

/**
 * running → pending as if never claimed: the handler never started (a rate-limited start
 * that came too late, src/worker/limiter.ts), so the attempt is not spent. Like
 * {@link release} otherwise (a cancel request cancels; due now, so the ready entry gets a
 * new key: on a bucket without versioning a stale cleanup of the old key, by a worker that
 * listed it before the claim, must not delete the new entry).
 */
export function unclaim(rec: TaskRecord, now: number, ref: AttemptRef): Transition {
  const t = release(rec, now, ref);
  if (!t.ok || t.next.status !== "pending") return t;
  return { ok: true, next: { ...t.next, attempt: rec.attempt - 1 } };
}

/**
 * A running task records its handler's latest progress value (`ctx.progress`). Also used to
 * fold the last value into the outcome's write ({@link withProgress}).
 */
export function setProgress(
  rec: TaskRecord,
  now: number,
  ref: AttemptRef,
  value: unknown,
): Transition {
  const err = mine("setProgress", rec, ref);
  if (err) return no(rec, err);
  return write("setProgress", rec, now, withProgress(rec, now, value));
}

/** The fields a progress value changes, to merge into a write (no revision bump by itself). */
export function withProgress(rec: TaskRecord, now: number, value: unknown): TaskRecord {
  return { ...rec, progress: value, progress_at: iso(now) };
}

/** Snoozes a task may take when its record does not say (submit option `maxSnoozes`). */
export const DEFAULT_MAX_SNOOZES = 100;

/**
 * running → pending after `delayMs`, without counting a failed attempt (`SnoozeError`,
 * `ctx.snooze`). Beyond the task's snooze limit the attempt fails for good instead (the
 * count never resets, so a retry would snooze and fail again); after a cancel request the
 * task is cancelled.
 */
export function snooze(
  rec: TaskRecord,
  now: number,
  ref: AttemptRef,
  delayMs: number,
  random: () => number = Math.random,
): Transition {
  const err = mine("snooze", rec, ref);
  if (err) return no(rec, err);
  if (rec.cancel_requested) {
    return write("snooze", rec, now, {
      status: "cancelled",
      completed_at: iso(now),
      lease_expires_at: null,
    });
  }
  const done = rec.snoozes ?? 0;
  const max = rec.max_snoozes ?? DEFAULT_MAX_SNOOZES;
  if (done >= max) {
    const message = `snoozed ${done} times, the task's limit (submit option maxSnoozes ${max})`;
    return failOrRetry(
      "snooze",
      rec,
      now,
      { message, kind: "permanent", permanent: true },
      ref.workerId,
      random,
    );
  }
  return write("snooze", rec, now, {
    status: "pending",
    snoozes: done + 1,
    available_at: iso(now + delayMs),
    lease_expires_at: null,
  });
}

/** Cancel: pending → cancelled; running → cancel requested; terminal → unchanged (says why). */
export function cancel(rec: TaskRecord, now: number, reason: string | null): Transition {
  const refused = refusal("cancel", rec.status);
  if (refused !== null) return no(rec, refused);
  if (rec.status === "pending") {
    return write("cancel", rec, now, {
      status: "cancelled",
      cancel_reason: reason,
      completed_at: iso(now),
    });
  }
  if (rec.cancel_requested) return no(rec, "cancellation already requested");
  return write("cancel", rec, now, { cancel_requested: true, cancel_reason: reason });
}

/** pending → expired once `expires_at` has passed. */
export function expire(rec: TaskRecord, now: number): Transition {
  const refused = refusal("expire", rec.status);
  if (refused !== null) return no(rec, refused);
  if (rec.expires_at === null || Date.parse(rec.expires_at) > now) {
    return no(rec, "task has not expired");
  }
  return write("expire", rec, now, { status: "expired", completed_at: iso(now) });
}

/**
 * failed, cancelled or expired → pending, available now, retry count reset. An expired
 * task loses its expiry (it would expire again at once); history keeps the old versions.
 */
export function retry(rec: TaskRecord, now: number): Transition {
  const refused = refusal("retry", rec.status);
  if (refused !== null) return no(rec, refused);
  return write("retry", rec, now, {
    status: "pending",
    retry_count: 0,
    available_at: iso(now),
    expires_at: rec.status === "expired" ? null : rec.expires_at,
    cancel_requested: false,
    cancel_reason: null,
    completed_at: null,
    lease_expires_at: null,
  });
}

/** A terminal task → archived (retention). */
export function archive(rec: TaskRecord, now: number): Transition {
  const refused = refusal("archive", rec.status);
  if (refused !== null) return no(rec, refused);
  return write("archive", rec, now, { status: "archived" });
}

/**
 * pending or running → the same state in another index lane (a reshard). Nothing else
 * changes: a running task's worker keeps its attempt and lease.
 */
export function moveLane(rec: TaskRecord, now: number, shard: string): Transition {
  const refused = refusal("moveLane", rec.status);
  if (refused !== null) return no(rec, refused);
  if (rec.shard === shard) return no(rec, `task is already in shard ${shard}`);
  return write("moveLane", rec, now, { shard }); // (the lease, if any, leaves its group)
}

/**
 * pending → pending without `ready_batch`: the task's batch entry is missing (the sweep),
 * so it gets its own ready entry (written first).
 */
export function leaveBatch(rec: TaskRecord, now: number): Transition {
  const refused = refusal("leaveBatch", rec.status);
  if (refused !== null) return no(rec, refused);
  if (rec.ready_batch === undefined) return no(rec, "task is not under a batch entry");
  return write("leaveBatch", rec, now, { ready_batch: undefined });
}

/**
 * Mark a task for deletion (`queue.delete`): a finished task keeps its status and gains
 * `deleting_at`; a pending one (only with `pending`) becomes `cancelled` in the same write,
 * so a worker's claim loses its compare-and-swap and finds nothing to run. A running task is
 * refused (cancel it first). After this write no transition applies to the task any more.
 */
export function markDeleting(
  rec: TaskRecord,
  now: number,
  options: { pending?: boolean } = {},
): Transition {
  const refused = refusal("markDeleting", rec.status);
  if (refused !== null) return no(rec, refused);
  if (rec.status === "pending") {
    if (!options.pending) return no(rec, "task is pending; pass pending: true (--pending)");
    return write("markDeleting", rec, now, {
      status: "cancelled",
      cancel_reason: rec.cancel_reason ?? "deleted",
      completed_at: iso(now),
      deleting_at: iso(now),
    });
  }
  return write("markDeleting", rec, now, { deleting_at: iso(now) });
}
