// oq-test: runtimes=node,bun,deno timeout=180
/**
 * Concurrency and rate limits of a task type across workers (issue 19): configuration, the
 * semaphore (acquire, release, eviction, conflicts), the rate log, and workers honouring
 * both, on the memory store with a fake clock (Worker.pollOnce driven directly).
 */
import { describe } from "node:test";
import assert from "node:assert/strict";
import { ClassifyingStore } from "../harness/classifying_store.ts";
import { Monitor } from "../src/monitor/monitor.ts";
import { nextAllowed, RateLog } from "../src/protocol/rate.ts";
import { CLAIM_WINDOW_MS, type Holder, Slots } from "../src/protocol/slots.ts";
import { MemoryStore } from "../src/store/memory_store.ts";
import { Queue } from "../src/queue/queue.ts";
import { Worker } from "../src/worker/worker.ts";
import { FakeClock, it, memQueue, settle } from "./helpers.ts";

function holder(id: string, now: number, leaseMs = 60_000, worker = "w1"): Holder {
  return {
    task_id: id,
    attempt: 1,
    worker_id: worker,
    granted_at: now,
    lease_until: now + leaseMs,
  };
}

/** Workers whose handlers wait until released; records every start and end (fake time). */
function fleet(queue: Queue, clock: FakeClock, n: number, type = "a") {
  const spans: Array<{ id: string; start: number; end: number }> = [];
  const waiting: Array<() => void> = [];
  let running = 0;
  let maxRunning = 0;
  const workers = Array.from({ length: n }, (_, i) => {
    const w = new Worker(queue, `w${i}`).task(type, async (_input, ctx) => {
      const span = { id: ctx.task.id, start: clock.now(), end: -1 };
      running++;
      maxRunning = Math.max(maxRunning, running);
      await new Promise<void>((r) => waiting.push(r));
      running--;
      span.end = clock.now();
      spans.push(span);
    });
    w.configure({ withMonitor: false, concurrency: 4 });
    return w;
  });
  return {
    workers,
    spans,
    max: () => maxRunning,
    running: () => running,
    /** One round: every worker polls, then the running handlers finish. */
    async round(stepMs = 500, finish = true) {
      for (const w of workers) await w.pollOnce();
      await settle();
      if (finish) { for (const r of waiting.splice(0)) r(); }
      await settle();
      clock.advance(stepMs);
    },
    async stop() {
      for (const r of waiting.splice(0)) r();
      for (const w of workers) await w.drain();
    },
  };
}

describe("limits of a task type: configuration", () => {
  it("setLimit, getControl, limits, clearLimit; pause and limits keep each other; bad values refused", async () => {
    const { queue } = memQueue();
    assert.deepEqual((await queue.getControl("a")).concurrency, null);
    const r = await queue.setLimit("a", { concurrency: 3 });
    assert.deepEqual([r.changed, r.signalled, r.control.concurrency], [true, true, 3]);
    assert.equal((await queue.setLimit("a", { concurrency: 3 })).changed, false);
    await queue.setLimit("a", { ratePerSecond: 10 });
    await queue.pause("a", { reason: "maintenance" });
    let c = await queue.getControl("a");
    assert.deepEqual([c.paused, c.concurrency, c.rateLimit], [true, 3, {
      limit: 10,
      windowMs: 1000,
    }]);
    await queue.resume("a");
    await queue.setLimit("b", { ratePerMinute: 30 });
    assert.deepEqual(
      (await queue.limits()).map((x) => [x.taskType, x.concurrency, x.rateLimit?.windowMs ?? null]),
      [["a", 3, 1000], ["b", null, 60_000]],
    );
    await queue.setLimit("a", { concurrency: null });
    c = await queue.getControl("a");
    assert.deepEqual([c.concurrency, c.rateLimit?.limit], [null, 10]);
    await queue.clearLimit("a");
    assert.deepEqual((await queue.limits()).map((x) => x.taskType), ["b"]);
    for (
      const bad of [
        { concurrency: 0 },
        { concurrency: 1.5 },
        { concurrency: 1001 },
        {
          ratePerSecond: 1,
          ratePerMinute: 1,
        },
        { ratePerSecond: -1 },
        {},
      ]
    ) await assert.rejects(queue.setLimit("b", bad), /concurrency|rate|Give/);
    await assert.rejects(queue.setLimit("../x", { concurrency: 1 }), /task type/);
    assert.equal(
      (await queue.getControl("b")).rateLimit?.limit,
      30,
      "refused changes wrote nothing",
    );
  });
});

