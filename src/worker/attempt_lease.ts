/**
 * The index entry of one attempt's lease, as its execution holds it: the task's own lease
 * entry, its lease group's, or its ready entry (`lease_index: "ready"`, src/worker/claim.ts)
 * until the attempt has run for `leaseEntryAfterMs` and writes its own. Changes of the entry
 * (that write, a lease extension's new entry, the release at the end) happen one at a time.
 *
 * @module
 */

import type { LongTimeout } from "../base/timer.ts";
import type { QueueContext } from "../protocol/context.ts";
import type { EntryRef } from "../protocol/tasks.ts";
import type { TaskRecord } from "../task/task.ts";

/**
 * The lease index of one attempt.
 *
 * @example
 * ```ts
 * import { MemoryStore, Queue, Worker } from "../../mod.ts";
 * const queue = new Queue(new MemoryStore());
 * await queue.submit("email", {});
 * // A worker's executions hold one each: the ready entry, until the attempt ends quickly.
 * const worker = new Worker(queue, "w1").task("email", () => ({ sent: true }));
 * await worker.pollOnce();
 * await worker.drain();
 * ```
 */
export class AttemptLease {
  #entry: EntryRef;
  #chain: Promise<unknown> = Promise.resolve();
  #timer: LongTimeout | undefined;
  readonly #queue: QueueContext;
  readonly #release: (lease: EntryRef) => Promise<void>;

  /** The attempt's entry `entry`; `release` gives an entry up (delete, or leave a group). */
  constructor(queue: QueueContext, entry: EntryRef, release: (lease: EntryRef) => Promise<void>) {
    this.#queue = queue;
    this.#entry = entry;
    this.#release = release;
  }

  /** Run `f` (a change of the entry) after the changes before it. */
  serial<T>(f: () => Promise<T>): Promise<T> {
    const run = this.#chain.then(f, f);
    this.#chain = run.catch(() => undefined);
    return run;
  }

  /**
   * When `record()` is indexed by its ready entry, write its own lease entry after
   * `leaseEntryAfterMs` unless the attempt has ended (then call `leaseEntryWritten`), and
   * give the ready entry up. The record is not rewritten: a running task under
   * `lease_index: "ready"` is indexed by its ready entry or its lease entry, whichever
   * exists (the monitor lists lease entries; the sweep checks both).
   */
  arm(
    record: () => TaskRecord,
    when: { leaseEntryAfterMs?: number; leaseEntryWritten?: () => void },
  ): void {
    if (record().lease_index !== "ready") return;
    this.#timer = this.#queue.clock.setTimer(
      () => {
        void this.serial(async () => {
          const rec = record();
          if (this.#timer === undefined || rec.lease_index !== "ready") return;
          if (rec.status !== "running") return;
          const entry = await this.#queue.tasks.putLease(rec);
          when.leaseEntryWritten?.();
          await this.replace(entry);
        }).catch(() => undefined); // the ready entry stays the index
      },
      when.leaseEntryAfterMs ?? 10_000,
      { unref: true },
    );
  }

  /** The attempt has ended: no lease entry is written from now on. */
  disarm(): void {
    this.#timer?.cancel();
    this.#timer = undefined;
  }

  /** Index the lease by `entry` from now on and give the previous entry up. */
  async replace(entry: EntryRef): Promise<void> {
    const old = this.#entry;
    this.#entry = entry;
    await this.#release(old);
  }

  /**
   * Give the entry up once the outcome `rec` is written. Not a ready entry the task is
   * pending under again (given back within the same millisecond: the same key, which on a
   * bucket without versioning a delete would remove).
   */
  release(rec: TaskRecord): Promise<void> {
    return this.serial(async () => {
      const pendingUnder = rec.status === "pending" &&
        this.#queue.tasks.readyKey(rec) === this.#entry.key;
      if (!pendingUnder) await this.#release(this.#entry);
    });
  }
}
