/**
 * The store's clock, estimated from the HTTP `Date` header of every response.
 *
 * A `Date` header has one-second resolution and was generated at some instant between the
 * moment we sent the request and the moment the response arrived. So each response bounds
 * the offset (server time minus local time) to the interval
 * `[date - receivedAt, date + 1000 - sentAt]`. Intersecting the intervals of recent
 * responses narrows the estimate; an empty intersection means one of the clocks jumped,
 * and the estimate restarts from the newest sample. Each interval is widened by
 * {@link DATE_SLACK_MS} on both sides: a server may stamp `Date` from a time it read a few
 * milliseconds before our request left (Ceph's RGW under load did, by 3 ms), and a runtime's
 * `Date.now` can be coarse; without the slack the intervals can exclude the true offset.
 *
 * @module
 */

/** Options of {@link ServerClock}. */
export interface ServerClockOptions {
  /** Local clock in milliseconds since the epoch. @default Date.now */
  localNow?: () => number;
  /** Intersect at most this many recent samples. @default 64 */
  maxSamples?: number;
  /**
   * Forget samples older than this (local milliseconds), since the two clocks drift
   * apart slowly. @default 600000
   */
  maxSampleAgeMs?: number;
}

/** Milliseconds each sample's interval is widened by on both sides (see the module comment). */
export const DATE_SLACK_MS = 10;

/** The largest step back of the estimate that {@link ServerClock.now} hides (ms). */
export const MAX_HELD_STEP_MS = 5000;

interface Sample {
  /** Lower bound of the offset. */
  lo: number;
  /** Upper bound of the offset. */
  hi: number;
  /** Local time the sample was taken. */
  at: number;
}

/**
 * Server time = local time + an offset learnt from `Date` headers.
 *
 * @example
 * ```ts
 * import { ServerClock } from "./clock.ts";
 * let t = 5_000;
 * const clock = new ServerClock({ localNow: () => t });
 * clock.observe("Thu, 01 Jan 1970 00:01:00 GMT", 4_900, 5_000);
 * clock.synced(); // true
 * clock.uncertaintyMs(); // 560: the 1 s resolution, the 100 ms round trip and 2 x 10 ms of slack, halved
 * ```
 */
export class ServerClock {
  readonly #localNow: () => number;
  readonly #maxSamples: number;
  readonly #maxSampleAgeMs: number;
  #samples: Sample[] = [];
  #lo = 0;
  #hi = 0;
  #last = Number.NEGATIVE_INFINITY;
  /** The smallest `at` held (a lower bound of it after count evictions). */
  #oldestAt = Infinity;
  #lastHeader = "";
  #lastDate = Number.NaN;

  /** Create an unsynced clock. */
  constructor(options: ServerClockOptions = {}) {
    this.#localNow = options.localNow ?? Date.now;
    this.#maxSamples = options.maxSamples ?? 64;
    this.#maxSampleAgeMs = options.maxSampleAgeMs ?? 600_000;
  }

  /** The local clock this estimate is relative to. */
  localNow(): number {
    return this.#localNow();
  }

  /**
   * Feed one response: its `Date` header (ignored when absent or unparsable), the local
   * time just before the request was sent and the local time its headers arrived.
   * Returns true when the sample was used.
   */
  observe(dateHeader: string | null | undefined, sentAt: number, receivedAt: number): boolean {
    if (!dateHeader) return false;
    // Responses within one second carry the same header: parse it once.
    if (dateHeader !== this.#lastHeader) {
      this.#lastHeader = dateHeader;
      this.#lastDate = Date.parse(dateHeader);
    }
    const date = this.#lastDate;
    if (!Number.isFinite(date) || !(receivedAt >= sentAt)) return false;
    const sample: Sample = {
      lo: date - receivedAt - DATE_SLACK_MS,
      hi: date + 1000 - sentAt + DATE_SLACK_MS,
      at: receivedAt,
    };
    const samples = this.#samples;
    samples.push(sample);
    // The bounds are kept as the intersection of the samples held; they are recomputed
    // over all of them only when a sample that set one of them leaves (a few times in 64),
    // not on every response.
    let stale = false;
    const oldest = receivedAt - this.#maxSampleAgeMs;
    if (this.#oldestAt < oldest) {
      const kept = samples.filter((s) => s.at >= oldest);
      stale = kept.length < samples.length;
      this.#samples = kept;
      this.#oldestAt = minAt(kept);
    }
    while (this.#samples.length > this.#maxSamples) {
      const gone = this.#samples.shift()!;
      stale ||= gone.lo === this.#lo || gone.hi === this.#hi;
    }
    if (this.#samples.length === 1 || stale) {
      this.#oldestAt = minAt(this.#samples);
      this.#lo = -Infinity;
      this.#hi = Infinity;
      for (const s of this.#samples) this.#tighten(s);
    } else {
      this.#oldestAt = Math.min(this.#oldestAt, sample.at);
      this.#tighten(sample);
    }
    if (this.#lo > this.#hi) {
      // A clock jumped (or a sample lied): the old bounds no longer hold. Restart.
      this.#samples = [sample];
      this.#oldestAt = sample.at;
      this.#lo = sample.lo;
      this.#hi = sample.hi;
    }
    return true;
  }

  #tighten(s: Sample): void {
    if (s.lo > this.#lo) this.#lo = s.lo;
    if (s.hi < this.#hi) this.#hi = s.hi;
  }

  /** True once a response has set the clock. */
  synced(): boolean {
    return this.#samples.length > 0;
  }

  /** Estimated server time minus local time, in milliseconds (0 before the first sample). */
  offsetMs(): number {
    return this.synced() ? (this.#lo + this.#hi) / 2 : 0;
  }

  /**
   * Estimated server time in milliseconds since the epoch: the midpoint of the interval
   * (the local clock until the first sample). It does not go back when a new sample
   * narrows the interval (a step back of up to {@link MAX_HELD_STEP_MS} is held until the
   * estimate catches up), so a caller never sees time reverse between two readings; a
   * larger step back (a clock really jumped) is followed.
   */
  now(): number {
    const t = this.#localNow() + this.offsetMs();
    if (t >= this.#last || this.#last - t > MAX_HELD_STEP_MS) this.#last = t;
    return this.#last;
  }

  /**
   * Half the width of the offset interval: `now()` is within this many milliseconds of
   * the server's clock (at most ~1000 after one sample). `Infinity` before the first
   * sample, since nothing is known then: check {@link ServerClock.synced}.
   */
  uncertaintyMs(): number {
    return this.synced() ? (this.#hi - this.#lo) / 2 : Infinity;
  }
}

function minAt(samples: readonly Sample[]): number {
  let at = Infinity;
  for (const s of samples) at = Math.min(at, s.at);
  return at;
}
