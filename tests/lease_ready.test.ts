/**
 * Leases indexed by the ready entry (`lease_index: "ready"`, worker option
 * `leaseEntryAfterMs`): a claim writes no lease entry and keeps the task's ready entry as
 * the index of its lease; an attempt that runs long writes its lease entry then. Costs,
 * recovery after a dead worker (by workers of the type, by the sweep and the monitor), and
 * the readers that meet such an entry.
 */
import { describe } from "node:test";
import assert from "node:assert/strict";
import { FakeClock, it, settle, until } from "./helpers.ts";
import { Queue } from "../src/queue/queue.ts";
import { Monitor } from "../src/monitor/monitor.ts";
import { Worker } from "../src/worker/worker.ts";
import { RequestCounters } from "../src/s3/counters.ts";
import { MemoryStore } from "../src/store/memory_store.ts";
import { TaskCensus } from "../src/queue/census.ts";
import type { GetOptions } from "../src/store/types.ts";

/** A queue over the memory store whose clock (timers too) is a fake one. */
function memQueue(options: { shardCount: number }) {
  const clock = new FakeClock();
  const store = new MemoryStore({ clock: clock.now });
  const queue = new Queue(store, { warn: () => {}, clock, ...options });
  return { clock, store, queue };
}

function entries(store: MemoryStore, prefix: string) {
  return store.list({ prefix }).then((p) => p.objects.map((o) => o.key));
}

/** A worker whose handler never returns (a dead worker): its clock never moves. */
async function dead(store: MemoryStore, clock: FakeClock, options: { concurrency?: number } = {}) {
  const queue = new Queue(store, { warn: () => {}, clock: new FakeClock(clock.ms) });
  const w = new Worker(queue, "dead").task("job", () => new Promise(() => {}));
  w.configure({ withMonitor: false, leaseGraceSeconds: 1, ...options });
  const n = options.concurrency ?? 1;
  assert.equal((await w.pollOnce()).claimed, n, "the dead worker claimed its tasks");
  return w;
}

