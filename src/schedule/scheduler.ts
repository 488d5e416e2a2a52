/**
 * The Scheduler: submits the due runs of cron schedules. A thin loop around
 * {@link Scheduler.runOnce}, which returns what it submitted. Any number of schedulers
 * may run at once: a run's task id is derived from (schedule id, due time) and created
 * with `If-None-Match: *`, so each due run becomes exactly one task; the last-run record
 * is advanced by a conditional write only after that submit succeeded.
 *
 * Missed runs are coalesced: a cycle submits only the latest due time after the last
 * run (see docs/scheduling.md).
 *
 * @module
 */

import type { Clock } from "../base/clock.ts";
import { submitTask } from "../protocol/submit.ts";
import { listPages } from "../store/paging.ts";
import type { HasContext, QueueContext } from "../protocol/context.ts";
import type { Cron } from "croner";
import { SchemaError } from "../base/errors.ts";
import { Emitter, type EventSource } from "../base/events.ts";
import { checkSeconds, MAX_INTERVAL_MS } from "../base/limits.ts";
import { Loop } from "../base/loop.ts";
import { mapLimit } from "../base/concurrency.ts";
import {
  latestDueAt,
  nextDueAt,
  parseCron,
  readCurrent,
  readStored,
  type ScheduleRecord,
  ScheduleRecordSchema,
  type ScheduleRunRecord,
  ScheduleRunRecordSchema,
  type Stored,
} from "./schedule.ts";
import { runOptions } from "./operations.ts";
import { advanceLastRun } from "./last_run.ts";
import type { Task } from "../task/task.ts";

/** Options of a {@link Scheduler}. */
export interface SchedulerOptions {
  /**
   * The clock its decisions use (tests and simulations give each scheduler its own).
   * @default the queue's clock, minus the store clock's uncertainty (a run never fires early)
   */
  clock?: Clock;
  /** Schedules handled at once within a cycle. @default 8 */
  concurrency?: number;
}

/** The scheduler's defaults: schedules handled at once, and seconds between cycles of `run`. */
export const SCHEDULER_DEFAULTS = Object.freeze({ concurrency: 8, intervalS: 60 });

/** One run a scheduler submitted. */
export interface ScheduledRun {
  /** Schedule id. */
  scheduleId: string;
  /** The due time the run stands for. */
  dueAt: Date;
  /** The task created for it. */
  task: Task;
}

/** A schedule a cycle could not handle (the others still ran). */
export interface ScheduleFailure {
  /** Schedule id (`null` for a key under `schedules/` that names no valid id). */
  scheduleId: string | null;
  /** Object key. */
  key: string;
  /** What went wrong (a SchemaError for a malformed object). */
  error: Error;
}

/** What one {@link Scheduler.runOnce} did. */
export interface SchedulerResult {
  /** The decision time of the cycle. */
  at: Date;
  /** Schedule objects listed. */
  schedules: number;
  /** Enabled schedules among them. */
  enabled: number;
  /** Due runs found (submitted by this cycle or found already submitted). */
  due: number;
  /** Runs whose task this cycle created, by schedule id. */
  submitted: ScheduledRun[];
  /** Due runs whose task already existed (another scheduler, or an attempt cut short). */
  alreadySubmitted: number;
  /** Schedules skipped because of an error. */
  errors: ScheduleFailure[];
  /** The earliest next due time of the enabled schedules (`null`: none). */
  nextDueAt: Date | null;
  /**
   * Requests the cycle sent: LIST, GET and PUT (DELETEs are free and not counted, nor the
   * submits' wake-up signal PUTs, at most one per task type per 10 s per process).
   */
  requests: number;
}

/** Events of a scheduler. */
export interface SchedulerEvents extends Record<string, unknown> {
  /** A run's task was created. */
  "schedule:submitted": ScheduledRun;
  /** A schedule was skipped because of an error (reported once per object version). */
  "schedule:error": ScheduleFailure;
  /** A whole cycle failed (the LIST); the loop retries. */
  "scheduler:error": { error: Error };
}

interface Entry {
  listEtag: string;
  stored: Stored<ScheduleRecord> | null; // null: malformed, reported
  cron?: Cron;
  run?: Stored<ScheduleRunRecord> | null; // undefined: not read yet; null: no run yet
}

const iso = (ms: number) => new Date(ms).toISOString();

/**
 * Submits the due runs of every enabled schedule.
 *
 * @example
 * ```ts
 * import { MemoryStore, Queue } from "../../mod.ts";
 * import { createSchedule } from "./operations.ts";
 * import { Scheduler } from "./scheduler.ts";
 * const queue = new Queue(new MemoryStore());
 * await createSchedule(queue.context, "every-minute", "tick", {}, "* * * * *");
 * const scheduler = new Scheduler(queue);
 * const r = await scheduler.runOnce(); // nothing due yet: it never fires for past times
 * console.log(r.submitted.length, r.nextDueAt);
 * // void scheduler.run({ intervalS: 60 }); ... await scheduler.stop();
 * ```
 */
