/**
 * The live workers that share a worker's task types, counted from their heartbeats
 * (`workers/{id}.json`), so that N active workers of a type each list its lanes about N
 * times less often and the fleet together lists them about every `pollIntervalMs`
 * (src/worker/poll_schedule.ts, docs/polling.md "Workers share the polling"), and so that
 * they share batch entries out (src/worker/batch_shares.ts).
 *
 * Cost: one LIST of `workers/` every `intervalMs` while the worker's lanes are active (and
 * one more 1 s after a first count or one that changed, or when asked), and
 * one GET per worker id not seen in the last 30 minutes (a worker's task types do not change
 * while it runs). A heartbeat counts while its LastModified (the store's time, from the
 * LIST) is within `freshMs`: a busy worker beats every `heartbeatIntervalMs` (30 s), and at
 * once when it gets busy. Only the first 1,000 heartbeats are counted (one page).
 *
 * @module
 */

import type { QueueContext } from "../protocol/context.ts";
import { readHeartbeat } from "../protocol/heartbeats.ts";
import { mapLimit } from "../base/concurrency.ts";
import type { PeerCount, PeerSource } from "./batch_shares.ts";

// The first count, this long after the worker starts (its peers' heartbeats are written
// when they start; its own first polls run alone), or sooner when asked (countNow).
const FIRST_COUNT_AFTER_MS = 5000;
// A count that found other workers than the last is checked this soon; a count asked for
// early (recountSoon) comes at least this long after the last.
const RECOUNT_SOON_MS = 1000;
// New heartbeats read per refresh at most (the rest at the next one).
const MAX_READS = 32;
// A worker's types are read again after this long (a worker restarted under its id may
// handle other types).
const TYPES_KEPT_MS = 30 * 60_000;

/**
 * Counts of a worker's live peers by task type.
 *
 * @example
 * ```ts
 * import { MemoryStore, Queue } from "../../mod.ts";
 * import { PeerView } from "./peers.ts";
 * const queue = new Queue(new MemoryStore()).context;
 * const now = queue.clock.now();
 * const peers = new PeerView(queue, "w1", ["email"], { intervalMs: 60_000, freshMs: 75_000 }, now);
 * await peers.refresh(now + 5000); // one LIST of workers/: nobody else yet
 * peers.sharing("email"); // 1: this worker alone
 * ```
 */
export class PeerView {
  readonly #queue: QueueContext;
  readonly #ownKey: string;
  readonly #taskTypes: readonly string[];
  readonly #intervalMs: number;
  readonly #freshMs: number;
  /** Task types of the workers met, by heartbeat key (an invalid one: none), and when read. */
  readonly #typesOf = new Map<string, { types: readonly string[]; readAt: number }>();
  /** By task type, the last count (none before the first). */
  readonly #counts = new Map<string, Required<PeerCount>>();
  #nextAt: number;
  #countedAt = -Infinity;
  #counted = false;

  /**
   * A view for worker `workerId` handling `taskTypes`, created at `now`; the first count is
   * due 5 s later, or when asked ({@link countNow}); until then the worker polls as if
   * alone. `intervalMs` 0: never.
   */
  constructor(
    queue: QueueContext,
    workerId: string,
    taskTypes: readonly string[],
    settings: { intervalMs: number; freshMs: number },
    now: number,
  ) {
    this.#queue = queue;
    this.#ownKey = queue.keys.worker(workerId);
    this.#taskTypes = taskTypes;
    this.#intervalMs = settings.intervalMs;
    this.#freshMs = settings.freshMs;
    this.#nextAt = now + Math.min(settings.intervalMs, FIRST_COUNT_AFTER_MS);
  }

  /** True when a refresh is due at `now`. */
  due(now: number): boolean {
    return this.#intervalMs > 0 && now >= this.#nextAt;
  }

  /**
   * Count the live peers again if due (one LIST, and a GET per new worker). A failure
   * throws and keeps the last counts until the next interval.
   */
  async refresh(now: number): Promise<void> {
    if (!this.due(now)) return;
    this.#nextAt = now + this.#intervalMs;
    this.#countedAt = now;
    const q = this.#queue;
    const page = await q.store.list({ prefix: q.keys.workersPrefix(), maxKeys: 1000 });
    const live = page.objects.filter((o) =>
      o.key !== this.#ownKey && now - o.lastModified.getTime() <= this.#freshMs
    );
    const unknown = live.filter((o) => {
      const known = this.#typesOf.get(o.key);
      return known === undefined || now - known.readAt >= TYPES_KEPT_MS;
    }).slice(0, MAX_READS);
    await mapLimit(unknown, 8, async (o) => {
      // Invalid (reported once) or gone since the LIST: no types.
      const beat = await readHeartbeat(q, o.key);
      this.#typesOf.set(o.key, { types: beat?.task_types ?? [], readAt: now });
    });
    const listed = new Set(page.objects.map((o) => o.key));
    for (const key of this.#typesOf.keys()) if (!listed.has(key)) this.#typesOf.delete(key);
    this.#counted = true;
    let changed = false;
    for (const t of this.#taskTypes) {
      const keys = [
        this.#ownKey,
        ...live.filter((o) => this.#typesOf.get(o.key)?.types.includes(t)).map((o) => o.key),
      ].sort();
      const last = this.#counts.get(t);
      const settled = last !== undefined && last.keys.join("\n") === keys.join("\n");
      changed ||= !settled;
      this.#counts.set(t, {
        sharing: keys.length,
        rank: keys.indexOf(this.#ownKey),
        keys,
        settled,
      });
    }
    // A first count, or workers came or went: count again soon, to see the change settle.
    if (changed) this.recountSoon();
  }

  /**
   * Count again soon, at most once a second: another worker acted as if the workers were not
   * the ones counted (it took a task of this worker's share of a batch).
   */
  recountSoon(): void {
    if (this.#intervalMs > 0 && this.#counted) {
      this.#nextAt = Math.min(this.#nextAt, this.#countedAt + RECOUNT_SOON_MS);
    }
  }

  /**
   * Make the first count due at once (a no-op once counted): batch entries are shared out
   * among the workers counted (src/worker/batch_shares.ts).
   */
  countNow(now: number): void {
    if (this.#intervalMs > 0 && !this.#counted) this.#nextAt = Math.min(this.#nextAt, now);
  }

  /** This view as a worker's batches use it; `emit` reports a count that failed. */
  source(emit: (error: Error) => void): PeerSource {
    return {
      count: (taskType) => this.counted(taskType),
      first: () => {
        const now = this.#queue.clock.now();
        this.countNow(now);
        return this.refresh(now).catch((e) => emit(e as Error));
      },
      disagree: () => this.recountSoon(),
    };
  }

  /** Live workers of `taskType`, this one included (1 until the first refresh). */
  sharing(taskType: string): number {
    return this.#counts.get(taskType)?.sharing ?? 1;
  }

  /**
   * {@link sharing} and {@link rank} once counted, with the workers' heartbeat keys in
   * order (this one's included) and whether the last two counts found the same workers;
   * `undefined` before the first refresh.
   */
  counted(taskType: string): Required<PeerCount> | undefined {
    return this.#counts.get(taskType);
  }

  /**
   * This worker's place among the live workers of `taskType` (0 .. `sharing` - 1, in the
   * order of their heartbeat keys, which every worker sees alike): its turn in the shared
   * polling (src/worker/poll_schedule.ts).
   */
  rank(taskType: string): number {
    return this.#counts.get(taskType)?.rank ?? 0;
  }
}
