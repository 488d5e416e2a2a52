/**
 * Running one claimed task: the handler's context, its timeout, cancellation checks, lease
 * extension, and recording the outcome with a compare-and-swap that never overwrites a
 * newer state (a completion that finds its lease lost changes nothing).
 *
 * @module
 */

import { Bytes } from "../task/bytes.ts";
import type { QueueContext } from "../protocol/context.ts";
import {
  coerceError,
  type Handler,
  PermanentError,
  TaskAbortedError,
  type TaskContext,
} from "./handler.ts";
import { checkSeconds, MAX_TIMEOUT_SECONDS } from "../base/limits.ts";
import { encodeOutputJson } from "../task/new_task.ts";
import type { PreparedOutput } from "../protocol/payloads.ts";
import { PayloadError } from "../task/payload_ref.ts";
import { Task, type TaskRecord } from "../task/task.ts";
import {
  handlerFailure,
  type Outcome,
  type Recorded,
  recordedOf,
  transitionFor,
} from "./outcome.ts";
import type { EntryRef, Versioned } from "../protocol/tasks.ts";
import type { LongTimeout } from "../base/timer.ts";
import * as transitions from "../task/transitions.ts";
import { DEFAULT_PROGRESS_INTERVAL_MS, ProgressReporter } from "./progress.ts";
import type { ExecutionSettings } from "./execution_settings.ts";
import { AttemptLease } from "./attempt_lease.ts";
import { LazyAbort } from "./lazy_abort.ts";
import { taskContext } from "./task_context.ts";

export type { Outcome, Recorded } from "./outcome.ts";
export type { ExecutionSettings } from "./execution_settings.ts";

const MAX_ROUNDS = 16;

/** One claimed task being run. */
export class Execution {
  /** Task id. */
  readonly taskId: string;
  readonly #queue: QueueContext;
  readonly #s: ExecutionSettings;
  #current: Versioned;
  readonly #lease: AttemptLease;
  readonly #abort = new LazyAbort();
  #cancelRequested = false;
  #deadline: number;
  #timer: LongTimeout | undefined;
  #checker: LongTimeout | undefined;
  #settleAbort: ((o: Outcome) => void) | undefined;
  #finished = false;
  #keepLease = false;
  readonly #progress: ProgressReporter;

