/**
 * When a worker LISTs which part of the ready index: the poll schedule, as a pure state
 * machine over lanes (one lane = one shard x one task type the worker handles). All times
 * are the store's clock in ms.
 *
 * - A lane that yielded work is listed again as soon as the worker has a free slot, or
 *   after its interval when that listing held the whole lane and all of it was claimed.
 * - An empty lane backs off: its interval, doubling, up to `maxPollIntervalMs`, while
 *   the lane was active (work or a wake-up) within `idleAfterMs`.
 * - A lane's interval is `pollIntervalMs` times the live workers sharing its task type
 *   (`spread`, src/worker/peers.ts), divided by the tasks its last listing found, at most
 *   `maxPollIntervalMs`: while work is thin, the workers of a type together list it about
 *   every `pollIntervalMs`. They take turns (`rank`): worker `r` of N lists at the times
 *   k x interval + r x interval / N of the store's clock they share, so that their listings
 *   are spread over the interval instead of falling at random moments (or together).
 * - An idle lane is not listed at all, except at the due time of the earliest future
 *   entry it saw (delayed tasks and retries), after a wake-up signal of its type, and
 *   every `safetyPollIntervalMs` in case a signal was lost.
 * - Wake-up signals are checked every `wakeCheckIntervalMs` (one conditional GET per type).
 *
 * docs/polling.md turns this into requests and dollars per month.
 *
 * @module
 */

/** Poll schedule settings. */
export interface PollSettings {
  /** Interval of an active lane that found nothing, before back-off. @default 500 */
  pollIntervalMs: number;
  /** Cap of an active lane's back-off. @default 5000 */
  maxPollIntervalMs: number;
  /** A lane without work or wake-up for this long goes idle. @default 60000 */
  idleAfterMs: number;
  /** Interval of wake-up signal checks. @default 2500 */
  wakeCheckIntervalMs: number;
  /** Interval of an idle lane's safety LIST. @default 900000 */
  safetyPollIntervalMs: number;
}

/**
 * Defaults, chosen for under $1 per idle worker-month (docs/polling.md).
 *
 * @example
 * ```ts
 * import { DEFAULT_POLL_SETTINGS } from "../../mod.ts";
 * DEFAULT_POLL_SETTINGS.wakeCheckIntervalMs; // 2500: an idle worker checks its wake-up signal
 * ```
 */
export const DEFAULT_POLL_SETTINGS: Readonly<PollSettings> = Object.freeze({
  pollIntervalMs: 500,
  maxPollIntervalMs: 5000,
  idleAfterMs: 60_000,
  wakeCheckIntervalMs: 2500,
  safetyPollIntervalMs: 900_000,
});

/** One shard x type. */
export interface Lane {
  /** Shard. */
  readonly shard: string;
  /** Task type. */
  readonly taskType: string;
  /** Next time the lane should be listed. */
  nextListAt: number;
  /** Consecutive empty lists. */
  emptyStreak: number;
  /** Last time the lane had work or a wake-up. */
  activeAt: number;
}

/**
 * The schedule of one worker.
 *
 * @example
 * ```ts
 * import { DEFAULT_POLL_SETTINGS, PollSchedule } from "./poll_schedule.ts";
 * const s = new PollSchedule(["0", "1"], ["email"], DEFAULT_POLL_SETTINGS, 0);
 * const lanes = s.dueLanes(0); // both lanes, listed at start
 * ```
 */
export class PollSchedule {
  /** Lanes in rotation order. */
  readonly lanes: Lane[];
  readonly #s: PollSettings;
  readonly #spread: (taskType: string) => number;
  readonly #rank: (taskType: string) => number;
  #rotation = 0;
  #nextWakeCheckAt: number;

  /**
   * Create a schedule; every lane is due at `now` (a worker lists everything once at
   * start). `spread` gives the live workers sharing a task type (1: this one alone), `rank`
   * this worker's place among them (0 .. spread - 1).
   */
  constructor(
    shards: readonly string[],
    taskTypes: readonly string[],
    settings: PollSettings,
    now: number,
    spread: (taskType: string) => number = () => 1,
    rank: (taskType: string) => number = () => 0,
  ) {
    this.#s = settings;
    this.#spread = spread;
    this.#rank = rank;
    this.lanes = [];
    for (const taskType of taskTypes) {
      for (const shard of shards) {
        this.lanes.push({ shard, taskType, nextListAt: now, emptyStreak: 0, activeAt: now });
      }
    }
    // Shuffle once so that workers started together do not march through lanes in step.
    for (let i = this.lanes.length - 1; i > 0; i--) {
      const j = Math.floor(Math.random() * (i + 1));
      [this.lanes[i], this.lanes[j]] = [this.lanes[j]!, this.lanes[i]!];
    }
    this.#nextWakeCheckAt = now + settings.wakeCheckIntervalMs;
  }

