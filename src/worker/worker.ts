/**
 * The Worker: a thin loop around {@link Worker.pollOnce}, which claims due tasks of the
 * types it has handlers for and runs them with bounded concurrency.
 *
 * @module
 */

import type { HasContext, QueueContext } from "../protocol/context.ts";
import { SchemaError } from "../base/errors.ts";
import { Emitter, type EventSource } from "../base/events.ts";
import { Execution } from "./execution.ts";
import { emitRecorded } from "./outcome.ts";
import type { Handler } from "./handler.ts";
import { Heartbeat } from "./heartbeat.ts";
import { Loop } from "../base/loop.ts";
import { validateName, validateShard } from "../task/names.ts";
import type { Layout } from "../protocol/layout.ts";
import { Monitor } from "../monitor/monitor.ts";
import { LanePoller } from "./lanes.ts";
import type { Permit } from "./claim.ts";
import {
  type PollResult,
  type ResolvedWorkerOptions,
  resolveWorkerOptions,
  type WorkerEvents,
  type WorkerRunOptions,
} from "./options.ts";
import { type DrainOptions, type DrainSummary, runUntilIdle } from "./drain.ts";
import { ReportOnce } from "../base/report_once.ts";
import { runtimeName } from "../runtime/portable.ts";
import { Task } from "../task/task.ts";
import type { EntryRef, Versioned } from "../protocol/tasks.ts";

/**
 * A worker: register handlers with {@link Worker.task}, then {@link Worker.run}.
 *
 * @example
 * ```ts
 * import { MemoryStore, Queue, Worker } from "../../mod.ts";
 * const queue = new Queue(new MemoryStore());
 * const worker = new Worker(queue, "worker-1");
 * worker.task("send_email", async (input, ctx) => {
 *   return { sent: true, attempt: ctx.attempt };
 * });
 * // await worker.run({ concurrency: 4 }); ... await worker.stop();
 * ```
 */
export class Worker {
  /** Worker id. */
  readonly id: string;
  readonly #events = new Emitter<WorkerEvents>();
  readonly #queue: QueueContext;
  readonly #handlers = new Map<string, Handler>();
  readonly #executions = new Map<string, Execution>();
  readonly #idleWaiters: Array<() => void> = [];
  readonly #reported = new ReportOnce();
  #o: ResolvedWorkerOptions = resolveWorkerOptions({}, Number.NEGATIVE_INFINITY);
  #lanes: LanePoller | undefined;
  #heartbeat: Heartbeat | undefined;
  #monitor: Monitor | undefined;
  #stopping = false;
  #started = false;
  #loop: Loop | undefined;
  readonly #chosenShards: readonly string[] | undefined;
  #shards: readonly string[];
  #layoutSeen: Layout | null = null;
  #startup: Promise<void> | undefined;

  /**
   * Create a worker for `shards` (default: every shard of the bucket's layout, followed
   * through reshards).
   */
  constructor(queue: HasContext, workerId: string, shards?: readonly string[]) {
    this.#queue = queue.context;
    this.id = validateName("worker id", workerId);
    if (shards !== undefined && !Array.isArray(shards)) {
      throw new TypeError(
        "Worker's third argument is the list of shards to poll (an array); options such as " +
          "concurrency go to worker.run(options)",
      );
    }
    this.#chosenShards = shards?.map(validateShard);
    this.#shards = this.#chosenShards ?? this.#queue.layout.shards;
    for (const s of this.#shards) {
      if (!this.#queue.layout.shards.includes(s)) {
        throw new RangeError(`Shard ${JSON.stringify(s)} is not one of the queue's shards`);
      }
    }
  }

  /** Typed events (`task:claimed`, `task:completed`, `worker:error`, ...): listen with `on`, stop with `off`. */
  get events(): EventSource<WorkerEvents> {
    return this.#events;
  }

  /** Shards this worker polls. */
  get shards(): readonly string[] {
    return this.#shards;
  }

