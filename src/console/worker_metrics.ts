/**
 * A worker's own Prometheus metrics, counted from its public events (`task:claimed`,
 * `task:completed`, `task:retried`, `task:snoozed`, `task:failed`, `task:cancelled`,
 * `task:released`, `task:lost`, `worker:error`) and from its store's request counters. `oq worker
 * --metrics-port` serves them; a program that runs a `Worker` can serve `metrics.text()`
 * from its own HTTP server.
 *
 * @module
 */

import type { ObjectStore } from "../store/types.ts";
import { REQUEST_KINDS } from "../s3/counters.ts";
import type { Worker } from "../worker/worker.ts";
import {
  Exposition,
  type HistogramData,
  newHistogram,
  observe,
  PROMETHEUS_CONTENT_TYPE,
} from "./prometheus.ts";

/**
 * Default buckets of the handler duration histogram, in seconds (5 ms to 10 minutes).
 *
 * @example
 * ```ts
 * import { DURATION_BUCKETS, WorkerMetrics } from "../../console.ts";
 * // Longer jobs: keep the defaults and add an hour.
 * const metrics = new WorkerMetrics({ durationBuckets: [...DURATION_BUCKETS, 3600] });
 * ```
 */
export const DURATION_BUCKETS: readonly number[] = [
  0.005,
  0.01,
  0.025,
  0.05,
  0.1,
  0.25,
  0.5,
  1,
  2.5,
  5,
  10,
  30,
  60,
  120,
  300,
  600,
];

/** How an attempt ended, as counted. */
export type AttemptOutcome =
  | "completed"
  | "failed"
  | "retried"
  | "snoozed"
  | "cancelled"
  | "released"
  | "lost";

/**
 * Every outcome {@link WorkerMetrics} counts.
 *
 * @example
 * ```ts
 * import { ATTEMPT_OUTCOMES } from "../../console.ts";
 * ATTEMPT_OUTCOMES.includes("lost"); // true: oq_worker_tasks_total{outcome="lost"}
 * ```
 */
export const ATTEMPT_OUTCOMES: readonly AttemptOutcome[] = [
  "completed",
  "failed",
  "retried",
  "snoozed",
  "cancelled",
  "released",
  "lost",
];

/** Options of {@link WorkerMetrics}. */
export interface WorkerMetricsOptions {
  /** Upper bounds of the duration histogram, in seconds, ascending. @default DURATION_BUCKETS */
  durationBuckets?: readonly number[];
  /** Milliseconds of a monotonic clock, for durations. @default performance.now */
  now?: () => number;
}

/**
 * Counts one worker's task outcomes by type, handler durations, errors and S3 requests.
 *
 * @example
 * ```ts
 * import { MemoryStore, Queue, Worker } from "../../mod.ts";
 * import { WorkerMetrics } from "./worker_metrics.ts";
 * const queue = new Queue(new MemoryStore());
 * const worker = new Worker(queue, "w1").task("email", () => ({ sent: true }));
 * const metrics = new WorkerMetrics();
 * metrics.attach(worker, queue.store);
 * console.log(metrics.text().includes("oq_worker_tasks_total")); // true
 * ```
 */
export class WorkerMetrics {
  readonly #bounds: readonly number[];
  readonly #now: () => number;
  readonly #started = new Map<string, { taskType: string; at: number }>();
  // "outcome\ntype" -> count
  readonly #outcomes = new Map<string, number>();
  readonly #claimed = new Map<string, number>();
  readonly #durations = new Map<string, HistogramData>();
  readonly #errors = new Map<string, number>();
  #workerId = "";
  #store: ObjectStore | null = null;

  /** Empty metrics. */
  constructor(options: WorkerMetricsOptions = {}) {
    const bounds = options.durationBuckets ?? DURATION_BUCKETS;
    if (bounds.length === 0 || bounds.some((b, i) => !(b > 0) || (i > 0 && b <= bounds[i - 1]!))) {
      throw new RangeError("Invalid durationBuckets: positive bounds in ascending order");
    }
    this.#bounds = bounds;
    this.#now = options.now ?? (() => performance.now());
  }

