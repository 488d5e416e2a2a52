// oq-test: runtimes=node,bun,deno timeout=300
/**
 * Batch entries (src/protocol/ready_batches.ts, src/worker/batch_entries.ts): the tasks of
 * one submitMany that share a lane, a due time and a priority share one ready entry. What
 * must hold: the entry is written before its tasks; a task leaves it for good (claimed under
 * a lease group, retried, cancelled, gone) and nobody deletes it for one task; a worker
 * deletes it once it has seen every named task leave; the sweep gives a task whose batch
 * entry is missing an entry of its own; readers (stats, peek, cancelByType, reshard) count
 * the named tasks. And the cost: k tasks, k + ⌈k/100⌉ PUTs to submit, 2 PUTs each to run
 * and no GET (tests/batch_claims.test.ts).
 */
import { describe } from "node:test";
import assert from "node:assert/strict";
import { Monitor } from "../src/monitor/monitor.ts";
import { RequestCounters } from "../src/s3/counters.ts";
import { writeBatchEntry } from "../src/protocol/ready_batches.ts";
import { newTaskRecord, PROBE_PLACEMENT } from "../src/task/new_task.ts";
import * as transitions from "../src/task/transitions.ts";
import { RetryableError } from "../src/worker/handler.ts";
import { Worker } from "../src/worker/worker.ts";
import { TaskCensus } from "../src/queue/census.ts";
import { claimCandidate } from "../src/worker/claim.ts";
import { ClassifyingStore } from "../harness/classifying_store.ts";
import { Queue } from "../src/queue/queue.ts";
import { MemoryStore } from "../src/store/memory_store.ts";
import { FakeClock, it, memQueue } from "./helpers.ts";

const readyKeys = async (
  q: { store: { list(o: { prefix: string }): Promise<{ objects: { key: string }[] }> } },
) => (await q.store.list({ prefix: "ready/" })).objects.map((o) => o.key);

