/**
 * A process's view of the bucket's layout: read at first use (created when the bucket has
 * none), re-read at most once per `layoutCheckIntervalMs` (one conditional GET), and the
 * lane a task's index entries belong in under it. docs/format.md, "The layout object".
 *
 * @module
 */

import type { Clock } from "../base/clock.ts";
import { nonce } from "../base/ids.ts";
import { VERSION } from "../base/version.ts";
import type { ObjectStore } from "../store/types.ts";
import type { TaskRecord } from "../task/task.ts";
import type { Keys } from "./keys.ts";
import { ensureLayout, Layout, type LayoutRecord, readLayout, writeLayout } from "./layout.ts";

/** What a process was configured with. */
export interface LayoutSettings {
  /** Configured (or default) shard count. */
  shardCount: number;
  /** True when the count was set explicitly (then it must match the bucket's). */
  explicit: boolean;
  /** Re-read interval. */
  checkIntervalMs: number;
  /** Warning sink. */
  warn: (message: string) => void;
}

/** The layout as this process knows it. */
export class LayoutView {
  readonly #store: ObjectStore;
  readonly #keys: Keys;
  readonly #s: LayoutSettings;
  readonly #clock: Clock;
  readonly #configured: string[];
  #current: { layout: Layout; etag: string; checkedAt: number } | null = null;
  #syncing: Promise<Layout> | null = null;
  #warnedStaleCount = false;
  #requests = 0;

  /** A view that has read nothing yet. */
  constructor(store: ObjectStore, keys: Keys, clock: Clock, settings: LayoutSettings) {
    this.#store = store;
    this.#clock = clock;
    this.#keys = keys;
    this.#s = settings;
    this.#configured = Array.from({ length: settings.shardCount }, (_, i) => String(i));
  }

  /** The lanes: the layout's once read, the configured ones before. */
  get shards(): readonly string[] {
    return this.#current?.layout.shards ?? this.#configured;
  }

  /** Every shard that may hold task objects. */
  get homeShards(): readonly string[] {
    return this.#current?.layout.homeShards ?? this.#configured;
  }

  /** The shard count ids derived from keys use. */
  get keyShardCount(): number {
    return this.#current?.layout.keyShardCount ?? this.#configured.length;
  }

  /** The layout as last read, `null` before the first {@link LayoutView.sync}. */
  get layout(): Layout | null {
    return this.#current?.layout ?? null;
  }

  /** Requests sent for the layout so far (reads, re-checks, creation). */
  get requests(): number {
    return this.#requests;
  }

  /**
   * The layout, read (or created) at first use and re-read when the interval has passed.
   * Concurrent callers share one read.
   */
  sync(options: { force?: boolean } = {}): Promise<Layout> {
    const cur = this.#current;
    if (cur && !options.force && this.#clock.now() - cur.checkedAt < this.#s.checkIntervalMs) {
      return Promise.resolve(cur.layout);
    }
    this.#syncing ??= this.#read().finally(() => (this.#syncing = null));
    return this.#syncing;
  }

  /** The lane a record's index entries belong in: its own, unless a reshard retired it. */
  laneOf(rec: TaskRecord): string {
    const layout = this.#current?.layout;
    if (!layout || layout.isLane(rec.shard)) return rec.shard;
    return layout.laneFor(rec.id);
  }

  async #read(): Promise<Layout> {
    // Count this view's own requests (the store's counters also see other work).
    const store = new Proxy(this.#store, {
      get: (target, prop, receiver) => {
        const v = Reflect.get(target, prop, receiver);
        if (typeof v !== "function") return v;
        if (["get", "put", "list", "head", "listVersions"].includes(prop as string)) {
          return (...args: unknown[]) => (this.#requests++, v.apply(target, args));
        }
        return v.bind(target);
      },
    });
    const wish = {
      shardCount: this.#s.shardCount,
      explicit: this.#s.explicit,
      by: `oq ${VERSION}`,
    };
    const cur = this.#current;
    if (cur) {
      const r = await readLayout(store, this.#keys, cur.etag);
      const checkedAt = this.#clock.now();
      if (r === "unchanged") {
        cur.checkedAt = checkedAt;
        return cur.layout;
      }
      if (r !== null) {
        // A reshard while running: follow the bucket (an explicit count that now differs
        // would be refused at the next start).
        if (wish.explicit && r.rec.shard_count !== wish.shardCount && !this.#warnedStaleCount) {
          this.#warnedStaleCount = true;
          this.#s.warn(
            `oq: the bucket's shard count changed to ${r.rec.shard_count}; this process was ` +
              `configured with ${wish.shardCount} and now uses the bucket's (update the setting)`,
          );
        }
        return this.#adopt(r, checkedAt);
      }
      // The layout object was deleted: write it again from what this process knows.
      const again = await writeLayout(store, this.#keys, {
        ...cur.layout.record,
        write_id: nonce(),
      });
      if (again) return this.#adopt(again, checkedAt);
    }
    const found = await ensureLayout(store, this.#keys, wish);
    return this.#adopt(found, this.#clock.now());
  }

  #adopt(r: { rec: LayoutRecord; etag: string }, checkedAt: number): Layout {
    const layout = new Layout(r.rec);
    this.#current = { layout, etag: r.etag, checkedAt };
    return layout;
  }
}
