/**
 * What every viewer of a console sees: one snapshot of the queue, refreshed at most once
 * per refresh interval whoever asks (pages, the JSON API, `/metrics`), so viewers share
 * reads instead of multiplying them. Nothing is read while nobody asks. A failed refresh
 * keeps the last good snapshot and is tried again after a short pause.
 *
 * @module
 */

import {
  CENSUS_STATES,
  type CensusCount,
  type CensusRefresh,
  type CensusState,
  TaskCensus,
} from "../queue/census.ts";
import { readTypeControl, toControl, type TypeControl } from "../protocol/flow.ts";
import { type LimitUsage, limitUsage } from "../protocol/type_limits.ts";
import { isHeartbeatStale, listHeartbeats } from "../protocol/heartbeats.ts";
import type { Queue } from "../queue/queue.ts";
import type { Schedule, ScheduleLastRun } from "../schedule/schedule.ts";
import { mapLimit } from "../base/concurrency.ts";
import { SchemaError } from "../base/errors.ts";
import { RequestCounters, type RequestCounts } from "../s3/counters.ts";
import type { Task } from "../task/task.ts";
import type { HeartbeatRecord } from "../protocol/heartbeats.ts";
import type { VersioningState } from "../store/types.ts";
import type { MeteredStore } from "./metered_store.ts";

/** A worker as the console shows it. */
export interface WorkerView extends HeartbeatRecord {
  /** Its heartbeat is older than 11 minutes (as `oq workers --json` says). */
  stale: boolean;
}

/** A schedule with its last and next run. */
export interface ScheduleView {
  /** The schedule. */
  schedule: Schedule;
  /** Its last regular run (`null` before the first). */
  lastRun: ScheduleLastRun | null;
  /** Its next due time (`null` when disabled or never again). */
  nextRunAt: Date | null;
}

/** One point of the depth chart. */
export interface DepthSample {
  /** Store time. */
  at: number;
  /** Ready tasks. */
  ready: number;
  /** Scheduled tasks. */
  scheduled: number;
  /** Running tasks. */
  running: number;
  /** Failed tasks. */
  failed: number;
}

/** A refreshed view of the queue. */
export interface Snapshot {
  /** Store time of the refresh. */
  at: Date;
  /** The census's figures of this refresh. */
  census: CensusRefresh;
  /** Tasks by state, type and lane. */
  counts: CensusCount[];
  /** Tasks by state. */
  totals: Record<CensusState, number>;
  /** When the longest-waiting ready task became due. */
  oldestReadyAt: Date | null;
  /** Workers, by id. */
  workers: WorkerView[];
  /** Schedules, by id. */
  schedules: ScheduleView[];
  /** Paused task types (of those with tasks, workers or schedules), by type. */
  paused: TypeControl[];
  /** Limited task types (of the same) with the use of their limits, by type. */
  limits: LimitUsage[];
  /** Requests this refresh sent, by kind. */
  requests: RequestCounts;
}

/** A refresh that failed. */
export interface RefreshError {
  /** What went wrong (no secret: see the console's `redact`). */
  message: string;
  /** Store time of the failure. */
  at: Date;
}

/** Options of {@link SnapshotCache}. */
export interface SnapshotOptions {
  /** Milliseconds a snapshot is served before the next request refreshes it. */
  refreshMs: number;
  /** Census reads per refresh. */
  maxReadsPerRefresh: number;
  /** Milliseconds between two full census refreshes. */
  fullListIntervalMs: number;
  /** Turn an error into a message that holds no secret. */
  describe: (error: unknown) => string;
}

/** Depth samples kept (6 hours at the default 30 s refresh). */
const MAX_SAMPLES = 720;
/** Task pages kept in the cache. */
const MAX_TASK_ENTRIES = 200;

interface TaskEntry {
  at: number;
  task: Promise<Task | null>;
  history?: Promise<Task[]>;
}

/**
 * The console's shared reads: the queue snapshot, the depth samples, single tasks with
 * their history, and the bucket's versioning state, each kept for the refresh interval.
 */
export class SnapshotCache {
  readonly #queue: Queue;
  readonly #store: MeteredStore;
  readonly #o: SnapshotOptions;
  readonly census: TaskCensus;
  #snapshot: Snapshot | null = null;
  #error: RefreshError | null = null;
  #attemptAt = -Infinity;
  #refreshing: Promise<void> | null = null;
  readonly #controls = new Map<string, { etag?: string; control: TypeControl | null }>();
  #samples: DepthSample[] = [];
  #refreshes = 0;
  #failures = 0;
  #tasks = new Map<string, TaskEntry>();
  #versioning: { at: number; state: Promise<VersioningState> } | null = null;

  /** A cache over the console's queue (whose store is the meter). */
  constructor(queue: Queue, store: MeteredStore, options: SnapshotOptions) {
    this.#queue = queue;
    this.#store = store;
    this.#o = options;
    this.census = new TaskCensus(queue, {
      maxReadsPerRefresh: options.maxReadsPerRefresh,
      fullListIntervalMs: options.fullListIntervalMs,
    });
  }

  /** The refresh interval in milliseconds. */
  get refreshMs(): number {
    return this.#o.refreshMs;
  }

  /** Successful refreshes so far. */
  get refreshes(): number {
    return this.#refreshes;
  }

  /** Failed refreshes so far. */
  get failures(): number {
    return this.#failures;
  }

  /** Depth samples, oldest first. */
  get samples(): readonly DepthSample[] {
    return this.#samples;
  }

