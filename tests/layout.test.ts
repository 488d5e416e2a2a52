// oq-test: timeout=300
/**
 * The bucket's layout (layout.json) and resharding: every process uses the bucket's shard
 * count or refuses with both values named; `reshard` moves pending, delayed and running
 * work out of removed shards while a worker runs, losing and duplicating nothing; processes
 * with an old layout catch up; a process that dies between any two requests of a move
 * leaves nothing lost. On the memory store with an injected clock.
 */
import { describe } from "node:test";
import assert from "node:assert/strict";
import { ConfigError } from "../src/base/errors.ts";
import { LAYOUT_FORMAT } from "../src/protocol/layout.ts";
import { Monitor } from "../src/monitor/monitor.ts";
import { Queue } from "../src/queue/queue.ts";
import { drainLane } from "../src/protocol/lanes.ts";
import { reshard } from "../src/queue/reshard.ts";
import { MemoryStore } from "../src/store/memory_store.ts";
import type { ObjectStore } from "../src/store/types.ts";
import { Worker } from "../src/worker/worker.ts";
import { dyingStore } from "./fixtures/dying_store.ts";
import { FakeClock, it } from "./helpers.ts";

function bucket(clock = new FakeClock()) {
  const store = new MemoryStore({ clock: clock.now });
  const open = (shardCount?: number, s: ObjectStore = store) =>
    new Queue(s, { shardCount, warn: () => {} });
  return { clock, store, open };
}

/** Keys under a prefix (current objects only). */
async function keysUnder(store: ObjectStore, prefix: string): Promise<string[]> {
  const out: string[] = [];
  let token: string | undefined;
  do {
    const page = await store.list({ prefix, continuationToken: token });
    out.push(...page.objects.map((o) => o.key));
    token = page.nextContinuationToken;
  } while (token);
  return out;
}

/** Index entries in shards `from` and up. */
async function entriesInShards(store: ObjectStore, from: number, to: number): Promise<string[]> {
  const out: string[] = [];
  for (let s = from; s < to; s++) {
    out.push(
      ...await keysUnder(store, `ready/${s}/`),
      ...await keysUnder(store, `deadlines/${s}/`),
    );
  }
  return out;
}

describe("bucket layout", () => {
  it("the first process records its shard count; later ones adopt it or refuse", async () => {
    const { store, open } = bucket();
    const q8 = open(8);
    const tasks = await q8.submitMany(
      Array.from({ length: 16 }, (_, i) => ["job", { i }] as const),
    );
    assert.deepEqual(new Set(tasks.map((t) => t.shard)).size, 8);
    const layout = JSON.parse(
      new TextDecoder().decode(((await store.get("layout.json")) as { body: Uint8Array }).body),
    );
    assert.equal(layout.shard_count, 8);
    assert.equal(layout.format, LAYOUT_FORMAT);

    // The case: a worker configured with 4 shards must not start and leave 8 tasks behind.
    const q4 = open(4);
    await assert.rejects(
      q4.syncLayout(),
      (e: unknown) =>
        e instanceof ConfigError && /configured with 4 shards/.test(e.message) &&
        /has 8/.test(e.message) && /oq reshard 4/.test(e.message),
    );
    const w4 = new Worker(q4, "w4").task("job", () => "ran");
    await assert.rejects(w4.pollOnce(), /configured with 4 shards/);
    await assert.rejects(q4.submit("job", {}), /configured with 4 shards/);
    assert.equal((await keysUnder(store, "tasks/")).length, 16, "the refused submit wrote nothing");

    // Without a count, a process uses the bucket's 8 and runs every task.
    const q = open();
    const ran = new Set<string>();
    const w = new Worker(q, "w").task("job", (_i, ctx) => void ran.add(ctx.task.id));
    w.configure({ concurrency: 16 });
    await w.pollOnce();
    await w.drain();
    assert.equal(q.shards.length, 8);
    assert.deepEqual(w.shards, q.shards);
    assert.equal(ran.size, 16);
  });

  it("a bucket used before layouts existed keeps the shards it has", async () => {
    const { store, open } = bucket();
    // Tasks written by an older oq with 8 shards: no layout.json.
    const old = open(8);
    await old.submitMany(Array.from({ length: 16 }, (_, i) => ["job", { i }] as const));
    await store.delete("layout.json");
    await assert.rejects(open(4).syncLayout(), /holds tasks in shards 0-7: configure at least 8/);
    assert.equal((await open().syncLayout()).shards.length, 8);
  });

  it("refuses a bucket of a newer format, and a layout that is not one", async () => {
    const { store, open } = bucket();
    await open().syncLayout();
    const body = JSON.parse(
      new TextDecoder().decode(((await store.get("layout.json")) as { body: Uint8Array }).body),
    );
    await store.put("layout.json", JSON.stringify({ ...body, format: LAYOUT_FORMAT + 1 }));
    await assert.rejects(open().syncLayout(), /storage format 3, newer than this oq understands/);
    await store.put("layout.json", JSON.stringify({ ...body, shard_count: 0 }));
    await assert.rejects(open().syncLayout(), /layout\.json/);
  });

  it("a running process re-reads the layout once per interval: one conditional GET", async () => {
    const { store, clock, open } = bucket();
    const q = open();
    await q.syncLayout();
    const g0 = store.counters.snapshot().GET;
    for (let i = 0; i < 10; i++) await q.submit("job", { i }); // within the interval: no request
    assert.equal(store.counters.snapshot().GET - g0, 0);
    clock.advance(60_000);
    await q.submit("job", {});
    await q.submit("job", {});
    assert.equal(store.counters.snapshot().GET - g0, 1, "one re-check per minute");
    assert.equal(q.layoutRequests, 1 + 3 + 1 + 1, "creation (GET, 3 LISTs, PUT) and one re-check");
  });
});

