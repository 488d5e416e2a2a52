/**
 * The Monitor: recovers tasks whose worker died or hung, and expires pending tasks whose
 * TTL passed, both found through the deadline index (`deadlines/{shard}/{at}/{id}.{kind}`,
 * sorted by time), so it never scans all tasks. A thin
 * loop around {@link Monitor.runOnce}, which returns what it did. Any number of monitors
 * may run: every change is a compare-and-swap, and losing is fine.
 *
 * @module
 */

import type { HasContext, QueueContext } from "../protocol/context.ts";
import { mapLimit } from "../base/concurrency.ts";
import { SchemaError } from "../base/errors.ts";
import { Emitter, type EventSource } from "../base/events.ts";
import { Loop } from "../base/loop.ts";
import type { LongTimeout } from "../base/timer.ts";
import { ReportOnce } from "../base/report_once.ts";
import type { EntryRef, Versioned } from "../protocol/tasks.ts";
import { readGroup } from "../protocol/lease_groups.ts";
import { Sweeper, type SweepResult } from "./sweep.ts";
import { DeadlinePages, type ShardPage } from "./deadline_pages.ts";
import {
  type MonitorOptions,
  type ResolvedMonitorOptions,
  resolveMonitorOptions,
} from "./options.ts";

export type { MonitorOptions } from "./options.ts";
import * as transitions from "../task/transitions.ts";

/** Tasks of one expired lease group read at once. */
const GROUP_READS = 8;

/** What one {@link Monitor.runOnce} did. */
export interface MonitorResult {
  /** Shards examined. */
  shards: number;
  /** Lease entries read from the index. */
  leaseEntries: number;
  /** Expired leases examined (one GET each). */
  expiredChecked: number;
  /** Tasks moved back to pending for a retry. */
  recovered: number;
  /** Tasks moved to failed (retries exhausted). */
  deadLettered: number;
  /** Tasks moved to cancelled (cancel was requested before the worker died). */
  cancelled: number;
  /** Stale lease entries removed (task finished, lease extended, or task gone). */
  staleEntries: number;
  /** Pending tasks marked expired (their TTL passed before they started). */
  expired: number;
  /** Earliest future lease or TTL expiry seen (store ms), or null. */
  nextExpiryAt: number | null;
  /** The sweep step of this cycle, when one was due. */
  sweep: SweepResult | null;
  /** Requests sent by this cycle (LIST + GET + PUT; DELETEs are free and not counted). */
  requests: number;
}

/** Events of a monitor. */
export interface MonitorEvents extends Record<string, unknown> {
  /** A task with an expired lease was moved to `status` (pending, failed or cancelled). */
  "monitor:recovered": { taskId: string; status: string };
  /**
   * A cycle failed (it is retried at the next interval), or an object does not match its
   * schema (a `SchemaError`, left alone): each bad object is reported once per monitor
   * (per key and problem), not at every cycle that meets it.
   */
  "monitor:error": { error: Error };
}

/**
 * Recovers expired leases.
 *
 * @example
 * ```ts
 * import { MemoryStore, Monitor, Queue } from "../../mod.ts";
 * const monitor = new Monitor(new Queue(new MemoryStore()));
 * const result = await monitor.runOnce();
 * console.log(result.recovered);
 * ```
 */
export class Monitor {
  readonly #events = new Emitter<MonitorEvents>();
  readonly #queue: QueueContext;
  readonly #o: ResolvedMonitorOptions;
  readonly #sweeper: Sweeper;
  readonly #pages: DeadlinePages;
  readonly #reported = new ReportOnce();
  #lastSweepAt = Number.NEGATIVE_INFINITY;
  #rotation = 0;
  #loop: Loop | undefined;
  #idleWait = false;
  #cycleEndAt = Number.NEGATIVE_INFINITY;
  #nudgeTimer: LongTimeout | undefined;

  /** Create a monitor; validates options, no I/O. */
  constructor(queue: HasContext, options: MonitorOptions = {}) {
    this.#queue = queue.context;
    this.#o = resolveMonitorOptions(options);
    this.#sweeper = new Sweeper(this.#queue, this.#o.retention, this.#o.sweepMaxGets);
    this.#sweeper.onInvalid = (error) => this.#invalid(error);
    this.#pages = new DeadlinePages(this.#queue, this.#o.leasesPerShard, 60_000);
  }

  /** Typed events (`monitor:recovered`, `monitor:error`): listen with `on`, stop with `off`. */
  get events(): EventSource<MonitorEvents> {
    return this.#events;
  }

  // A bad object stays bad until someone fixes it: report it once, not every cycle.
  #invalid(error: SchemaError): void {
    if (this.#reported.first(error.message)) this.#events.emit("monitor:error", { error });
  }

