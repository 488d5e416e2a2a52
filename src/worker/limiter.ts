/**
 * A worker's side of the per-type limits (src/protocol/slots.ts, src/protocol/rate.ts):
 * before claiming a limited type's candidates it asks {@link Limiter.room} (one GET per
 * limit; a full type costs nothing more: no task read), then each claim passes through
 * the type's {@link ClaimGate}, which takes a slot and records a start before the lease
 * entry and the task write. The slot is given back once the attempt's outcome is written
 * ({@link Permit.release}); when the type was full, the type's wake-up signal is touched
 * (coalesced like a submit's) so waiting workers try again without waiting for their
 * back-off. Types without limits never reach this file.
 *
 * A rate-limited start is recorded `lead` ms ahead of the clock: the claim's expected
 * latency (lease entry, task write, ready entry delete, input read), learnt from this
 * worker's recent claims of the type. Just before the handler is called
 * ({@link Permit.beforeStart}) the worker waits until the recorded start if it is early;
 * if it is more than {@link START_SLACK_MS} late it records a new start now when the window
 * has room, and otherwise gives the task back unstarted (attempt unspent, slot freed
 * first): the handler starts within [r, r + START_SLACK_MS] of a recorded start r, which
 * is what the rate bound rests on (src/protocol/rate.ts).
 *
 * @module
 */

import type { QueueContext } from "../protocol/context.ts";
import { RateLog, START_SLACK_MS } from "../protocol/rate.ts";
import { sleepOn } from "../base/clock.ts";
import { type Holder, Slots } from "../protocol/slots.ts";
import type { TaskRecord } from "../task/task.ts";
import type { ClaimGate, Permit } from "./claim.ts";
import type { TypeLimits } from "./paused_types.ts";

/** The largest lead of a recorded start over the clock (a claim slower than this is late). */
const MAX_LEAD_MS = 5000;
/** Weights of the newest sample in the smoothed claim latency and its deviation (TCP's). */
const MEAN_WEIGHT = 1 / 8;
const DEV_WEIGHT = 1 / 4;

/**
 * The limits of one worker's task types.
 *
 * @example
 * ```ts
 * import { MemoryStore, Queue } from "../../mod.ts";
 * import { Limiter } from "./limiter.ts";
 * const queue = new Queue(new MemoryStore());
 * const limiter = new Limiter(queue.context, () => {});
 * (await limiter.room("email", { concurrency: 2, rate: null })).room; // 2
 * ```
 */
export class Limiter {
  readonly #ctx: QueueContext;
  readonly #onError: (error: Error, context: string) => void;
  readonly #onFreed: (taskType: string) => void;
  readonly #slots = new Map<string, Slots>();
  readonly #rates = new Map<string, RateLog>();
  /**
   * Per rate-limited type: the smoothed latency from a start's record to its handler call,
   * and its smoothed deviation.
   */
  readonly #latency = new Map<string, { mean: number; dev: number }>();

  /**
   * Limits over `ctx`; `onError` hears of releases that failed (their slot frees at lease
   * end); `onFreed` hears of each slot this worker gave back (its own lanes held back by the
   * type's limit may claim again at once: other workers hear of it through the type's
   * signal, coalesced, or at their next look).
   */
  constructor(
    ctx: QueueContext,
    onError: (error: Error, context: string) => void,
    onFreed: (taskType: string) => void = () => {},
  ) {
    this.#ctx = ctx;
    this.#onError = onError;
    this.#onFreed = onFreed;
  }

