/**
 * The task census (counts by state, type and lane; paged listing) and bulk retry.
 */
import { describe } from "node:test";
import assert from "node:assert/strict";
import { TaskCensus } from "../src/queue/census.ts";
import { it, memQueue } from "./helpers.ts";
import { seedQueue } from "./console_seed.ts";
import { Worker } from "../src/worker/worker.ts";
import { PermanentError } from "../src/worker/handler.ts";

describe("TaskCensus", () => {
  it("counts one task in each state, by type and lane", async () => {
    const s = await seedQueue();
    try {
      const census = new TaskCensus(s.queue);
      const r = await census.refresh();
      assert.equal(r.objects, 7);
      assert.equal(r.read, 7);
      assert.equal(r.unread, 0);
      assert.equal(r.lists, 1, "one LIST of tasks/ for every shard");
      for (const state of ["ready", "scheduled", "running", "completed", "failed"] as const) {
        assert.equal(census.total(state), 1, state);
      }
      assert.equal(census.total("cancelled"), 1);
      assert.equal(census.total("expired"), 1);
      assert.equal(census.total(), 7);
      const failed = census.counts().filter((c) => c.state === "failed");
      assert.deepEqual(failed.map((c) => [c.taskType, c.count]), [["email", 1]]);
      const ready = (await s.queue.get(s.ids.ready))!;
      assert.equal(census.oldestReadyAt?.getTime(), ready.availableAt.getTime());
    } finally {
      await s.close();
    }
  });

  it("a second refresh reads only the objects that changed", async () => {
    const s = await seedQueue();
    try {
      const census = new TaskCensus(s.queue);
      await census.refresh();
      const before = s.store.counters.snapshot();
      const again = await census.refresh();
      assert.equal(again.read, 0);
      assert.equal(s.store.counters.snapshot().GET - before.GET, 0, "no GET when nothing changed");
      await s.queue.retry(s.ids.failed);
      const third = await census.refresh();
      assert.equal(third.read, 1);
      assert.equal(census.total("failed"), 0);
      assert.equal(census.total("ready"), 2);
    } finally {
      await s.close();
    }
  });

  it("light refreshes list only the indexes and read the tasks that moved", async () => {
    const { queue, clock } = memQueue({ shardCount: 2 });
    const w = new Worker(queue, "w").task("t", () => 1);
    w.configure({ concurrency: 4 });
    const seen = await queue.submit("t", { n: 1 });
    const census = new TaskCensus(queue, { fullListIntervalMs: 300_000 });
    assert.equal((await census.refresh()).full, true, "the first refresh is full");
    assert.equal(census.total("ready"), 1);
    // Seen ready, then completed: the light refresh reads it (it left the ready index).
    clock.advance(5000);
    await w.pollOnce();
    await w.drain();
    const missed = await queue.submit("t", { n: 2 });
    clock.advance(5000);
    await w.pollOnce();
    await w.drain();
    assert.equal((await queue.get(missed.id))?.status, "completed");
    const light = await census.refresh();
    assert.equal(light.full, false);
    assert.equal(light.lists, 2, "one LIST of ready/ and one of deadlines/");
    assert.equal(light.read, 1, "only the task that left the index");
    assert.equal(census.total("completed"), 1, "submitted and finished between refreshes: not yet");
    clock.advance(300_000);
    const full = await census.refresh();
    assert.equal(full.full, true, "after fullListIntervalMs");
    assert.equal(full.read, 1);
    assert.equal(census.total("completed"), 2);
    assert.ok(
      census.list({ state: "completed" }).entries.some((e) => e.id === seen.id),
      'census.list({ state: "completed" }).entries.some((e) => e.id === seen.id)',
    );
    // A new task is seen by a light refresh through the ready index.
    await queue.submit("t", { n: 3 });
    clock.advance(1000);
    const l2 = await census.refresh();
    assert.deepEqual([l2.full, l2.read, census.total("ready")], [false, 1, 1]);
    await w.stop({ timeoutMs: 0 });
  });

  it("reads at most maxReadsPerRefresh objects and says how many are left", async () => {
    const { queue } = memQueue({ shardCount: 1 });
    for (let i = 0; i < 5; i++) await queue.submit("t", { i });
    const census = new TaskCensus(queue, { maxReadsPerRefresh: 2 });
    const r1 = await census.refresh();
    assert.deepEqual([r1.read, r1.unread], [2, 3]);
    assert.equal(census.total(), 2);
    await census.refresh();
    const r3 = await census.refresh();
    assert.deepEqual([r3.unread, census.total()], [0, 5]);
    assert.throws(() => new TaskCensus(queue, { maxReadsPerRefresh: 0 }), RangeError);
  });

  it("lists newest first, filtered, in pages with a cursor", async () => {
    const { queue, clock } = memQueue({ shardCount: 2 });
    const ids: string[] = [];
    for (let i = 0; i < 7; i++) {
      ids.push((await queue.submit(i % 2 === 0 ? "even" : "odd", { i })).id);
      clock.advance(1000);
    }
    const census = new TaskCensus(queue);
    await census.refresh();
    const p1 = census.list({ limit: 3 });
    assert.deepEqual(p1.entries.map((e) => e.id), ids.slice(4).reverse());
    assert.equal(p1.matched, 7);
    const p2 = census.list({ limit: 3, cursor: p1.next! });
    const p3 = census.list({ limit: 3, cursor: p2.next! });
    assert.deepEqual(p3.entries.map((e) => e.id), [ids[0]]);
    assert.equal(p3.next, null);
    const even = census.list({ taskType: "even", state: "pending" });
    assert.equal(even.matched, 4);
    assert.deepEqual(census.list({ idPrefix: ids[3] }).entries.map((e) => e.id), [ids[3]]);
    assert.equal(census.list({ shard: "0" }).matched + census.list({ shard: "1" }).matched, 7);
    assert.throws(() => census.list({ cursor: "nonsense" }), TypeError);
  });

  it("an object that is not a task is reported once and left out", async () => {
    const warnings: string[] = [];
    const { queue, store } = memQueue({ shardCount: 1, warn: (m) => void warnings.push(m) });
    await queue.submit("t", {});
    await store.put("tasks/0/0-BROKEN.json", "{not json");
    await store.put("tasks/0/notatask.txt", "x");
    const census = new TaskCensus(queue);
    const r = await census.refresh();
    assert.equal(r.objects, 2);
    assert.equal(r.invalid, 1);
    assert.equal(census.total(), 1);
    await census.refresh();
    assert.equal(warnings.length, 2, warnings.join("\n"));
  });
});

