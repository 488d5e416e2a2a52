/**
 * The rate limit of a task type across every worker: a sliding-window log,
 * `control/rate/{task_type}.json`, holding the store times of the type's latest starts. A
 * claimer appends its start (compare-and-swap) before the lease entry and the task write,
 * and only while fewer than `limit` recorded starts lie after `at - span`, where `at` is
 * the claimer's store clock and the span is the window widened by the clocks' disagreement
 * and the claim's own latency ({@link rateSpan}). A start recorded at r really happens
 * within [r - u, r + u + 250 ms] (u: clock uncertainty), so no real window of the limit's
 * length can hold more than `limit` starts while that latency holds. A start recorded for a claim that then lost its
 * race stays in the log: the type runs less, never more. A task refused by the limit is
 * not claimed, so it spends no attempt. docs/format.md ("Rate limit") gives the cost.
 *
 * @module
 */

import { z } from "zod";
import type { QueueContext } from "./context.ts";
import { CachedRecord } from "./cached_record.ts";

/** Version of the rate log's format. */
export const RATE_SCHEMA_VERSION = 1;

const MAX_ROUNDS = 8;

/** The stored start log of one task type. */
export const RateRecordSchema = z.looseObject({
  schema_version: z.number().int().positive(),
  task_type: z.string(),
  /** Store times (ms) of the latest starts, ascending. */
  starts: z.array(z.number()),
  revision: z.number().int().nonnegative(),
  write_id: z.string(),
});

/** The stored start log of one task type. */
export type RateRecord = z.infer<typeof RateRecordSchema>;

/** Outcome of {@link RateLog.admit}. */
export type RateResult =
  | { kind: "admitted"; at: number }
  /** The window is full until `retryAt` (store time). */
  | { kind: "limited"; retryAt: number }
  /** Other writers kept winning the compare-and-swap: try again later. */
  | { kind: "contended" };

/**
 * The start log of one task type as one process sees it (the last version it read or
 * wrote; its own calls run one at a time).
 *
 * @example
 * ```ts
 * import { MemoryStore, Queue } from "../../mod.ts";
 * import { RateLog } from "./rate.ts";
 * const queue = new Queue(new MemoryStore());
 * const log = new RateLog(queue.context, "email");
 * (await log.admit(1, 1000)).kind; // "admitted"
 * (await log.admit(1, 1000)).kind; // "limited": one start per second
 * ```
 */
export class RateLog {
  readonly #ctx: QueueContext;
  readonly #rec: CachedRecord<RateRecord>;

  /** The start log of `taskType`. */
  constructor(ctx: QueueContext, taskType: string) {
    this.#ctx = ctx;
    this.#rec = new CachedRecord(
      ctx.store,
      ctx.keys.rate(taskType),
      RateRecordSchema,
      RATE_SCHEMA_VERSION,
      taskType,
    );
  }

  #span(windowMs: number): number {
    return rateSpan(windowMs, this.#ctx.store.clockUncertaintyMs());
  }

  /**
   * Re-read the log (one GET) and return the store time from which a start is allowed
   * (`at`; equal to `now` when one is allowed now). A worker calls it before claiming a type's
   * tasks, so a type over its rate costs one GET and no task read.
   */
  allowedAt(limit: number, windowMs: number): Promise<{ now: number; at: number }> {
    return this.#rec.serial(async () => {
      const cur = await this.#rec.read(true);
      const now = this.#ctx.clock.now();
      return { now, at: nextAllowed(cur?.rec.starts ?? [], now, limit, this.#span(windowMs)) };
    });
  }

  /** Record a start if fewer than `limit` lie in the window ending now (one PUT, GET on a lost race). */
  admit(limit: number, windowMs: number): Promise<RateResult> {
    const span = this.#span(windowMs);
    return this.#rec.serial(async () => {
      for (let round = 0; round < MAX_ROUNDS; round++) {
        const cur = await this.#rec.read(round > 0);
        const starts = cur?.rec.starts ?? [];
        const at = this.#ctx.clock.now();
        const allowed = nextAllowed(starts, at, limit, span);
        if (allowed > at) return { kind: "limited", retryAt: allowed };
        // Another process's clock may be behind ours (by less than a span): keep two spans.
        const kept = starts.filter((s) => s > at - 2 * span);
        if (await this.#rec.write(cur, { starts: [...kept, at].sort((x, y) => x - y) }) !== null) {
          return { kind: "admitted", at };
        }
      }
      return { kind: "contended" };
    });
  }
}

/**
 * The window checked: the limit's, widened by the slack between a recorded start and the
 * handler's real start: the disagreement of two processes' store clocks (twice the
 * uncertainty) plus 250 ms for the claim's own writes. Zero on a store with an exact clock
 * (the memory store).
 */
export function rateSpan(windowMs: number, clockUncertaintyMs: number): number {
  return clockUncertaintyMs > 0 ? windowMs + 2 * clockUncertaintyMs + 250 : windowMs;
}

/**
 * The earliest time at or after `at` when a start is allowed: fewer than `limit` of the
 * (ascending) `starts` in `(t - windowMs, t]`.
 */
export function nextAllowed(
  starts: readonly number[],
  at: number,
  limit: number,
  windowMs: number,
): number {
  // Starts recorded "after" `at` (by a clock ahead of ours) count too.
  const inWindow = starts.filter((s) => s > at - windowMs).sort((x, y) => x - y);
  if (inWindow.length < limit) return at;
  // The start that must leave the window: then limit - 1 remain.
  return inWindow[inWindow.length - limit]! + windowMs;
}
