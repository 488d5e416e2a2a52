import { describe } from "node:test";
import assert from "node:assert/strict";
import { SchemaError } from "../src/base/errors.ts";
import { it, memQueue } from "./helpers.ts";

describe("Queue.submit and get", () => {
  it("writes the ready entry then the task; the id embeds the shard; get is one GET", async () => {
    const { queue, store } = memQueue({ shardCount: 4 });
    await queue.syncLayout(); // the bucket's layout: written once, by the first process
    const before = store.counters.snapshot();
    const task = await queue.submit("send_email", { to: "a@b.c" });
    const used = store.counters.snapshot();
    assert.equal(
      used.PUT - before.PUT,
      4,
      "ready entry + task + the first wake-up signals (type and queue-wide)",
    );
    assert.equal(task.status, "pending");
    assert.ok(queue.shards.includes(task.shard), "queue.shards.includes(task.shard)");
    assert.ok(task.id.startsWith(`${task.shard}-`), "task.id.startsWith(`${task.shard}-`)");
    assert.deepEqual(await queue.listReady(task.shard), [task.id]);
    const g0 = store.counters.snapshot().GET;
    const got = await queue.get(task.id);
    assert.equal(store.counters.snapshot().GET - g0, 1);
    assert.deepEqual(got?.input, { to: "a@b.c" });
    assert.equal(await queue.get("0-NOPE"), null);
    // Later submits of the same type within the coalescing window cost two PUTs.
    const b2 = store.counters.snapshot().PUT;
    await queue.submit("send_email", {});
    assert.equal(store.counters.snapshot().PUT - b2, 2);
  });

  it("spreads tasks over every shard; submits made together share one lane", async () => {
    const { queue } = memQueue({ shardCount: 4 });
    const one: string[] = [];
    for (let i = 0; i < 4; i++) one.push((await queue.submit("t", { i })).shard);
    assert.deepEqual(new Set(one), new Set(["0", "1", "2", "3"]));
    const many = await queue.submitMany(Array.from({ length: 8 }, (_, i) => ["t", { i }] as const));
    assert.deepEqual(new Set(many.map((t) => t.shard)), new Set(["0", "1", "2", "3"]));
    // Coalesced submits: the tasks that share a batch entry share its lane; the next group
    // goes to the next lane.
    const groups: string[] = [];
    for (let g = 0; g < 4; g++) {
      const tasks = await Promise.all([1, 2].map((i) => queue.submit("t", { g, i })));
      assert.equal(new Set(tasks.map((t) => t.shard)).size, 1, "one lane per batch entry");
      groups.push(tasks[0]!.shard);
    }
    assert.deepEqual(new Set(groups), new Set(["0", "1", "2", "3"]));
  });

  it("idempotencyKey: the same key returns the same task, also when submitted concurrently", async () => {
    const { queue, store } = memQueue();
    const [a, b] = await Promise.all([
      queue.submit("charge", { amount: 1 }, { idempotencyKey: "order-17" }),
      queue.submit("charge", { amount: 1 }, { idempotencyKey: "order-17" }),
    ]);
    assert.equal(a.id, b.id);
    const c = await queue.submit("charge", { amount: 2 }, { idempotencyKey: "order-17" });
    assert.equal(c.id, a.id);
    assert.deepEqual(c.input, { amount: 1 }, "the first submit wins");
    const tasks = await store.list({ prefix: "tasks/" });
    assert.equal(tasks.objects.length, 1);
    assert.equal((await queue.listReady(a.shard)).length, 1, "one ready entry");
  });

  it("rejects bad input with clear errors and writes nothing", async () => {
    const { queue, store } = memQueue({ maxInputBytes: 100 });
    const bad: Array<[string, unknown, object, RegExp]> = [
      ["bad/type", {}, {}, /Invalid task type/],
      ["..", {}, {}, /Invalid task type/],
      ["t", "x".repeat(200), {}, /over the limit of 100/],
      ["t", { f: () => 1, b: 1n }, {}, /not JSON-serializable/],
      ["t", undefined, {}, /not JSON-serializable/],
      ["t", {}, { scheduleAt: "tomorrow" }, /Invalid scheduleAt/],
      ["t", {}, { timeoutSeconds: 0 }, /Invalid timeoutSeconds/],
      ["t", {}, { maxRetries: -1 }, /Invalid maxRetries/],
      ["t", {}, { delaySeconds: 1, scheduleAt: new Date() }, /not both/],
      ["t", {}, { ttlSeconds: -5 }, /Invalid ttlSeconds/],
      ["t", {}, { retryPolicy: { multiplier: 0 } }, /retryPolicy.multiplier/],
    ];
    const cyclic: Record<string, unknown> = {};
    cyclic.self = cyclic;
    bad.push(["t", cyclic, {}, /not JSON-serializable/]);
    for (const [type, input, opts, re] of bad) {
      await assert.rejects(queue.submit(type, input, opts), re);
    }
    await assert.rejects(queue.submitMany([["ok", {}], ["bad/type", {}]]), /Invalid task type/);
    assert.equal((await store.list({})).objects.length, 0, "nothing was written");
  });

  it("a task object that does not match its schema is a SchemaError naming the key", async () => {
    const { queue, store } = memQueue();
    await store.put("tasks/0/0-BROKEN.json", '{"schema_version":1,"id":"x"}');
    await assert.rejects(
      queue.get("0-BROKEN"),
      (e: unknown) => e instanceof SchemaError && /tasks\/0\/0-BROKEN.json/.test(e.message),
    );
    await store.put("tasks/0/0-NOTJSON.json", "{nope");
    await assert.rejects(queue.get("0-NOTJSON"), /not valid UTF-8 JSON/);
    await store.put("tasks/0/0-FUTURE.json", '{"schema_version":9}');
    await assert.rejects(queue.get("0-FUTURE"), /newer than this oq understands/);
  });

  it("invalid ids are rejected before any request", async () => {
    const { queue, store } = memQueue();
    const n = store.counters.total();
    for (const id of ["../etc", "0-a/b", "noshard", "", "0-\u0000"]) {
      await assert.rejects(queue.get(id), /Invalid task id/);
    }
    assert.equal(store.counters.total(), n);
  });
});

