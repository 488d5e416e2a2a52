/**
 * The task census: how many tasks are in each state, per task type and shard, and a paged,
 * filtered listing of them, for consoles and metrics. The states of finished tasks are
 * kept in no index, so the census reads task objects, but each one only once per change:
 * a full refresh lists every task object (one LIST per 1000, which gives each object's
 * ETag) and GETs only the objects that are new or whose ETag changed since; the light
 * refreshes in between list only the ready and deadline indexes and GET the tasks that
 * moved. Finished tasks never change again, so a steady refresh costs its LISTs plus one
 * GET per task that moved.
 *
 * @module
 */

import { SchemaError } from "../base/errors.ts";
import type { HasContext, QueueContext } from "../protocol/context.ts";
import { mapLimit } from "../base/concurrency.ts";
import type { TaskStatus } from "../task/task.ts";
import type { ObjectInfo } from "../store/types.ts";
import { leasedTaskIds } from "../protocol/lease_groups.ts";
import { BatchBodies, isReadyKey } from "../protocol/ready_batches.ts";
import {
  CENSUS_STATES,
  type CensusCount,
  type CensusEntry,
  type CensusListOptions,
  type CensusPage,
  type CensusRefresh,
  type CensusState,
  compare,
  entryOf,
  isAfter,
  matches,
  parseCursor,
  stateOf,
} from "./census_entry.ts";

export { CENSUS_STATES } from "./census_entry.ts";
export type {
  CensusCount,
  CensusEntry,
  CensusListOptions,
  CensusPage,
  CensusRefresh,
  CensusState,
} from "./census_entry.ts";

/** Options of {@link TaskCensus}. */
export interface TaskCensusOptions {
  /**
   * Most task objects one refresh reads (GETs); the rest are read by the next refreshes
   * and are left out of the counts until then (see {@link CensusRefresh.unread}).
   * @default 10000
   */
  maxReadsPerRefresh?: number;
  /**
   * How often a refresh lists every task object (a full refresh); the refreshes in between
   * list only the indexes (see {@link TaskCensus.refresh}). 0: every refresh is full.
   * @default 300000 (5 minutes)
   */
  fullListIntervalMs?: number;
  /** GETs in flight at once. @default 16 */
  concurrency?: number;
}

interface Known {
  etag: string;
  entry: CensusEntry | null; // null: not a valid task (reported)
}

/**
 * Counts of every task by state, type and lane, kept current by {@link TaskCensus.refresh}.
 * One census is meant to be shared by every reader (a console's viewers, a metrics scrape):
 * its memory is about 300 bytes per task.
 *
 * @example
 * ```ts
 * import { MemoryStore, Queue, TaskCensus } from "../../mod.ts";
 * const queue = new Queue(new MemoryStore());
 * await queue.submit("email", { to: "a@b.c" });
 * const census = new TaskCensus(queue);
 * await census.refresh(); // full: one LIST and one GET here; later ones read only changes
 * console.log(census.total("ready")); // 1
 * console.log(census.list({ state: "ready" }).entries[0]?.taskType); // "email"
 * ```
 */
export class TaskCensus {
  readonly #queue: QueueContext;
  readonly #maxReads: number;
  readonly #concurrency: number;
  #known = new Map<string, Known>();
  #groups = new Map<string, string[]>(); // lease group entry key -> the ids it names
  readonly #batches = new BatchBodies(); // batch entry key -> the ids it names
  #counts: CensusCount[] = [];
  #oldestReady: Date | null = null;
  #sorted: CensusEntry[] | null = null;
  #last: CensusRefresh | null = null;
  #running: Promise<CensusRefresh> | null = null;
  readonly #fullEveryMs: number;
  #fullAt = -Infinity;