  /** Register the handler of a task type. Returns the worker, for chaining. */
  task<I = unknown, O = unknown>(taskType: string, handler: Handler<I, O>): this {
    validateName("task type", taskType);
    if (typeof handler !== "function") {
      throw new TypeError(`The handler of ${taskType} must be a function`);
    }
    if (this.#started) throw new Error("Register handlers before run()");
    this.#handlers.set(taskType, handler as Handler);
    return this;
  }

  /** Listen to an event (`task:completed`, `worker:error`, ...). Returns an unsubscribe function. */
  on<K extends keyof WorkerEvents>(
    event: K,
    listener: (payload: WorkerEvents[K]) => void | Promise<void>,
  ): () => void {
    return this.#events.on(event, listener);
  }

  /** Task types with a handler. */
  get taskTypes(): string[] {
    return [...this.#handlers.keys()];
  }

  /** Ids of the tasks running now. */
  get inFlight(): string[] {
    return [...this.#executions.keys()];
  }

  /** Apply options without starting the loop (for driving {@link Worker.pollOnce} directly). */
  configure(options: WorkerRunOptions = {}): this {
    const o = resolveWorkerOptions(options, this.#queue.options.signalCoalesceMs);
    this.#o = o;
    if (this.#handlers.size === 0) {
      throw new Error("No handlers registered: call worker.task(type, handler) first");
    }
    void this.#lanes?.closeGroups(); // its lease groups end with their running tasks
    this.#lanes = new LanePoller(this.#queue, this.id, this.taskTypes, this.shards, o, {
      free: () => this.#free(),
      stopping: () => this.#stopping,
      start: (claimed, lease, permit) => this.#start(claimed, lease, permit),
      error: (error, context) => this.#error(error, context),
      emit: (error, context) => this.#events.emit("worker:error", { error, context }),
    });
    this.#heartbeat ??= new Heartbeat(
      this.#queue,
      {
        worker_id: this.id,
        shards: [...this.shards],
        task_types: this.taskTypes,
        started_at: new Date(this.#queue.clock.now()).toISOString(),
        concurrency: o.concurrency,
        runtime: runtimeName(),
      },
      () => this.inFlight,
      { busyMs: o.heartbeatIntervalMs, idleMs: o.idleHeartbeatIntervalMs },
      (error) => this.#events.emit("worker:error", { error, context: "heartbeat delete" }),
    );
    return this;
  }

  /** Run until {@link Worker.stop}. Resolves once stopped. */
  async run(options: WorkerRunOptions = {}): Promise<void> {
    if (this.#started) throw new Error("Worker is already running");
    this.#started = true;
    this.configure(options);
    this.#stopping = false;
    // stop() waits for the start-up, so that it also stops what the start-up started.
    this.#startup = this.#startUp();
    await this.#startup;
    if (this.#stopping) return; // stop() was called during start-up
    this.#loop = new Loop(() => this.#step(), this.#queue.clock);
    await this.#loop.start();
  }

  /**
   * Drain mode, for cron and serverless runs: claim and run due tasks until none is due or
   * `maxTimeMs` would be exceeded, let running handlers finish inside the budget (or release
   * their tasks, retry count unchanged), and resolve with what happened. See
   * {@link DrainOptions}; no heartbeat is written.
   *
   * @example
   * ```ts
   * import { MemoryStore, Queue, Worker } from "../../mod.ts";
   * const queue = new Queue(new MemoryStore());
   * await queue.submit("send_email", { to: "a@b.c" });
   * const worker = new Worker(queue, "cron-1").task("send_email", () => ({ sent: true }));
   * const summary = await worker.runUntilIdle({ maxTimeMs: 50_000 });
   * summary.completed; // 1
   * ```
   */
  async runUntilIdle(options: DrainOptions = {}): Promise<DrainSummary> {
    if (this.#started) throw new Error("Worker is already running");
    this.#started = true;
    this.#stopping = false;
    return await runUntilIdle(this, { context: this.#queue }, options);
  }

  async #startUp(): Promise<void> {
    const q = this.#queue;
    await q.now(); // make sure the store clock is synced
    if (this.#stopping) return;
    this.#followLayout(await q.syncLayout());
    if (this.#stopping) return;
    await this.#heartbeat!.start();
    if (this.#o.withMonitor) {
      this.#monitor = new Monitor(q, {
        checkIntervalS: this.#o.monitorCheckIntervalS,
        activityHint: () => this.#executions.size > 0,
      });
      this.#monitor.events.on("monitor:error", ({ error }) => this.#error(error, "monitor"));
      void this.#monitor.run();
    }
  }

  // One turn of the loop: poll, then say how long to wait (0: go on at once).
  async #step(): Promise<number> {
    let result: PollResult = { listed: 0, wakeChecks: 0, claimed: 0, skipped: 0 };
    try {
      result = await this.pollOnce();
    } catch (e) {
      this.#events.emit("worker:error", { error: e as Error, context: "poll" });
    }
    const free = this.#o.concurrency - this.#executions.size;
    if (result.claimed > 0 && free > 0) return 0;
    // With no free slot, a finishing handler wakes the loop (see #start).
    const delay = free === 0 ? 60_000 : this.#lanes!.nextEventAt() - this.#queue.clock.now();
    return Math.max(1, Math.min(delay, 60_000));
  }

  /**
   * One poll: check wake-up signals if due, list the due lanes, claim up to the free
   * slots and start the handlers (not awaited; see {@link Worker.drain}).
   */
  async pollOnce(): Promise<PollResult> {
    if (!this.#lanes) this.configure();
    this.#followLayout(await this.#queue.syncLayout());
    return await this.#lanes!.poll();
  }

  /** Task types of this worker that are paused (as last read; see {@link Queue.pause}). */
  get pausedTypes(): string[] {
    return this.#lanes?.pausedTypes() ?? [];
  }

  // Adopt a new layout (at start, or after a reshard): poll its shards, or the chosen ones
  // that are still shards (a chosen shard the layout no longer has is reported once).
  #followLayout(layout: Layout): void {
    if (layout === this.#layoutSeen) return;
    this.#layoutSeen = layout;
    let shards: readonly string[] = layout.shards;
    if (this.#chosenShards) {
      shards = this.#chosenShards.filter((s) => layout.isLane(s));
      const gone = this.#chosenShards.filter((s) => !layout.isLane(s));
      if (gone.length) {
        this.#events.emit("worker:error", {
          error: new RangeError(
            `Shards ${gone.join(", ")} are not shards of the bucket's layout ` +
              `(${layout.shards.length} shards): this worker polls ${
                shards.join(", ") || "nothing"
              }`,
          ),
          context: "layout",
        });
      }
    }
    if (sameList(shards, this.#shards)) return;
    this.#shards = shards;
    this.#lanes?.setShards(shards);
    this.#heartbeat?.setShards([...shards]);
  }

  #start(claimed: Versioned, lease: EntryRef, permit?: Permit): void {
    const handler = this.#handlers.get(claimed.rec.task_type)!;
    const lanes = this.#lanes!;
    const exec = new Execution(this.#queue, claimed, lease, {
      workerId: this.id,
      leaseGraceMs: this.#o.leaseGraceSeconds * 1000,
      cancelCheckIntervalMs: this.#o.cancelCheckIntervalMs,
      abortGraceMs: this.#o.abortGraceMs,
      progressIntervalMs: this.#o.progressIntervalMs,
      leaseEntryAfterMs: this.#o.leaseEntryAfterMs,
      leaseEntryWritten: () => this.#monitor?.nudge(),
      releaseLease: (ref, taskId) => lanes.releaseLease(ref, taskId), // the claiming poller's
      beforeStart: permit?.beforeStart,
    });
    if (this.#executions.size === 0) this.#monitor?.nudge();
    this.#executions.set(exec.taskId, exec);
    this.#heartbeat?.busy();
    // The Task is built for a listener that reads it (counting claims does not).
    let task: Task | undefined;
    this.#events.emit("task:claimed", {
      get task() {
        return task ??= new Task(claimed.rec);
      },
    });
    const started = this.#queue.clock.now();
    // A limited type's slot is given back once the outcome is written (never before).
    void exec.run(handler).finally(() => permit?.release()).then((r) =>
      emitRecorded(this.#events, r, this.#queue.clock.now() - started)
    )
      .catch((e) => {
        this.#events.emit("worker:error", { error: e as Error, context: `run ${exec.taskId}` });
      }).finally(() => {
        this.#executions.delete(exec.taskId);
        lanes.attemptEnded(lease); // its entry, if it is still there, may be a candidate again
        if (this.#executions.size === 0) {
          for (const idle of this.#idleWaiters.splice(0)) idle();
        }
        this.#loop?.wake();
      });
  }

  /** Store time of the next poll event (a lane due, or a wake-up check). */
  nextPollAt(): number {
    if (!this.#lanes) this.configure();
    return this.#lanes!.nextEventAt();
  }

  /** Wait until every running handler has finished and its outcome is recorded. */
  drain(): Promise<void> {
    if (this.#executions.size === 0) return Promise.resolve();
    // Task timers do not keep the process alive (the loop does); a caller waiting here
    // must, until the last handler is done.
    const keepAlive = setInterval(() => {}, 60_000);
    return new Promise((resolve) =>
      this.#idleWaiters.push(() => {
        clearInterval(keepAlive);
        resolve();
      })
    );
  }

  /**
   * Stop gracefully: stop claiming, let running handlers finish within `timeoutMs`, then
   * abort the rest and give their tasks back (pending at once, not counted as a failure).
   */
  async stop(options: { timeoutMs?: number } = {}): Promise<void> {
    this.#stopping = true;
    await this.#startup?.catch(() => undefined);
    await this.#loop?.stop();
    if (this.#executions.size > 0) {
      // Until every handler has finished, or the shutdown timeout (on the queue's clock).
      await new Promise<void>((resolve) => {
        const t = this.#queue.clock.setTimer(
          resolve,
          options.timeoutMs ?? this.#o.shutdownTimeoutMs,
        );
        void this.drain().then(() => (t.cancel(), resolve()));
      });
    }
    for (const exec of this.#executions.values()) exec.abort("shutdown", "worker is shutting down");
    await this.drain();
    await this.#lanes?.closeGroups();
    await this.#monitor?.stop();
    this.#monitor = undefined;
    // Last, once nothing runs: the heartbeat is deleted after any beat in flight landed.
    await this.#heartbeat?.stop();
    this.#loop = undefined;
    this.#startup = undefined;
    this.#started = false;
  }

  // Report an error; a bad object (SchemaError) only the first time this worker meets it
  // (its claims and its embedded monitor meet it again and again until someone fixes it).
  #error(error: Error, context: string): void {
    if (error instanceof SchemaError && !this.#reported.first(error.message)) return;
    this.#events.emit("worker:error", { error, context });
  }

  #free(): number {
    return this.#o.concurrency - this.#executions.size;
  }
}

function sameList(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}