  /** Lanes due at `now`, starting from a rotating position so no lane starves. */
  dueLanes(now: number): Lane[] {
    const n = this.lanes.length;
    const out: Lane[] = [];
    for (let k = 0; k < n; k++) {
      const lane = this.lanes[(this.#rotation + k) % n]!;
      if (lane.nextListAt <= now) out.push(lane);
    }
    this.#rotation = (this.#rotation + 1) % Math.max(1, n);
    return out;
  }

  /**
   * Record a LIST of `lane`: how many claimable entries it returned, and the due time of
   * the earliest entry still in the future (`null` if none was seen). A lane that gave
   * work is listed again at once, unless `drained` (the listing held the whole lane and
   * this worker claimed all of it): then after its {@link interval}, still active, since a
   * LIST at once would find only what arrived in the meantime.
   */
  listed(
    lane: Lane,
    now: number,
    claimable: number,
    nextDueAt: number | null,
    drained = false,
  ): void {
    if (claimable > 0) {
      lane.emptyStreak = 0;
      lane.activeAt = now;
      const interval = this.interval(lane, claimable);
      lane.nextListAt = drained ? this.#turn(lane, now + interval, interval) : now;
      if (drained && nextDueAt !== null) {
        lane.nextListAt = Math.min(lane.nextListAt, Math.max(now, nextDueAt));
      }
      return;
    }
    lane.emptyStreak++;
    const s = this.#s;
    const active = now - lane.activeAt < s.idleAfterMs;
    const interval = active
      ? Math.min(s.maxPollIntervalMs, this.interval(lane) * 2 ** (lane.emptyStreak - 1))
      : s.safetyPollIntervalMs;
    lane.nextListAt = active ? this.#turn(lane, now + interval, interval) : now + interval;
    if (nextDueAt !== null) lane.nextListAt = Math.min(lane.nextListAt, Math.max(now, nextDueAt));
  }

  /**
   * A listing of `lane` found work this worker cannot take yet (batch entries whose bodies
   * wait until its claims use up the records it holds: src/worker/batch_entries.ts). The lane
   * stays active and is listed again after its {@link interval}, as a drained lane is, instead
   * of backing off as an empty lane would (up to `maxPollIntervalMs`).
   */
  waiting(lane: Lane, now: number, nextDueAt: number | null): void {
    this.listed(lane, now, 1, nextDueAt, true);
  }

  // Workers sharing a lane take turns at listing it. `at` (from `now` plus an interval of
  // the lane) is moved to the nearest of this worker's turns: the times k x `interval` +
  // `rank` x `interval` / N (N the workers sharing the lane, by the store's clock they all
  // read), the earlier one of two as near: at least half an interval after `now`. Alone, `at`
  // as it is.
  #turn(lane: Lane, at: number, interval: number): number {
    const n = this.#spread(lane.taskType);
    if (n <= 1 || interval <= 0) return at;
    const offset = (this.#rank(lane.taskType) % n) * interval / n;
    return Math.ceil((at - interval / 2 - offset) / interval) * interval + offset;
  }

  /**
   * An active lane's interval: `pollIntervalMs` times the workers sharing its type, divided
   * by the tasks its last listing `found` (a listing that found several shows work coming
   * faster than the workers list: listing sooner costs little per task and shortens the
   * wait), between `pollIntervalMs` and `maxPollIntervalMs`.
   */
  interval(lane: Lane, found = 1): number {
    const s = this.#s;
    const n = Math.max(1, this.#spread(lane.taskType) / Math.max(1, found));
    return Math.max(s.pollIntervalMs, Math.min(s.maxPollIntervalMs, s.pollIntervalMs * n));
  }

  /** A lane's LIST failed: retry after the back-off interval. */
  failed(lane: Lane, now: number): void {
    lane.emptyStreak++;
    lane.nextListAt = now +
      Math.min(this.#s.maxPollIntervalMs, this.#s.pollIntervalMs * 2 ** lane.emptyStreak);
  }

  /** Wake-up signals changed for these types: list their lanes now and treat them as active. */
  wake(taskTypes: readonly string[], now: number): void {
    for (const lane of this.lanes) {
      if (!taskTypes.includes(lane.taskType)) continue;
      lane.nextListAt = now;
      lane.emptyStreak = 0;
      lane.activeAt = now;
    }
  }

  /** These lanes are due now and active, their back-off restarted (a slot of their type freed). */
  wakeLanes(lanes: Iterable<Lane>, now: number): void {
    for (const lane of lanes) {
      lane.nextListAt = now;
      lane.emptyStreak = 0;
      lane.activeAt = now;
    }
  }

  /** Work of `taskType` in `shard` becomes due at `at` (e.g. a retry this worker wrote). */
  dueAt(shard: string, taskType: string, at: number, now: number): void {
    for (const lane of this.lanes) {
      if (lane.shard !== shard || lane.taskType !== taskType) continue;
      lane.nextListAt = Math.min(lane.nextListAt, Math.max(now, at));
      lane.activeAt = now;
    }
  }

  /** Is a wake-up check due? */
  wakeCheckDue(now: number): boolean {
    return now >= this.#nextWakeCheckAt;
  }

  /** Record a wake-up check. */
  wakeChecked(now: number): void {
    this.#nextWakeCheckAt = now + this.#s.wakeCheckIntervalMs;
  }

  /** The next time something is due (a lane or the wake-up check). */
  nextEventAt(): number {
    let t = this.#nextWakeCheckAt;
    for (const lane of this.lanes) t = Math.min(t, lane.nextListAt);
    return t;
  }

  /** True when every lane is idle. */
  isIdle(now: number): boolean {
    return this.lanes.every((l) => now - l.activeAt >= this.#s.idleAfterMs);
  }
}
