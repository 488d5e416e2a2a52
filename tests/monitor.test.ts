import { describe } from "node:test";
import assert from "node:assert/strict";
import { Monitor } from "../src/monitor/monitor.ts";
import { Worker } from "../src/worker/worker.ts";
import { RequestCounters } from "../src/s3/counters.ts";
import type { Queue } from "../src/queue/queue.ts";
import { FakeClock, it, memQueue, settle, until } from "./helpers.ts";
import { Queue as QueueClass } from "../src/queue/queue.ts";
import { MemoryStore } from "../src/store/memory_store.ts";
import { claimCandidate } from "../src/worker/claim.ts";
import { listLane } from "../src/worker/listing.ts";

/** A worker whose handler never returns (a hung or dead worker), holding `n` claimed tasks. */
async function hang(queue: Queue, type: string, n = 1) {
  const w = new Worker(queue, `hung-${crypto.randomUUID().slice(0, 4)}`).task(
    type,
    () => new Promise(() => {}),
  );
  // Each claim writes its lease entry (the monitor's to find), not indexed by the ready entry.
  w.configure({
    concurrency: n,
    leaseGraceSeconds: 5,
    cancelCheckIntervalMs: 3_600_000,
    leaseEntryAfterMs: 0,
  });
  await w.pollOnce();
  return w;
}

async function versionsUnder(queue: Queue, prefix: string): Promise<number> {
  return (await queue.store.listVersions({ prefix: `${queue.keys.prefix}${prefix}` })).versions
    .length;
}

