// oq-test: runtimes=node,bun,deno timeout=120
/**
 * Coalesced submits (src/protocol/submit_coalescer.ts): `submit()` calls made together are
 * written as one group whose tasks share a batch entry (k tasks, k + 1 PUTs); a call made
 * alone costs what it did (2 PUTs, its own entry). Each call settles on its own: a bad input
 * or a failed write fails that call, never the others, and loses nothing that was promised.
 */
import { describe } from "node:test";
import assert from "node:assert/strict";
import { MemoryStore } from "../src/store/memory_store.ts";
import type { PutBody, PutOptions, PutResult } from "../src/store/types.ts";
import { Queue } from "../src/queue/queue.ts";
import { Worker } from "../src/worker/worker.ts";
import { RequestCounters } from "../src/s3/counters.ts";
import { FakeClock, it, memQueue, until } from "./helpers.ts";

// A memory store whose PUTs can be held (to keep groups in flight) or made to fail.
class TestStore extends MemoryStore {
  fail: ((key: string) => boolean) | null = null;
  #gate: Promise<void> | null = null;
  #open: (() => void) | null = null;
  held = 0;

  hold(): void {
    this.#gate = new Promise((r) => (this.#open = r));
  }

  release(): void {
    this.#gate = null;
    this.#open?.();
  }

  override async put(key: string, body: PutBody, options?: PutOptions): Promise<PutResult> {
    if (this.fail?.(key)) throw new Error(`injected failure: PUT ${key}`);
    const gate = this.#gate;
    if (gate !== null && !key.includes("signals/")) {
      this.held++;
      await gate;
      this.held--;
    }
    return super.put(key, body, options);
  }
}

function testQueue(options: ConstructorParameters<typeof Queue>[1] = {}) {
  const clock = new FakeClock();
  const store = new TestStore({ clock: clock.now });
  const queue = new Queue(store, { warn: () => {}, ...options });
  return { queue, store, clock };
}

async function keys(store: MemoryStore, prefix: string): Promise<string[]> {
  return (await store.list({ prefix })).objects.map((o) => o.key);
}

// PUTs of task objects and of ready entries sent by `f`.
async function puts(store: MemoryStore, f: () => Promise<unknown>) {
  const before = { tasks: await keys(store, "tasks/"), ready: await keys(store, "ready/") };
  const s0 = store.counters.snapshot();
  await f();
  const n = RequestCounters.diff(store.counters.snapshot(), s0);
  const tasks = (await keys(store, "tasks/")).length - before.tasks.length;
  const ready = (await keys(store, "ready/")).length - before.ready.length;
  return { PUT: n.PUT ?? 0, tasks, ready };
}

async function runAll(queue: Queue, n: number): Promise<number> {
  let ran = 0;
  const w = new Worker(queue, "w1").task("job", () => void ran++);
  try {
    for (let round = 0; round < 50 && ran < n; round++) {
      await w.pollOnce();
      await w.drain();
    }
  } finally {
    await w.stop();
  }
  return ran;
}

