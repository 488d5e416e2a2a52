/**
 * Worker heartbeats: `workers/{id}.json`, for `oq workers` and operators. Written at
 * start, every `busyMs` while tasks run, every `idleMs` otherwise, and deleted at a clean
 * stop, after the last write has landed.
 *
 * @module
 */

import type { QueueContext } from "../protocol/context.ts";
import { deleteHeartbeat, type HeartbeatRecord, writeHeartbeat } from "../protocol/heartbeats.ts";
import type { LongTimeout } from "../base/timer.ts";

/** Writes one worker's heartbeat on a timer. */
export class Heartbeat {
  readonly #queue: QueueContext;
  #base: Omit<HeartbeatRecord, "last_seen_at" | "in_flight" | "in_flight_tasks">;
  readonly #inFlight: () => string[];
  readonly #busyIntervalMs: number;
  readonly #idleIntervalMs: number;
  readonly #onError: (error: Error) => void;
  #timer: LongTimeout | undefined;
  #stopped = true;
  #lastBusy = false;
  // The last write, in flight or done. Writes are chained, never concurrent, and stop()
  // waits for the last one: a beat still in flight when the worker stops would otherwise
  // land after the delete and show the stopped worker as live until it turns stale.
  #writing: Promise<void> = Promise.resolve();

  /**
   * Prepare the heartbeat of a worker. `onError` hears of a failed delete at stop (the
   * heartbeat then stays until it turns stale); a failed beat is retried by the next one.
   */
  constructor(
    queue: QueueContext,
    base: Omit<
      HeartbeatRecord,
      "last_seen_at" | "in_flight" | "in_flight_tasks" | "schema_version"
    >,
    inFlight: () => string[],
    intervals: { busyMs: number; idleMs: number },
    onError: (error: Error) => void = () => {},
  ) {
    this.#queue = queue;
    this.#base = { schema_version: 1, ...base };
    this.#inFlight = inFlight;
    this.#busyIntervalMs = intervals.busyMs;
    this.#idleIntervalMs = intervals.idleMs;
    this.#onError = onError;
  }

  /** Write now, then keep writing on the timer. */
  async start(): Promise<void> {
    this.#stopped = false;
    await this.beat();
  }

  /** Record the shards the worker now polls (after a reshard); written with the next beat. */
  setShards(shards: string[]): void {
    this.#base = { ...this.#base, shards };
  }

  /** Write the heartbeat now (one PUT, after any write in flight) and re-arm the timer. Never throws. */
  async beat(): Promise<void> {
    if (this.#stopped) return;
    this.#timer?.cancel();
    const write = this.#writing.then(() => this.#write()).catch(() => undefined);
    this.#writing = write;
    await write;
    // Only the latest beat re-arms, so overlapping calls leave one timer.
    if (!this.#stopped && this.#writing === write) {
      this.#timer?.cancel();
      this.#timer = this.#queue.clock.setTimer(
        () => void this.beat(),
        this.#lastBusy ? this.#busyIntervalMs : this.#idleIntervalMs,
      );
    }
  }

  async #write(): Promise<void> {
    if (this.#stopped) return; // stop() came while this beat waited for the one before
    const tasks = this.#inFlight();
    this.#lastBusy = tasks.length > 0;
    const rec: HeartbeatRecord = {
      ...this.#base,
      last_seen_at: new Date(this.#queue.clock.now()).toISOString(),
      in_flight: tasks.length,
      in_flight_tasks: tasks.slice(0, 200),
    };
    await writeHeartbeat(this.#queue, rec).catch(() => undefined);
  }

  /** Called when the worker goes from idle to busy: beat at once if the last beat said idle. */
  busy(): void {
    // Only while started: a worker driven by pollOnce() alone writes no heartbeat.
    if (!this.#lastBusy && !this.#stopped) void this.beat();
  }

  /**
   * A clean stop: stop the timer, let a write in flight land, then delete the heartbeat.
   * Resolves once the heartbeat is gone (or the delete failed, reported to `onError`).
   * Does nothing when not started.
   */
  async stop(): Promise<void> {
    if (this.#stopped) return;
    this.#stopped = true;
    this.#timer?.cancel();
    this.#timer = undefined;
    await this.#writing;
    await deleteHeartbeat(this.#queue, this.#base.worker_id).catch(
      (e: unknown) => this.#onError(e instanceof Error ? e : new Error(String(e))),
    );
  }
}
