// A corrupt object stays corrupt until someone fixes it: the monitor (lease index and slow
// sweep) and the worker (claims, and its embedded monitor's reports) report it once, not at
// every cycle that meets it, over many cycles of the injected clock.
import { describe } from "node:test";
import assert from "node:assert/strict";
import { SchemaError } from "../src/base/errors.ts";
import { Monitor } from "../src/monitor/monitor.ts";
import type { Queue } from "../src/queue/queue.ts";
import type { MemoryStore } from "../src/store/memory_store.ts";
import { Worker } from "../src/worker/worker.ts";
import { it, memQueue, until } from "./helpers.ts";

async function corrupt(store: MemoryStore, queue: Queue, id: string, change: object) {
  const key = queue.keys.task(id);
  const o = await store.get(key);
  assert.ok(o && o.kind === "object", 'o && o.kind === "object"');
  const rec = { ...JSON.parse(new TextDecoder().decode(o.body)), ...change };
  await store.put(key, JSON.stringify(rec));
}

describe("a bad object is reported once", { timeout: 30_000 }, () => {
  it("by the monitor, over 200 cycles with sweeps (lease index and sweep both meet it)", async () => {
    const { queue, store, clock } = memQueue({ shardCount: 1 });
    // A running task whose object turns bad (its lease entry keeps pointing at it), and a
    // pending one the sweep reads.
    const running = await queue.submit("t", {}, { timeoutSeconds: 1 });
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const w = new Worker(queue, "w1").task("t", () => gate);
    w.configure({ withMonitor: false });
    assert.equal((await w.pollOnce()).claimed, 1);
    await corrupt(store, queue, running.id, { status: "bogus" });
    const pending = await queue.submit("other", {});
    await corrupt(store, queue, pending.id, { attempt: -1 });
    clock.advance(120_000);
    const monitor = new Monitor(queue, { sweepIntervalS: 15 });
    const errors: Error[] = [];
    monitor.events.on("monitor:error", ({ error }) => void errors.push(error));
    let invalidSeen = 0;
    for (let i = 0; i < 200; i++) {
      const r = await monitor.runOnce({ sweep: true });
      invalidSeen += r.sweep?.invalid ?? 0;
      clock.advance(15_000);
    }
    assert.ok(invalidSeen >= 100, "the sweep still counts them in its result");
    assert.equal(errors.length, 2, errors.map((e) => e.message).join("\n"));
    assert.ok(
      errors.every((e) => e instanceof SchemaError),
      "errors.every((e) => e instanceof SchemaError)",
    );
    assert.deepEqual(
      errors.map((e) => (e as SchemaError).key).sort(),
      [queue.keys.task(running.id), queue.keys.task(pending.id)].sort(),
    );
    // Another problem with the same object is news: reported once more.
    await corrupt(store, queue, pending.id, { attempt: 0, status: "odd" });
    for (let i = 0; i < 20; i++) {
      await monitor.runOnce({ sweep: true });
      clock.advance(15_000);
    }
    assert.equal(errors.length, 3);
    release();
    await w.drain();
  });

  it("by a worker's claims, every time it looks at the task again (10 minutes later)", async () => {
    const { queue, store, clock } = memQueue({ shardCount: 1 });
    const t = await queue.submit("t", {});
    await corrupt(store, queue, t.id, { retry_count: "many" });
    const w = new Worker(queue, "w1").task("t", () => null);
    const errors: string[] = [];
    w.on("worker:error", ({ error, context }) => void errors.push(`${context}: ${error.message}`));
    w.configure({ withMonitor: false });
    for (let i = 0; i < 30; i++) {
      await w.pollOnce();
      clock.advance(11 * 60_000);
    }
    assert.equal(errors.length, 1, errors.join("\n"));
    assert.match(errors[0]!, /^task .* skipped: Object .* does not match its schema: retry_count/);
  });

  it("by a running worker whose claims and embedded monitor both meet it", async () => {
    const { queue, store, clock } = memQueue({ shardCount: 1 });
    const t = await queue.submit("t", {});
    await corrupt(store, queue, t.id, { retry_count: "many" });
    clock.advance(61_000); // the sweep reads no task changed in the last minute
    // The claim and the sweep each read it once (there is no lease entry): two GETs.
    let reads = 0;
    const get = store.get.bind(store);
    store.get = (key, o) => {
      if (key === queue.keys.task(t.id)) reads++;
      return get(key, o);
    };
    const w = new Worker(queue, "w1").task("t", () => null);
    const errors: string[] = [];
    w.on("worker:error", ({ error, context }) => void errors.push(`${context}: ${error.message}`));
    const running = w.run({ pollIntervalMs: 10 });
    try {
      await until(() => reads >= 2, 10_000, "a claim and a sweep");
    } finally {
      await w.stop(); // waits for the monitor's cycle in progress
      await running;
    }
    assert.ok(reads >= 2, "reads >= 2");
    assert.equal(errors.length, 1, errors.join("\n"));
  });
});