describe("the semaphore (control/slots/{type}.json)", () => {
  it("grants up to the limit, then reports full until a release", async () => {
    const { queue, clock } = memQueue();
    const s = new Slots(queue.context, "a");
    const now = clock.now();
    assert.equal((await s.acquire(holder("0-a", now), 2)).kind, "granted");
    assert.equal((await s.acquire(holder("0-b", now), 2)).kind, "granted");
    const full = await s.acquire(holder("0-c", now), 2);
    assert.equal(full.kind, "full");
    assert.equal(await s.release(holder("0-a", now)), 2, "two holders before the release");
    assert.equal((await s.acquire(holder("0-c", now), 2)).kind, "granted");
    assert.deepEqual((await s.holders()).map((h) => h.task_id), ["0-b", "0-c"]);
    assert.equal(await s.release(holder("0-a", now)), 0, "releasing twice writes nothing");
  });

  it("two processes racing for the last slot: exactly one wins; the loser re-reads and sees full", async () => {
    const { queue, clock } = memQueue();
    const now = clock.now();
    const a = new Slots(queue.context, "a");
    const b = new Slots(queue.context, "a");
    // Both know the empty object, then race.
    await a.taken(1);
    await b.taken(1);
    const [ra, rb] = await Promise.all([
      a.acquire(holder("0-a", now), 1),
      b.acquire(holder("0-b", now, 60_000, "w2"), 1),
    ]);
    assert.deepEqual([ra.kind, rb.kind].sort(), ["full", "granted"]);
    // Many racers for 3 slots: never more than 3 granted.
    const racers = Array.from({ length: 8 }, () => new Slots(queue.context, "b"));
    const results = await Promise.all(
      racers.map((s, i) => s.acquire(holder(`0-${i}`, now, 60_000, `w${i}`), 3)),
    );
    const granted = results.filter((r) => r.kind === "granted").length;
    assert.ok(granted <= 3, `${granted} granted`);
    assert.equal((await racers[0]!.holders()).length, granted);
  });

  it("a holder is valid within its claim window whatever its task says, and evicted after when the task does not run it", async () => {
    const { queue, clock } = memQueue();
    const s = new Slots(queue.context, "a");
    const t = await queue.submit("a", {}); // pending: the claimer died before its task write
    assert.equal((await s.acquire(holder(t.id, clock.now(), 0), 1)).kind, "granted");
    clock.advance(CLAIM_WINDOW_MS - 2000);
    assert.equal(
      (await s.acquire(holder("0-x", clock.now()), 1)).kind,
      "full",
      "young holder kept",
    );
    clock.advance(3000);
    const before = queue.store.counters.snapshot().GET;
    assert.equal((await s.acquire(holder("0-x", clock.now()), 1)).kind, "granted");
    assert.ok(queue.store.counters.snapshot().GET - before <= 2, "one task GET to evict");
    assert.deepEqual((await s.holders()).map((h) => h.task_id), ["0-x"]);
    assert.equal((await queue.get(t.id))!.revision, t.revision + 1, "the pending task was fenced");
  });

  it("a claimer whose task write lands after its holder was evicted fails (the fence), so the limit holds", async () => {
    const { queue, clock, store } = memQueue({ shardCount: 1 });
    await queue.setLimit("a", { concurrency: 1 });
    let hold: Promise<void> | null = null;
    let unblock!: () => void;
    let blocked = false;
    const slow = new Proxy(store, {
      get(target, prop) {
        const v = Reflect.get(target, prop, target);
        if (prop !== "put") return typeof v === "function" ? v.bind(target) : v;
        return async (key: string, ...rest: unknown[]) => {
          if (hold && key.includes("tasks/")) {
            blocked = true;
            await hold;
          }
          return (v as (...a: unknown[]) => unknown).call(target, key, ...rest);
        };
      },
    });
    const ran: string[] = [];
    const slowWorker = new Worker(new Queue(slow, { warn: () => {}, shardCount: 1 }), "slow")
      .task("a", () => void ran.push("slow"));
    slowWorker.configure({ withMonitor: false });
    await queue.submitMany([["a", {}], ["a", {}]]);
    hold = new Promise<void>((r) => (unblock = r));
    const slowPoll = slowWorker.pollOnce();
    while (!blocked) await settle(1); // holds the slot; its task write is in flight
    clock.advance(400_000); // past its claim window and the lease it recorded
    // Another process needs the slot for another task: it evicts the slow holder.
    const other = new Slots(queue.context, "a");
    assert.equal((await other.acquire(holder("0-other", clock.now()), 1)).kind, "granted");
    unblock();
    hold = null;
    assert.equal((await slowPoll).claimed, 0, "the late task write lost to the fence");
    await slowWorker.drain();
    assert.deepEqual(ran, []);
  });

  it("a holder past its recorded lease whose attempt still runs (lease extended) is kept and refreshed", async () => {
    const { queue, clock } = memQueue({ shardCount: 1 });
    await queue.setLimit("a", { concurrency: 1 });
    let extend!: () => Promise<void>;
    let finish!: () => void;
    const w = new Worker(queue, "w1").task("a", async (_i, ctx) => {
      extend = () => ctx.extendLease(3600);
      await new Promise<void>((r) => (finish = r));
    });
    w.configure({ withMonitor: false });
    await queue.submit("a", {});
    assert.equal((await w.pollOnce()).claimed, 1);
    await settle();
    await extend();
    clock.advance(400_000); // past the claim-time lease (300 s + grace), within the extension
    const s = new Slots(queue.context, "a");
    assert.equal((await s.acquire(holder("0-x", clock.now()), 1)).kind, "full");
    const [h] = await s.holders();
    assert.ok(h!.lease_until > clock.now(), "the recorded lease end was refreshed");
    finish();
    await w.drain();
    assert.deepEqual(await s.holders(), [], "released after the outcome");
  });
});