export class Scheduler {
  readonly #events = new Emitter<SchedulerEvents>();
  readonly #queue: QueueContext;
  readonly #given: Clock | undefined;
  readonly #concurrency: number;
  readonly #cache = new Map<string, Entry>();
  readonly #reportedKeys = new Set<string>();
  #loop: Loop | undefined;

  /** Create a scheduler; validates options, no I/O. */
  constructor(queue: HasContext, options: SchedulerOptions = {}) {
    this.#queue = queue.context;
    if (options.clock !== undefined && typeof options.clock?.now !== "function") {
      throw new TypeError(`Invalid scheduler option clock: ${String(options.clock)} (a Clock)`);
    }
    this.#given = options.clock;
    this.#concurrency = options.concurrency ?? SCHEDULER_DEFAULTS.concurrency;
    if (!Number.isInteger(this.#concurrency) || this.#concurrency < 1) {
      throw new RangeError(
        `Invalid scheduler option concurrency: ${
          JSON.stringify(options.concurrency)
        } (an integer >= 1)`,
      );
    }
  }

  /** Typed events (`schedule:submitted`, `schedule:error`, `scheduler:error`): listen with `on`, stop with `off`. */
  get events(): EventSource<SchedulerEvents> {
    return this.#events;
  }

  #clock(): number {
    if (this.#given) return this.#given.now();
    return this.#queue.clock.now() - this.#queue.store.clockUncertaintyMs();
  }

  /**
   * One cycle: LIST the schedules (one request per 1000), GET those that changed since the
   * last cycle, and for each enabled schedule with a due run submit it and advance its
   * last-run record. An idle cycle costs the LIST alone.
   */
  async runOnce(): Promise<SchedulerResult> {
    const q = this.#queue;
    if (!this.#given) await q.now(); // sync the store clock once
    const layoutBefore = q.layout.requests; // submits read the bucket's layout now and then
    const listed: Array<{ id: string; key: string; etag: string }> = [];
    const failures: ScheduleFailure[] = [];
    let pages = 0;
    for await (const page of listPages(q.store, { prefix: q.keys.schedulesPrefix() })) {
      pages++;
      for (const o of page.objects) {
        const id = q.keys.parseSchedule(o.key);
        if (id !== null) listed.push({ id, key: o.key, etag: o.etag });
        else if (!this.#reportedKeys.has(`${o.key} ${o.etag}`)) {
          this.#reportedKeys.add(`${o.key} ${o.etag}`);
          failures.push({
            scheduleId: null,
            key: o.key,
            error: new SchemaError(o.key, "the key names no valid schedule id"),
          });
        }
      }
    }
    const now = this.#clock();
    const r: SchedulerResult = {
      at: new Date(now),
      schedules: listed.length,
      enabled: 0,
      due: 0,
      submitted: [],
      alreadySubmitted: 0,
      errors: [],
      nextDueAt: null,
      requests: pages,
    };
    const ids = new Set(listed.map((l) => l.id));
    for (const id of this.#cache.keys()) if (!ids.has(id)) this.#cache.delete(id); // deleted
    await mapLimit(listed, this.#concurrency, async (l) => {
      try {
        await this.#one(l.id, l.key, l.etag, now, r);
      } catch (e) {
        failures.push({ scheduleId: l.id, key: l.key, error: e as Error });
      }
    });
    for (const f of failures) {
      r.errors.push(f);
      this.#events.emit("schedule:error", f);
    }
    r.submitted.sort((a, b) =>
      a.scheduleId < b.scheduleId ? -1 : a.scheduleId > b.scheduleId ? 1 : 0
    );
    r.requests += q.layout.requests - layoutBefore;
    return r;
  }

  #next(r: SchedulerResult, at: number | null): void {
    if (at !== null && (r.nextDueAt === null || at < r.nextDueAt.getTime())) {
      r.nextDueAt = new Date(at);
    }
  }

  async #one(
    id: string,
    key: string,
    listEtag: string,
    now: number,
    r: SchedulerResult,
  ): Promise<void> {
    const q = this.#queue;
    let e = this.#cache.get(id);
    if (e === undefined || e.listEtag !== listEtag) {
      r.requests++;
      const fresh = await this.#readSchedule(id, key, listEtag, e?.run);
      if (fresh === null) return;
      e = fresh;
    }
    if (e.stored === null || !e.stored.rec.enabled) return;
    r.enabled++;
    const rec = e.stored.rec;
    const cron = e.cron!;
    const runKey = q.keys.scheduleRun(id);
    let fresh = false;
    if (e.run === undefined) {
      r.requests++;
      e.run = await readCurrent(q, runKey, ScheduleRunRecordSchema);
      fresh = true;
    }
    const since = (run: Stored<ScheduleRunRecord> | null | undefined) =>
      Math.max(
        Date.parse(rec.enabled_at),
        Date.parse(rec.created_at),
        run ? Date.parse(run.rec.last_run_at) : -Infinity,
      );
    let due = latestDueAt(cron, since(e.run), now);
    if (due !== null && !fresh) {
      // Our copy of the last-run record may be stale (another scheduler ran): check it.
      const had = e.run;
      r.requests++;
      const got = await readStored(q, runKey, ScheduleRunRecordSchema, had?.etag);
      if (got !== "unchanged") e.run = got;
      if (had && got === null) {
        this.#cache.delete(id); // deleted under us: the schedule is being deleted
        return;
      }
      due = latestDueAt(cron, since(e.run), now);
    }
    if (due === null) return this.#next(r, nextDueAt(cron, Math.max(since(e.run), now)));
    if (e.run === null) {
      // First run: make sure the schedule was not deleted or changed since it was read,
      // so that a delete racing with this cycle leaves no task and no orphan record.
      r.requests++;
      const check = await readStored(q, key, ScheduleRecordSchema, e.stored.etag);
      if (check !== "unchanged") {
        this.#cache.delete(id);
        if (check !== null) this.#next(r, now + 1000); // changed: look again soon
        return;
      }
    }
    r.due++;
    const { task, created } = await submitTask(q, rec.task_type, rec.input, runOptions(rec), {
      tag: "s",
      material: `${id}@${iso(due)}`,
    });
    r.requests += created ? 2 : 3; // ready entry and task (+ the existing task's GET)
    if (created) {
      const run: ScheduledRun = { scheduleId: id, dueAt: new Date(due), task };
      r.submitted.push(run);
      this.#events.emit("schedule:submitted", run);
    } else r.alreadySubmitted++;
    // Only now that the task exists: advance the last-run record (never before: that lost runs).
    const adv = await advanceLastRun(q, id, e.run ?? null, {
      due,
      taskId: task.id,
      next: nextDueAt(cron, Math.max(due, now)),
      now,
    });
    r.requests += adv.requests;
    e.run = adv.run;
    this.#next(r, nextDueAt(cron, Math.max(due, now)));
  }