describe("bulk retry", () => {
  it("retryFailed retries every failed task of a type, with progress, and only those", async () => {
    const { queue, clock } = memQueue({ shardCount: 2 });
    const w = new Worker(queue, "w").task("a", () => {
      throw new PermanentError("no");
    }).task("b", () => {
      throw new PermanentError("no");
    });
    const a = await Promise.all([1, 2, 3].map((i) => queue.submit("a", { i })));
    const b = await queue.submit("b", {});
    w.configure({ concurrency: 8 });
    for (let i = 0; i < 4; i++) {
      await w.pollOnce();
      await w.drain();
      clock.advance(1000);
    }
    for (const t of [...a, b]) assert.equal((await queue.get(t.id))?.status, "failed");
    const progress: number[] = [];
    const r = await queue.retryFailed("a", { onProgress: (p) => void progress.push(p.done) });
    assert.deepEqual(r.retried.sort(), a.map((t) => t.id).sort());
    assert.deepEqual(r.skipped, []);
    assert.deepEqual(progress, [3]);
    for (const t of a) assert.equal((await queue.get(t.id))?.status, "pending");
    assert.equal((await queue.get(b.id))?.status, "failed", "another type is left alone");
    await w.stop({ timeoutMs: 0 });
  });

  it("retryMany skips what cannot be retried, with the reason", async () => {
    const { queue } = memQueue({ shardCount: 1 });
    const t = await queue.submit("a", {});
    const r = await queue.retryMany([t.id, "0-MISSING", "bad id"]);
    assert.deepEqual(r.retried, []);
    assert.equal(r.skipped.length, 3);
    assert.match(r.skipped[0]!.reason, /Cannot retry/);
    assert.match(r.skipped[1]!.reason, /not found/);
    assert.match(r.skipped[2]!.reason, /Invalid task id/);
  });
});