describe("coalesced submits", () => {
  it("calls made in one turn share one ready entry: k tasks, k + 1 PUTs, all run", async () => {
    const { queue, store } = memQueue();
    await queue.submit("job", { warm: true }); // the signal and the layout, once
    const made = await puts(
      store,
      () => Promise.all(Array.from({ length: 10 }, (_, i) => queue.submit("job", { i }))),
    );
    assert.deepEqual(made, { PUT: 11, tasks: 10, ready: 1 });
    const entry = (await keys(store, "ready/")).find((k) => k.includes("/batch."));
    assert.ok(entry, "a batch entry");
    assert.equal(await runAll(queue, 11), 11);
    assert.deepEqual(await keys(store, "ready/"), [], "every entry deleted");
  });

  it("a call made alone costs what it did: 2 PUTs, its own entry; false turns coalescing off", async () => {
    const { queue, store } = memQueue();
    await queue.submit("job", {});
    for (let i = 0; i < 3; i++) {
      assert.deepEqual(await puts(store, () => queue.submit("job", { i })), {
        PUT: 2,
        tasks: 1,
        ready: 1,
      });
    }
    const off = memQueue({ submitCoalescing: false });
    await off.queue.submit("job", {});
    const made = await puts(
      off.store,
      () => Promise.all(Array.from({ length: 5 }, (_, i) => off.queue.submit("job", { i }))),
    );
    assert.deepEqual(made, { PUT: 10, tasks: 5, ready: 5 });
  });

  it("a bad call in a group fails alone, before any request; the others are written", async () => {
    const { queue, store } = memQueue();
    await queue.submit("job", {});
    const results = await Promise.allSettled([
      queue.submit("job", { a: 1 }),
      queue.submit("job", { b: 1 }, { timeoutSeconds: -1 }),
      queue.submit("bad type!", {}),
      queue.submit("job", { c: 1 }),
    ]);
    assert.deepEqual(results.map((r) => r.status), [
      "fulfilled",
      "rejected",
      "rejected",
      "fulfilled",
    ]);
    assert.match(String((results[1] as PromiseRejectedResult).reason), /timeoutSeconds/);
    assert.equal((await keys(store, "tasks/")).length, 3);
    assert.equal(await runAll(queue, 3), 3);
  });

  it("a call with an idempotency key goes alone and still deduplicates", async () => {
    const { queue, store } = memQueue();
    await queue.submit("job", {});
    const [a, b, c] = await Promise.all([
      queue.submit("job", { n: 1 }, { idempotencyKey: "k1" }),
      queue.submit("job", { n: 1 }, { idempotencyKey: "k1" }),
      queue.submit("job", { n: 2 }),
    ]);
    assert.equal(a.id, b.id);
    assert.notEqual(c.id, a.id);
    assert.equal((await keys(store, "tasks/")).length, 3);
    assert.equal(await runAll(queue, 3), 3);
  });

  it("calls made while maxInFlight groups are written wait, then go together", async () => {
    const { queue, store } = testQueue({ submitCoalescing: { maxInFlight: 1 } });
    await queue.submit("job", {});
    store.hold();
    const calls: Promise<unknown>[] = [];
    try {
      calls.push(queue.submit("job", { first: true }));
      await until(() => store.held === 1, 30_000, "the first call's PUT held");
      // Made one by one, each in a turn of its own: the slot is taken, so they wait.
      for (let i = 0; i < 5; i++) {
        calls.push(queue.submit("job", { i }));
        await new Promise((r) => setTimeout(r, 1));
      }
      assert.equal(store.held, 1, "nothing else sent while the group is in flight");
    } finally {
      store.release();
    }
    await Promise.all(calls);
    const ready = await keys(store, "ready/");
    assert.equal(ready.filter((k) => k.includes("/batch.")).length, 1, "the five share one entry");
    assert.equal(await runAll(queue, 7), 7);
  });

  it("lingerMs groups calls made within it (fake clock)", async () => {
    const { queue, store, clock } = testQueue({ submitCoalescing: { lingerMs: 50 } });
    const calls: Promise<unknown>[] = [];
    for (let i = 0; i < 4; i++) {
      calls.push(queue.submit("job", { i }));
      await new Promise((r) => setTimeout(r, 1));
    }
    assert.deepEqual(await keys(store, "tasks/"), [], "nothing written before the linger ends");
    clock.advance(50);
    await Promise.all(calls);
    assert.equal((await keys(store, "tasks/")).length, 4);
    assert.equal((await keys(store, "ready/")).length, 1, "one entry for the four");
  });

  it("a failed batch entry fails every call of its group and writes no task", async () => {
    const { queue, store } = testQueue();
    await queue.submit("job", {});
    store.fail = (key) => key.includes("/batch.");
    const results = await Promise.allSettled([1, 2, 3].map((i) => queue.submit("job", { i })));
    assert.deepEqual(results.map((r) => r.status), ["rejected", "rejected", "rejected"]);
    assert.match(String((results[0] as PromiseRejectedResult).reason), /injected failure/);
    assert.equal((await keys(store, "tasks/")).length, 1, "only the first task");
    store.fail = null;
    // The queue goes on: the next group is written.
    await Promise.all([1, 2].map((i) => queue.submit("job", { i })));
    assert.equal(await runAll(queue, 3), 3);
  });

  it("a failed wake-up signal does not fail the group's calls; the next submit touches it", async () => {
    const { queue, store } = testQueue();
    store.fail = (key) => key.includes("signals/");
    const tasks = await Promise.all([1, 2, 3].map((i) => queue.submit("job", { i })));
    store.fail = null;
    assert.equal(tasks.length, 3);
    assert.deepEqual(await keys(store, "signals/"), [], "the signal failed");
    await Promise.all([4, 5].map((i) => queue.submit("job", { i })));
    assert.equal((await keys(store, "signals/")).length, 2, "touched by the next group");
    assert.equal(await runAll(queue, 5), 5);
  });

  it("a failed task write fails that call only; its entry's other tasks run", async () => {
    const { queue, store } = testQueue();
    await queue.submit("job", {});
    let failed = "";
    store.fail = (key) => {
      if (failed === "" && key.startsWith("tasks/")) failed = key;
      return key === failed;
    };
    const results = await Promise.allSettled([1, 2, 3].map((i) => queue.submit("job", { i })));
    store.fail = null;
    assert.deepEqual(results.map((r) => r.status).sort(), ["fulfilled", "fulfilled", "rejected"]);
    assert.equal(await runAll(queue, 3), 3, "the first task and the two written");
  });

  it("a group mixing large inputs, TTLs, delays and priorities: each task as if submitted alone", async () => {
    const { queue, store, clock } = memQueue({ inlinePayloadBytes: 1024 });
    await queue.submit("job", {});
    const big = "x".repeat(4096);
    const tasks = await Promise.all([
      queue.submit("job", { n: 1, big }),
      queue.submit("job", { n: 2 }, { ttlSeconds: 3600 }),
      queue.submit("job", { n: 3 }, { delaySeconds: 60 }),
      queue.submit("job", { n: 4 }, { priority: 5 }),
      queue.submit("job", { n: 5, big }),
      queue.submit("job", { n: 6 }),
    ]);
    assert.ok(tasks[0]!.inputRef, "a large input is stored beside its task");
    assert.deepEqual((await queue.get(tasks[4]!.id))?.input, { n: 5, big });
    assert.ok(tasks[1]!.expiresAt, "the TTL is kept");
    // Tasks 1, 2, 5 and 6 share one entry; the delayed and the prioritised one go alone.
    const entries = await keys(store, "ready/");
    assert.equal(entries.filter((k) => k.includes("/batch.")).length, 1, entries.join(" "));
    assert.equal(
      entries.length - 1,
      1 + 2,
      "the first task's, the delayed one's, the priority one's",
    );
    assert.equal(await runAll(queue, 6), 6, "all but the delayed task run now");
    clock.advance(61_000);
    assert.equal(await runAll(queue, 1), 1, "the delayed one once due");
  });

  it("refuses bad options with a clear error", () => {
    const store = new MemoryStore();
    assert.throws(() => new Queue(store, { submitCoalescing: { maxInFlight: 0 } }), /maxInFlight/);
    assert.throws(() => new Queue(store, { submitCoalescing: { lingerMs: -1 } }), /lingerMs/);
    assert.throws(() => new Queue(store, { submitCoalescing: { maxTasks: 1.5 } }), /maxTasks/);
    assert.throws(
      () => new Queue(store, { submitCoalescing: true as unknown as false }),
      /submitCoalescing/,
    );
  });
});