describe("Monitor", () => {
  it("recovers an expired lease: back to pending with a retry counted, lease entry removed", async () => {
    const { queue, clock } = memQueue({ shardCount: 2 });
    const t = await queue.submit("job", {}, { timeoutSeconds: 30 });
    await hang(queue, "job");
    assert.equal((await queue.get(t.id))?.status, "running");
    const m = new Monitor(queue);
    const early = await m.runOnce({ sweep: false });
    assert.equal(early.recovered, 0, "not before the lease expires");
    assert.ok(early.nextExpiryAt !== null, "early.nextExpiryAt !== null");
    clock.advance(36_000); // timeout 30 s + grace 5 s + the clock margin
    const r = await m.runOnce({ sweep: false });
    assert.equal(r.recovered, 1);
    const cur = await queue.get(t.id);
    assert.equal(cur?.status, "pending");
    assert.equal(cur?.retryCount, 1);
    assert.match(cur?.lastError ?? "", /lease expired/);
    assert.deepEqual(await queue.listReady(t.shard), [], "back-off: not due yet");
    assert.equal(await versionsUnder(queue, "deadlines/"), 0);
    clock.advance(5_000);
    assert.deepEqual(await queue.listReady(t.shard), [t.id]);
  });

  it("dead-letters when retries are exhausted, and honours a cancel request", async () => {
    const { queue, clock } = memQueue({ shardCount: 1 });
    const a = await queue.submit("job", {}, { timeoutSeconds: 10, maxRetries: 0 });
    const b = await queue.submit("job", {}, { timeoutSeconds: 10 });
    await hang(queue, "job", 2);
    await queue.cancel(b.id, { reason: "stop" });
    clock.advance(20_000);
    const r = await new Monitor(queue).runOnce({ sweep: false });
    assert.equal(r.deadLettered, 1);
    assert.equal(r.cancelled, 1);
    assert.equal((await queue.get(a.id))?.status, "failed");
    assert.equal((await queue.get(b.id))?.status, "cancelled");
  });

  it("any number of monitors together recover each task exactly once", async () => {
    const { queue, clock } = memQueue({ shardCount: 2 });
    const tasks = await queue.submitMany(
      Array.from({ length: 6 }, (_, i) => ["job", { i }] as const),
      { timeoutSeconds: 10 },
    );
    await hang(queue, "job", 6);
    clock.advance(20_000);
    const results = await Promise.all(
      Array.from({ length: 5 }, () => new Monitor(queue).runOnce({ sweep: false })),
    );
    assert.equal(results.reduce((n, r) => n + r.recovered, 0), 6);
    for (const t of tasks) assert.equal((await queue.get(t.id))?.retryCount, 1);
  });

  it("removes lease entries that point to finished or missing tasks", async () => {
    const { queue, store, clock } = memQueue({ shardCount: 1 });
    await store.put(queue.keys.deadline("0", clock.ms - 1000, "0-GONE", "lease"), "");
    const r = await new Monitor(queue).runOnce({ sweep: false });
    assert.equal(r.staleEntries, 1);
    assert.equal(await versionsUnder(queue, "deadlines/"), 0);
  });

  it("marks pending tasks expired when their TTL passes, through the expiry index", async () => {
    const { queue, clock } = memQueue({ shardCount: 2 });
    const t = await queue.submit("nobody-handles-this", {}, { ttlSeconds: 10 });
    const keep = await queue.submit("nobody-handles-this", {}, { ttlSeconds: 100 });
    clock.advance(11_000);
    const r = await new Monitor(queue).runOnce({ sweep: false });
    assert.equal(r.expired, 1);
    assert.equal((await queue.get(t.id))?.status, "expired");
    assert.equal((await queue.get(keep.id))?.status, "pending");
    assert.deepEqual(
      await queue.listReady(t.shard, { taskType: "nobody-handles-this" }),
      t.shard === keep.shard ? [keep.id] : [],
    );
    assert.equal(
      await versionsUnder(queue, `deadlines/${t.shard}/`),
      t.shard === keep.shard ? 1 : 0,
    );
  });

  it("the sweep re-creates a lost ready entry and a lost lease entry", async () => {
    const { queue, store, clock } = memQueue({ shardCount: 1 });
    const p = await queue.submit("lost", {});
    const running = await queue.submit("held", {}, { timeoutSeconds: 30 });
    await hang(queue, "held");
    // Someone deletes the index entries behind oq's back (by key: delete markers too).
    for (const v of (await store.listVersions({ prefix: "ready/" })).versions) {
      await store.delete(v.key);
    }
    for (const v of (await store.listVersions({ prefix: "deadlines/" })).versions) {
      await store.delete(v.key);
    }
    const m = new Monitor(queue);
    const young = await m.runOnce({ sweep: true });
    assert.equal(
      young.sweep?.readyRepaired,
      0,
      "objects changed in the last minute may be mid-write: left alone",
    );
    assert.equal(young.sweep?.read, 0, "and not read: a burst of new tasks costs the sweep no GET");
    clock.advance(61_000);
    let repaired = { ready: 0, lease: 0 };
    let recovered = 0;
    for (let i = 0; i < 3; i++) {
      const r = await m.runOnce({ sweep: true });
      repaired = {
        ready: repaired.ready + r.sweep!.readyRepaired,
        lease: repaired.lease + r.sweep!.leaseRepaired,
      };
      recovered += r.recovered;
    }
    assert.deepEqual(repaired, { ready: 1, lease: 1 });
    assert.deepEqual(await queue.listReady("0", { taskType: "lost" }), [p.id]);
    // The repaired lease entry (long expired by now) lets the next lease scan recover it.
    assert.equal(recovered, 1);
    assert.equal((await queue.get(running.id))?.status, "pending");
  });

  it("retention archives, then purges finished tasks with their history", async () => {
    const { queue, store, clock } = memQueue({ shardCount: 1 });
    const w = new Worker(queue, "w").task("job", () => "ok");
    w.configure();
    const t = await queue.submit("job", {});
    await w.pollOnce();
    await w.drain();
    const m = new Monitor(queue, {
      retention: { archiveAfterSeconds: 3600, purgeAfterSeconds: 86_400 },
    });
    clock.advance(3_601_000);
    await m.runOnce({ sweep: true });
    await m.runOnce({ sweep: true });
    assert.equal((await queue.get(t.id))?.status, "archived");
    assert.deepEqual(
      (await queue.list("0")).map((x) => x.id),
      [],
      "archived tasks leave the default listing",
    );
    assert.equal((await queue.list("0", { status: "archived" })).length, 1);
    clock.advance(86_400_000);
    await m.runOnce({ sweep: true });
    await m.runOnce({ sweep: true });
    assert.equal(await queue.get(t.id), null);
    assert.equal(
      (await store.listVersions({ prefix: "tasks/" })).versions.length,
      0,
      "history purged too",
    );
  });

  it("a cycle's cost does not grow with the backlog: 0, 1,000 and 10,000 pending tasks", async () => {
    const costs: number[] = [];
    for (const n of [0, 1000, 10_000]) {
      const { queue, store } = memQueue({ shardCount: 4 });
      await queue.submitMany(Array.from({ length: n }, (_, i) => ["job", { i }] as const));
      await queue.syncLayout(); // written once per bucket, read once per process
      const m = new Monitor(queue);
      const before = store.counters.snapshot();
      const r = await m.runOnce({ sweep: false });
      const used = RequestCounters.diff(store.counters.snapshot(), before);
      costs.push(store.counters.total() - Object.values(before).reduce((a, b) => a + b, 0));
      assert.equal(r.requests, used.LIST_VERSIONS + used.GET + used.PUT);
    }
    console.log(
      `# monitor cycle requests with 0 / 1,000 / 10,000 pending tasks: ${costs.join(" / ")}`,
    );
    assert.equal(costs[0], costs[1]);
    assert.equal(costs[1], costs[2]);
    assert.equal(costs[0], 1, "one LIST of the (small) deadline index for the 4 shards");
  });

  it("a large deadline index: the shards the one page did not reach are listed on their own, then shard by shard", async () => {
    const { queue, store, clock } = memQueue({ shardCount: 4 });
    await queue.syncLayout();
    // Entries due in an hour, 150 in each shard: more than one page of 400 holds.
    const at = clock.now() + 3_600_000;
    for (const shard of queue.shards) {
      for (let i = 0; i < 150; i++) {
        await store.put(queue.keys.deadline(shard, at, `${shard}-t${i}`, "ttl"), "");
      }
    }
    const prefixes: string[] = [];
    const list = store.listVersions.bind(store);
    store.listVersions = (o = {}) => {
      prefixes.push(o.prefix ?? "");
      return list(o);
    };
    const m = new Monitor(queue);
    const r = await m.runOnce({ sweep: false });
    assert.equal(r.shards, 4, "every shard looked at");
    // 400 keys: shards 0 and 1 whole, shard 2 cut: it and shard 3 listed on their own.
    assert.deepEqual(prefixes, ["deadlines/", "deadlines/2/", "deadlines/3/"]);
    assert.equal(r.nextExpiryAt, at);
    prefixes.length = 0;
    await m.runOnce({ sweep: false });
    assert.deepEqual(prefixes, ["deadlines/0/", "deadlines/1/", "deadlines/2/", "deadlines/3/"]);
  });

  it("index churn leaves no versions or delete markers: 2,000 tasks run to completion", async () => {
    const { queue } = memQueue({ shardCount: 4 });
    const w = new Worker(queue, "w").task("job", (i: { fail: boolean }, ctx) => {
      if (i.fail && ctx.attempt === 1) throw new Error("first attempt fails");
      return "ok";
    });
    await queue.submitMany(
      Array.from({ length: 2000 }, (_, i) => ["job", { fail: i % 10 === 0 }] as const),
      {
        retryPolicy: { initialIntervalMs: 0, maxIntervalMs: 0, jitterPercent: 0 },
      },
    );
    for (let round = 0; round < 40; round++) {
      w.configure({ concurrency: 100 });
      const r = await w.pollOnce();
      await w.drain();
      if (r.claimed === 0 && r.listed > 0 && (await queue.stats()).total.ready === 0) break;
    }
    const s = await queue.stats();
    assert.equal(s.total.ready + s.total.running + s.total.scheduled, 0);
    const left = {
      ready: await versionsUnder(queue, "ready/"),
      leases: await versionsUnder(queue, "deadlines/"),
    };
    console.log(
      `# after 2,000 tasks (200 retried once): versions left under ready/ ${left.ready}, deadlines/ ${left.leases}`,
    );
    assert.deepEqual(left, { ready: 0, leases: 0 });
  });
});

