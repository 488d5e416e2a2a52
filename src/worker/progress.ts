/**
 * A running task's progress (`ctx.progress`): values checked at once, writes coalesced to at
 * most one per interval per task, and the last value not yet written handed to the
 * outcome's write, so the final value always lands with (or before) the task's end.
 *
 * @module
 */

import type { Clock } from "../base/clock.ts";
import type { LongTimeout } from "../base/timer.ts";

/** Largest progress value, as JSON (UTF-8 bytes). */
export const MAX_PROGRESS_BYTES = 4096;

/** Default of the worker option `progressIntervalMs`: at most one progress PUT per task per 5 s. */
export const DEFAULT_PROGRESS_INTERVAL_MS = 5000;

/**
 * Check a progress value and return it as it will be stored (through JSON); `TypeError`
 * for a value JSON cannot encode, `RangeError` for one over {@link MAX_PROGRESS_BYTES}.
 */
export function encodeProgress(value: unknown): unknown {
  let json: string | undefined;
  try {
    json = JSON.stringify(value);
  } catch (e) {
    throw new TypeError(`Task progress is not JSON-serializable: ${(e as Error).message}`);
  }
  if (json === undefined) {
    throw new TypeError(
      "Task progress is not JSON-serializable (undefined, a function or a symbol)",
    );
  }
  const size = new TextEncoder().encode(json).length;
  if (size > MAX_PROGRESS_BYTES) {
    throw new RangeError(
      `Task progress is ${size} bytes, over the limit of ${MAX_PROGRESS_BYTES}: report a number ` +
        `or a small object, and store large results as the output`,
    );
  }
  return JSON.parse(json);
}

/** A value reported, numbered so that a write can say which one it stored. */
interface Reported {
  seq: number;
  value: unknown;
}

/**
 * Coalesces one task's progress writes. `write` performs one (a compare-and-swap on the
 * task) and resolves true when it was stored; it is never called twice at once.
 */
export class ProgressReporter {
  readonly #clock: Clock;
  readonly #intervalMs: number;
  readonly #write: (value: unknown) => Promise<boolean>;
  #latest: Reported | null = null;
  #writtenSeq = 0;
  #lastWriteAt = Number.NEGATIVE_INFINITY;
  #timer: LongTimeout | undefined;
  #inFlight: Promise<void> | null = null;
  #closed = false;
  /** Progress PUT attempts made (each one conditional write, plus re-reads on a lost race). */
  writes = 0;

  /** A reporter writing at most once per `intervalMs` through `write`. */
  constructor(clock: Clock, intervalMs: number, write: (value: unknown) => Promise<boolean>) {
    this.#clock = clock;
    this.#intervalMs = intervalMs;
    this.#write = write;
  }

  /** Record a value (checked at once; throws for one that cannot be stored). */
  report(value: unknown): void {
    const stored = encodeProgress(value);
    if (this.#closed) return;
    this.#latest = { seq: (this.#latest?.seq ?? 0) + 1, value: stored };
    this.#schedule();
  }

  #schedule(): void {
    if (this.#closed || this.#inFlight || this.#timer || !this.#unwritten()) return;
    const wait = this.#lastWriteAt + this.#intervalMs - this.#clock.now();
    if (wait <= 0) return this.#flush();
    this.#timer = this.#clock.setTimer(
      () => {
        this.#timer = undefined;
        this.#flush();
      },
      wait,
      { unref: true },
    );
  }

  #unwritten(): Reported | null {
    return this.#latest && this.#latest.seq > this.#writtenSeq ? this.#latest : null;
  }

  #flush(): void {
    const r = this.#unwritten();
    if (this.#closed || r === null) return;
    this.#lastWriteAt = this.#clock.now();
    this.writes++;
    this.#inFlight = this.#write(r.value).then(
      (ok) => {
        if (ok) this.#writtenSeq = Math.max(this.#writtenSeq, r.seq);
      },
      () => undefined, // transient: the next value, or the outcome's write, carries it
    ).finally(() => {
      this.#inFlight = null;
      this.#schedule();
    });
  }

  /**
   * Stop writing (the handler ended): waits for a write in flight and returns the last
   * value not yet stored, for the outcome's write to carry (`undefined` when none).
   */
  async close(): Promise<{ value: unknown } | undefined> {
    this.#closed = true;
    this.#timer?.cancel();
    this.#timer = undefined;
    while (this.#inFlight) await this.#inFlight;
    const r = this.#unwritten();
    return r ? { value: r.value } : undefined;
  }
}