describe("Queue.cancel and retry", () => {
  it("cancelling a pending task removes its ready entry without leaving a delete marker", async () => {
    const { queue, store } = memQueue();
    const t = await queue.submit("t", {});
    const r = await queue.cancel(t.id, { reason: "not needed" });
    assert.deepEqual(r, { taskId: t.id, outcome: "cancelled", status: "cancelled" });
    assert.equal((await queue.get(t.id))?.cancelReason, "not needed");
    const v = await store.listVersions({ prefix: "ready/" });
    assert.equal(v.versions.length, 0);
    const again = await queue.cancel(t.id);
    assert.equal(again.outcome, "skipped");
    assert.equal(again.reason, "task is already cancelled");
    assert.equal((await queue.cancel("0-MISSING")).reason, "task not found");
  });

  it("retry moves a cancelled task back to pending with a fresh ready entry", async () => {
    const { queue } = memQueue();
    const t = await queue.submit("t", {});
    await queue.cancel(t.id);
    const r = await queue.retry(t.id);
    assert.equal(r.status, "pending");
    assert.deepEqual(await queue.listReady(t.shard), [t.id]);
    await assert.rejects(queue.retry(t.id), /only failed, cancelled or expired/);
    const history = await queue.getHistory(t.id);
    assert.deepEqual(history.map((h) => h.status), ["pending", "cancelled", "pending"]);
  });
});

describe("Queue.now and stats", () => {
  it("now() is the store's clock", async () => {
    const { queue, clock } = memQueue();
    assert.equal((await queue.now()).getTime(), clock.ms);
    clock.advance(5000);
    assert.equal((await queue.now()).getTime(), clock.ms);
  });

  it("stats counts ready, scheduled and running tasks from the indexes", async () => {
    const { queue } = memQueue({ shardCount: 2 });
    await queue.submit("a", {});
    await queue.submit("a", {}, { delaySeconds: 60 });
    const s = await queue.stats();
    assert.equal(s.total.ready, 1);
    assert.equal(s.total.scheduled, 1);
    assert.equal(s.total.tasks, 2);
    assert.equal(s.total.running, 0);
  });
});
