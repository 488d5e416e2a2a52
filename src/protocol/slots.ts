/**
 * The concurrency limit of a task type across every worker: a semaphore object,
 * `control/slots/{task_type}.json`, listing the attempts that hold a slot. A claimer adds
 * its holder (compare-and-swap) before the lease entry and the task write, and removes it
 * once the attempt's outcome is written. So at no moment do more attempts run than holders
 * are listed, and a claim is only made while fewer than the limit are.
 *
 * A holder stays valid, without any request, while it is younger than the claim window
 * (its claimer may not have written the task yet) or its recorded lease end is ahead. Past
 * both, an acquirer that needs the slot reads the holder's task: the holder is kept (with
 * the lease end refreshed) when that attempt still runs with a lease ahead, else evicted;
 * a task still pending is fenced first (rewritten with a new revision), so a claim whose
 * task write is still in flight fails instead of running without its slot.
 * So a crashed worker's share is freed when its lease ends, and the GETs are paid only
 * when the type is full. Times are the store's clock; every comparison allows for its
 * uncertainty. docs/format.md ("Concurrency limit") argues the bound.
 *
 * @module
 */

import { z } from "zod";
import { SchemaError } from "../base/errors.ts";
import { nonce } from "../base/ids.ts";
import type { QueueContext } from "./context.ts";
import { CachedRecord } from "./cached_record.ts";

/** Version of the semaphore object's format. */
export const SLOTS_SCHEMA_VERSION = 1;

/**
 * A holder younger than this (store time) is valid whatever its task says: its claimer is
 * probably writing the task. Safety does not rest on it (an older holder's pending task is
 * fenced before the holder is evicted); it only spares a claim in progress that fence.
 */
export const CLAIM_WINDOW_MS = 10_000;

const MAX_ROUNDS = 8;

const HolderSchema = z.object({
  task_id: z.string(),
  attempt: z.number().int().nonnegative(),
  worker_id: z.string(),
  granted_at: z.number(),
  lease_until: z.number(),
});

/** The stored semaphore of one task type. */
export const SlotsRecordSchema = z.looseObject({
  schema_version: z.number().int().positive(),
  task_type: z.string(),
  holders: z.array(HolderSchema),
  revision: z.number().int().nonnegative(),
  write_id: z.string(),
});

/** The stored semaphore of one task type. */
export type SlotsRecord = z.infer<typeof SlotsRecordSchema>;

/** One attempt holding a slot (times in store ms). */
export type Holder = z.infer<typeof HolderSchema>;

/** Outcome of {@link Slots.acquire}. */
export type AcquireResult =
  | { kind: "granted"; holder: Holder }
  /** Every slot is validly held; none can free (but by a release) before `retryAt`. */
  | { kind: "full"; retryAt: number }
  /** Other writers kept winning the compare-and-swap: try again later. */
  | { kind: "contended" };

function same(a: Holder, b: Pick<Holder, "task_id" | "attempt" | "worker_id">): boolean {
  return a.task_id === b.task_id && a.attempt === b.attempt && a.worker_id === b.worker_id;
}

/**
 * The semaphore of one task type as one process sees it: the last version it read or
 * wrote (so a worker alone on a type pays no GET before its writes), and its own calls
 * run one at a time (they would only conflict with each other).
 *
 * @example
 * ```ts
 * import { MemoryStore, Queue } from "../../mod.ts";
 * import { Slots } from "./slots.ts";
 * const queue = new Queue(new MemoryStore());
 * const slots = new Slots(queue.context, "email");
 * const now = queue.context.clock.now();
 * const holder = { task_id: "0-a", attempt: 1, worker_id: "w1", granted_at: now, lease_until: now + 60_000 };
 * (await slots.acquire(holder, 1)).kind; // "granted"
 * await slots.release(holder);
 * ```
 */
export class Slots {
  readonly #ctx: QueueContext;
  readonly #rec: CachedRecord<SlotsRecord>;

