// A worker's heartbeat (workers/{id}.json) is gone once stop() resolves: also when a beat
// was in flight during the stop (it must not land after the delete), when stop() came
// during start-up (the start-up must not write one after the stop), and a delete that
// fails is reported instead of leaving a live-looking worker in silence.
import { describe } from "node:test";
import assert from "node:assert/strict";
import { MemoryStore } from "../src/store/memory_store.ts";
import { Queue } from "../src/queue/queue.ts";
import { Worker } from "../src/worker/worker.ts";
import type { DeleteResult, PutOptions, PutResult } from "../src/store/types.ts";
import { it, until } from "./helpers.ts";

/** A memory store whose heartbeat writes and clock sync can be held, like slow requests. */
class GatedStore extends MemoryStore {
  #held: { key: string; release: () => void } | undefined;
  #armed: { prefix: string; onHeld: () => void } | undefined;
  #headGate: Promise<void> | undefined;
  #synced = true;
  deleteError: Error | undefined;

  /** Hold the next PUT of a key under `prefix` until released; resolves once one is held. */
  holdNextPut(prefix: string): Promise<void> {
    return new Promise((onHeld) => (this.#armed = { prefix, onHeld }));
  }

  /** Let the held PUT go on (it is applied now, after anything that overtook it). */
  releasePut(): void {
    this.#held?.release();
  }

  /** Until `gate` resolves, the clock is unsynced and HeadBucket (the sync) does not answer. */
  holdClockSync(gate: Promise<void>): void {
    this.#synced = false;
    this.#headGate = gate;
  }

  override clockSynced(): boolean {
    return this.#synced;
  }

  override async headBucket(): Promise<boolean> {
    await this.#headGate;
    this.#synced = true;
    return await super.headBucket();
  }

  override async put(
    key: string,
    body: Uint8Array | string,
    options?: PutOptions,
  ): Promise<PutResult> {
    const armed = this.#armed;
    if (armed && key.startsWith(armed.prefix)) {
      this.#armed = undefined;
      // A request sent now whose effect lands only later: a DELETE sent meanwhile overtakes it.
      await new Promise<void>((release) => {
        this.#held = { key, release };
        armed.onHeld();
      });
      this.#held = undefined;
    }
    return await super.put(key, body, options);
  }

  override async delete(key: string, options?: { versionId?: string }): Promise<DeleteResult> {
    if (this.deleteError && key.includes("workers/")) throw this.deleteError;
    const r = await super.delete(key, options);
    // The held PUT is the older request; if it was still on its way, it lands after this.
    if (this.#held?.key === key) this.#held.release();
    return r;
  }
}

function setup(store = new GatedStore()) {
  const queue = new Queue(store, { shardCount: 1, warn: () => {} });
  const worker = new Worker(queue, "beating").task("x", () => 1);
  const heartbeat = () => store.get(queue.keys.worker("beating"));
  return { store, queue, worker, heartbeat };
}

const OPTS = {
  withMonitor: false,
  heartbeatIntervalMs: 10,
  idleHeartbeatIntervalMs: 10,
  wakeCheckIntervalMs: 50,
};

describe("heartbeat at a graceful stop", () => {
  it(
    "is written while the worker runs and gone once stop() resolves",
    { timeout: 30_000 },
    async () => {
      const { queue, worker, heartbeat } = setup();
      const run = worker.run(OPTS);
      try {
        await until(async () => (await heartbeat()) !== null, 20_000, "heartbeat");
        assert.equal((await queue.stats()).workers, 1);
      } finally {
        await worker.stop();
        await run;
      }
      assert.equal(await heartbeat(), null);
      assert.equal((await queue.stats()).workers, 0);
    },
  );

  it(
    "a beat in flight during stop() lands before the delete, not after",
    { timeout: 30_000 },
    async () => {
      const { store, worker, heartbeat } = setup();
      const run = worker.run(OPTS);
      let stopping: Promise<void> | undefined;
      try {
        await until(async () => (await heartbeat()) !== null, 20_000, "first heartbeat");
        await store.holdNextPut("workers/"); // the next timer beat is now on its way
        stopping = worker.stop();
        // If stop() does not wait for the beat, its delete overtakes it (see GatedStore);
        // if it waits, nothing moves until the beat is let go.
        setTimeout(() => store.releasePut(), 0);
        await stopping;
        await run;
        assert.equal(await heartbeat(), null, "the late beat re-created the heartbeat");
      } finally {
        store.releasePut();
        await stopping;
        await worker.stop();
        await run;
      }
    },
  );

  it("stop() during start-up leaves no heartbeat behind", { timeout: 30_000 }, async () => {
    const { store, worker, heartbeat } = setup();
    let open!: () => void;
    store.holdClockSync(new Promise<void>((r) => (open = r)));
    // The monitor too: a start-up that outlived stop() would leave it running.
    const run = worker.run({ ...OPTS, withMonitor: true });
    const stopping = worker.stop();
    setTimeout(open, 0); // the clock sync answers after stop() was called
    try {
      await stopping;
      await run;
      assert.equal(await heartbeat(), null);
      // Nothing the start-up began may still write: a later beat would bring it back.
      const puts = store.counters.snapshot().PUT;
      await new Promise((r) => setTimeout(r, 50)); // five heartbeat intervals
      assert.equal(await heartbeat(), null);
      assert.equal(store.counters.snapshot().PUT, puts, "a timer kept writing after stop()");
    } finally {
      open();
      await worker.stop(); // stops whatever a start-up after stop() began
      await run;
    }
  });

  it("a delete that fails at stop is reported as a worker error", { timeout: 30_000 }, async () => {
    const { store, worker, heartbeat } = setup();
    const errors: string[] = [];
    worker.on(
      "worker:error",
      ({ error, context }) => void errors.push(`${context}: ${error.message}`),
    );
    const run = worker.run(OPTS);
    try {
      await until(async () => (await heartbeat()) !== null, 20_000, "heartbeat");
      store.deleteError = new Error("store unreachable");
    } finally {
      await worker.stop();
      await run;
    }
    assert.deepEqual(errors, ["heartbeat delete: store unreachable"]);
    assert.notEqual(await heartbeat(), null, "the heartbeat stays, and the error says why");
  });
});
