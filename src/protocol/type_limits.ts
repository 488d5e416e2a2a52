/**
 * Setting a task type's limits: they live in its control record (src/protocol/flow.ts)
 * beside the paused flag, so a worker learns of them exactly as it learns of a pause (the
 * type's wake-up signal is touched). src/protocol/slots.ts and src/protocol/rate.ts
 * enforce them.
 *
 * @module
 */

import type { QueueContext } from "./context.ts";
import {
  type ControlChange,
  listTypeControls,
  type RateLimit,
  type SetPausedResult,
  type TypeControl,
  updateControl,
} from "./flow.ts";
import { RateLog } from "./rate.ts";
import { Slots } from "./slots.ts";

/** Largest concurrency limit (the semaphore object lists every holder). */
export const MAX_CONCURRENCY_LIMIT = 1000;
/** Largest number of starts per window (the rate log lists every start of the window). */
export const MAX_RATE_LIMIT = 1000;

/**
 * A task type's limits, counted across every worker. An absent field leaves that limit as
 * it is; `null` removes it. Give at most one of `ratePerSecond` and `ratePerMinute`.
 */
export interface LimitOptions {
  /** At most this many tasks of the type run at once (1 to 1,000). */
  concurrency?: number | null;
  /** At most this many starts in any one-second window (1 to 1,000). */
  ratePerSecond?: number | null;
  /** At most this many starts in any one-minute window (1 to 1,000). */
  ratePerMinute?: number | null;
}

function checkCount(name: string, v: number, max: number): number {
  if (!Number.isInteger(v) || v < 1 || v > max) {
    throw new RangeError(`${name} must be an integer from 1 to ${max}; got ${v}`);
  }
  return v;
}

/** The control change `options` ask for (validated before any request). */
export function limitChange(options: LimitOptions): ControlChange {
  const change: ControlChange = {};
  if (options.concurrency !== undefined) {
    change.concurrency = options.concurrency === null
      ? null
      : checkCount("concurrency", options.concurrency, MAX_CONCURRENCY_LIMIT);
  }
  const perSecond = options.ratePerSecond;
  const perMinute = options.ratePerMinute;
  if (perSecond != null && perMinute != null) {
    throw new RangeError("Give ratePerSecond or ratePerMinute, not both");
  }
  if (perSecond != null) {
    change.rate_limit = {
      limit: checkCount("ratePerSecond", perSecond, MAX_RATE_LIMIT),
      window_ms: 1000,
    };
  } else if (perMinute != null) {
    change.rate_limit = {
      limit: checkCount("ratePerMinute", perMinute, MAX_RATE_LIMIT),
      window_ms: 60_000,
    };
  } else if (perSecond === null || perMinute === null) change.rate_limit = null;
  if (Object.keys(change).length === 0) {
    throw new TypeError("Give concurrency, ratePerSecond or ratePerMinute (null removes one)");
  }
  return change;
}

/**
 * Set or remove a task type's limits (compare-and-swap of its control record, then its
 * wake-up signal: 4 requests, 3 when nothing changes). Workers apply it at their next
 * signal check.
 *
 * @example
 * ```ts
 * import { MemoryStore, Queue } from "../../mod.ts";
 * import { setLimits } from "./type_limits.ts";
 * const queue = new Queue(new MemoryStore());
 * const r = await setLimits(queue.context, "email", { concurrency: 5 });
 * r.control.concurrency; // 5
 * ```
 */
export async function setLimits(
  ctx: QueueContext,
  taskType: string,
  options: LimitOptions,
): Promise<SetPausedResult> {
  ctx.keys.control(taskType); // validates the type name
  const change = limitChange(options);
  return await updateControl(ctx, taskType, (rec) => {
    const sameConcurrency = change.concurrency === undefined ||
      (rec?.concurrency ?? null) === change.concurrency;
    const cur = rec?.rate_limit ?? null;
    const want = change.rate_limit;
    const sameRate = want === undefined ||
      (cur === null ? want === null : want !== null && cur.limit === want.limit &&
        cur.window_ms === want.window_ms);
    return sameConcurrency && sameRate ? null : change;
  });
}

/** A limited type's limits beside their current use (what `oq stats` and the console show). */
export interface LimitUsage {
  /** The task type. */
  taskType: string;
  /** No worker claims it while paused. */
  paused: boolean;
  /** Its concurrency limit, or `null`. */
  concurrency: number | null;
  /**
   * Slots held now: attempts running or being claimed, a crashed worker's until its lease
   * ends (`null` without a concurrency limit).
   */
  slotsInUse: number | null;
  /** Its rate limit, or `null`. */
  rateLimit: RateLimit | null;
  /** Starts recorded in the last window of the rate limit (`null` without one). */
  recentStarts: number | null;
}

/**
 * The use of `control`'s limits: one GET of the semaphore and one of the rate log, for the
 * limits it has.
 */
export async function limitUsage(ctx: QueueContext, control: TypeControl): Promise<LimitUsage> {
  const t = control.taskType;
  const [slots, starts] = await Promise.all([
    control.concurrency === null ? null : new Slots(ctx, t).usage(),
    control.rateLimit === null ? null : new RateLog(ctx, t).recent(control.rateLimit.windowMs),
  ]);
  return {
    taskType: t,
    paused: control.paused,
    concurrency: control.concurrency,
    slotsInUse: slots?.inUse ?? null,
    rateLimit: control.rateLimit,
    recentStarts: starts,
  };
}

/**
 * Every limited task type with the use of its limits: one LIST of the control records, one
 * GET each, then one GET per limit ({@link limitUsage}).
 *
 * @example
 * ```ts
 * import { MemoryStore, Queue } from "../../mod.ts";
 * import { limitsInUse } from "./type_limits.ts";
 * const queue = new Queue(new MemoryStore());
 * await queue.setLimit("email", { concurrency: 5 });
 * (await limitsInUse(queue.context))[0]?.slotsInUse; // 0
 * ```
 */
export async function limitsInUse(ctx: QueueContext): Promise<LimitUsage[]> {
  const controls = await listTypeControls(
    ctx,
    (c) => c.concurrency !== null || c.rateLimit !== null,
  );
  return await Promise.all(controls.map((c) => limitUsage(ctx, c)));
}
