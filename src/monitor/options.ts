/**
 * The monitor's options: what each means, its default, and their validation, in one place
 * (the worker's are in worker/options.ts, the queue's in protocol/options.ts).
 *
 * @module
 */

import { checkSeconds, MAX_INTERVAL_MS } from "../base/limits.ts";
import type { RetentionOptions } from "./sweep.ts";

/** Options of a {@link Monitor}. */
export interface MonitorOptions {
  /** Check interval while leases exist or work is running (at most 365 days). @default 15 */
  checkIntervalS?: number;
  /** Check interval while no lease was seen and nothing hints at activity. @default 300 */
  idleCheckIntervalS?: number;
  /** Deadline entries examined per shard per cycle (one LIST each). @default 100 */
  leasesPerShard?: number;
  /** Shards examined per cycle (rotating); bounds the requests of a cycle. @default all */
  shardsPerCycle?: number;
  /** Returns true while the host process has work running (embedded monitors). */
  activityHint?: () => boolean;
  /** Interval of the slow sweep's steps (index repair, retention). @default 300 */
  sweepIntervalS?: number;
  /** Task reads per sweep step. @default 200 */
  sweepMaxGets?: number;
  /** Retention of finished tasks, applied by the sweep. @default none: keep everything */
  retention?: RetentionOptions;
}

/** The monitor's defaults (see {@link MonitorOptions}). */
export const MONITOR_DEFAULTS = Object.freeze({
  checkIntervalS: 15,
  idleCheckIntervalS: 300,
  leasesPerShard: 100,
  shardsPerCycle: Number.POSITIVE_INFINITY,
  sweepIntervalS: 300,
  sweepMaxGets: 200,
});

/** Monitor options with every default applied, validated. */
export interface ResolvedMonitorOptions {
  /** See {@link MonitorOptions.checkIntervalS}. */
  checkIntervalS: number;
  /** See {@link MonitorOptions.idleCheckIntervalS}. */
  idleCheckIntervalS: number;
  /** See {@link MonitorOptions.leasesPerShard}. */
  leasesPerShard: number;
  /** See {@link MonitorOptions.shardsPerCycle}. */
  shardsPerCycle: number;
  /** See {@link MonitorOptions.activityHint}. */
  activityHint?: () => boolean;
  /** See {@link MonitorOptions.sweepIntervalS}. */
  sweepIntervalS: number;
  /** See {@link MonitorOptions.sweepMaxGets}. */
  sweepMaxGets: number;
  /** See {@link MonitorOptions.retention}. */
  retention: RetentionOptions;
}

/**
 * Apply the defaults and validate; a bad value is a `RangeError` naming the option.
 *
 * @example
 * ```ts
 * import { resolveMonitorOptions } from "./options.ts";
 * resolveMonitorOptions({ checkIntervalS: 5 }).idleCheckIntervalS; // 300
 * ```
 */
export function resolveMonitorOptions(options: MonitorOptions = {}): ResolvedMonitorOptions {
  const o: ResolvedMonitorOptions = {
    checkIntervalS: options.checkIntervalS ?? MONITOR_DEFAULTS.checkIntervalS,
    idleCheckIntervalS: options.idleCheckIntervalS ?? MONITOR_DEFAULTS.idleCheckIntervalS,
    leasesPerShard: options.leasesPerShard ?? MONITOR_DEFAULTS.leasesPerShard,
    shardsPerCycle: options.shardsPerCycle ?? MONITOR_DEFAULTS.shardsPerCycle,
    activityHint: options.activityHint,
    sweepIntervalS: options.sweepIntervalS ?? MONITOR_DEFAULTS.sweepIntervalS,
    sweepMaxGets: options.sweepMaxGets ?? MONITOR_DEFAULTS.sweepMaxGets,
    retention: options.retention ?? {},
  };
  for (const k of ["leasesPerShard", "shardsPerCycle", "sweepMaxGets"] as const) {
    if (!(o[k] > 0)) throw new RangeError(`Invalid monitor option ${k}: ${o[k]}`);
  }
  for (const k of ["checkIntervalS", "idleCheckIntervalS", "sweepIntervalS"] as const) {
    checkSeconds(`monitor option ${k}`, o[k], MAX_INTERVAL_MS / 1000);
  }
  for (const [k, v] of Object.entries(o.retention)) {
    if (v !== undefined && !(typeof v === "number" && v >= 0)) {
      throw new RangeError(`Invalid retention.${k}: ${v}`);
    }
  }
  return o;
}