describe("batch entries", () => {
  it("250 tasks: 3 batch entries, 253 PUTs to submit; one worker runs them with 2 PUTs each and deletes the entries", async () => {
    const clock = new FakeClock();
    const store = new ClassifyingStore(new MemoryStore({ clock: clock.now }));
    const queue = new Queue(store, { warn: () => {}, shardCount: 1 });
    await queue.syncLayout();
    const s0 = store.counters.snapshot();
    const tasks = await queue.submitMany(
      Array.from({ length: 250 }, (_, i) => ["email", { i }] as const),
    );
    const s1 = store.counters.snapshot();
    const submit = RequestCounters.diff(s1, s0);
    assert.equal(submit.PUT, 250 + 3 + 2, "a PUT per task, one per batch entry, two signals");
    const keys = await readyKeys(queue);
    assert.equal(keys.length, 3);
    assert.ok(keys.every((k) => /\/batch\.[0-9A-Z]{26}$/.test(k)), keys.join(" "));
    assert.equal((await queue.stats()).total.ready, 250, "stats counts the named tasks");
    const ran = new Set<number>();
    const w = new Worker(queue, "w1").task(
      "email",
      (input: { i: number }) => void ran.add(input.i),
    );
    w.configure({ concurrency: 50 });
    try {
      for (let round = 0; round < 20 && ran.size < 250; round++) {
        await w.pollOnce();
        await w.drain();
      }
    } finally {
      await w.stop();
    }
    assert.equal(ran.size, 250);
    for (const t of tasks.slice(0, 20)) assert.equal((await queue.get(t.id))?.status, "completed");
    const work = RequestCounters.diff(store.counters.snapshot(), s1);
    // Claim + completion per task, and a few lease groups (one per claim round at most).
    assert.ok(work.PUT >= 500 && work.PUT <= 500 + 20, `PUT ${work.PUT}`);
    assert.ok(work.DELETE <= 3 + 20, `DELETE ${work.DELETE}: no DELETE per task`);
    // The batch bodies carry the records: a task is read before its claim only while its
    // batch has no win yet (peers not counted: one claim assumes until one has won), so in
    // the rounds of 50 claims that start each batch (167 here), never all 250
    // (tests/batch_claims.test.ts has the exact rule).
    const reads = store.calls()["GET tasks"] ?? 0;
    assert.ok(reads < 200, `${reads} task GETs: only in the rounds that start a batch`);
    assert.deepEqual(await readyKeys(queue), [], "the batch entries are deleted");
    const versions = await store.listVersions({ prefix: "ready/" });
    assert.equal(versions.versions.length, 0, "no versions or delete markers left");
  });

  it("a task that leaves (retried, cancelled) has its own entry or none; the entry stays for the others", async () => {
    const { queue } = memQueue({ shardCount: 1 });
    const [a, b, c] = await queue.submitMany([["job", { n: 1 }], ["job", { n: 2 }], ["job", {
      n: 3,
    }]]);
    const rec = await queue.get(a!.id);
    assert.ok(rec, "task a exists");
    await queue.cancel(c!.id);
    const keys = await readyKeys(queue);
    assert.equal(keys.length, 1, "cancelling one task keeps the batch entry");
    let failOnce = true;
    const seen: number[] = [];
    const w = new Worker(queue, "w1").task("job", (input: { n: number }) => {
      seen.push(input.n);
      if (input.n === 2 && failOnce) {
        failOnce = false;
        throw new RetryableError("again");
      }
    }).configure({ concurrency: 4 });
    try {
      await w.pollOnce();
      await w.drain();
      // b failed and waits for its retry under an entry of its own; the batch entry is gone.
      const after = await readyKeys(queue);
      assert.equal(after.length, 1, after.join(" "));
      assert.ok(after[0]!.endsWith(`/${b!.id}`), "b's own entry");
      const stored = await queue.store.get(queue.keys.task(b!.id));
      assert.ok(stored && stored.kind === "object", "b exists");
      assert.ok(!new TextDecoder().decode(stored.body).includes("ready_batch"), "b left the batch");
    } finally {
      await w.stop();
    }
    assert.deepEqual(seen.sort(), [1, 2]);
    assert.equal((await queue.get(c!.id))?.status, "cancelled");
  });

  it("an entry written before a crash that left its tasks unwritten is deleted once old", async () => {
    const { queue, clock } = memQueue({ shardCount: 1 });
    const now = clock.now();
    const recs = await Promise.all(
      [1, 2].map((n) => newTaskRecord("job", { n }, {}, queue.options, now, PROBE_PLACEMENT)),
    );
    const batch = recs.map((r) => ({
      ...r,
      shard: "0",
      ready_batch: "01KBATCH0000000000000000AA",
    }));
    await writeBatchEntry(queue.context, batch);
    const w = new Worker(queue, "w1").task("job", () => {});
    try {
      await w.pollOnce();
      assert.equal((await readyKeys(queue)).length, 1, "young: the producer may be mid-submit");
      clock.advance(61_000);
      await w.pollOnce();
      assert.deepEqual(await readyKeys(queue), [], "old: no task will come");
    } finally {
      await w.stop();
    }
  });

  it("the sweep gives the tasks of a missing batch entry their own entries; a worker runs them", async () => {
    const { queue, clock } = memQueue({ shardCount: 1 });
    const tasks = await queue.submitMany([["job", { n: 1 }], ["job", { n: 2 }]]);
    for (const k of await readyKeys(queue)) await queue.store.delete(k); // removed from outside
    clock.advance(120_000);
    const monitor = new Monitor(queue);
    await monitor.runOnce({ sweep: true });
    const keys = await readyKeys(queue);
    assert.equal(keys.length, 2, keys.join(" "));
    const ran: string[] = [];
    const w = new Worker(queue, "w1").task("job", (_i, ctx) => void ran.push(ctx.task.id))
      .configure({ concurrency: 4 });
    try {
      await w.pollOnce();
      await w.drain();
    } finally {
      await w.stop();
    }
    assert.deepEqual(ran.sort(), tasks.map((t) => t.id).sort());
  });

  it("two workers share batches: every task runs once and the entries go", async () => {
    const { queue } = memQueue({ shardCount: 1 });
    await queue.submitMany(Array.from({ length: 300 }, (_, i) => ["job", { i }] as const));
    const runs = new Map<number, number>();
    const make = (id: string) =>
      new Worker(queue, id).task("job", (input: { i: number }) => {
        runs.set(input.i, (runs.get(input.i) ?? 0) + 1);
      }).configure({ concurrency: 8 });
    const ws = [make("w1"), make("w2")];
    try {
      for (let round = 0; round < 200 && (await readyKeys(queue)).length > 0; round++) {
        await Promise.all(ws.map((w) => w.pollOnce()));
        await Promise.all(ws.map((w) => w.drain()));
      }
    } finally {
      await Promise.all(ws.map((w) => w.stop()));
    }
    assert.equal(runs.size, 300);
    assert.ok([...runs.values()].every((n) => n === 1), "each task ran once");
    assert.deepEqual(await readyKeys(queue), []);
  });

  it("stats, peek, the census and cancelByType see the named tasks; cancelByType deletes the entry", async () => {
    const { queue, store } = memQueue({ shardCount: 1 });
    const tasks = await queue.submitMany(
      Array.from({ length: 5 }, (_, i) => ["job", { i }] as const),
    );
    assert.equal((await queue.stats()).total.ready, 5);
    assert.deepEqual(
      (await queue.listReady("0")).sort(),
      tasks.map((t) => t.id).sort(),
      "peek names the tasks",
    );
    const census = new TaskCensus(queue, { fullListIntervalMs: 300_000 });
    assert.equal((await census.refresh()).full, true);
    assert.equal(census.total("ready"), 5);
    const g0 = store.counters.snapshot().GET;
    const light = await census.refresh();
    assert.equal(light.full, false);
    assert.equal(light.read, 0, "the entry says the tasks are still pending: none read");
    assert.equal(store.counters.snapshot().GET - g0, 1, "the entry's body, read once");
    assert.equal(census.total("ready"), 5);
    const r = await queue.cancelByType("job");
    assert.equal(r.cancelled.length, 5);
    assert.deepEqual(await readyKeys(queue), []);
    assert.equal((await queue.stats()).total.ready, 0);
  });

  it("a batch entry's task is never claimed with its lease in that entry", async () => {
    const { queue } = memQueue({ shardCount: 1 });
    const [t] = await queue.submitMany([["job", { n: 1 }], ["job", { n: 2 }]]);
    const [key] = await readyKeys(queue);
    const entry = { ...queue.keys.parseReadyBatch(key!)!, taskId: t!.id };
    const c = {
      entry,
      versionId: "null",
      writtenAt: 0,
      batch: {
        left: async () => {},
        order: 0,
        wanted: () => true,
        notClaimable: () => {},
        written: () => undefined,
        lost: () => {},
        won: () => {},
        settled: () => {},
      },
    };
    await assert.rejects(
      claimCandidate(queue.context, c, "w1", 1000, undefined, undefined, "ready"),
      /cannot have its lease there/,
    );
    assert.equal((await queue.get(t!.id))?.status, "pending", "nothing written");
  });

  it("ready_batch: dropped by every change but none (claims and moves included)", async () => {
    const base = await newTaskRecord(
      "job",
      {},
      {},
      {
        ...memQueue().queue.options,
      },
      1_000,
      PROBE_PLACEMENT,
    );
    const rec = { ...base, ready_batch: "01KBATCH0000000000000000AA" };
    const ready = transitions.claim(rec, 2_000, "w1", 30_000, "ready");
    assert.ok(ready.ok && ready.next.ready_batch === undefined, "claim under the ready entry");
    const moved = transitions.moveLane(rec, 2_000, rec.shard === "1" ? "2" : "1");
    assert.ok(moved.ok && moved.next.ready_batch === undefined, "moved to another lane");
    const same = transitions.retry({ ...rec, status: "failed" }, 2_000);
    assert.ok(same.ok && same.next.ready_batch === undefined, "retried after failing");
    const group = transitions.claim(rec, 2_000, "w1", 30_000, {
      group: "20261207T000000.000Z/gAAAAAAAAAAAAAAAA",
    });
    assert.ok(group.ok && group.next.ready_batch === undefined, "claim under a group");
    const cancelled = transitions.cancel(rec, 2_000, null);
    assert.ok(cancelled.ok && cancelled.next.ready_batch === undefined, "cancel");
    const left = transitions.leaveBatch(rec, 2_000);
    assert.ok(
      left.ok && left.next.ready_batch === undefined && left.next.status === "pending",
      "leaveBatch",
    );
  });
});