  /**
   * One cycle: the lease and expiry indexes of (up to `shardsPerCycle`) shards, plus one
   * sweep step when `sweepIntervalS` has passed (or when `options.sweep` says so).
   */
  async runOnce(options: { sweep?: boolean } = {}): Promise<MonitorResult> {
    const q = this.#queue;
    const r: MonitorResult = {
      shards: 0,
      leaseEntries: 0,
      expiredChecked: 0,
      recovered: 0,
      deadLettered: 0,
      cancelled: 0,
      staleEntries: 0,
      expired: 0,
      nextExpiryAt: null,
      sweep: null,
      requests: 0,
    };
    const layoutBefore = q.layout.requests;
    const shards = (await q.syncLayout()).shards;
    r.requests += q.layout.requests - layoutBefore;
    const cycle = Array.from(
      { length: Math.min(this.#o.shardsPerCycle, shards.length) },
      (_, i) => shards[(this.#rotation + i) % shards.length]!,
    );
    await this.#pages.each(cycle, async (page) => {
      r.shards++;
      await this.#deadlines(page, r);
    }, () => r.requests++);
    this.#rotation = (this.#rotation + Math.min(this.#o.shardsPerCycle, shards.length)) %
      shards.length;
    const now = q.clock.now();
    if (options.sweep ?? now - this.#lastSweepAt >= this.#o.sweepIntervalS * 1000) {
      this.#lastSweepAt = now;
      r.sweep = await this.#sweeper.step();
      r.requests += r.sweep.requests;
      // A lease entry the sweep wrote may be past its time already (a lease indexed by the
      // ready entry whose worker died): the next cycle comes at once, not after the idle wait.
      if (r.sweep.leaseRepaired > 0) r.nextExpiryAt = Math.min(r.nextExpiryAt ?? now, now);
    }
    return r;
  }

  // A shard's page of its deadline index (soonest first); every passed deadline is
  // checked against its task: an expired lease is recovered, a passed TTL expires a
  // pending task, and an entry that no longer matches its task is removed.
  async #deadlines(page: ShardPage, r: MonitorResult): Promise<void> {
    const q = this.#queue;
    // Decide with the store's time minus its uncertainty: never act on a deadline early.
    const now = q.clock.now() - q.store.clockUncertaintyMs();
    for (const v of page.versions) {
      const ref = { key: v.key, versionId: v.versionId };
      if (v.isDeleteMarker || !v.isLatest) {
        await q.tasks.deleteEntry(ref);
        continue;
      }
      const entry = q.keys.parseDeadline(v.key);
      if (entry === null) continue;
      if (entry.kind !== "ttl") r.leaseEntries++;
      if (entry.at > now) {
        r.nextExpiryAt = r.nextExpiryAt === null ? entry.at : Math.min(r.nextExpiryAt, entry.at);
        break; // sorted by time
      }
      if (entry.kind === "lease") await this.#expiredLease(entry.taskId, ref, now, r);
      else if (entry.kind === "group") await this.#expiredGroup(ref, now, r);
      else await this.#passedTtl(entry.taskId, ref, now, r);
    }
  }

  async #passedTtl(taskId: string, ref: EntryRef, now: number, r: MonitorResult): Promise<void> {
    const q = this.#queue;
    const cur = await this.#read(taskId, r);
    if (cur === undefined) return;
    if (
      cur && cur.rec.status === "pending" && cur.rec.expires_at !== null &&
      q.tasks.expiryKey(cur.rec) === ref.key
    ) {
      const t = transitions.expire(cur.rec, now);
      if (!t.ok) return;
      r.requests++;
      if (await q.tasks.replace(t.next, cur.etag) === null) return; // changed: next cycle
      r.expired++;
      await q.tasks.dropReady(cur.rec);
    } else {
      r.staleEntries++;
    }
    await q.tasks.deleteEntry(ref);
  }

