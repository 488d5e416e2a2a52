// oq-test: runtimes=node,bun,deno timeout=300
/**
 * Lease groups (src/protocol/lease_groups.ts, src/worker/group_leases.ts): the claims a
 * worker makes from one listing of a lane share one deadline entry instead of one lease
 * entry each. What must hold: the entry is written before any claim under it and goes
 * once the last of its tasks ends; a worker that dies under a group has each of its tasks
 * recovered by the monitor; leases a group cannot cover get their own entries; and every
 * reader of the deadline index (monitor, sweep, stats, census, reshard) understands groups.
 */
import { describe } from "node:test";
import assert from "node:assert/strict";
import { Monitor } from "../src/monitor/monitor.ts";
import { MemoryStore } from "../src/store/memory_store.ts";
import type { GetOptions, PutOptions, PutResult } from "../src/store/types.ts";
import { TransientStoreError } from "../src/base/errors.ts";
import { Queue as QueueClass } from "../src/queue/queue.ts";
import { reshard } from "../src/queue/reshard.ts";
import { TaskCensus } from "../src/queue/census.ts";
import type { Queue } from "../src/queue/queue.ts";
import { Worker } from "../src/worker/worker.ts";
import { firstIds } from "../src/worker/group_leases.ts";
import type { Candidate } from "../src/worker/claim.ts";
import { FakeClock, it, memQueue } from "./helpers.ts";

async function deadlineKeys(queue: Queue): Promise<string[]> {
  const page = await queue.store.listVersions({ prefix: `${queue.keys.prefix}deadlines/` });
  return page.versions.map((v) => v.key);
}

const kinds = (keys: string[]) => keys.map((k) => k.slice(k.lastIndexOf(".") + 1)).sort();

/** A one-shard queue (30 s timeouts) over a store a test has wrapped. */
const queueOn = (store: MemoryStore): Queue =>
  new QueueClass(store, { shardCount: 1, defaultTimeoutSeconds: 30, warn: () => {} });

/** Workers a test started: each test stops its own in `finally` (see `cleanup`). */
const started: Array<{ w: Worker; release: () => void }> = [];

async function cleanup(): Promise<void> {
  for (const s of started.splice(0)) {
    s.release();
    await s.w.stop({ timeoutMs: 1000 });
  }
}

/** Let the held handlers end: then no deadline entry is left, and the worker stops. */
async function finish(queue: Queue, w: Worker, release: () => void): Promise<void> {
  release();
  await w.drain();
  assert.deepEqual(await deadlineKeys(queue), [], "no deadline entry left");
  await w.stop();
}

/** A worker whose handlers wait until `release()`; it claims what one poll finds. */
async function holding(queue: Queue, n: number, id = "w1") {
  let release = () => {};
  const held = new Promise<void>((r) => (release = r));
  const w = new Worker(queue, id).task("job", async () => {
    await held;
    return "done";
  });
  w.configure({
    concurrency: n,
    leaseGraceSeconds: 5,
    cancelCheckIntervalMs: 3_600_000,
    leaseEntryAfterMs: 0, // lease entries at the claim: groups
  });
  started.push({ w, release: () => release() });
  const r = await w.pollOnce();
  return { w, claimed: r.claimed, release };
}

