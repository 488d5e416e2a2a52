/**
 * The Queue: what producers and operators use. Submit, read, cancel and retry tasks.
 *
 * @module
 */

import {
  type BulkCancelOptions,
  type BulkCancelResult,
  cancelByType,
  type CancelByTypeOptions,
  cancelMany,
} from "./bulk.ts";
import {
  getHistory,
  listReady,
  listTasks,
  type ListTasksOptions,
  type QueueStats,
  stats,
} from "./inspect.ts";
import { Keys } from "../protocol/keys.ts";
import { nonce } from "../base/ids.ts";
import {
  ensureLayout,
  Layout,
  type LayoutRecord,
  readLayout,
  writeLayout,
} from "../protocol/layout.ts";
import { VERSION } from "../base/version.ts";
import type { Schedule, ScheduleLastRun } from "../schedule/schedule.ts";
import {
  createSchedule,
  type CreateScheduleOptions,
  deleteSchedule,
  disableSchedule,
  enableSchedule,
  getSchedule,
  getScheduleLastRun,
  listSchedules,
  triggerSchedule,
} from "../schedule/operations.ts";
import { type QueueOptions, type ResolvedQueueOptions, resolveQueueOptions } from "./options.ts";
import { SignalWriter } from "../protocol/signals.ts";
import {
  type DerivedId,
  newTaskRecord,
  PROBE_PLACEMENT,
  type SubmitOptions,
} from "../task/new_task.ts";
import { Task, type TaskRecord } from "../task/task.ts";
import { registerTaskStore, TaskStore } from "../protocol/tasks.ts";
import * as transitions from "../task/transitions.ts";
import type { ObjectStore } from "../store/types.ts";

/** Outcome of cancelling one task. */
export interface CancelResult {
  /** Task id. */
  taskId: string;
  /**
   * `cancelled`: it was pending and is now cancelled. `requested`: it is running; its
   * handler is told, and the task ends `cancelled` when the handler returns. `skipped`:
   * nothing changed, `reason` says why (not found, already finished, ...).
   */
  outcome: "cancelled" | "requested" | "skipped";
  /** Why it was skipped. */
  reason?: string;
  /** The task's state after the call (absent when not found). */
  status?: string;
}

const MAX_CAS_ROUNDS = 16;

/**
 * A queue in one bucket (and key prefix). Create it with `connect()` for S3, or directly
 * over any {@link ObjectStore} (e.g. a `MemoryStore` in tests).
 *
 * @example
 * ```ts
 * import { MemoryStore, Queue } from "../../mod.ts";
 * const queue = new Queue(new MemoryStore());
 * const task = await queue.submit("send_email", { to: "a@b.c" }, { maxRetries: 5 });
 * console.log(task.id, task.status); // "2-01JD...", "pending"
 * ```
 */
export class Queue {
  /** The object store. */
  readonly store: ObjectStore;
  /** Resolved options. */
  readonly options: ResolvedQueueOptions;
  /** Key builder for this queue's layout. */
  readonly keys: Keys;
  readonly #tasks: TaskStore;
  #nextShard = Math.floor(Math.random() * 1_000_000);
  #layout: { layout: Layout; etag: string; checkedAt: number } | null = null;
  #syncing: Promise<Layout> | null = null;
  #warnedStaleCount = false;
  #layoutRequests = 0;