  /** Count a worker's events (and `store`'s requests); returns a function that stops counting. */
  attach(worker: Worker, store?: ObjectStore): () => void {
    this.#workerId = worker.id;
    this.#store = store ?? null;
    const key = (t: { id: string; attempt: number }) => `${t.id}#${t.attempt}`;
    const end = (
      t: { id: string; attempt: number; taskType: string },
      o: AttemptOutcome,
      ms?: number,
    ) => {
      const started = this.#started.get(key(t));
      this.#started.delete(key(t));
      const durationMs = ms ?? (started ? this.#now() - started.at : undefined);
      this.#count(o, t.taskType, durationMs);
    };
    const offs = [
      worker.on("task:claimed", ({ task }) => {
        this.#started.set(key(task), { taskType: task.taskType, at: this.#now() });
        this.#claimed.set(task.taskType, (this.#claimed.get(task.taskType) ?? 0) + 1);
      }),
      worker.on("task:completed", ({ task, durationMs }) => end(task, "completed", durationMs)),
      worker.on("task:retried", ({ task }) => end(task, "retried")),
      worker.on("task:snoozed", ({ task }) => end(task, "snoozed")),
      worker.on("task:failed", ({ task }) => end(task, "failed")),
      worker.on("task:cancelled", ({ task }) => end(task, "cancelled")),
      worker.on("task:released", ({ task }) => end(task, "released")),
      worker.on("task:lost", ({ taskId }) => {
        // The event names the task only: find its attempt among those started.
        const k = [...this.#started.keys()].find((s) => s.startsWith(`${taskId}#`));
        const started = k === undefined ? undefined : this.#started.get(k);
        if (k !== undefined) this.#started.delete(k);
        this.#count(
          "lost",
          started?.taskType ?? "",
          started ? this.#now() - started.at : undefined,
        );
      }),
      worker.on("worker:error", ({ context }) => {
        this.#errors.set(context, (this.#errors.get(context) ?? 0) + 1);
      }),
    ];
    return () => offs.forEach((off) => off());
  }

  #count(outcome: AttemptOutcome, taskType: string, durationMs: number | undefined): void {
    const k = `${outcome}\n${taskType}`;
    this.#outcomes.set(k, (this.#outcomes.get(k) ?? 0) + 1);
    if (durationMs === undefined) return;
    let h = this.#durations.get(k);
    if (!h) this.#durations.set(k, h = newHistogram(this.#bounds));
    observe(h, durationMs / 1000);
  }

  /** Tasks that ended with `outcome` (of one type, or all), since counting began. */
  count(outcome: AttemptOutcome, taskType?: string): number {
    let n = 0;
    for (const [k, v] of this.#outcomes) {
      const [o, t] = k.split("\n") as [string, string];
      if (o === outcome && (taskType === undefined || t === taskType)) n += v;
    }
    return n;
  }

  /** The metrics in the Prometheus text format. */
  text(): string {
    const e = new Exposition();
    const base = { worker_id: this.#workerId };
    e.family("oq_worker_tasks_claimed_total", "counter", "Tasks this worker claimed, by type");
    for (const [t, n] of sorted(this.#claimed)) {
      e.sample("oq_worker_tasks_claimed_total", n, { ...base, task_type: t });
    }
    e.family(
      "oq_worker_tasks_total",
      "counter",
      "Attempts this worker ended, by outcome (completed, failed, retried, snoozed, cancelled, released, lost) and type",
    );
    for (const [k, n] of sorted(this.#outcomes)) {
      const [outcome, t] = k.split("\n") as [string, string];
      e.sample("oq_worker_tasks_total", n, { ...base, outcome, task_type: t });
    }
    e.family("oq_worker_in_flight_tasks", "gauge", "Tasks this worker runs now");
    e.sample("oq_worker_in_flight_tasks", this.#started.size, base);
    e.family(
      "oq_worker_handler_duration_seconds",
      "histogram",
      "Time from claim to the end of an attempt, by outcome and type",
    );
    for (const [k, h] of sorted(this.#durations)) {
      const [outcome, t] = k.split("\n") as [string, string];
      e.histogram("oq_worker_handler_duration_seconds", h, { ...base, outcome, task_type: t });
    }
    e.family(
      "oq_worker_errors_total",
      "counter",
      "Errors of the worker itself, by where they happened",
    );
    for (const [context, n] of sorted(this.#errors)) {
      e.sample("oq_worker_errors_total", n, { ...base, context });
    }
    if (this.#store) {
      e.family(
        "oq_worker_s3_requests_total",
        "counter",
        "S3 requests of this worker's store, by kind",
      );
      const counts = this.#store.counters.snapshot();
      for (const kind of REQUEST_KINDS) {
        e.sample("oq_worker_s3_requests_total", counts[kind], { ...base, kind });
      }
    }
    return e.text();
  }

  /** A web-standard handler answering `GET /metrics` with {@link WorkerMetrics.text} (404 otherwise). */
  handler(): (request: Request) => Promise<Response> {
    return (request) => {
      const path = new URL(request.url).pathname;
      if (path !== "/metrics" || (request.method !== "GET" && request.method !== "HEAD")) {
        return Promise.resolve(new Response("Not found: GET /metrics\n", { status: 404 }));
      }
      return Promise.resolve(
        new Response(this.text(), { headers: { "content-type": PROMETHEUS_CONTENT_TYPE } }),
      );
    };
  }
}

function sorted<T>(m: Map<string, T>): Array<[string, T]> {
  return [...m.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
}