  /** Prepare the execution of a claimed task. */
  constructor(
    queue: QueueContext,
    claimed: Versioned,
    lease: EntryRef,
    settings: ExecutionSettings,
  ) {
    this.#queue = queue;
    this.#s = settings;
    this.#current = claimed;
    this.#lease = new AttemptLease(
      queue,
      lease,
      (l) => (settings.releaseLease ?? ((e) => queue.tasks.deleteEntry(e)))(l, this.taskId),
    );
    this.taskId = claimed.rec.id;
    this.#deadline = this.#queue.clock.now() + claimed.rec.timeout_seconds * 1000;
    this.#progress = new ProgressReporter(
      queue.clock,
      settings.progressIntervalMs ?? DEFAULT_PROGRESS_INTERVAL_MS,
      (value) => this.#writeProgress(value),
    );
  }

  /** The record as last written by this execution. */
  get record(): TaskRecord {
    return this.#current.rec;
  }

  /**
   * Abort the handler. On shutdown or a lost lease, the outcome is settled after
   * `abortGraceMs` even if the handler ignores its signal (shutdown: the task is given
   * back; lost lease: nothing is recorded), so a stuck handler cannot hang `stop()`.
   * After a cancel request the worker waits for the handler, as documented.
   */
  abort(kind: TaskAbortedError["kind"], message: string): void {
    if (this.#abort.aborted) return;
    this.#abort.abort(new TaskAbortedError(kind, message));
    if (kind === "shutdown" || kind === "lease_lost") {
      this.#queue.clock.setTimer(
        () => {
          this.#settleAbort?.(
            kind === "shutdown" ? { kind: "released" } : {
              kind: "failed",
              error: new TaskAbortedError(kind, message),
              failure: "retryable",
            },
          );
        },
        this.#s.abortGraceMs,
        { unref: true },
      );
    }
  }

  /**
   * Run the handler and record the outcome. Never throws. The lease entry is deleted once
   * the outcome is written, or once the task turned out no longer ours; when nothing could
   * be written (the store kept failing) it stays, so the monitor recovers the task when
   * its lease ends instead of the slow sweep finding a running task without one.
   */
  async run(handler: Handler): Promise<Recorded> {
    this.#lease.arm(() => this.#current.rec, this.#s);
    const outcome = await this.#runHandler(handler);
    this.#finished = true;
    this.#timer?.cancel();
    this.#checker?.cancel();
    this.#lease.disarm();
    // The last progress value not yet stored rides on the outcome's write (no extra PUT).
    const progress = await this.#progress.close();
    const recorded = await this.#settle(outcome, progress);
    if (!this.#keepLease) await this.#lease.release(this.#current.rec);
    return recorded;
  }

  async #runHandler(handler: Handler): Promise<Outcome> {
    this.#armTimeout();
    this.#armCheck();
    const aborted = new Promise<Outcome>((resolve) => (this.#settleAbort = resolve));
    const handled = (async (): Promise<Outcome> => {
      let input: unknown;
      try {
        input = await this.#input();
      } catch (e) {
        // A missing or corrupt input stays so: fail without a retry. A store error may pass.
        const error = coerceError(e);
        const permanent = error instanceof PayloadError;
        return {
          kind: "failed",
          error: permanent ? new PermanentError(error.message) : error,
          failure: permanent ? "permanent" : "retryable",
        };
      }
      if (await this.#s.beforeStart?.() === false) return { kind: "released", unstarted: true };
      const ctx = this.#context(input);
      try {
        const output = await handler(input, ctx);
        return { kind: "completed", output };
      } catch (e) {
        return handlerFailure(e, this.#abort.reason, this.#ownInputKey());
      }
    })();
    return await Promise.race([handled, aborted]);
  }

  // Task timers never keep a process alive by themselves (the worker's loop does), and run
  // on chained timers: a timeout over 24.8 days must not fire at once.
  #armTimeout(): void {
    this.#timer?.cancel();
    const ms = Math.max(0, this.#deadline - this.#queue.clock.now());
    this.#timer = this.#queue.clock.setTimer(
      () => {
        const seconds = this.#current.rec.timeout_seconds;
        const err = new TaskAbortedError("timeout", `timed out after ${seconds}s`);
        this.#abort.abort(err);
        // Give the handler a moment to wind down, then record the timeout whatever it does.
        this.#queue.clock.setTimer(
          () => this.#settleAbort?.({ kind: "failed", error: err, failure: "timeout" }),
          this.#s.abortGraceMs,
          { unref: true },
        );
      },
      ms,
      { unref: true },
    );
  }

  // The cancel/lease check, one after the other (never two at once).
  #armCheck(): void {
    this.#checker = this.#queue.clock.setTimer(
      async () => {
        await this.#checkTask();
        if (!this.#finished) this.#armCheck();
      },
      this.#s.cancelCheckIntervalMs,
      { unref: true },
    );
  }

  // The key of the task's own input payload, if it has one (see handlerFailure).
  #ownInputKey(): string | undefined {
    const ref = this.#current.rec.input_ref;
    return ref && this.#queue.keys.payload(this.taskId, "input", ref.sha256);
  }

  // The handler's input: inline, or read from beside the task (one GET, hash checked).
  #input(): Promise<unknown> {
    const rec = this.#current.rec;
    if (!rec.input_ref) return Promise.resolve(rec.input);
    return this.#queue.payloads.read(rec.id, "input", rec.input_ref, this.#abort.signal);
  }

  #context(input: unknown): TaskContext {
    return taskContext({
      rec: this.#current.rec,
      input,
      abort: this.#abort,
      workerId: this.#s.workerId,
      cancelRequested: () => this.#cancelRequested,
      extendLease: (seconds) => this.#extendLease(seconds),
      progress: (value) => this.#progress.report(value),
    });
  }

  async #extendLease(seconds: number): Promise<void> {
    checkSeconds("lease extension", seconds, MAX_TIMEOUT_SECONDS); // a rejection, not a throw
    return await this.#lease.serial(() => this.#extend(seconds));
  }

  async #extend(seconds: number): Promise<void> {
    const ref = { workerId: this.#s.workerId, attempt: this.#current.rec.attempt };
    for (let round = 0; round < MAX_ROUNDS; round++) {
      const base = this.#current; // the version this write replaces (others may write meanwhile)
      const t = transitions.extendLease(
        base.rec,
        this.#queue.clock.now(),
        ref,
        seconds * 1000 + this.#s.leaseGraceMs,
      );
      if (!t.ok) throw new Error(`Cannot extend the lease of ${this.taskId}: ${t.reason}`);
      const lease = await this.#queue.tasks.putLease(t.next);
      const w = await this.#queue.tasks.replace(t.next, base.etag);
      if (w) {
        this.#current = w;
        await this.#lease.replace(lease);
        this.#deadline = this.#queue.clock.now() + seconds * 1000;
        this.#armTimeout();
        return;
      }
      await this.#queue.tasks.deleteEntry(lease);
      if (!(await this.#refresh())) {
        throw new Error(`Cannot extend the lease of ${this.taskId}: lease lost`);
      }
    }
  }

  /** One progress write (compare-and-swap); false when the attempt is no longer ours. */
  async #writeProgress(value: unknown): Promise<boolean> {
    const ref = { workerId: this.#s.workerId, attempt: this.#current.rec.attempt };
    for (let round = 0; round < MAX_ROUNDS; round++) {
      const base = this.#current;
      const t = transitions.setProgress(base.rec, this.#queue.clock.now(), ref, value);
      if (!t.ok || this.#finished) return false;
      const w = await this.#queue.tasks.replace(t.next, base.etag);
      if (w) {
        if (this.#current === base) this.#current = w;
        return true;
      }
      if (!(await this.#refresh())) return false;
    }
    return false;
  }

  /** Periodic check: one conditional GET; learns about cancel requests and lost leases. */
  async #checkTask(): Promise<void> {
    if (this.#finished) return;
    try {
      const r = await this.#queue.tasks.readIfChanged(this.taskId, this.#current.etag);
      if (r === "unchanged") return;
      this.#observe(r);
    } catch {
      // Transient: check again next interval.
    }
  }

  // Re-read after a lost write; returns false when the attempt is no longer ours.
  async #refresh(): Promise<boolean> {
    const r = await this.#queue.tasks.read(this.taskId);
    return this.#observe(r);
  }

  #observe(r: Versioned | null): boolean {
    const mine = r !== null && r.rec.status === "running" && r.rec.worker_id === this.#s.workerId &&
      r.rec.attempt === this.#current.rec.attempt;
    if (!mine) {
      this.abort("lease_lost", `lease lost: the task is now ${r?.rec.status ?? "gone"}`);
      return false;
    }
    this.#current = r;
    if (r.rec.cancel_requested && !this.#cancelRequested) {
      this.#cancelRequested = true;
      this.abort(
        "cancelled",
        `cancellation requested${r.rec.cancel_reason ? `: ${r.rec.cancel_reason}` : ""}`,
      );
    }
    return true;
  }

  /**
   * Record the outcome; never throws. An output the task cannot hold (not JSON, or over
   * `maxOutputBytes`) fails the task at once, without a retry: the handler would return it
   * again. An error while writing (the store failing, a record that cannot be written) is
   * recorded as a retryable failure with its reason when that write succeeds; when nothing
   * can be written the lease entry is kept and the attempt is reported lost.
   */
  async #settle(outcome: Outcome, progress?: { value: unknown }): Promise<Recorded> {
    let o = outcome;
    let prepared: PreparedOutput = { output: null };
    if (o.kind === "completed") {
      try {
        const max = this.#queue.options.maxOutputBytes;
        prepared = o.output instanceof Bytes
          ? { bytes: o.output } // streamed beside the task, whatever its size
          : this.#queue.payloads.prepareOutput(encodeOutputJson(o.output, max));
      } catch (e) {
        o = {
          kind: "failed",
          error: new PermanentError((e as Error).message),
          failure: "permanent",
        };
      }
    }
    try {
      if (o.kind === "completed") {
        // A large output is written before the completion that points to it: a crash or a
        // lost lease in between leaves an orphan payload (the sweep's), never a task without
        // its output.
        const stored = await this.#queue.payloads.putOutput(this.taskId, prepared);
        o = { kind: "completed", output: stored.output, outputRef: stored.ref };
      }
      return await this.#record(o, progress);
    } catch (e) {
      const reason = `the outcome could not be recorded: ${coerceError(e).message}`;
      try {
        return await this.#record({
          kind: "failed",
          error: new Error(reason),
          failure: "retryable",
        });
      } catch (e2) {
        this.#keepLease = true;
        return {
          kind: "lost",
          taskId: this.taskId,
          reason: `${reason}; nor the failure (${
            coerceError(e2).message
          }): the lease entry stays, so the monitor retries the task when the lease ends`,
        };
      }
    }
  }

  async #record(outcome: Outcome, progress?: { value: unknown }): Promise<Recorded> {
    const q = this.#queue;
    const ref = { workerId: this.#s.workerId, attempt: this.#current.rec.attempt };
    for (let round = 0; round < MAX_ROUNDS; round++) {
      const now = q.clock.now();
      const cur = this.#current.rec;
      const rec = progress ? transitions.withProgress(cur, now, progress.value) : cur;
      const t = transitionFor(outcome, rec, now, ref);
      if (!t.ok) return { kind: "lost", taskId: this.taskId, reason: t.reason };
      const w = t.next.status === "pending"
        ? await q.tasks.makePending(t.next, this.#current.etag)
        : await q.tasks.replace(t.next, this.#current.etag);
      if (w) {
        this.#current = w;
        return recordedOf(outcome, new Task(w.rec));
      }
      // Someone wrote first (a cancel request, or the monitor after our lease expired):
      // re-read and decide again; never overwrite a state that is no longer ours. A failed
      // re-read throws (see #settle): the task may still be ours, so its lease entry stays.
      if (!(await this.#refresh())) {
        return {
          kind: "lost",
          taskId: this.taskId,
          reason: "lease lost before the outcome was recorded",
        };
      }
    }
    return { kind: "lost", taskId: this.taskId, reason: "task kept changing" };
  }
}