  /** Create a census of a queue's tasks; validates options, does no I/O. */
  constructor(queue: HasContext, options: TaskCensusOptions = {}) {
    this.#queue = queue.context;
    this.#maxReads = options.maxReadsPerRefresh ?? 10_000;
    if (!(this.#maxReads >= 1)) {
      throw new RangeError(
        `Invalid maxReadsPerRefresh: ${JSON.stringify(options.maxReadsPerRefresh)} (at least 1)`,
      );
    }
    this.#fullEveryMs = options.fullListIntervalMs ?? 300_000;
    if (!(this.#fullEveryMs >= 0)) {
      throw new RangeError(
        `Invalid fullListIntervalMs: ${JSON.stringify(options.fullListIntervalMs)} (at least 0)`,
      );
    }
    this.#concurrency = options.concurrency ?? 16;
    if (!Number.isInteger(this.#concurrency) || this.#concurrency < 1) {
      throw new RangeError(
        `Invalid concurrency: ${JSON.stringify(options.concurrency)} (an integer >= 1)`,
      );
    }
  }

  /** The last refresh's figures; `null` before the first one. */
  get last(): CensusRefresh | null {
    return this.#last;
  }

  /**
   * Bring the counts up to date. A **full** refresh lists every task object and reads those
   * that are new or changed: one LIST per 1000 task objects plus one GET per object read.
   * A **light** refresh lists only the indexes (`ready/` and `deadlines/`, one LIST per 1000
   * entries each) and reads the tasks they show as new or moved, and those it knew as
   * pending or running that left them: its cost follows the active tasks, not the finished
   * ones. A task that was submitted and finished between two light refreshes is counted by
   * the next full one. Full when asked (`full`), at the first refresh, while objects are
   * left unread, and once `fullListIntervalMs` has passed since the last full one; light
   * otherwise. Concurrent calls share one refresh. `maxReads` overrides
   * `maxReadsPerRefresh` for this call (`Infinity`: nothing is left unread).
   */
  refresh(options: { maxReads?: number; full?: boolean } = {}): Promise<CensusRefresh> {
    this.#running ??= this.#refresh(options.maxReads ?? this.#maxReads, options.full).finally(
      () => {
        this.#running = null;
      },
    );
    return this.#running;
  }

  async #refresh(maxReads: number, full: boolean | undefined): Promise<CensusRefresh> {
    const q = this.#queue;
    const last = this.#last;
    const start = q.clock.now();
    const doFull = full ?? (last === null || last.unread > 0 ||
      start - this.#fullAt >= this.#fullEveryMs);
    const r = doFull ? await this.#full(maxReads) : await this.#light(maxReads);
    const now = q.clock.now();
    if (doFull) this.#fullAt = start;
    this.#sorted = null;
    this.#recount(now + q.store.clockUncertaintyMs());
    let invalid = 0;
    for (const k of this.#known.values()) if (k.entry === null) invalid++;
    this.#last = {
      at: new Date(now),
      full: doFull,
      fullAt: new Date(this.#fullAt),
      objects: r.objects,
      read: r.read,
      unread: r.unread,
      invalid,
      lists: r.lists,
    };
    return this.#last;
  }

  async #listAll(
    prefix: string,
    keep: (o: ObjectInfo) => boolean,
  ): Promise<{ objects: ObjectInfo[]; lists: number }> {
    const q = this.#queue;
    const objects: ObjectInfo[] = [];
    let lists = 0;
    for await (const page of q.tasks.indexPages(prefix)) {
      lists++;
      for (const o of page.objects) {
        if (keep(o)) objects.push(o);
        else q.badObjects.report(o.key, o.etag, `Object "${o.key}": the key is not one oq writes`);
      }
    }
    return { objects, lists };
  }

  async #full(
    maxReads: number,
  ): Promise<{ objects: number; read: number; unread: number; lists: number }> {
    const q = this.#queue;
    const { objects: listed, lists } = await this.#listAll(
      q.keys.tasksRoot(),
      (o) => q.keys.parseTask(o.key) !== null,
    );
    const next = new Map<string, Known>();
    const changed: ObjectInfo[] = [];
    const fresh: ObjectInfo[] = [];
    for (const o of listed) {
      const k = this.#known.get(o.key);
      if (k && k.etag === o.etag) next.set(o.key, k);
      else if (k) changed.push(o);
      else fresh.push(o);
    }
    // Objects seen before keep their old entry until read again: a count may lag behind
    // by a refresh, but never drops a task that exists.
    for (const o of changed) next.set(o.key, this.#known.get(o.key)!);
    const toRead = [...changed, ...fresh].slice(0, maxReads).map((o) => o.key);
    await this.#readInto(next, toRead);
    this.#known = next;
    return {
      objects: listed.length,
      read: toRead.length,
      unread: listed.length - next.size,
      lists,
    };
  }

  async #light(
    maxReads: number,
  ): Promise<{ objects: number; read: number; unread: number; lists: number }> {
    const q = this.#queue;
    const [ready, deadlines] = await Promise.all([
      this.#listAll(q.keys.readyRoot(), (o) => isReadyKey(q, o.key)),
      this.#listAll(q.keys.deadlinesRoot(), (o) => q.keys.parseDeadline(o.key) !== null),
    ]);
    // What the indexes say each active task is; the task object decides when they disagree.
    const says = new Map<string, TaskStatus>();
    // A ready entry also indexes the lease of a task claimed under it (`lease_index:
    // "ready"`): a task known running since that claim (the same available_at) agrees.
    const readyDue = new Map<string, number>();
    for (const o of ready.objects) {
      const e = q.keys.parseReady(o.key);
      if (e === null) continue;
      says.set(q.keys.task(e.taskId), "pending");
      readyDue.set(q.keys.task(e.taskId), e.dueAt);
    }
    // A batch entry names tasks of one submitMany (its body is read once). A named task seen
    // to have left it (finished, running, or under an entry of its own) never comes back to
    // it: the entry says nothing more of that task.
    const batchKeys = ready.objects.map((o) => o.key).filter((k) => q.keys.parseReadyBatch(k));
    for (const [key, ids] of await this.#batches.read(q, batchKeys)) {
      const dueAt = q.keys.parseReadyBatch(key)!.dueAt;
      for (const id of ids) {
        const taskKey = q.keys.task(id);
        const known = this.#known.get(taskKey)?.entry;
        if (known && known.status !== "pending") continue;
        if (!says.has(taskKey)) says.set(taskKey, "pending");
        readyDue.set(taskKey, dueAt);
      }
    }
    const groups = new Map<string, string[]>();
    for (const o of deadlines.objects) {
      const d = q.keys.parseDeadline(o.key)!;
      if (d.kind === "lease") says.set(q.keys.task(d.taskId), "running");
      if (d.kind !== "group") continue;
      // A lease group names the tasks its worker may claim: those without a ready entry
      // were claimed (its body never changes, so it is read once).
      const ids = this.#groups.get(o.key) ?? await leasedTaskIds(q, o.key);
      groups.set(o.key, ids);
      for (const id of ids) if (!says.has(q.keys.task(id))) says.set(q.keys.task(id), "running");
    }
    this.#groups = groups;
    const toRead = new Set<string>();
    for (const [key, status] of says) {
      const known = this.#known.get(key)?.entry;
      const leased = status === "pending" && known?.status === "running" &&
        known.availableAt.getTime() === readyDue.get(key);
      if (known?.status !== status && !leased) toRead.add(key);
    }
    for (const [key, k] of this.#known) {
      const st = k.entry?.status;
      if ((st === "pending" || st === "running") && !says.has(key)) toRead.add(key);
    }
    const keys = [...toRead].slice(0, maxReads);
    await this.#readInto(this.#known, keys);
    return {
      objects: this.#known.size,
      read: keys.length,
      unread: this.#last?.unread ?? 0,
      lists: ready.lists + deadlines.lists,
    };
  }