  /**
   * How many tasks of the type may be claimed now (fresh reads of its limit objects: one
   * GET each), and when to look again when none may (`retryAt`, store time; a release
   * also touches the type's signal).
   */
  async room(taskType: string, limits: TypeLimits): Promise<{ room: number; retryAt: number }> {
    const now = this.#ctx.clock.now();
    let room = Infinity;
    let retryAt = now;
    if (limits.concurrency !== null) {
      const t = await this.#slotsOf(taskType).taken(limits.concurrency);
      room = limits.concurrency - t.taken;
      retryAt = t.retryAt;
    }
    if (limits.rate !== null && room > 0) {
      const r = await this.#rateOf(taskType).allowedAt(
        limits.rate.limit,
        limits.rate.windowMs,
        this.lead(taskType),
      );
      if (r.at > r.now) {
        room = 0;
        retryAt = r.at;
      } else room = Math.min(room, limits.rate.limit);
    }
    return { room, retryAt };
  }

  /** The gate of one type's claims, under `limits` as the worker last read them. */
  gate(taskType: string, limits: TypeLimits): ClaimGate {
    return { admit: (next) => this.#admit(taskType, limits, next) };
  }

  async #admit(
    taskType: string,
    limits: TypeLimits,
    next: TaskRecord,
  ): Promise<{ permit: Permit } | { retryAt: number | null }> {
    const grantedAt = this.#ctx.clock.now();
    let holder: Holder | null = null;
    if (limits.concurrency !== null) {
      const h: Holder = {
        task_id: next.id,
        attempt: next.attempt,
        worker_id: next.worker_id ?? "",
        granted_at: grantedAt,
        lease_until: Date.parse(next.lease_expires_at ?? next.updated_at),
      };
      const r = await this.#slotsOf(taskType).acquire(h, limits.concurrency);
      if (r.kind === "full") return { retryAt: r.retryAt };
      if (r.kind === "contended") return { retryAt: null };
      holder = h;
    }
    const permit = this.#permit(taskType, limits, holder);
    if (limits.rate !== null) {
      const lead = this.lead(taskType);
      const r = await this.#rateOf(taskType).admit(limits.rate.limit, limits.rate.windowMs, lead)
        .catch(async (e) => {
          await permit.release();
          throw e;
        });
      if (r.kind !== "admitted") {
        await permit.release();
        return { retryAt: r.kind === "limited" ? r.retryAt : null };
      }
      const recorded = r.at;
      const rate = limits.rate;
      permit.beforeStart = () => this.#startAt(taskType, rate, recorded, recorded - lead, permit);
    }
    return { permit };
  }

  /**
   * How far ahead of the clock this worker records a start of `taskType` (ms): a high
   * estimate of its claim latency (smoothed mean plus twice the smoothed deviation, as TCP
   * estimates a retransmission timeout) less the slack. A claim slower than that estimate
   * is given back; a faster one waits for its recorded start, which costs it at most the
   * lead (waiting is cheaper than a claim given back).
   */
  lead(taskType: string): number {
    const l = this.#latency.get(taskType);
    if (l === undefined) return 0;
    const high = l.mean + 2 * l.dev - START_SLACK_MS;
    return Math.min(MAX_LEAD_MS, Math.max(0, Math.round(high)));
  }

  // The start check of a rate-limited claim recorded at `recorded`: wait until then if early;
  // if later than the slack allows, record a new start now when the window has room (one
  // more write; the late record stays and is counted, which only errs on the safe side),
  // else free the slot and give the task back unstarted.
  async #startAt(
    taskType: string,
    rate: { limit: number; windowMs: number },
    recorded: number,
    readAt: number,
    permit: Permit,
  ): Promise<boolean> {
    let now = this.#ctx.clock.now();
    // Learn the latency from the clock's reading the start was recorded from, to here.
    const seen = now - readAt;
    const l = this.#latency.get(taskType);
    if (l === undefined) this.#latency.set(taskType, { mean: seen, dev: seen / 2 });
    else {
      l.dev += (Math.abs(seen - l.mean) - l.dev) * DEV_WEIGHT;
      l.mean += (seen - l.mean) * MEAN_WEIGHT;
    }
    if (now < recorded) {
      await sleepOn(this.#ctx.clock, recorded - now);
      now = this.#ctx.clock.now();
    }
    if (now <= recorded + START_SLACK_MS) return true;
    const again = await this.#rateOf(taskType).admit(rate.limit, rate.windowMs).catch((e) => {
      this.#onError(e as Error, `record a late start of ${taskType}`);
      return null;
    });
    if (again?.kind === "admitted" && this.#ctx.clock.now() <= again.at + START_SLACK_MS) {
      return true;
    }
    await permit.release();
    return false;
  }

  #permit(taskType: string, limits: TypeLimits, holder: Holder | null): Permit {
    let released = false;
    return {
      beforeStart: undefined,
      release: async () => {
        if (released || holder === null) return;
        released = true;
        try {
          const before = await this.#slotsOf(taskType).release(holder);
          if (before > 0) this.#onFreed(taskType);
          // Workers that found the type full back off: wake them (coalesced per type).
          if (before >= (limits.concurrency ?? Infinity)) await this.#ctx.signals.touch(taskType);
        } catch (e) {
          this.#onError(e as Error, `release the slot of ${holder.task_id}`);
        }
      },
    };
  }

  #slotsOf(taskType: string): Slots {
    let s = this.#slots.get(taskType);
    if (!s) this.#slots.set(taskType, s = new Slots(this.#ctx, taskType));
    return s;
  }

  #rateOf(taskType: string): RateLog {
    let r = this.#rates.get(taskType);
    if (!r) this.#rates.set(taskType, r = new RateLog(this.#ctx, taskType));
    return r;
  }
}