describe("workers under a concurrency limit", () => {
  it("three workers never run more than the limit; every task completes; the limit can change", async () => {
    const { queue, clock } = memQueue({ shardCount: 2 });
    await queue.setLimit("a", { concurrency: 2 });
    const f = fleet(queue, clock, 3);
    try {
      for (let i = 0; i < 12; i++) await queue.submit("a", { i });
      for (let r = 0; r < 60 && f.spans.length < 12; r++) await f.round();
      assert.equal(f.spans.length, 12);
      assert.equal(f.max(), 2);
      // Raised to 5: picked up through the signal, and used.
      await queue.setLimit("a", { concurrency: 5 });
      for (let r = 0; r < 6; r++) await f.round(); // past the workers' next wake-up check
      for (let i = 0; i < 12; i++) await queue.submit("a", { i });
      let max = 0;
      for (let r = 0; r < 60 && f.spans.length < 24; r++) {
        await f.round(500, false);
        max = Math.max(max, f.running());
        await f.round(0);
      }
      assert.equal(f.spans.length, 24);
      assert.ok(max <= 5 && max > 2, `${max} running at once under a limit of 5`);
    } finally {
      await f.stop();
    }
  });

  it("a worker that gives a slot back claims the type's next task at its next poll, not after its back-off", async () => {
    const { queue, clock } = memQueue({ shardCount: 1 });
    await queue.setLimit("a", { concurrency: 1 });
    const f = fleet(queue, clock, 1);
    const [w] = f.workers;
    try {
      await queue.submitMany([["a", { n: 1 }], ["a", { n: 2 }]]);
      assert.equal((await w!.pollOnce()).claimed, 1, "the first task takes the only slot");
      // The type is full: each look backs the lane off further (0.5, 1, 2, 4 s).
      for (const step of [500, 1000, 2000]) {
        await settle();
        assert.equal((await w!.pollOnce()).claimed, 0, "full: nothing claimed");
        clock.advance(step);
      }
      assert.equal((await w!.pollOnce()).claimed, 0, "still full (the back-off is now 4 s)");
      await f.stop(); // the first task ends: its outcome is written, its slot given back
      assert.equal(f.spans.length, 1, "one task ran");
      assert.equal((await w!.pollOnce()).claimed, 1, "the freed slot is reused at once");
      await f.stop();
      assert.equal(f.spans.length, 2, "both tasks ran");
    } finally {
      await f.stop();
    }
  });

  it("a crashed worker's slot is freed when its lease ends, not before and not never", async () => {
    const { queue, clock, store } = memQueue({ shardCount: 1 });
    await queue.setLimit("a", { concurrency: 1 });
    // The doomed process shares the bucket; once it "dies" every request it makes fails.
    let dead = false;
    const dying = new Proxy(store, {
      get(target, prop) {
        const v = Reflect.get(target, prop, target);
        if (typeof v !== "function") return v;
        return (...args: unknown[]) =>
          dead && prop !== "now" && !String(prop).startsWith("clock")
            ? Promise.reject(new Error("process died"))
            : v.apply(target, args);
      },
    });
    const doomedQueue = new Queue(dying, { warn: () => {}, shardCount: 1 });
    const doomed = new Worker(doomedQueue, "doomed").task("a", () => new Promise<never>(() => {}));
    doomed.configure({ withMonitor: false });
    doomed.on("worker:error", () => {});
    const [t1, t2] = await queue.submitMany([["a", {}], ["a", {}]]);
    assert.equal((await doomed.pollOnce()).claimed, 1);
    dead = true;
    const f = fleet(queue, clock, 1);
    const monitor = new Monitor(queue);
    try {
      const held = [(await queue.get(t1!.id))!, (await queue.get(t2!.id))!].find((t) =>
        t.status === "running"
      )!;
      const leaseEnd = held.leaseExpiresAt!.getTime();
      for (let r = 0; r < 120 && f.spans.length < 2; r++) {
        await f.round(5000);
        await monitor.runOnce();
      }
      const firstStart = Math.min(...f.spans.map((x) => x.start));
      assert.ok(
        firstStart >= leaseEnd && firstStart <= leaseEnd + 60_000,
        `the survivor started ${firstStart - leaseEnd} ms after the crashed worker's lease end`,
      );
      assert.equal(f.spans.length, 2, "both tasks ran after the lease ended");
      for (const t of [t1!, t2!]) assert.equal((await queue.get(t.id))!.status, "completed");
    } finally {
      await f.stop();
    }
  });
});