  // The task, `null` when gone, `undefined` when unreadable (reported, entry kept).
  async #read(taskId: string, r: MonitorResult): Promise<Versioned | null | undefined> {
    try {
      r.requests++;
      return await this.#queue.tasks.read(taskId);
    } catch (e) {
      if (!(e instanceof SchemaError)) throw e;
      this.#invalid(e);
      return undefined;
    }
  }

  async #expiredLease(taskId: string, ref: EntryRef, now: number, r: MonitorResult): Promise<void> {
    if (await this.#recover(taskId, ref.key, now, r)) await this.#queue.tasks.deleteEntry(ref);
  }

  // A lease group's time passed (its worker died, or has not deleted it yet): each task it
  // names that still runs under it with its lease expired is recovered; the entry goes once
  // none is left under it (src/protocol/lease_groups.ts).
  async #expiredGroup(ref: EntryRef, now: number, r: MonitorResult): Promise<void> {
    let group;
    try {
      r.requests++;
      group = await readGroup(this.#queue, ref.key);
    } catch (e) {
      if (!(e instanceof SchemaError)) throw e;
      this.#invalid(e);
      return;
    }
    // A group names up to 100 tasks, most often ended or never claimed: read them a few at
    // a time, so a dead worker's tasks wait for a few round trips rather than a hundred. A
    // task that cannot be read now keeps the entry (reported); the others go on.
    const outcomes = await mapLimit(group?.rec.task_ids ?? [], GROUP_READS, async (taskId) => {
      try {
        return await this.#recover(taskId, ref.key, now, r);
      } catch (e) {
        this.#events.emit("monitor:error", { error: e as Error });
        return false;
      }
    });
    if (outcomes.every(Boolean)) await this.#queue.tasks.deleteEntry(ref);
  }

  // Recover `taskId` if it still runs under the entry `key` with its lease expired. True
  // when the entry no longer covers it (recovered, finished, re-leased or gone); false when
  // it must stay (the lease has not ended, or the task cannot be read).
  async #recover(taskId: string, key: string, now: number, r: MonitorResult): Promise<boolean> {
    const q = this.#queue;
    r.expiredChecked++;
    for (let round = 0; round < 8; round++) {
      const cur = await this.#read(taskId, r);
      if (cur === undefined) return false;
      if (cur === null || cur.rec.status !== "running" || q.tasks.leaseKey(cur.rec) !== key) {
        // Finished, re-leased under another key, or gone: the entry is stale for it.
        r.staleEntries++;
        return true;
      }
      const t = transitions.recoverLease(cur.rec, now);
      if (!t.ok) return false;
      const w = t.next.status === "pending"
        ? await q.tasks.makePending(t.next, cur.etag)
        : await q.tasks.replace(t.next, cur.etag);
      r.requests += t.next.status === "pending" ? 2 : 1;
      if (w === null) continue; // the worker (or another monitor) wrote first: look again
      if (w.rec.status === "pending") r.recovered++;
      else if (w.rec.status === "failed") r.deadLettered++;
      else r.cancelled++;
      this.#events.emit("monitor:recovered", { taskId, status: w.rec.status });
      return true;
    }
    return false;
  }

  /**
   * How long to wait after a cycle: `checkIntervalS` while leases exist or the host is
   * busy, `idleCheckIntervalS` otherwise, and never past the next known expiry.
   */
  nextDelayMs(result: MonitorResult): number {
    const active = result.leaseEntries > 0 || (this.#o.activityHint?.() ?? false);
    let delayMs = (active ? this.#o.checkIntervalS : this.#o.idleCheckIntervalS) * 1000;
    if (result.nextExpiryAt !== null) {
      delayMs = Math.min(
        delayMs,
        Math.max(1000, result.nextExpiryAt - this.#queue.clock.now() + 1000),
      );
    }
    return delayMs;
  }

  /** Run cycles until {@link Monitor.stop}; the interval adapts to activity (see options). */
  run(): Promise<void> {
    if (this.#loop?.running) throw new Error("Monitor is already running");
    this.#loop = new Loop(async () => {
      let delayMs = this.#o.checkIntervalS * 1000;
      try {
        delayMs = this.nextDelayMs(await this.runOnce());
      } catch (e) {
        this.#events.emit("monitor:error", { error: e as Error });
      }
      this.#idleWait = delayMs > this.#o.checkIntervalS * 1000;
      this.#cycleEndAt = this.#queue.clock.now();
      return delayMs;
    }, this.#queue.clock);
    return this.#loop.start();
  }

  /**
   * Tell a running monitor that work has started (an embedded monitor's worker went from
   * idle to busy): if it is waiting out the idle interval, it runs a cycle now and from
   * then on checks every `checkIntervalS`, so a lease that ends soon is not left for the
   * rest of the idle wait. At most one cycle per `checkIntervalS` (a worker whose tasks
   * are short goes from idle to busy at every task): within it of the last cycle, the next
   * comes when it has passed. Otherwise a no-op.
   */
  nudge(): void {
    if (!this.#idleWait) return;
    this.#idleWait = false;
    const waitMs = this.#cycleEndAt + this.#o.checkIntervalS * 1000 - this.#queue.clock.now();
    if (waitMs <= 0) return this.#loop?.wake();
    this.#nudgeTimer = this.#queue.clock.setTimer(
      () => {
        this.#nudgeTimer = undefined;
        this.#loop?.wake();
      },
      waitMs,
      { unref: true },
    );
  }

  /** Stop the loop (waits for the current cycle). */
  async stop(): Promise<void> {
    this.#nudgeTimer?.cancel();
    await this.#loop?.stop();
  }
}
