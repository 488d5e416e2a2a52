// oq-test: runtimes=node,bun,deno timeout=300
/**
 * The crash matrix for a limited type (issue 19): a worker of a type limited to one
 * running task dies after its Nth request, for every N of a claim + complete (so between
 * the slot's acquire and the claim, between the claim and the release, and during the
 * release). Then a healthy worker and monitor run: every task must complete, the slot must
 * never be held twice at once, and a slot the dead worker held must be freed (at its claim
 * window or lease end), never kept forever.
 */
import { describe } from "node:test";
import assert from "node:assert/strict";
import { Monitor } from "../src/monitor/monitor.ts";
import { Slots } from "../src/protocol/slots.ts";
import { Queue } from "../src/queue/queue.ts";
import { MemoryStore } from "../src/store/memory_store.ts";
import { Worker } from "../src/worker/worker.ts";
import { FakeClock, it } from "./helpers.ts";
import { dyingStore } from "./fixtures/dying_store.ts";

const OPTIONS = { shardCount: 1, warn: () => {} };

async function world(limits: Parameters<Queue["setLimit"]>[1]) {
  const clock = new FakeClock();
  const store = new MemoryStore({ clock: clock.now });
  const queue = new Queue(store, OPTIONS);
  await queue.setLimit("job", limits);
  const ids = (await queue.submitMany([["job", { n: 1 }], ["job", { n: 2 }]])).map((t) => t.id);
  return { clock, store, queue, ids };
}

/** One claim + complete by a worker whose store allows `budget` requests (Infinity: all). */
async function doomedRun(store: MemoryStore, budget: number): Promise<void> {
  const q = new Queue(Number.isFinite(budget) ? dyingStore(store, budget) : store, OPTIONS);
  const w = new Worker(q, "doomed").task("job", () => ({ done: true }));
  w.on("worker:error", () => {});
  w.configure({ concurrency: 1, withMonitor: false });
  try {
    await w.pollOnce();
    await w.drain();
  } catch {
    // The process died mid-operation.
  }
}

async function recover(w: Awaited<ReturnType<typeof world>>): Promise<number> {
  let running = 0;
  let max = 0;
  const survivor = new Worker(w.queue, "survivor").task("job", async () => {
    running++;
    max = Math.max(max, running);
    await Promise.resolve();
    running--;
    return { done: true };
  });
  survivor.configure({ concurrency: 4, withMonitor: false });
  const monitor = new Monitor(w.queue);
  for (let round = 0; round < 30; round++) {
    w.clock.advance(20_000);
    await monitor.runOnce();
    await survivor.pollOnce();
    await survivor.drain();
  }
  return max;
}

async function matrix(limits: Parameters<Queue["setLimit"]>[1]): Promise<number> {
  const probe = await world(limits);
  const before = probe.store.counters.total();
  await doomedRun(probe.store, Infinity);
  const total = probe.store.counters.total() - before;
  for (let n = 0; n <= total; n++) {
    const w = await world(limits);
    await doomedRun(w.store, n);
    const max = await recover(w);
    assert.ok(max <= 1, `N = ${n}: ${max} ran at once`);
    for (const id of w.ids) {
      assert.equal((await w.queue.get(id))!.status, "completed", `N = ${n}: task ${id}`);
    }
    if (limits.concurrency) {
      const left = await new Slots(w.queue.context, "job").holders();
      assert.ok(left.every((h) => h.worker_id === "doomed"), `N = ${n}: survivor holders left`);
    }
  }
  return total;
}

describe("crash matrix of a limited type: the worker dies after request N, for every N", () => {
  it("concurrency 1: claim (acquire, lease, task write) and complete (outcome, release)", async () => {
    const total = await matrix({ concurrency: 1 });
    assert.ok(total >= 10, `${total} requests in a limited claim + complete`);
  });

  it("rate 1 per minute and concurrency 1", async () => {
    await matrix({ concurrency: 1, ratePerMinute: 1 });
  });
});