  async #readInto(into: Map<string, Known>, keys: string[]): Promise<void> {
    const results = await mapLimit(keys, this.#concurrency, (key) => this.#read(key));
    for (const [i, key] of keys.entries()) {
      const r = results[i];
      if (r === undefined) into.delete(key); // deleted since the LIST
      else into.set(key, r);
    }
  }

  async #read(key: string): Promise<Known | undefined> {
    const q = this.#queue;
    try {
      const v = await q.tasks.readAt(key);
      // A task marked for deletion counts as deleted (src/protocol/delete.ts).
      if (v === null || v.rec.deleting_at !== undefined) return undefined;
      return { etag: v.etag, entry: entryOf(v.rec) };
    } catch (e) {
      if (!(e instanceof SchemaError)) throw e;
      q.badObjects.report(key, e.etag, e.message);
      return { etag: e.etag ?? "", entry: null };
    }
  }

  #recount(readyBy: number): void {
    const counts = new Map<string, CensusCount>();
    let oldest = Infinity;
    for (const { entry: e } of this.#known.values()) {
      if (e === null) continue;
      const state = stateOf(e, readyBy);
      if (state === "ready") oldest = Math.min(oldest, e.availableAt.getTime());
      const id = `${state}\n${e.taskType}\n${e.shard}`;
      const c = counts.get(id);
      if (c) c.count++;
      else counts.set(id, { state, taskType: e.taskType, shard: e.shard, count: 1 });
    }
    this.#counts = [...counts.values()].sort((a, b) =>
      CENSUS_STATES.indexOf(a.state) - CENSUS_STATES.indexOf(b.state) ||
      compare(a.taskType, b.taskType) || compare(a.shard, b.shard)
    );
    this.#oldestReady = oldest === Infinity ? null : new Date(oldest);
  }

  /** Counts by state, type and lane as of the last refresh (only non-zero ones). */
  counts(): CensusCount[] {
    return this.#counts.map((c) => ({ ...c }));
  }

  /** Tasks in a state (all of them without one), over every type and lane. */
  total(state?: CensusState): number {
    let n = 0;
    for (const c of this.#counts) if (state === undefined || c.state === state) n += c.count;
    return n;
  }

  /** When the longest-waiting ready task became due (queue latency); `null` when none is ready. */
  get oldestReadyAt(): Date | null {
    return this.#oldestReady;
  }

  /** The state of an entry as of the last refresh (`ready` or `scheduled` for pending tasks). */
  stateOf(entry: CensusEntry): CensusState {
    return stateOf(entry, this.#readyBy());
  }

  #readyBy(): number {
    return (this.#last?.at.getTime() ?? 0) + this.#queue.store.clockUncertaintyMs();
  }

  /**
   * A page of the entries matching a filter, newest first, as of the last refresh (no
   * request). Pass a page's `next` as `cursor` for the following page.
   */
  list(options: CensusListOptions = {}): CensusPage {
    const limit = options.limit ?? 50;
    if (!(limit >= 1)) throw new RangeError(`Invalid limit: ${JSON.stringify(limit)} (at least 1)`);
    const after = options.cursor === undefined ? null : parseCursor(options.cursor);
    const readyBy = this.#readyBy();
    const entries: CensusEntry[] = [];
    let matched = 0;
    let more = false;
    for (const e of this.#entries()) {
      if (!matches(e, options, readyBy)) continue;
      matched++;
      if (after !== null && !isAfter(e, after)) continue;
      if (entries.length < limit) entries.push(e);
      else more = true;
    }
    const lastEntry = entries[entries.length - 1];
    return {
      entries,
      next: more && lastEntry ? `${lastEntry.createdAt.getTime()}:${lastEntry.id}` : null,
      matched,
    };
  }

  #entries(): CensusEntry[] {
    if (this.#sorted === null) {
      const all: CensusEntry[] = [];
      for (const k of this.#known.values()) if (k.entry !== null) all.push(k.entry);
      this.#sorted = all.sort((a, b) =>
        b.createdAt.getTime() - a.createdAt.getTime() || compare(b.id, a.id)
      );
    }
    return this.#sorted;
  }
}