describe("leases indexed by the ready entry", () => {
  it("a short task costs the claim and the completion only: no lease entry, the ready entry goes at the end", async () => {
    const { queue, store } = memQueue({ shardCount: 1 });
    const t = await queue.submit("job", { a: 1 });
    const w = new Worker(queue, "w1").task("job", () => "ok");
    w.configure({ withMonitor: false });
    try {
      const before = store.counters.snapshot();
      assert.equal((await w.pollOnce()).claimed, 1);
      const running = await queue.get(t.id);
      assert.equal(running?.status, "running");
      assert.equal((await entries(store, "ready/")).length, 1, "the ready entry indexes the lease");
      assert.deepEqual(await entries(store, "deadlines/"), [], "no lease entry");
      await w.drain();
      const used = RequestCounters.diff(store.counters.snapshot(), before);
      // LIST the lane, GET the task, PUT the claim, PUT the completion, DELETE the entry.
      assert.equal(used.PUT, 2, JSON.stringify(used));
      assert.equal(used.DELETE, 1, JSON.stringify(used));
      assert.equal((await queue.get(t.id))?.status, "completed");
      assert.deepEqual(await entries(store, "ready/"), []);
    } finally {
      await w.stop();
    }
  });

  it("a dead worker's task: other workers skip it (one GET) until its lease ends, then recover it", async () => {
    const { queue, store, clock } = memQueue({ shardCount: 1 });
    const t = await queue.submit("job", {}, { timeoutSeconds: 5 });
    const gone = await dead(store, clock);
    let taskGets = 0;
    const get = store.get.bind(store);
    store.get = (key: string, options?: GetOptions) => {
      if (key.startsWith("tasks/")) taskGets++;
      return get(key, options);
    };
    const w = new Worker(queue, "w2").task("job", () => "done");
    w.configure({ withMonitor: false, leaseGraceSeconds: 1 });
    try {
      for (let i = 0; i < 4; i++) {
        await w.pollOnce();
        await w.drain();
        clock.advance(1000);
      }
      assert.equal(taskGets, 1, "read once, then left out until its lease ends");
      assert.equal((await queue.get(t.id))?.status, "running");
      assert.equal((await entries(store, "ready/")).length, 1, "the entry is kept");
      clock.advance(5000); // past the lease (5 s + 1 s grace)
      for (let i = 0; i < 4; i++) {
        await w.pollOnce();
        await w.drain();
        clock.advance(2000); // past the retry's back-off
      }
      const done = await queue.get(t.id);
      assert.equal(done?.status, "completed");
      assert.equal(done?.attempt, 2);
      assert.equal(done?.errors[0]?.kind, "lease_expired");
      assert.deepEqual(await entries(store, "ready/"), []);
    } finally {
      await w.stop();
      void gone; // a dead worker is not stopped: its handler never returns
    }
  });

  it("with no worker of the type left, the sweep writes the lease entry once the lease ended, and the monitor recovers the task", async () => {
    const { queue, store, clock } = memQueue({ shardCount: 1 });
    const t = await queue.submit("job", {}, { timeoutSeconds: 5, maxRetries: 0 });
    const gone = await dead(store, clock);
    try {
      const monitor = new Monitor(queue);
      clock.advance(60_000);
      await monitor.runOnce({ sweep: false });
      assert.equal((await queue.get(t.id))?.status, "running", "the monitor lists lease entries");
      const swept = await monitor.runOnce({ sweep: true });
      assert.equal(swept.sweep?.leaseRepaired, 1, JSON.stringify(swept.sweep));
      clock.advance(1000);
      await monitor.runOnce({ sweep: false });
      const failed = await queue.get(t.id);
      assert.equal(failed?.status, "failed", "dead-lettered: no retries left");
      assert.equal(failed?.errors[0]?.kind, "lease_expired");
    } finally {
      void gone; // a dead worker is not stopped: its handler never returns
    }
  });

  it("an attempt that runs past leaseEntryAfterMs writes its lease entry; if its worker then dies, the monitor recovers it", async () => {
    const { queue, store, clock } = memQueue({ shardCount: 1 });
    const t = await queue.submit("job", {}, { timeoutSeconds: 30 });
    let release: () => void = () => {};
    const w = new Worker(queue, "w1").task(
      "job",
      () => new Promise<string>((r) => (release = () => r("late"))),
    );
    w.configure({ withMonitor: false, leaseEntryAfterMs: 10_000 });
    try {
      await w.pollOnce();
      await settle();
      clock.advance(9_000);
      await settle();
      assert.deepEqual(await entries(store, "deadlines/"), [], "not yet");
      clock.advance(1_000);
      await settle();
      assert.equal((await entries(store, "deadlines/")).length, 1, "the lease entry");
      assert.deepEqual(await entries(store, "ready/"), [], "and the ready entry gone");
      release();
      await w.drain();
      assert.equal((await queue.get(t.id))?.status, "completed");
      assert.deepEqual(await entries(store, "deadlines/"), [], "released at the end");
    } finally {
      await w.stop();
    }
    // The same, with a worker that dies after writing its lease entry: its own clock moves
    // past leaseEntryAfterMs, then never again.
    const t2 = await queue.submit("job", {}, { timeoutSeconds: 30 });
    const ownClock = new FakeClock(clock.ms);
    const q2 = new Queue(store, { warn: () => {}, clock: ownClock, shardCount: 1 });
    const w2 = new Worker(q2, "w2").task("job", () => new Promise(() => {}));
    w2.configure({ withMonitor: false, leaseEntryAfterMs: 10_000, leaseGraceSeconds: 1 });
    await w2.pollOnce();
    await settle();
    ownClock.advance(10_000);
    await settle();
    assert.equal((await entries(store, "deadlines/")).length, 1, "its lease entry");
    clock.advance(45_000); // w2 is dead: never stopped, its handler never returns
    const r = await new Monitor(queue).runOnce({ sweep: false });
    assert.equal(r.recovered, 1, JSON.stringify(r));
    assert.equal((await queue.get(t2.id))?.status, "pending");
  });

  it("a task given back within the millisecond it was claimed keeps its ready entry (a bucket without versioning)", async () => {
    const clock = new FakeClock();
    const store = new MemoryStore({ clock: clock.now, createBucket: false });
    await store.createBucket(); // without versioning: every version id is "null"
    const queue = new Queue(store, { shardCount: 1, warn: () => {} });
    const t = await queue.submit("job", {});
    const w = new Worker(queue, "w1").task("job", (_i, ctx) => {
      ctx.snooze(0); // pending again at once: the same available_at, the same key
    });
    w.configure({ withMonitor: false });
    try {
      await w.pollOnce();
      await w.drain();
      const snoozed = await queue.get(t.id);
      assert.equal(snoozed?.status, "pending");
      assert.equal(
        (await entries(store, "ready/")).length,
        1,
        "the entry the task is pending under",
      );
    } finally {
      await w.stop();
    }
  });

  it("a page full of running tasks' entries does not hide the pending tasks behind them", async () => {
    const { queue, store, clock } = memQueue({ shardCount: 1 });
    for (let i = 0; i < 3; i++) await queue.submit("job", { i }, { timeoutSeconds: 600 });
    const gone = await dead(store, clock, { concurrency: 3 });
    clock.advance(1000);
    const later = [await queue.submit("job", { i: 3 }), await queue.submit("job", { i: 4 })];
    const ran: number[] = [];
    const w = new Worker(queue, "w2").task("job", (input: { i: number }) => void ran.push(input.i));
    w.configure({ withMonitor: false, listLimit: 3 });
    try {
      for (let i = 0; i < 4 && ran.length < 2; i++) {
        await w.pollOnce();
        await w.drain();
        clock.advance(1000);
      }
      assert.deepEqual(ran.sort(), [3, 4], "the tasks behind the full page ran");
      for (const t of later) assert.equal((await queue.get(t.id))?.status, "completed");
    } finally {
      await w.stop();
      void gone;
    }
  });

  it("the census: a claim under the ready entry is seen by a full refresh, and light ones do not read the task again", async () => {
    const { queue, store, clock } = memQueue({ shardCount: 1 });
    await queue.submit("job", {}, { timeoutSeconds: 600 });
    const census = new TaskCensus(queue, { fullListIntervalMs: 60_000 });
    await census.refresh();
    assert.equal(census.total("ready"), 1);
    const gone = await dead(store, clock);
    clock.advance(1000);
    // The indexes did not change: a light refresh still counts it ready (documented lag).
    assert.equal((await census.refresh()).read, 0);
    assert.equal(census.total("ready"), 1);
    clock.advance(60_000);
    const full = await census.refresh();
    assert.equal(full.full, true);
    assert.equal(census.total("running"), 1, "read by the full refresh");
    clock.advance(1000);
    const light = await census.refresh();
    assert.equal(light.full, false);
    assert.equal(light.read, 0, "its ready entry agrees with a task known running");
    assert.equal(census.total("running"), 1);
    void gone;
  });

  it("leaseEntryAfterMs 0: every claim writes its lease entry first, as before", async () => {
    const { queue, store } = memQueue({ shardCount: 1 });
    await queue.submit("job", {});
    const w = new Worker(queue, "w1").task("job", () => new Promise(() => {}));
    w.configure({ withMonitor: false, leaseEntryAfterMs: 0 });
    try {
      await w.pollOnce();
      await settle();
      assert.equal((await entries(store, "deadlines/")).length, 1);
      assert.deepEqual(await entries(store, "ready/"), []);
    } finally {
      void w; // its handler never returns: not stopped
    }
  });
  it("an attempt that ends while a LIST is in flight: that listing does not offer its entry again", async () => {
    const { queue, store, clock } = memQueue({ shardCount: 1 });
    const a = await queue.submit("job", { n: 1 });
    let finish = () => {};
    const w = new Worker(queue, "w1").task(
      "job",
      (input) =>
        (input as { n: number }).n === 1 ? new Promise<void>((r) => finish = r) : undefined,
    );
    w.configure({ withMonitor: false, concurrency: 2 });
    try {
      assert.equal(
        (await w.pollOnce()).claimed,
        1,
        "a is running, its ready entry its lease index",
      );
      await queue.submit("job", { n: 2 });
      // The next LIST answers from before a's end: it still shows a's entry.
      let release = () => {};
      const hold = new Promise<void>((r) => release = r);
      const listVersions = store.listVersions.bind(store);
      store.listVersions = async (o) => {
        const page = await listVersions(o);
        await hold;
        return page;
      };
      let aReads = 0;
      const get = store.get.bind(store);
      store.get = (key: string, o?: GetOptions) => {
        if (key === queue.keys.task(a.id)) aReads++;
        return get(key, o);
      };
      clock.advance(5_000);
      const poll = w.pollOnce();
      await settle();
      finish();
      await until(async () => (await queue.get(a.id))?.status === "completed", 10_000, "a done");
      await settle();
      aReads = 0;
      release();
      const r = await poll;
      await w.drain();
      assert.equal(r.claimed, 1, "the new task is claimed");
      assert.equal(aReads, 0, "a's deleted entry, still in the page, is not read as a candidate");
    } finally {
      await w.drain();
    }
  });
});
