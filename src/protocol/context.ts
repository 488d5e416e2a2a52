/**
 * The protocol layer of one queue (a bucket and prefix), as one object: the store, the key
 * builder, the resolved options, the bucket's layout, the task and index requests
 * ({@link TaskStore}), the wake-up signals and the reporter of bad objects. A `Queue`
 * creates it; the worker, monitor, scheduler and the read and bulk operations are handed it
 * (through the queue they are given) and send every request through it.
 *
 * @module
 */

import { type Clock, clockOf } from "../base/clock.ts";
import type { ObjectStore } from "../store/types.ts";
import { BadObjects } from "./bad_objects.ts";
import { Keys } from "./keys.ts";
import type { Layout } from "./layout.ts";
import { LayoutView } from "./layout_view.ts";
import type { ResolvedQueueOptions } from "./options.ts";
import { SignalWriter } from "./signals.ts";
import { TaskStore } from "./tasks.ts";
import { PayloadStore } from "./payloads.ts";

/** Everything that sends requests for one queue. */
export class QueueContext {
  /** The object store. */
  readonly store: ObjectStore;
  /** Resolved options. */
  readonly options: ResolvedQueueOptions;
  /** Key builder of the queue's prefix. */
  readonly keys: Keys;
  /** The bucket's layout as this process knows it. */
  readonly layout: LayoutView;
  /** Task objects and their index entries. */
  readonly tasks: TaskStore;
  /** Inputs and outputs stored beside their tasks. */
  readonly payloads: PayloadStore;
  /** Wake-up signals (producer side). */
  readonly signals: SignalWriter;
  /** Reports each bad object once. */
  readonly badObjects: BadObjects;
  /** The clock every deadline and wait reads (the store's time by default). */
  readonly clock: Clock;
  #nextShard = Math.floor(Math.random() * 1_000_000);

  /** Build the protocol layer of a queue; does no I/O. */
  constructor(store: ObjectStore, options: ResolvedQueueOptions) {
    this.store = store;
    this.options = options;
    this.clock = options.clock ?? clockOf(() => store.now());
    this.keys = new Keys(options.prefix);
    this.layout = new LayoutView(store, this.keys, this.clock, {
      shardCount: options.shards.length,
      explicit: options.shardCountExplicit,
      checkIntervalMs: options.layoutCheckIntervalMs,
      warn: options.warn,
    });
    this.signals = new SignalWriter(store, this.keys, this.clock, options.signalCoalesceMs);
    this.payloads = new PayloadStore(store, this.keys, options.inlinePayloadBytes);
    this.tasks = new TaskStore(
      store,
      this.keys,
      this.signals,
      (rec) => this.layout.laneOf(rec),
      this.payloads,
    );
    this.badObjects = new BadObjects(options.warn);
  }

  /** This context itself: a context is also something that carries one ({@link HasContext}). */
  get context(): QueueContext {
    return this;
  }

  /** The bucket's layout (see {@link LayoutView.sync}). */
  syncLayout(options: { force?: boolean } = {}): Promise<Layout> {
    return this.layout.sync(options);
  }

  /** A lane for a new task: round-robin from a random start (spreads load, no hot shard). */
  pickShard(): string {
    const shards = this.layout.shards;
    const s = shards[this.#nextShard % shards.length]!;
    this.#nextShard++;
    return s;
  }

  /**
   * The store's current time (HTTP `Date` of the last response plus elapsed time; one
   * HeadBucket request only when no response has been seen yet).
   */
  async now(): Promise<number> {
    if (!this.store.clockSynced()) await this.store.headBucket();
    return this.clock.now();
  }
}

/** What the loops and operations are given: a queue, or anything carrying its context. */
export interface HasContext {
  /** The queue's protocol layer. */
  readonly context: QueueContext;
}