  /**
   * The current snapshot (refreshed first when it is older than the refresh interval) and
   * the last refresh error, if the last refresh failed.
   */
  async current(options: { force?: boolean } = {}): Promise<
    { snapshot: Snapshot | null; error: RefreshError | null }
  > {
    const now = this.#store.now();
    // After a failure, try again sooner (but not at every request of a page full of them);
    // while the census has objects left to read, go on reading at the next request.
    const counting = (this.#snapshot?.census.unread ?? 0) > 0;
    const wait = this.#error ? Math.min(this.#o.refreshMs, 5000) : counting ? 0 : this.#o.refreshMs;
    if (options.force || now - this.#attemptAt >= wait) {
      this.#refreshing ??= this.#refresh().finally(() => (this.#refreshing = null));
    }
    if (this.#refreshing) await this.#refreshing;
    return { snapshot: this.#snapshot, error: this.#error };
  }

  async #refresh(): Promise<void> {
    this.#attemptAt = this.#store.now();
    const before = this.#store.counters.snapshot();
    try {
      const census = await this.census.refresh();
      const now = census.at.getTime();
      const [beats, schedules] = await Promise.all([
        listHeartbeats(this.#queue.context),
        this.#schedules(now),
      ]);
      const types = new Set([
        ...this.census.counts().map((c) => c.taskType),
        ...beats.flatMap((b) => b.task_types),
        ...schedules.map((x) => x.schedule.taskType),
      ]);
      const paused = await this.#paused([...types].sort());
      const limits = await this.#limits([...types].sort());
      const totals = Object.fromEntries(
        CENSUS_STATES.map((s) => [s, this.census.total(s)]),
      ) as Record<CensusState, number>;
      this.#snapshot = {
        at: census.at,
        census,
        counts: this.census.counts(),
        totals,
        oldestReadyAt: this.census.oldestReadyAt,
        workers: beats.map((b) => ({ ...b, stale: isHeartbeatStale(b, now) })),
        schedules,
        paused,
        limits,
        requests: RequestCounters.diff(this.#store.counters.snapshot(), before),
      };
      this.#error = null;
      this.#refreshes++;
      this.#samples.push({
        at: now,
        ready: totals.ready,
        scheduled: totals.scheduled,
        running: totals.running,
        failed: totals.failed,
      });
      if (this.#samples.length > MAX_SAMPLES) this.#samples.shift();
    } catch (e) {
      this.#failures++;
      this.#error = { message: this.#o.describe(e), at: new Date(this.#store.now()) };
    }
  }

  // The flow control of each known type: a conditional GET each (304 while unchanged).
  async #paused(types: readonly string[]): Promise<TypeControl[]> {
    await mapLimit(types, 8, async (t) => {
      const known = this.#controls.get(t);
      const r = await readTypeControl(this.#queue.context, t, known?.etag).catch((e) => {
        if (e instanceof SchemaError) return null; // the workers report it; not paused
        throw e;
      });
      if (r === "unchanged") return;
      this.#controls.set(
        t,
        r === null ? { etag: undefined, control: null } : {
          etag: r.etag,
          control: toControl(r.rec),
        },
      );
    });
    return types.map((t) => this.#controls.get(t)?.control).filter((c): c is TypeControl =>
      c?.paused === true
    );
  }

  // The use of each limited type's limits (its control as #paused just read it): one GET of
  // its semaphore and one of its rate log per refresh, for the limits it has.
  async #limits(types: readonly string[]): Promise<LimitUsage[]> {
    const limited = types.map((t) => this.#controls.get(t)?.control).filter((
      c,
    ): c is TypeControl => c != null && (c.concurrency !== null || c.rateLimit !== null));
    return await mapLimit(limited, 8, (c) => limitUsage(this.#queue.context, c));
  }

  async #schedules(now: number): Promise<ScheduleView[]> {
    const list = await this.#queue.listSchedules();
    return await mapLimit(list, 8, async (schedule) => ({
      schedule,
      lastRun: await this.#queue.getScheduleLastRun(schedule.id),
      nextRunAt: schedule.enabled ? schedule.nextRunAfter(new Date(now)) : null,
    }));
  }

  /** Make the next request refresh the snapshot (after an action changed the queue). */
  invalidate(): void {
    this.#attemptAt = -Infinity;
  }

  /** A task (one GET), kept for the refresh interval; `null` when it does not exist. */
  task(id: string): Promise<Task | null> {
    return this.#taskEntry(id).task;
  }

  /** A task's versions, oldest first, kept for the refresh interval. */
  history(id: string): Promise<Task[]> {
    const e = this.#taskEntry(id);
    e.history ??= this.#queue.getHistory(id);
    e.history.catch(() => this.#tasks.delete(id));
    return e.history;
  }

  /** Forget a task's cached reads (after an action changed it). */
  forget(id: string): void {
    this.#tasks.delete(id);
  }

  #taskEntry(id: string): TaskEntry {
    const now = this.#store.now();
    const cur = this.#tasks.get(id);
    if (cur && now - cur.at < this.#o.refreshMs) return cur;
    const entry: TaskEntry = { at: now, task: this.#queue.get(id) };
    entry.task.catch(() => this.#tasks.delete(id));
    this.#tasks.delete(id);
    this.#tasks.set(id, entry);
    if (this.#tasks.size > MAX_TASK_ENTRIES) this.#tasks.delete(this.#tasks.keys().next().value!);
    return entry;
  }

  /** The bucket's versioning state (one request per hour at most). */
  versioning(): Promise<VersioningState> {
    const now = this.#store.now();
    if (this.#versioning === null || now - this.#versioning.at >= 3600_000) {
      const state = this.#store.getVersioning();
      state.catch(() => (this.#versioning = null));
      this.#versioning = { at: now, state };
    }
    return this.#versioning.state;
  }
}
