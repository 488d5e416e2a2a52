/**
 * The rate limit of a task type across every worker: a sliding-window log,
 * `control/rate/{task_type}.json`, holding the store times of the type's latest starts. A
 * claimer appends its start r (compare-and-swap) before the lease entry and the task write,
 * and only while fewer than `limit` recorded starts lie after `r - span`; the span is the
 * window widened by the clocks' disagreement and the start slack ({@link rateSpan}). The
 * worker then starts the handler only inside [r, r + {@link START_SLACK_MS}] of its own
 * clock (src/worker/limiter.ts: it waits when early and gives the task back, attempt
 * unspent, when late), so a start recorded at r really happens within
 * [r - u, r + u + START_SLACK_MS] (u: clock uncertainty) and no real window of the
 * limit's length holds more than `limit` starts. A start recorded for a claim that then
 * lost its race or came too late stays in the log: the type runs less, never more. A task
 * refused by the limit is not claimed, so it spends no attempt. docs/format.md ("Rate
 * limit") argues the bound and gives the cost.
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

/**
 * How long after its recorded start a handler may still start (ms, by the claimer's
 * clock). Later, the claim is given back instead.
 */
export const START_SLACK_MS = 250;

/** Outcome of {@link RateLog.admit}. */
export type RateResult =
  /** The start recorded at `at` (store time: the clock's reading plus the lead asked for). */
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
   * Re-read the log (one GET) and return the store time from which a claim may record a
   * start `leadMs` ahead (`at`; equal to `now` when one may now). A worker calls it before
   * claiming a type's tasks, so a type over its rate costs one GET and no task read.
   */
  allowedAt(limit: number, windowMs: number, leadMs = 0): Promise<{ now: number; at: number }> {
    return this.#rec.serial(async () => {
      const cur = await this.#rec.read(true);
      const now = this.#ctx.clock.now();
      const span = this.#span(windowMs);
      return { now, at: nextAllowed(cur?.rec.starts ?? [], now + leadMs, limit, span) - leadMs };
    });
  }

  /**
   * Re-read the log (one GET): the starts recorded in the window of `windowMs` ending now
   * (store time; a start recorded ahead, for a claim still in progress, counts too).
   */
  recent(windowMs: number): Promise<number> {
    return this.#rec.serial(async () => {
      const cur = await this.#rec.read(true);
      const since = this.#ctx.clock.now() - windowMs;
      return (cur?.rec.starts ?? []).filter((s) => s > since).length;
    });
  }

  /**
   * Record a start at the clock's reading plus `leadMs` (the claim's expected latency: the
   * handler is to start then) if fewer than `limit` recorded starts lie within a span
   * before it (one PUT, GET on a lost race).
   */
  admit(limit: number, windowMs: number, leadMs = 0): Promise<RateResult> {
    const span = this.#span(windowMs);
    return this.#rec.serial(async () => {
      for (let round = 0; round < MAX_ROUNDS; round++) {
        const cur = await this.#rec.read(round > 0);
        const starts = cur?.rec.starts ?? [];
        const at = this.#ctx.clock.now() + leadMs;
        const allowed = nextAllowed(starts, at, limit, span);
        if (allowed > at) return { kind: "limited", retryAt: allowed - leadMs };
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
 * The window checked: the limit's, widened by what may lie between a recorded start and the
 * handler's real start: the disagreement of two processes' store clocks (twice the
 * uncertainty; none on a store with an exact clock, the memory store) plus
 * {@link START_SLACK_MS}, the latest a handler may start after its recorded start.
 */
export function rateSpan(windowMs: number, clockUncertaintyMs: number): number {
  return windowMs + 2 * Math.max(0, clockUncertaintyMs) + START_SLACK_MS;
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