describe("reshard", () => {
  it("8 -> 4 with tasks in every state and a worker running: nothing lost, nothing run twice", async () => {
    const { store, clock, open } = bucket();
    const q = open(8);
    const runs = new Map<string, number>();
    const count = (id: string) => runs.set(id, (runs.get(id) ?? 0) + 1);
    // Finished tasks: completed and failed.
    const done = new Worker(q, "done")
      .task("quick", (_i, ctx) => void count(ctx.task.id))
      .task("bad", (_i, ctx) => {
        count(ctx.task.id);
        throw new Error("always fails");
      });
    const finished = await q.submitMany([
      ...Array.from({ length: 8 }, (_, i) => ["quick", { i }] as const),
      ...Array.from({ length: 8 }, (_, i) => ["bad", { i }, { maxRetries: 0 }] as const),
    ]);
    done.configure({ concurrency: 16 });
    await done.pollOnce();
    await done.drain();
    // Pending now, delayed, with a TTL, cancelled, idempotent, and running (held open).
    const ready = await q.submitMany(Array.from({ length: 16 }, (_, i) => ["job", { i }] as const));
    const delayed = await q.submitMany(
      Array.from({ length: 16 }, (_, i) => ["job", { d: i }, { delaySeconds: 3600 }] as const),
    );
    const ttl = await q.submitMany(
      Array.from({ length: 8 }, (_, i) => ["job", { t: i }, { ttlSeconds: 36_000 }] as const),
    );
    const cancelled = await q.submitMany(
      Array.from({ length: 8 }, (_, i) => ["job", { c: i }] as const),
    );
    for (const t of cancelled) await q.cancel(t.id);
    const keyed = await q.submit("job", { k: 1 }, { idempotencyKey: "order-42" });
    const slow = await q.submitMany(Array.from({ length: 8 }, (_, i) => ["slow", { i }] as const));
    // A worker with its own Queue (its own copy of the layout) runs the slow tasks and holds them.
    const qw = open();
    let release = () => {};
    const held = new Promise<void>((r) => (release = r));
    const slowWorker = new Worker(qw, "w-slow").task("slow", async (_i, ctx) => {
      count(ctx.task.id);
      await held;
      return "slow done";
    });
    slowWorker.configure({ concurrency: 8 });
    await slowWorker.pollOnce(); // claims the 8 slow tasks and holds them
    assert.equal(slowWorker.inFlight.length, 8);
    // Another worker on the same (old) copy of the layout runs the rest after the reshard.
    const worker = new Worker(qw, "w").task("job", (_i, ctx) => void count(ctx.task.id));
    const lanesBefore = new Set([...ready, ...delayed, ...ttl, ...slow].map((t) => t.shard));
    assert.ok([4, 5, 6, 7].every((s) => lanesBefore.has(String(s))), "work in every removed shard");

    const r = await reshard(q, 4, { wait: false });
    assert.equal(r.from, 8);
    assert.equal(r.to, 4);
    assert.deepEqual(r.retired, ["4", "5", "6", "7"]);
    const inRetired = (xs: { shard: string }[]) => xs.filter((t) => Number(t.shard) >= 4).length;
    assert.equal(
      r.drained.movedPending,
      inRetired(ready) + inRetired(delayed) + inRetired(ttl) + (Number(keyed.shard) >= 4 ? 1 : 0),
    );
    assert.equal(r.drained.movedRunning, inRetired(slow));
    assert.deepEqual(await entriesInShards(store, 4, 8), [], "nothing left in removed shards");
    for (const t of [...ready, ...delayed, ...ttl, ...slow, keyed]) {
      const now = (await q.get(t.id))!; // the object did not move: get is still one GET by id
      assert.ok(Number(now.shard) < 4, `${t.id} is in a current shard`);
    }

    // The held tasks finish under the worker that claimed them (their writes meet the move's
    // ETag change, re-read, and go on).
    release();
    await slowWorker.drain();
    for (const t of slow) {
      const now = (await q.get(t.id))!;
      assert.equal(now.status, "completed");
      assert.equal(now.attempt, 1, "not run again");
    }
    // The worker, still on the old layout, polls all 8 shards and finds the moved tasks; it
    // learns the new layout within the check interval.
    worker.configure({ concurrency: 64 });
    await worker.pollOnce();
    await worker.drain();
    assert.equal(worker.shards.length, 8);
    clock.advance(60_000);
    await worker.pollOnce();
    assert.deepEqual(worker.shards, ["0", "1", "2", "3"]);
    for (let i = 0; i < 6; i++) {
      worker.configure({ concurrency: 64 });
      await worker.pollOnce();
      await worker.drain();
      clock.advance(1_800_000);
    }
    const monitor = new Monitor(q);
    await monitor.runOnce({ sweep: true });
    for (const t of [...ready, ...delayed, ...ttl, keyed]) {
      assert.equal((await q.get(t.id))!.status, "completed", t.id);
      assert.equal(runs.get(t.id), 1, `${t.id} ran once`);
    }
    for (const t of slow) assert.equal(runs.get(t.id), 1);
    for (const t of cancelled) assert.equal((await q.get(t.id))!.status, "cancelled");
    for (const t of finished) {
      assert.ok(
        ["completed", "failed"].includes((await q.get(t.id))!.status),
        '["completed", "failed"].includes((await q.get(t.id))!.status)',
      );
      assert.equal(runs.get(t.id), 1);
    }
    // An idempotency key names the same task after the reshard.
    const again = await q.submit("job", { k: 1 }, { idempotencyKey: "order-42" });
    assert.equal(again.id, keyed.id);
    // A retried task from a removed shard comes back in a current one.
    const failed = finished.find((t) => t.taskType === "bad" && Number(t.shard) >= 4)!;
    const retried = await q.retry(failed.id);
    assert.ok(Number(retried.shard) < 4, "Number(retried.shard) < 4");
    assert.deepEqual(await entriesInShards(store, 4, 8), []);
    // Every task object is still listed and counted (home shards include the retired ones).
    const stats = await q.stats();
    assert.equal(stats.total.tasks, (await keysUnder(store, "tasks/")).length);
    assert.deepEqual(Object.keys(stats.shards).sort(), ["0", "1", "2", "3", "4", "5", "6", "7"]);
    assert.ok(
      (await q.list("6", { limit: 1000 })).length > 0,
      '(await q.list("6", { limit: 1000 })).length > 0',
    );
  });

  it("growing moves nothing; new work spreads over every shard", async () => {
    const { open } = bucket();
    const q = open(2);
    const before = await q.submitMany(Array.from({ length: 4 }, (_, i) => ["job", { i }] as const));
    const r = await reshard(q, 6, { wait: false });
    assert.deepEqual([r.from, r.to, r.retired, r.drained.movedPending], [2, 6, [], 0]);
    for (const t of before) assert.equal((await q.get(t.id))!.shard, t.shard);
    const after = await q.submitMany(Array.from({ length: 12 }, (_, i) => ["job", { i }] as const));
    assert.equal(new Set(after.map((t) => t.shard)).size, 6);
    const again = await reshard(q, 6, { wait: false });
    assert.equal(again.changed, false);
    await assert.rejects(reshard(q, 0), /Invalid shard count: 0 \(an integer from 1 to 256\)/);
    await assert.rejects(reshard(q, 257), /Invalid shard count/);
  });

  it("a producer that has not re-read the layout yet: the second pass moves what it added", async () => {
    const { store, clock, open } = bucket();
    const q = open(8);
    await q.syncLayout();
    const stale = open();
    await stale.syncLayout(); // 8 shards, re-read only after a minute
    const late: string[] = [];
    const r = await reshard(q, 2, {
      sleep: async (ms) => {
        // While the command waits, the stale producer submits into removed shards.
        for (let i = 0; i < 12; i++) late.push((await stale.submit("job", { i })).id);
        clock.advance(ms);
      },
    });
    assert.ok(r.passes >= 2, "r.passes >= 2");
    assert.ok(r.drained.movedPending > 0, "some of the late tasks were in removed shards");
    assert.deepEqual(await entriesInShards(store, 2, 8), []);
    const w = new Worker(q, "w").task("job", () => "ok");
    w.configure({ concurrency: 16 });
    await w.pollOnce();
    await w.drain();
    for (const id of late) assert.equal((await q.get(id))!.status, "completed");
  });

  it("the monitor's sweep moves what a stale process added after the command ended", async () => {
    const { store, clock, open } = bucket();
    const q = open(4);
    await q.syncLayout();
    const stale = open();
    await stale.syncLayout();
    await reshard(q, 1, { wait: false });
    // One by one, round robin over the 4 shards it knows (calls made together would share
    // one lane, which may be the one kept).
    const late = [];
    for (let i = 0; i < 8; i++) late.push(await stale.submit("job", { i }));
    // And four groups of calls made together: one batch entry each, a lane each in turn.
    for (let g = 0; g < 4; g++) {
      late.push(...await Promise.all([1, 2, 3].map((i) => stale.submit("job", { g, i }))));
    }
    assert.equal(new Set(late.slice(8).map((t) => t.shard)).size, 4, "groups over every lane");
    assert.ok(late.some((t) => t.shard !== "0"), 'late.some((t) => t.shard !== "0")');
    clock.advance(120_000); // past the orphan age: the entries are not mid-submit any more
    const monitor = new Monitor(q);
    let moved = 0;
    for (let i = 0; i < 8; i++) {
      const r = await monitor.runOnce({ sweep: true });
      moved += r.sweep?.moved ?? 0;
    }
    assert.equal(moved, late.filter((t) => t.shard !== "0").length);
    assert.deepEqual(await entriesInShards(store, 1, 4), []);
    const w = new Worker(q, "w").task("job", () => "ok");
    w.configure({ concurrency: 16 });
    for (let round = 0; round < 3; round++) {
      await w.pollOnce();
      await w.drain();
    }
    for (const t of late) assert.equal((await q.get(t.id))!.status, "completed");
  });

  it("an entry whose task is not written yet (a submit in progress) is kept, not dropped", async () => {
    const { store, clock, open } = bucket();
    const q = open(4);
    await q.syncLayout();
    await reshard(q, 2, { wait: false });
    // What a stale producer leaves between its two writes: the ready entry, not yet the task.
    await store.put("ready/3/job/20261122T120000.000Z/3-01JDAAAAAAAAAAAAAAAAAAAAAA", "");
    let d = await drainLane(q.context, "3");
    assert.deepEqual([d.kept, d.removed], [1, 0]);
    clock.advance(120_000);
    d = await drainLane(q.context, "3");
    assert.deepEqual([d.kept, d.removed], [0, 1], "an orphan past the orphan age is removed");
  });

  it("a process dying after any request of a reshard loses nothing and runs nothing twice", async () => {
    for (let n = 1; n < 120; n++) {
      const { store, clock, open } = bucket();
      const q = open(4);
      const tasks = await q.submitMany(
        Array.from({ length: 8 }, (_, i) => ["job", { i }, { ttlSeconds: 36_000 }] as const),
      );
      const runs = new Map<string, number>();
      let release = () => {};
      const held = new Promise<void>((r) => (release = r));
      const slowWorker = new Worker(open(), "slow").task("slow", async (_i, ctx) => {
        runs.set(ctx.task.id, (runs.get(ctx.task.id) ?? 0) + 1);
        await held;
      });
      const slow = await q.submitMany(
        Array.from({ length: 4 }, (_, i) => ["slow", { i }] as const),
      );
      slowWorker.configure({ concurrency: 4 });
      await slowWorker.pollOnce();
      const dying = open(undefined, dyingStore(store, n));
      const died = await reshard(dying, 2, { wait: false }).then(() => false, () => true);
      // A healthy operator runs the command again; the held tasks finish; workers run the rest.
      await reshard(q, 2, { wait: false });
      release();
      await slowWorker.drain();
      const w = new Worker(q, "w").task("job", (_i, ctx) => {
        runs.set(ctx.task.id, (runs.get(ctx.task.id) ?? 0) + 1);
      });
      const monitor = new Monitor(q);
      for (let round = 0; round < 4; round++) {
        clock.advance(400_000);
        await monitor.runOnce({ sweep: true });
        w.configure({ concurrency: 16 });
        await w.pollOnce();
        await w.drain();
      }
      for (const t of [...tasks, ...slow]) {
        const now = (await q.get(t.id))!;
        assert.equal(now.status, "completed", `n=${n}: ${t.id} ${now.status}`);
        assert.equal(runs.get(t.id), 1, `n=${n}: ${t.id} ran once`);
      }
      assert.deepEqual(await entriesInShards(store, 2, 4), [], `n=${n}: removed shards empty`);
      if (!died) {
        console.log(`# reshard crash matrix: every one of the ${n - 1} crash points checked`);
        return;
      }
    }
    assert.fail("the reshard never completed within 120 requests");
  });
});
