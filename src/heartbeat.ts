/**
 * Worker heartbeats: `workers/{id}.json`, for `oq workers` and operators. Written at
 * start, every `busyIntervalMs` while tasks run, every `idleIntervalMs` otherwise, and
 * deleted at a clean stop.
 *
 * @module
 */

import { z } from "zod";
import type { Queue } from "./queue.ts";
import { type LongTimeout, setLongTimeout } from "./timer.ts";

/** The stored heartbeat. */
export const HeartbeatSchema = z.object({
  schema_version: z.literal(1),
  worker_id: z.string(),
  shards: z.array(z.string()),
  task_types: z.array(z.string()),
  started_at: z.string(),
  last_seen_at: z.string(),
  in_flight: z.number().int().nonnegative(),
  in_flight_tasks: z.array(z.string()),
  concurrency: z.number().int().positive(),
  runtime: z.string(),
});

/** A worker heartbeat as stored. */
export type HeartbeatRecord = z.infer<typeof HeartbeatSchema>;

/** Writes one worker's heartbeat on a timer. */
export class Heartbeat {
  readonly #queue: Queue;
  #base: Omit<HeartbeatRecord, "last_seen_at" | "in_flight" | "in_flight_tasks">;
  readonly #inFlight: () => string[];
  #timer: LongTimeout | undefined;
  #stopped = true;
  #lastBusy = false;

  /** Prepare the heartbeat of a worker. */
  constructor(
    queue: Queue,
    base: Omit<
      HeartbeatRecord,
      "last_seen_at" | "in_flight" | "in_flight_tasks" | "schema_version"
    >,
    inFlight: () => string[],
    readonly busyIntervalMs: number,
    readonly idleIntervalMs: number,
  ) {
    this.#queue = queue;
    this.#base = { schema_version: 1, ...base };
    this.#inFlight = inFlight;
  }

  /** Record the shards the worker now polls (after a reshard); written with the next beat. */
  setShards(shards: string[]): void {
    this.#base = { ...this.#base, shards };
  }

  /** Write now, then keep writing on the timer. */
  async start(): Promise<void> {
    this.#stopped = false;
    await this.beat();
  }

  /** Write the heartbeat now (one PUT) and re-arm the timer. Never throws. */
  async beat(): Promise<void> {
    this.#timer?.cancel();
    const tasks = this.#inFlight();
    this.#lastBusy = tasks.length > 0;
    const rec: HeartbeatRecord = {
      ...this.#base,
      last_seen_at: new Date(this.#queue.store.now()).toISOString(),
      in_flight: tasks.length,
      in_flight_tasks: tasks.slice(0, 200),
    };
    await this.#queue.store.put(
      this.#queue.keys.worker(this.#base.worker_id),
      JSON.stringify(rec),
      {
        contentType: "application/json",
      },
    ).catch(() => undefined);
    if (!this.#stopped) {
      this.#timer = setLongTimeout(
        () => void this.beat(),
        this.#lastBusy ? this.busyIntervalMs : this.idleIntervalMs,
      );
    }
  }

  /** Called when the worker goes from idle to busy: beat at once if the last beat said idle. */
  busy(): void {
    // Only while started: a worker driven by pollOnce() alone writes no heartbeat.
    if (!this.#lastBusy && !this.#stopped) void this.beat();
  }

  /** Stop the timer and delete the heartbeat (a clean stop). */
  async stop(): Promise<void> {
    this.#stopped = true;
    this.#timer?.cancel();
    await this.#queue.store.delete(this.#queue.keys.worker(this.#base.worker_id)).catch(() =>
      undefined
    );
  }
}