describe("the rate log (control/rate/{type}.json)", () => {
  it("nextAllowed: half-open window", () => {
    assert.equal(nextAllowed([], 5000, 2, 1000), 5000);
    assert.equal(nextAllowed([4500], 5000, 2, 1000), 5000);
    assert.equal(nextAllowed([4500, 4800], 5000, 2, 1000), 5500);
    assert.equal(nextAllowed([3900, 4800], 5000, 2, 1000), 5000);
  });

  it("admits at most limit starts in any window, across racing processes", async () => {
    const { queue, clock } = memQueue();
    const logs = Array.from({ length: 4 }, () => new RateLog(queue.context, "a"));
    const starts: number[] = [];
    for (let step = 0; step < 40; step++) {
      const rs = await Promise.all(logs.map((l) => l.admit(3, 1000)));
      for (const r of rs) if (r.kind === "admitted") starts.push(r.at);
      clock.advance(100);
    }
    starts.sort((x, y) => x - y);
    for (let i = 3; i < starts.length; i++) {
      assert.ok(starts[i]! - starts[i - 3]! >= 1000, `4 starts within a second at ${starts[i]}`);
    }
    assert.ok(starts.length >= 10, `${starts.length} starts in 4 s at 3/s`);
  });

  it("workers under a rate limit: starts never exceed it in any window; refused tasks spend no attempt", async () => {
    const { queue, clock } = memQueue({ shardCount: 2 });
    await queue.setLimit("a", { ratePerSecond: 2 });
    const f = fleet(queue, clock, 3);
    try {
      const tasks = await queue.submitMany(
        Array.from({ length: 10 }, (_, i) => ["a", { i }] as const),
      );
      for (let r = 0; r < 200 && f.spans.length < 10; r++) await f.round(100);
      assert.equal(f.spans.length, 10);
      const starts = f.spans.map((s) => s.start).sort((x, y) => x - y);
      for (let i = 2; i < starts.length; i++) {
        assert.ok(starts[i]! - starts[i - 2]! >= 1000, `3 starts within a second at ${starts[i]}`);
      }
      for (const t of tasks) assert.equal((await queue.get(t.id))!.attempt, 1);
    } finally {
      await f.stop();
    }
  });
});

