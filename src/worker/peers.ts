/**
 * The live workers that share a worker's task types, counted from their heartbeats
 * (`workers/{id}.json`), so that N active workers of a type each list its lanes about N
 * times less often and the fleet together lists them about every `pollIntervalMs`
 * (src/worker/poll_schedule.ts, docs/polling.md "Workers share the polling").
 *
 * Cost: one LIST of `workers/` every `intervalMs` while the worker's lanes are active, and
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

// The first count, this long after the worker starts (its peers' heartbeats are written
// when they start; its own first polls run alone).
const FIRST_COUNT_AFTER_MS = 5000;
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
  readonly #peers = new Map<string, number>();
  /** By task type: the live peers whose heartbeat key sorts before this worker's. */
  readonly #before = new Map<string, number>();
  #nextAt: number;
  #counted = false;

  /**
   * A view for worker `workerId` handling `taskTypes`, created at `now`; the first count is
   * due 5 s later (until then the worker polls as if alone). `intervalMs` 0: never.
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
    this.#peers.clear();
    this.#before.clear();
    this.#counted = true;
    for (const o of live) {
      for (const t of this.#typesOf.get(o.key)?.types ?? []) {
        if (!this.#taskTypes.includes(t)) continue;
        this.#peers.set(t, (this.#peers.get(t) ?? 0) + 1);
        if (o.key < this.#ownKey) this.#before.set(t, (this.#before.get(t) ?? 0) + 1);
      }
    }
  }

  /** Live workers of `taskType`, this one included (1 until the first refresh). */
  sharing(taskType: string): number {
    return 1 + (this.#peers.get(taskType) ?? 0);
  }

  /** {@link sharing} once counted; `undefined` before the first refresh. */
  counted(taskType: string): number | undefined {
    return this.#counted ? this.sharing(taskType) : undefined;
  }

  /**
   * This worker's place among the live workers of `taskType` (0 .. `sharing` - 1, in the
   * order of their heartbeat keys, which every worker sees alike): its turn in the shared
   * polling (src/worker/poll_schedule.ts).
   */
  rank(taskType: string): number {
    return this.#before.get(taskType) ?? 0;
  }
}