describe("Monitor.nudge", () => {
  // Speed-independent: the delays the monitor chooses are recorded, the idle interval is
  // far longer than any test timeout, so a cycle after an idle wait can only be a nudge.
  it("cuts an idle wait short when work starts; busy, it checks every checkIntervalS", async () => {
    const { queue } = memQueue({ shardCount: 1 });
    let busy = false;
    const m = new Monitor(queue, {
      checkIntervalS: 0.05,
      idleCheckIntervalS: 3600,
      activityHint: () => busy,
    });
    let cycles = 0;
    const delays: number[] = [];
    const runOnce = m.runOnce.bind(m);
    m.runOnce = (o) => {
      cycles++;
      return runOnce(o);
    };
    const nextDelayMs = m.nextDelayMs.bind(m);
    m.nextDelayMs = (r) => {
      const d = nextDelayMs(r);
      delays.push(d);
      return d;
    };
    const done = m.run();
    try {
      await until(() => delays.length === 1, 20_000, "the first cycle");
      assert.equal(cycles, 1);
      assert.equal(delays[0], 3_600_000, "an empty, idle queue: the idle wait");
      busy = true;
      m.nudge();
      // Without the nudge the next cycle would come in an hour.
      await until(() => cycles >= 4, 20_000, "cycles after the nudge");
      assert.equal(delays[1], 50, "busy: every checkIntervalS");
      busy = false;
      const n = delays.length;
      await until(() => delays.length > n, 20_000, "a cycle after going idle");
      assert.equal(delays.at(-1), 3_600_000, "idle again: back to the idle wait");
    } finally {
      await m.stop();
      await done;
    }
  });

  it("nudges within checkIntervalS of the last cycle wait for it: one cycle per interval at most", async () => {
    // A worker whose tasks are short goes from idle to busy at every task.
    const clock = new FakeClock();
    const queue = new QueueClass(new MemoryStore({ clock: clock.now }), {
      shardCount: 1,
      warn: () => {},
      clock,
    });
    const m = new Monitor(queue, { checkIntervalS: 15, idleCheckIntervalS: 3600 });
    let cycles = 0;
    const runOnce = m.runOnce.bind(m);
    m.runOnce = (o) => {
      cycles++;
      return runOnce(o);
    };
    const done = m.run();
    try {
      await settle();
      assert.equal(cycles, 1, "the first cycle, then the idle wait");
      for (let i = 0; i < 5; i++) m.nudge();
      await settle();
      assert.equal(cycles, 1, "not before checkIntervalS has passed since that cycle");
      clock.advance(15_000);
      await settle();
      assert.equal(cycles, 2, "one cycle for the five nudges");
      m.nudge();
      clock.advance(14_000);
      await settle();
      assert.equal(cycles, 2, "idle again after it: the next nudge waits too");
      clock.advance(1_000);
      await settle();
      assert.equal(cycles, 3);
    } finally {
      await m.stop();
      await done;
    }
  });

  it("an embedded monitor gone idle recovers a lease once its worker gets busy", async () => {
    // Real time: a task claimed by a worker that dies at once (no execution, no timers).
    const store = new DeadlineListCounter();
    const queue = new QueueClass(store, { shardCount: 1, warn: () => {} });
    const w = new Worker(queue, "ok").task("b", () => new Promise((r) => setTimeout(r, 50)));
    const run = w.run({ pollIntervalMs: 20, maxPollIntervalMs: 50, monitorCheckIntervalS: 0.1 });
    try {
      // The monitor's first cycle found no lease and an idle worker: it waits 5 minutes now.
      await until(() => store.deadlineLists > 0, 20_000, "the monitor's first cycle");
      const listsWhileIdle = store.deadlineLists;
      const a = await queue.submit("job", {}, { timeoutSeconds: 1 });
      const lane = await listLane(queue.context, a.shard, "job", queue.store.now(), 10);
      const r = await claimCandidate(queue.context, lane.candidates[0]!, "dead", 0);
      assert.equal(r.kind, "claimed");
      const leaseEnd = queue.store.now() + 1000;
      await until(() => queue.store.now() > leaseEnd + 100, 20_000, "the lease to end");
      assert.equal((await queue.get(a.id))?.status, "running", "the idle monitor did not look");
      assert.equal(store.deadlineLists, listsWhileIdle, "no monitor cycle while idle");
      await queue.submit("b", {}); // "ok" gets busy: its monitor checks again at once
      await until(async () => (await queue.get(a.id))?.status === "pending", 30_000, "recovery");
    } finally {
      await w.stop();
      await run;
    }
  });
});

/** A memory store that counts the LISTs of the deadline index (one per monitor cycle and shard). */
class DeadlineListCounter extends MemoryStore {
  deadlineLists = 0;
  override listVersions(
    options: Parameters<MemoryStore["listVersions"]>[0] = {},
  ): ReturnType<MemoryStore["listVersions"]> {
    if (options.prefix?.includes("deadlines/")) this.deadlineLists++;
    return super.listVersions(options);
  }
}