describe("cost", () => {
  /** Requests by kind for one worker running `n` tasks of type a (one shard). */
  async function costOf(n: number, limit?: Parameters<Queue["setLimit"]>[1], other = false) {
    const clock = new FakeClock();
    const store = new ClassifyingStore(new MemoryStore({ clock: clock.now }));
    const queue = new Queue(store, { warn: () => {}, shardCount: 1 });
    if (limit) await queue.setLimit(other ? "b" : "a", limit);
    const w = new Worker(queue, "w1").task("a", () => ({ ok: true })).task("b", () => ({}));
    w.configure({ withMonitor: false, concurrency: 1 });
    await queue.submitMany(Array.from({ length: n }, (_, i) => ["a", { i }] as const));
    const before = store.calls();
    for (let r = 0; r < n * 4; r++) {
      await w.pollOnce();
      await w.drain();
      clock.advance(100);
    }
    const after = store.calls();
    const out: Record<string, number> = {};
    for (const [k, v] of Object.entries(after)) {
      const d = v - (before[k] ?? 0);
      if (d) out[k] = d;
    }
    for (const [k, v] of Object.entries(before)) if (!(k in after) && v) out[k] = -v;
    return out;
  }

  it("a type without limits costs exactly what it cost before, even beside a limited type", async () => {
    const plain = await costOf(8);
    const beside = await costOf(8, { concurrency: 1, ratePerSecond: 5 }, true);
    assert.deepEqual(beside, plain);
    assert.ok(
      Object.keys(plain).every((k) => !k.includes("control/slots") && !k.includes("control/rate")),
      'Object.keys(plain).every((k) => !k.includes("control/slots") && !k.includes("control/rate"))',
    );
  });

  it("a limited type pays a few requests per task (counted, and bounded here)", async () => {
    const n = 8;
    const plain = await costOf(n);
    const limited = await costOf(n, { concurrency: 2, ratePerSecond: 100 });
    const extra: Record<string, number> = {};
    for (const k of new Set([...Object.keys(plain), ...Object.keys(limited)])) {
      const d = (limited[k] ?? 0) - (plain[k] ?? 0);
      if (d) extra[k] = d;
    }
    // One worker alone: per task 1 PUT slots (acquire) + 1 PUT slots (release) + 1 PUT rate,
    // plus the GETs of the room checks (one per lane poll that found candidates).
    assert.equal(extra["PUT control/slots"], 2 * n, JSON.stringify(extra));
    assert.equal(extra["PUT control/rate"], n, JSON.stringify(extra));
    assert.ok((extra["GET control/slots"] ?? 0) <= n, JSON.stringify(extra));
    assert.ok((extra["GET control/rate"] ?? 0) <= n, JSON.stringify(extra));
  });
});