  /** The semaphore of `taskType`. */
  constructor(ctx: QueueContext, taskType: string) {
    this.#ctx = ctx;
    this.#rec = new CachedRecord(
      ctx.store,
      ctx.keys.slots(taskType),
      SlotsRecordSchema,
      SLOTS_SCHEMA_VERSION,
      taskType,
    );
  }

  /**
   * Re-read the object (one GET) and return how many slots of `limit` are surely taken
   * (holders valid without reading their task). A worker calls it before claiming a type's
   * tasks, so a full type costs one GET and no task read.
   */
  taken(limit: number): Promise<{ taken: number; retryAt: number }> {
    return this.#rec.serial(async () => {
      const cur = await this.#rec.read(true);
      const now = this.#ctx.clock.now();
      const sure = (cur?.rec.holders ?? []).filter((h) => this.#surelyValid(h, now));
      return { taken: Math.min(limit, sure.length), retryAt: this.#retryAt(sure, now) };
    });
  }

  /**
   * Take a slot for `holder` if fewer than `limit` are validly held: evicts holders whose
   * attempt is over (one task GET each, only while needed), then one PUT. Retries a lost
   * compare-and-swap with a fresh GET, a few times.
   */
  acquire(holder: Holder, limit: number): Promise<AcquireResult> {
    return this.#rec.serial(async () => {
      for (let round = 0; round < MAX_ROUNDS; round++) {
        const cur = await this.#rec.read(round > 0);
        const now = this.#ctx.clock.now();
        const others = (cur?.rec.holders ?? []).filter((h) => !same(h, holder));
        const kept: Holder[] = [];
        const unsure: Holder[] = [];
        for (const h of others) (this.#surelyValid(h, now) ? kept : unsure).push(h);
        let changed = others.length !== (cur?.rec.holders.length ?? 0);
        while (unsure.length > 0 && kept.length + unsure.length >= limit) {
          const h = unsure.shift()!;
          const checked = await this.#check(h, now);
          if (checked !== null) kept.push(checked);
          if (checked === null || checked.lease_until !== h.lease_until) changed = true;
        }
        kept.push(...unsure);
        if (kept.length >= limit) {
          // Persist what the task reads learned, so the next acquirer need not read them.
          if (changed && await this.#rec.write(cur, { holders: kept }) === null) continue;
          return { kind: "full", retryAt: this.#retryAt(kept, now) };
        }
        if (await this.#rec.write(cur, { holders: [...kept, holder] }) !== null) {
          return { kind: "granted", holder };
        }
      }
      return { kind: "contended" };
    });
  }

  /**
   * Give back the slot of `holder` (a compare-and-swap removing it; first against the last
   * version this process knows, then re-read on a lost race). Returns how many holders
   * there were before (so the caller can tell whether the type was full). A holder that
   * was already evicted costs no write; when every round loses, the holder stays until
   * its lease ends, which is safe.
   */
  release(holder: Pick<Holder, "task_id" | "attempt" | "worker_id">): Promise<number> {
    return this.#rec.serial(async () => {
      for (let round = 0; round < MAX_ROUNDS; round++) {
        const cur = await this.#rec.read(round > 0);
        const holders = cur?.rec.holders ?? [];
        if (!holders.some((h) => same(h, holder))) {
          if (round > 0 || cur === null) return 0;
          continue; // the cached version may be old: look again
        }
        const rest = holders.filter((h) => !same(h, holder));
        if (await this.#rec.write(cur, { holders: rest }) !== null) return holders.length;
      }
      return 0;
    });
  }

  /**
   * Re-read the object (one GET): how many holders it lists, and how many of them surely
   * hold a slot now (the others are past their claim window and lease: the next acquirer
   * that needs a slot checks their task and evicts them).
   */
  usage(): Promise<{ listed: number; inUse: number }> {
    return this.#rec.serial(async () => {
      const holders = (await this.#rec.read(true))?.rec.holders ?? [];
      const now = this.#ctx.clock.now();
      const inUse = holders.filter((h) => this.#surelyValid(h, now)).length;
      return { listed: holders.length, inUse };
    });
  }

  /** The holders as last read or written (for inspection). */
  async holders(): Promise<Holder[]> {
    return (await this.#rec.serial(() => this.#rec.read(true)))?.rec.holders ?? [];
  }

  #margin(): number {
    return this.#ctx.store.clockUncertaintyMs();
  }

  #surelyValid(h: Holder, now: number): boolean {
    const m = this.#margin();
    return now < h.granted_at + CLAIM_WINDOW_MS + m || now < h.lease_until + m;
  }

  // Earliest time a slot could free without a release: a holder leaving its window and lease.
  #retryAt(holders: readonly Holder[], now: number): number {
    const m = this.#margin();
    const ends = holders.map((h) => Math.max(h.granted_at + CLAIM_WINDOW_MS, h.lease_until) + m);
    return ends.length ? Math.max(now, Math.min(...ends)) : now;
  }

  // A holder past its window and recorded lease: still valid (lease end refreshed) when its
  // attempt runs with a lease ahead; null (evict) otherwise. One task GET; when the task is
  // still pending, its claimer may yet write it (a slow request, a paused process): the
  // task is first rewritten unchanged but for its revision (a fence), so that claim's
  // compare-and-swap, made against the version it read, can never land.
  async #check(h: Holder, now: number): Promise<Holder | null> {
    for (let round = 0; round < MAX_ROUNDS; round++) {
      let task;
      try {
        task = await this.#ctx.tasks.read(h.task_id);
      } catch (e) {
        if (e instanceof SchemaError) return null; // no worker can be running it
        throw e;
      }
      if (task === null) return null;
      const r = task.rec;
      const leaseEnd = r.lease_expires_at === null ? 0 : Date.parse(r.lease_expires_at);
      const runs = r.status === "running" && r.attempt === h.attempt &&
        r.worker_id === h.worker_id;
      if (runs) return leaseEnd + this.#margin() > now ? { ...h, lease_until: leaseEnd } : null;
      // Running another attempt, or finished: changed since the claimer read it.
      if (r.status !== "pending") return null;
      const fence = { ...r, revision: r.revision + 1, write_id: nonce() };
      if (await this.#ctx.tasks.replace(fence, task.etag) !== null) return null;
    }
    return h; // the task kept changing: keep the holder (safe), look again next time
  }
}