  /** (Re)read a schedule whose listed ETag changed; `null` when it is gone. */
  async #readSchedule(
    id: string,
    key: string,
    listEtag: string,
    run: Entry["run"],
  ): Promise<Entry | null> {
    let got;
    try {
      got = await readStored(this.#queue, key, ScheduleRecordSchema);
      if (got !== null && got !== "unchanged" && got.rec.id !== id) {
        throw new SchemaError(key, `id: ${JSON.stringify(got.rec.id)} does not match the key`);
      }
    } catch (err) {
      if (!(err instanceof SchemaError)) throw err;
      this.#cache.set(id, { listEtag, stored: null });
      throw err; // reported once: the entry stays invalid until the object changes
    }
    if (got === null || got === "unchanged") {
      this.#cache.delete(id);
      return null;
    }
    let cron: Cron;
    try {
      cron = parseCron(got.rec.cron, got.rec.timezone);
    } catch (err) {
      this.#cache.set(id, { listEtag, stored: null });
      throw new SchemaError(key, (err as Error).message);
    }
    const entry: Entry = { listEtag, stored: got, cron, run };
    this.#cache.set(id, entry);
    return entry;
  }

  /**
   * Run cycles until {@link Scheduler.stop}: every `intervalS` seconds (to see new and
   * changed schedules), and at the next due time when that comes sooner.
   */
  run(options: { intervalS?: number } = {}): Promise<void> {
    const intervalS = checkSeconds(
      "intervalS",
      options.intervalS ?? SCHEDULER_DEFAULTS.intervalS,
      MAX_INTERVAL_MS / 1000,
    );
    if (this.#loop?.running) throw new Error("Scheduler is already running");
    this.#loop = new Loop(async () => {
      let delayMs = intervalS * 1000;
      try {
        const res = await this.runOnce();
        if (res.nextDueAt !== null) {
          // The decision clock already allows for the store clock's uncertainty.
          delayMs = Math.min(delayMs, Math.max(50, res.nextDueAt.getTime() - this.#clock() + 50));
        }
      } catch (e) {
        this.#events.emit("scheduler:error", { error: e as Error });
        delayMs = Math.min(delayMs, 10_000);
      }
      return delayMs;
    }, this.#queue.clock);
    return this.#loop.start();
  }

  /** Stop the loop (waits for the current cycle). */
  async stop(): Promise<void> {
    await this.#loop?.stop();
  }
}