  /** Create a queue over a store. Validates options; does no I/O. */
  constructor(store: ObjectStore, options: QueueOptions = {}) {
    this.store = store;
    this.options = resolveQueueOptions(options);
    this.keys = new Keys(this.options.prefix);
    const signals = new SignalWriter(store, this.keys, this.options.signalCoalesceMs);
    this.#tasks = new TaskStore(store, this.keys, signals, (rec) => this.#laneOf(rec));
    registerTaskStore(this, this.#tasks);
  }

  /**
   * The shard names producers submit to and workers poll (`"0"` .. `"N-1"`): the bucket's
   * layout once it has been read ({@link Queue.syncLayout}), the configured count before.
   */
  get shards(): readonly string[] {
    return this.#layout?.layout.shards ?? this.options.shards;
  }

  /**
   * Every shard that may hold task objects (`tasks/{shard}/`): the current shards plus
   * those a reshard retired, whose tasks keep their ids and objects.
   */
  get homeShards(): readonly string[] {
    return this.#layout?.layout.homeShards ?? this.options.shards;
  }

  /** The shard count ids derived from keys are computed with (fixed for the bucket's life). */
  get keyShardCount(): number {
    return this.#layout?.layout.keyShardCount ?? this.options.shards.length;
  }

  /** The bucket's layout as last read, `null` before {@link Queue.syncLayout}. */
  get layout(): Layout | null {
    return this.#layout?.layout ?? null;
  }

  /**
   * Read the bucket's layout (creating it when the bucket has none), or re-read it when
   * `layoutCheckIntervalMs` has passed (one conditional GET). Every producer, worker and
   * monitor calls this before it acts, so a reshard reaches them within that interval.
   * Throws a ConfigError when an explicitly configured shard count disagrees with the
   * bucket's at start-up.
   */
  syncLayout(options: { force?: boolean } = {}): Promise<Layout> {
    const cur = this.#layout;
    if (
      cur && !options.force &&
      this.store.now() - cur.checkedAt < this.options.layoutCheckIntervalMs
    ) {
      return Promise.resolve(cur.layout);
    }
    this.#syncing ??= this.#readLayout().finally(() => (this.#syncing = null));
    return this.#syncing;
  }

  /**
   * Requests this queue has sent for the layout (reads, re-checks, and its creation), so
   * loops that report their request counts can include them.
   */
  get layoutRequests(): number {
    return this.#layoutRequests;
  }

  async #readLayout(): Promise<Layout> {
    // Count this queue's own layout requests (the store's counters also see other work).
    const store = new Proxy(this.store, {
      get: (target, prop, receiver) => {
        const v = Reflect.get(target, prop, receiver);
        if (typeof v !== "function") return v;
        if (["get", "put", "list", "head", "listVersions"].includes(prop as string)) {
          return (...args: unknown[]) => (this.#layoutRequests++, v.apply(target, args));
        }
        return v.bind(target);
      },
    });
    return await this.#readLayoutFrom(store);
  }

  async #readLayoutFrom(store: ObjectStore): Promise<Layout> {
    const wish = {
      shardCount: this.options.shards.length,
      explicit: this.options.shardCountExplicit,
      by: `oq ${VERSION}`,
    };
    const cur = this.#layout;
    if (cur) {
      const r = await readLayout(store, this.keys, cur.etag);
      const checkedAt = this.store.now();
      if (r === "unchanged") {
        cur.checkedAt = checkedAt;
        return cur.layout;
      }
      if (r !== null) {
        // A reshard while running: follow the bucket (an explicit count that now differs
        // would be refused at the next start).
        if (wish.explicit && r.rec.shard_count !== wish.shardCount && !this.#warnedStaleCount) {
          this.#warnedStaleCount = true;
          this.options.warn(
            `oq: the bucket's shard count changed to ${r.rec.shard_count}; this process was ` +
              `configured with ${wish.shardCount} and now uses the bucket's (update the setting)`,
          );
        }
        return this.#adopt(r, checkedAt);
      }
      // The layout object was deleted: write it again from what this process knows.
      const lost = cur.layout.record;
      const again = await writeLayout(store, this.keys, { ...lost, write_id: nonce() });
      if (again) return this.#adopt(again, checkedAt);
    }
    const found = await ensureLayout(store, this.keys, wish);
    return this.#adopt(found, this.store.now());
  }

