/**
 * Wake-up signals: how an idle worker learns that work appeared without LIST-polling.
 *
 * Producers (and anything that makes a task pending: retries, the monitor, `retry`) touch
 * `signals/{task_type}` with a PUT; an idle worker reads each of its types' signals with a
 * conditional GET (`If-None-Match`), which costs a GET (12x cheaper than a LIST) and returns
 * no body while nothing changed. A producer touches a type at most once per
 * `coalesceMs`: under load that is a fraction of a request per task. Workers stay in
 * active polling for longer than `coalesceMs` after any wake-up, so a task submitted
 * inside a producer's coalescing window is still found by the workers the previous touch
 * woke up. docs/polling.md derives the schedule and its cost.
 *
 * @module
 */

import type { Clock } from "../base/clock.ts";
import type { Keys } from "./keys.ts";
import type { ObjectStore } from "../store/types.ts";

/** Default minimum interval between two touches of one type by one producer. */
export const DEFAULT_SIGNAL_COALESCE_MS = 10_000;

/** Producer side: touches signals, coalesced per type. */
export class SignalWriter {
  readonly #store: ObjectStore;
  readonly #keys: Keys;
  readonly #coalesceMs: number;
  readonly #clock: Clock;
  readonly #last = new Map<string, number>();

  /** Create a writer; coalescing follows the queue's clock, like every other time decision. */
  constructor(
    store: ObjectStore,
    keys: Keys,
    clock: Clock,
    coalesceMs = DEFAULT_SIGNAL_COALESCE_MS,
  ) {
    this.#store = store;
    this.#keys = keys;
    this.#clock = clock;
    this.#coalesceMs = coalesceMs;
  }

  /**
   * Tell workers of `taskType` that work appeared: PUT the type's signal, then the
   * queue-wide one (two PUTs), unless this writer touched the type less than `coalesceMs`
   * ago (`force` touches regardless: pause and resume). Returns whether requests were
   * sent. Never throws: a lost signal only delays pick-up until the workers' safety poll.
   */
  async touch(taskType: string, options: { force?: boolean } = {}): Promise<boolean> {
    const now = this.#clock.now();
    const last = this.#last.get(taskType);
    if (
      !options.force && last !== undefined && now - last < this.#coalesceMs && now >= last
    ) return false;
    this.#last.set(taskType, now); // set before the await: concurrent submits coalesce too
    try {
      const body = JSON.stringify({ task_type: taskType, at: new Date(now).toISOString() });
      const opts = { contentType: "application/json" };
      // The type first: a worker that sees the queue-wide change then finds the type's.
      await this.#store.put(this.#keys.signal(taskType), body, opts);
      await this.#store.put(this.#keys.anySignal(), body, opts);
      return true;
    } catch {
      this.#last.delete(taskType); // try again on the next submit
      return false;
    }
  }
}

/**
 * Worker side: one conditional GET of the queue-wide signal per check; only when it
 * changed, one conditional GET per watched type to learn which types have work. So an
 * idle worker's cost does not grow with the number of types it handles.
 */
export class SignalWatcher {
  readonly #store: ObjectStore;
  readonly #keys: Keys;
  #anyEtag: string | null | undefined = undefined;
  readonly #etags = new Map<string, string | null>();

  /** Create a watcher. */
  constructor(store: ObjectStore, keys: Keys) {
    this.#store = store;
    this.#keys = keys;
  }

  /**
   * Returns the types whose signal changed since the last check (on the first check,
   * every type). Costs one GET while nothing changed.
   */
  async check(taskTypes: readonly string[], signal?: AbortSignal): Promise<string[]> {
    const any = await this.#store.get(this.#keys.anySignal(), {
      ifNoneMatch: this.#anyEtag ?? undefined,
      signal,
    });
    const first = this.#anyEtag === undefined;
    if (any !== null && any.kind === "not-modified") return [];
    if (any === null && this.#anyEtag === null) return [];
    this.#anyEtag = any === null ? null : any.etag;
    const changed: string[] = [];
    await Promise.all(taskTypes.map(async (type) => {
      const known = this.#etags.get(type);
      const r = await this.#store.get(this.#keys.signal(type), {
        ifNoneMatch: known ?? undefined,
        signal,
      });
      if (r !== null && r.kind === "not-modified") return;
      const etag = r === null ? null : r.etag;
      if (first || etag !== known) changed.push(type);
      this.#etags.set(type, etag);
    }));
    return changed;
  }
}
