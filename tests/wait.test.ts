// oq-test: runtimes=node,bun,deno timeout=300
/**
 * `queue.waitFor`: resolves with the finished task, backs off (conditional GETs, about 12 per
 * waiting minute), and rejects clearly on timeout, abort and a missing task. Memory store,
 * fake clock.
 */
import { describe } from "node:test";
import assert from "node:assert/strict";
import { Queue } from "../src/queue/queue.ts";
import { WaitTimeoutError } from "../src/queue/wait.ts";
import { MemoryStore } from "../src/store/memory_store.ts";
import { RequestCounters } from "../src/s3/counters.ts";
import { PermanentError } from "../src/worker/handler.ts";
import { Worker } from "../src/worker/worker.ts";
import { FakeClock, it, settle } from "./helpers.ts";

function fakeQueue() {
  const clock = new FakeClock();
  const store = new MemoryStore({ clock: clock.now });
  const queue = new Queue(store, { warn: () => {}, clock, shardCount: 1 });
  return { clock, store, queue };
}

/** Track a promise's settlement without awaiting it. */
function track<T>(p: Promise<T>) {
  const s: { value?: T; error?: unknown; done: boolean } = { done: false };
  p.then(
    (v) => Object.assign(s, { value: v, done: true }),
    (e) => Object.assign(s, { error: e, done: true }),
  );
  return s;
}

describe("waitFor", () => {
  it("resolves with the completed task; waiting costs about 12 GETs a minute, nothing else", async () => {
    const { clock, store, queue } = fakeQueue();
    const task = await queue.submit("job", { n: 2 });
    const s0 = store.counters.snapshot();
    const waiting = track(queue.waitFor(task.id));
    await settle();
    await clock.run(60_000, 250);
    const first = RequestCounters.diff(store.counters.snapshot(), s0);
    await clock.run(60_000, 250);
    const second = RequestCounters.diff(store.counters.snapshot(), s0);
    assert.equal(waiting.done, false);
    // 1 GET, then checks after 0.25, 0.5, 1, 2, 4 s and every 5 s: 16 in the first minute.
    assert.equal(first.GET, 16, JSON.stringify(first));
    assert.equal(second.GET - first.GET, 12, "then 12 per minute");
    assert.equal(second.PUT + second.LIST + second.LIST_VERSIONS + second.HEAD, 0);
    const w = new Worker(queue, "w").task("job", (input: { n: number }) => input.n * 2);
    w.configure({ withMonitor: false });
    try {
      await w.pollOnce();
      await w.drain();
      await clock.run(5000, 250);
      assert.equal(waiting.done, true);
      const done = waiting.value!;
      assert.equal(done.status, "completed");
      assert.equal(done.output, 4);
    } finally {
      await w.stop();
    }
  });

  it("resolves with a failed task too (the caller checks the status)", async () => {
    const { clock, queue } = fakeQueue();
    const task = await queue.submit("job", {}, { maxRetries: 0 });
    const w = new Worker(queue, "w").task("job", () => {
      throw new PermanentError("bad input");
    });
    w.configure({ withMonitor: false });
    try {
      const waiting = track(queue.waitFor(task.id, { timeoutMs: 60_000 }));
      await w.pollOnce();
      await w.drain();
      await clock.run(6000, 250);
      assert.equal(waiting.value?.status, "failed");
      assert.equal(waiting.value?.lastError, "bad input");
    } finally {
      await w.stop();
    }
  });

  it("rejects with WaitTimeoutError after timeoutMs, and with the reason on abort", async () => {
    const { clock, queue } = fakeQueue();
    const task = await queue.submit("job", {});
    const timed = track(queue.waitFor(task.id, { timeoutMs: 30_000 }));
    await settle();
    await clock.run(29_000, 250);
    assert.equal(timed.done, false, "not before the timeout");
    await clock.run(1000, 250);
    assert.ok(timed.error instanceof WaitTimeoutError, String(timed.error));
    assert.equal(timed.error.task.status, "pending");
    assert.match(timed.error.message, /did not finish within 30000 ms \(it is pending\)/);

    const ac = new AbortController();
    const aborted = track(queue.waitFor(task.id, { signal: ac.signal }));
    await settle();
    await clock.run(2000, 250);
    ac.abort(new Error("user gave up"));
    await settle();
    assert.equal((aborted.error as Error)?.message, "user gave up");
    assert.equal(clock.pending, 0, "no timer left behind");
  });

  it("rejects a missing task and bad options clearly", async () => {
    const { queue } = fakeQueue();
    await assert.rejects(queue.waitFor("0-nope"), /Task "0-nope" not found/);
    const task = await queue.submit("job", {});
    await assert.rejects(queue.waitFor(task.id, { timeoutMs: -1 }), /Invalid timeoutMs: -1/);
  });
});