describe("lease groups", () => {
  it("a new group names the first candidates of the listing, read no further than it needs", () => {
    let read = 0;
    const cs = Array.from(
      { length: 5000 },
      (_, i) => ({ entry: { taskId: `t${i}` } }) as Candidate,
    );
    const keep = (c: Candidate) => (read++, c.entry.taskId !== "t1");
    assert.deepEqual(firstIds(cs, keep, 3), ["t0", "t2", "t3"]);
    assert.equal(read, 4, "stops once it has enough");
    assert.deepEqual(
      firstIds(cs.slice(0, 2), keep, 100),
      ["t0"],
      "fewer when the listing has fewer",
    );
  });

  it("the claims of one listing share one entry, deleted once the last task ends", async () => {
    try {
      const { queue, store } = memQueue({ shardCount: 1, defaultTimeoutSeconds: 60 });
      const tasks = await queue.submitMany(Array.from({ length: 5 }, () => ["job", {}] as const));
      const census = new TaskCensus(queue);
      await census.refresh({ full: true });
      const p0 = store.counters.snapshot().PUT;
      const { w, claimed, release } = await holding(queue, 5);
      assert.equal(claimed, 5);
      assert.equal(store.counters.snapshot().PUT - p0, 6, "one group entry and five claims");
      const keys = await deadlineKeys(queue);
      assert.deepEqual(kinds(keys), ["group"], "one entry covers the five leases");
      for (const t of tasks) {
        const rec = (await queue.context.tasks.read(t.id))!.rec;
        assert.equal(rec.status, "running");
        assert.ok(rec.lease_group, "the task names its group");
        assert.equal(queue.context.tasks.leaseKey(rec), keys[0]);
        assert.ok(
          Date.parse(rec.lease_expires_at!) <= queue.keys.parseDeadline(keys[0]!)!.at,
          "the lease ends by the group's time",
        );
      }
      assert.equal((await queue.stats()).total.running, 5, "stats counts the group's tasks");
      await census.refresh({ full: false }); // from the indexes: the group's tasks lost their ready entries
      assert.equal(census.total("running"), 5, "so does the census");
      release();
      await w.drain();
      assert.deepEqual(await deadlineKeys(queue), [], "the group went with its last task");
      for (const t of tasks) {
        const done = (await queue.context.tasks.read(t.id))!.rec;
        assert.equal(done.status, "completed");
        assert.equal(done.lease_group, undefined, "the outcome leaves the group behind");
      }
      await w.stop();
    } finally {
      await cleanup();
    }
  });

  it("a worker dying under a group: the monitor recovers each task once its lease ended", async () => {
    try {
      const { queue, clock } = memQueue({ shardCount: 1, defaultTimeoutSeconds: 30 });
      const tasks = await queue.submitMany(Array.from({ length: 3 }, () => ["job", {}] as const));
      const { claimed } = await holding(queue, 3); // never released: the worker is gone
      assert.equal(claimed, 3);
      assert.deepEqual(kinds(await deadlineKeys(queue)), ["group"]);
      const m = new Monitor(queue);
      clock.advance(30_000);
      assert.equal((await m.runOnce({ sweep: false })).recovered, 0, "not before the leases end");
      clock.advance(10_000); // lease 30 + 5 s, group time 2 s later
      const r = await m.runOnce({ sweep: false });
      assert.equal(r.recovered, 3);
      assert.deepEqual(await deadlineKeys(queue), [], "the group's entry is gone");
      for (const t of tasks) {
        const cur = await queue.get(t.id);
        assert.equal(cur?.status, "pending");
        assert.match(cur?.lastError ?? "", /lease expired/);
      }
      // The survivors run them.
      clock.advance(120_000);
      const w = new Worker(queue, "w2").task("job", () => "ok");
      w.configure({ concurrency: 3, leaseEntryAfterMs: 0 });
      await w.pollOnce();
      await w.drain();
      for (const t of tasks) assert.equal((await queue.get(t.id))?.status, "completed");
      await w.stop();
    } finally {
      await cleanup();
    }
  });

  it("a named task the monitor cannot read now keeps the group's entry; the others are recovered", async () => {
    class Unreadable extends MemoryStore {
      failing = new Set<string>();
      override get(key: string, options?: GetOptions) {
        if (this.failing.has(key)) {
          return Promise.reject(
            new TransientStoreError("SlowDown", { operation: "GetObject", key, status: 503 }),
          );
        }
        return super.get(key, options);
      }
    }
    const clock = new FakeClock();
    const store = new Unreadable({ clock: clock.now });
    const queue = queueOn(store);
    try {
      const tasks = await queue.submitMany(Array.from({ length: 3 }, () => ["job", {}] as const));
      const { claimed } = await holding(queue, 3); // never released: the worker is gone
      assert.equal(claimed, 3, "three claims under one group");
      store.failing.add(queue.keys.task(tasks[1]!.id));
      const m = new Monitor(queue);
      const errors: Error[] = [];
      m.events.on("monitor:error", ({ error }) => void errors.push(error));
      clock.advance(40_000); // past the leases (30 + 5 s) and the group's time
      const r = await m.runOnce({ sweep: false });
      assert.equal(r.recovered, 2, "the readable tasks are recovered in the same cycle");
      assert.equal(errors.length, 1, "the failed read is reported");
      assert.ok(errors[0] instanceof TransientStoreError, "as the store's error");
      assert.equal((await queue.get(tasks[0]!.id))?.status, "pending", "first task recovered");
      assert.equal((await queue.get(tasks[2]!.id))?.status, "pending", "third task recovered");
      assert.deepEqual(kinds(await deadlineKeys(queue)), ["group"], "the entry stays for the rest");
      store.failing.clear();
      assert.equal((await m.runOnce({ sweep: false })).recovered, 1, "the next cycle ends it");
      assert.equal((await queue.get(tasks[1]!.id))?.status, "pending", "second task recovered");
      assert.deepEqual(await deadlineKeys(queue), [], "then the entry goes");
    } finally {
      await cleanup();
    }
  });

  it("a lease the group cannot cover (longer, or much shorter than the first claim's) gets its own entry", async () => {
    try {
      const { queue } = memQueue({ shardCount: 1, defaultTimeoutSeconds: 60 });
      // The group is sized by the first claim to reach its task write: the usual task's
      // (its priority puts it first in the batch; the memory store answers in order).
      const usual = await queue.submit("job", {}, { priority: 1 });
      const long = await queue.submit("job", {}, { timeoutSeconds: 3600 });
      const short = await queue.submit("job", {}, { timeoutSeconds: 1 });
      const { w, claimed, release } = await holding(queue, 3);
      assert.equal(claimed, 3);
      assert.deepEqual(kinds(await deadlineKeys(queue)), ["group", "lease", "lease"]);
      const rec = async (id: string) => (await queue.context.tasks.read(id))!.rec;
      assert.ok((await rec(usual.id)).lease_group, "the usual lease is the group's");
      assert.equal((await rec(long.id)).lease_group, undefined);
      assert.equal((await rec(short.id)).lease_group, undefined);
      await finish(queue, w, release);
    } finally {
      await cleanup();
    }
  });

  it("extending a lease moves it to its own entry; the group goes with the others", async () => {
    try {
      const { queue } = memQueue({ shardCount: 1, defaultTimeoutSeconds: 60 });
      const [a, b] = await queue.submitMany([["job", { extend: true }], ["job", {}]]);
      let release = () => {};
      const held = new Promise<void>((r) => (release = r));
      let extended = () => {};
      const didExtend = new Promise<void>((r) => (extended = r));
      const w = new Worker(queue, "w1").task("job", async (input: { extend?: boolean }, ctx) => {
        if (input.extend) {
          await ctx.extendLease(600);
          extended();
        }
        await held;
        return "done";
      });
      w.configure({ concurrency: 2, leaseEntryAfterMs: 0 });
      started.push({ w, release: () => release() });
      await w.pollOnce();
      await didExtend;
      assert.equal((await queue.context.tasks.read(a!.id))!.rec.lease_group, undefined);
      assert.ok((await queue.context.tasks.read(b!.id))!.rec.lease_group, "b stays in the group");
      assert.deepEqual(kinds(await deadlineKeys(queue)), ["group", "lease"]);
      await finish(queue, w, release);
    } finally {
      await cleanup();
    }
  });

  it("the sweep writes a group entry again when it was deleted from outside", async () => {
    try {
      const { queue, clock, store } = memQueue({ shardCount: 1, defaultTimeoutSeconds: 300 });
      const tasks = await queue.submitMany([["job", {}], ["job", {}]]);
      await holding(queue, 2);
      const [key] = await deadlineKeys(queue);
      for (const v of (await store.listVersions({ prefix: key! })).versions) {
        await store.delete(v.key, { versionId: v.versionId });
      }
      clock.advance(61_000); // past the sweep's settle time
      const m = new Monitor(queue);
      const r = await m.runOnce({ sweep: true });
      assert.equal(r.sweep?.leaseRepaired, 2);
      assert.deepEqual(
        [...new Set(await deadlineKeys(queue))],
        [key],
        "the same entry, naming both tasks (the monitor removes its older version)",
      );
      clock.advance(400_000);
      assert.equal((await m.runOnce({ sweep: false })).recovered, 2);
      for (const t of tasks) assert.equal((await queue.get(t.id))?.status, "pending");
    } finally {
      await cleanup();
    }
  });

  it("a reshard that retires a lane moves the tasks of its groups", async () => {
    try {
      const { queue, clock } = memQueue({ shardCount: 2, defaultTimeoutSeconds: 60 });
      const tasks = await queue.submitMany(Array.from({ length: 12 }, () => ["job", {}] as const));
      const inLane1 = tasks.filter((t) => t.shard === "1");
      assert.ok(inLane1.length >= 2, "work in the lane to retire");
      const { w, claimed, release } = await holding(queue, 12);
      assert.equal(claimed, 12);
      assert.ok(
        (await deadlineKeys(queue)).some((k) =>
          k.startsWith("deadlines/1/") && k.endsWith(".group")
        ),
        "a group in the lane to retire",
      );
      const r = await reshard(queue, 1, { wait: false });
      assert.equal(r.drained.movedRunning, inLane1.length);
      assert.deepEqual(
        (await deadlineKeys(queue)).filter((k) => k.startsWith("deadlines/1/")),
        [],
        "nothing left in the retired lane",
      );
      for (const t of inLane1) {
        const rec = (await queue.context.tasks.read(t.id))!.rec;
        assert.equal(rec.shard, "0");
        assert.equal(rec.lease_group, undefined, "its own entry in the new lane");
      }
      release();
      await w.drain();
      for (const t of tasks) assert.equal((await queue.get(t.id))?.status, "completed");
      // As for any moved lease, the worker deleted the entry it knew (here: its group's), and
      // the monitor removes the new ones as stale once their time passes.
      clock.advance(120_000);
      await new Monitor(queue).runOnce({ sweep: false });
      assert.deepEqual(await deadlineKeys(queue), []);
      await w.stop();
    } finally {
      await cleanup();
    }
  });
  it("a worker configured again keeps its groups until their tasks end, then deletes them", async () => {
    const { queue } = memQueue({ shardCount: 1, defaultTimeoutSeconds: 60 });
    const releases: Array<() => void> = [];
    const w = new Worker(queue, "w1").task(
      "job",
      () => new Promise((r) => releases.push(() => r("ok"))),
    );
    started.push({ w, release: () => releases.forEach((r) => r()) });
    try {
      await queue.submitMany(Array.from({ length: 3 }, () => ["job", {}] as const));
      w.configure({ concurrency: 3, leaseEntryAfterMs: 0 });
      assert.equal((await w.pollOnce()).claimed, 3);
      w.configure({ concurrency: 3, leaseEntryAfterMs: 0 }); // a new poller: the old one's group is closed, not dropped
      // Wait (bounded) for what the handlers and the worker do, not for a time.
      const waitFor = async (ok: () => boolean) => {
        for (let i = 0; i < 2000 && !ok(); i++) await new Promise((r) => setTimeout(r, 1));
        assert.ok(ok(), "reached");
      };
      await waitFor(() => releases.length === 3);
      releases[0]!();
      await waitFor(() => w.inFlight.length === 2); // its outcome written, its lease given up
      assert.deepEqual(kinds(await deadlineKeys(queue)), ["group"], "two tasks still run under it");
      releases[1]!();
      releases[2]!();
      await w.drain();
      assert.deepEqual(await deadlineKeys(queue), [], "gone with its last task");
      assert.equal((await queue.stats()).total.running, 0, "and stats counts nothing running");
    } finally {
      await cleanup();
    }
  });

  it("a claim whose task write landed but whose answer was lost keeps the group's entry for the monitor", async () => {
    /**
     * The first claim write (a task PUT with If-Match) lands, then fails: an answer lost for
     * good (the client's retries, which would find the write landed, spent).
     */
    class LostAnswer extends MemoryStore {
      armed = true;
      override async put(
        key: string,
        body: Uint8Array | string,
        options?: PutOptions,
      ): Promise<PutResult> {
        const r = await super.put(key, body, options);
        if (this.armed && /(^|\/)tasks\//.test(key) && options?.ifMatch !== undefined) {
          this.armed = false;
          // Not retryable: the claim sees an error after its write landed (retries spent).
          throw new Error("the answer was lost");
        }
        return r;
      }
    }
    const clock = new FakeClock();
    const store = new LostAnswer({ clock: clock.now });
    const queue = queueOn(store);
    try {
      const tasks = await queue.submitMany(Array.from({ length: 3 }, () => ["job", {}] as const));
      const { w, claimed, release } = await holding(queue, 3);
      w.on("worker:error", () => {});
      assert.equal(claimed, 2, "two claims answered; the third's answer was lost");
      release();
      await w.drain();
      const running = [];
      for (const t of tasks) {
        if ((await queue.get(t.id))?.status === "running") running.push(t.id);
      }
      assert.equal(
        running.length,
        1,
        "the lost answer's task runs under the group, unknown to its worker",
      );
      assert.deepEqual(kinds(await deadlineKeys(queue)), ["group"], "so the group's entry stays");
      await w.stop();
      const m = new Monitor(queue);
      clock.advance(40_000); // past the lease (30 + 5 s) and the group's time
      assert.equal((await m.runOnce({ sweep: false })).recovered, 1, "the monitor recovers it");
      assert.equal((await queue.get(running[0]!))?.status, "pending");
      assert.deepEqual(await deadlineKeys(queue), [], "then the entry goes");
    } finally {
      await cleanup();
    }
  });
});
