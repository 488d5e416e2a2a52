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
 * @module
 */

import type { QueueContext } from "../protocol/context.ts";
import { RateLog } from "../protocol/rate.ts";
import { type Holder, Slots } from "../protocol/slots.ts";
import type { TaskRecord } from "../task/task.ts";
import type { ClaimGate, Permit } from "./claim.ts";
import type { TypeLimits } from "./paused_types.ts";

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
  readonly #slots = new Map<string, Slots>();
  readonly #rates = new Map<string, RateLog>();

  /** Limits over `ctx`; `onError` hears of releases that failed (their slot frees at lease end). */
  constructor(ctx: QueueContext, onError: (error: Error, context: string) => void) {
    this.#ctx = ctx;
    this.#onError = onError;
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
      const r = await this.#rateOf(taskType).allowedAt(limits.rate.limit, limits.rate.windowMs);
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
      const r = await this.#rateOf(taskType).admit(limits.rate.limit, limits.rate.windowMs)
        .catch(async (e) => {
          await permit.release();
          throw e;
        });
      if (r.kind !== "admitted") {
        await permit.release();
        return { retryAt: r.kind === "limited" ? r.retryAt : null };
      }
    }
    return { permit };
  }

  #permit(taskType: string, limits: TypeLimits, holder: Holder | null): Permit {
    let released = false;
    return {
      release: async () => {
        if (released || holder === null) return;
        released = true;
        try {
          const before = await this.#slotsOf(taskType).release(holder);
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