  #adopt(r: { rec: LayoutRecord; etag: string }, checkedAt: number): Layout {
    const layout = new Layout(r.rec);
    this.#layout = { layout, etag: r.etag, checkedAt };
    return layout;
  }

  // The lane a record's index entries belong in under the current layout.
  #laneOf(rec: TaskRecord): string {
    const layout = this.#layout?.layout;
    if (!layout || layout.isLane(rec.shard)) return rec.shard;
    return layout.laneFor(rec.id);
  }

  /**
   * The store's current time (HTTP `Date` of the last response plus elapsed time; one
   * HeadBucket request only when no response has been seen yet).
   */
  async now(): Promise<Date> {
    if (!this.store.clockSynced()) await this.store.headBucket();
    return new Date(this.store.now());
  }

  /**
   * Submit a task. Costs two PUTs (ready entry, then the task, create-only) plus, at most
   * once per `signalCoalesceMs` per type, a wake-up PUT.
   */
  async submit(taskType: string, input: unknown, options: SubmitOptions = {}): Promise<Task> {
    return (await this.submitAs(taskType, input, options)).task;
  }

  /**
   * Submit, optionally under an id derived from `derived` (schedulers derive it from the
   * schedule and the run's due time). Says whether this call created the task or found it.
   * @internal
   */
  async submitAs(
    taskType: string,
    input: unknown,
    options: SubmitOptions = {},
    derived?: DerivedId,
  ): Promise<{ task: Task; created: boolean }> {
    const now = (await this.now()).getTime();
    const rec = await newTaskRecord(taskType, input, options, this.options, now, async () => {
      const layout = await this.syncLayout();
      return {
        pickShard: () => this.#pickShard(),
        keyShardCount: layout.keyShardCount,
        laneFor: (id) => layout.laneFor(id),
      };
    }, derived);
    // Index first: a crash after this PUT leaves a hint to a missing task (removed by
    // pollers and the monitor), never a pending task that no index points to.
    const entry = await this.#tasks.putReady(rec);
    if (rec.expires_at !== null) await this.#tasks.putExpiry(rec);
    const created = await this.#tasks.create(rec);
    if (created === null) {
      // The id exists: an idempotent re-submit. Return the existing task.
      const existing = await this.#tasks.read(rec.id);
      if (existing && this.#tasks.readyKey(existing.rec) !== entry.key) {
        await this.#tasks.deleteEntry(entry);
      }
      if (existing === null) throw new Error(`Task ${rec.id} exists but cannot be read`);
      return { task: new Task(existing.rec), created: false };
    }
    await this.#tasks.signals.touch(taskType);
    return { task: new Task(created.rec), created: true };
  }

  /**
   * Submit many tasks (up to 16 at a time). `shared` options apply to every task; each
   * entry's own options win. Returns the tasks in order. Fails on the first invalid entry
   * before writing anything.
   */
  async submitMany(
    entries: ReadonlyArray<readonly [string, unknown, SubmitOptions?]>,
    shared: SubmitOptions = {},
  ): Promise<Task[]> {
    const now = (await this.now()).getTime();
    // Validate every entry first, so a bad one does not leave half a batch behind.
    for (const [type, input, opts] of entries) {
      await newTaskRecord(type, input, { ...shared, ...opts }, this.options, now, PROBE_PLACEMENT);
    }
    return await mapLimit(
      entries,
      16,
      ([type, input, opts]) => this.submit(type, input, { ...shared, ...opts }),
    );
  }

  /** Read a task (one GET). `null` when it does not exist. */
  async get(taskId: string): Promise<Task | null> {
    const v = await this.#tasks.read(taskId);
    return v ? new Task(v.rec) : null;
  }

  /** Tasks of a shard, filtered (archived ones only when asked for). Scans: see docs. */
  list(shard: string, options: ListTasksOptions = {}): Promise<Task[]> {
    return listTasks(this, shard, options);
  }

  /** Ids of a shard's tasks due now, from the ready index. */
  listReady(shard: string, options: { limit?: number; taskType?: string } = {}): Promise<string[]> {
    return listReady(this, shard, options);
  }

  /** Every version of a task, oldest first (from bucket versioning). */
  getHistory(taskId: string): Promise<Task[]> {
    return getHistory(this, taskId);
  }

  /** Counts per shard from the indexes. */
  stats(): Promise<QueueStats> {
    return stats(this);
  }

  /**
   * Cancel a task. Pending: it becomes `cancelled` and leaves the ready index. Running:
   * `cancel_requested` is set; the worker aborts the handler's `ctx.signal` when it next
   * checks (see WorkerRunOptions.cancelCheckIntervalMs) and records `cancelled` when the
   * handler returns. Finished tasks are left as they are (`skipped`, with the reason).
   */
  async cancel(taskId: string, options: { reason?: string } = {}): Promise<CancelResult> {
    for (let round = 0; round < MAX_CAS_ROUNDS; round++) {
      const v = await this.#tasks.read(taskId);
      if (v === null) return { taskId, outcome: "skipped", reason: "task not found" };
      const t = transitions.cancel(v.rec, this.store.now(), options.reason ?? null);
      if (!t.ok) return { taskId, outcome: "skipped", reason: t.reason, status: t.status };
      const w = await this.#tasks.replace(t.next, v.etag);
      if (w === null) continue; // changed under us: re-read and decide again
      if (w.rec.status === "cancelled") {
        await this.#removeReadyEntries(v.rec);
        return { taskId, outcome: "cancelled", status: "cancelled" };
      }
      return { taskId, outcome: "requested", status: w.rec.status };
    }
    return { taskId, outcome: "skipped", reason: "task kept changing; try again" };
  }

  /** Cancel many tasks (see {@link Queue.cancel}); progress through `onProgress`. */
  cancelMany(ids: readonly string[], options: BulkCancelOptions = {}): Promise<BulkCancelResult> {
    return cancelMany(this, ids, options);
  }

  /** Cancel every pending task of a type (and running ones with `includeRunning`). */
  cancelByType(taskType: string, options: CancelByTypeOptions = {}): Promise<BulkCancelResult> {
    return cancelByType(this, taskType, options);
  }

  /**
   * Move a failed, cancelled or expired task back to pending, available now, with its
   * retry count reset. History keeps every earlier version.
   */
  async retry(taskId: string): Promise<Task> {
    await this.syncLayout();
    for (let round = 0; round < MAX_CAS_ROUNDS; round++) {
      const v = await this.#tasks.read(taskId);
      if (v === null) throw new RangeError(`Task ${JSON.stringify(taskId)} not found`);
      const t = transitions.retry(v.rec, this.store.now());
      if (!t.ok) throw new RangeError(`Cannot retry task ${taskId}: ${t.reason}`);
      const w = await this.#tasks.makePending(t.next, v.etag);
      if (w) return new Task(w.rec);
    }
    throw new Error(`Task ${taskId} kept changing; try again`);
  }

  /** Create a cron schedule; an existing id is a ScheduleExistsError unless `upsert` (docs/scheduling.md). */
  createSchedule(
    scheduleId: string,
    taskType: string,
    input: unknown,
    cron: string,
    options: CreateScheduleOptions = {},
  ): Promise<Schedule> {
    return createSchedule(this, scheduleId, taskType, input, cron, options);
  }

  /** Read a schedule (one GET); `null` when it does not exist. */
  getSchedule(scheduleId: string): Promise<Schedule | null> {
    return getSchedule(this, scheduleId);
  }

  /** Every schedule, by id (one LIST per 1000 plus one GET each). */
  listSchedules(): Promise<Schedule[]> {
    return listSchedules(this);
  }

  /** Delete a schedule and its last-run record; true when it existed. */
  deleteSchedule(scheduleId: string): Promise<boolean> {
    return deleteSchedule(this, scheduleId);
  }

  /** Enable a schedule from now on (missed runs are not replayed). */
  enableSchedule(scheduleId: string): Promise<Schedule> {
    return enableSchedule(this, scheduleId);
  }

  /** Disable a schedule: no run is submitted until it is enabled again. */
  disableSchedule(scheduleId: string): Promise<Schedule> {
    return disableSchedule(this, scheduleId);
  }

  /** Submit an extra run of a schedule now (the regular runs are not disturbed). */
  triggerSchedule(scheduleId: string): Promise<Task> {
    return triggerSchedule(this, scheduleId);
  }

  /** The last regular run of a schedule, or `null` before its first run. */
  getScheduleLastRun(scheduleId: string): Promise<ScheduleLastRun | null> {
    return getScheduleLastRun(this, scheduleId);
  }

  async #removeReadyEntries(rec: TaskRecord): Promise<void> {
    // The entry's version id is unknown here: delete each of its versions by id.
    await this.#tasks.deleteAllVersions(this.#tasks.readyKey(rec));
  }

  #pickShard(): string {
    // Round-robin from a random start: spreads load and avoids hot shards.
    const s = this.shards[this.#nextShard % this.shards.length]!;
    this.#nextShard++;
    return s;
  }
}

/** Map with at most `limit` promises in flight, keeping order. */
export async function mapLimit<T, R>(
  items: ReadonlyArray<T>,
  limit: number,
  fn: (item: T, i: number) => Promise<R>,
): Promise<R[]> {
  const out = new Array<R>(items.length);
  let next = 0;
  const lanes = Array.from({ length: Math.min(limit, items.length) }, async () => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i]!, i);
    }
  });
  await Promise.all(lanes);
  return out;
}
