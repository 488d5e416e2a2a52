// oq-test: runtimes=node,bun,deno timeout=120
/**
 * Drain mode (`worker.runUntilIdle`) on the memory store and a fake clock: it stops when no
 * task is due, stops claiming `reserveMs` before the budget ends so that the last task
 * claimed finishes inside it, releases (retry count unchanged) what still runs near the end,
 * and can run again on the same worker. Handlers take fake time; nothing sleeps.
 */
import { describe } from "node:test";
import assert from "node:assert/strict";
import { Queue } from "../src/queue/queue.ts";
import { MemoryStore } from "../src/store/memory_store.ts";
import { Worker } from "../src/worker/worker.ts";
import type { DrainSummary } from "../src/worker/drain.ts";
import { PermanentError } from "../src/worker/handler.ts";
import { FakeClock, it } from "./helpers.ts";

function fakeQueue() {
  const clock = new FakeClock();
  const store = new MemoryStore({ clock: clock.now });
  const queue = new Queue(store, { warn: () => {}, clock, shardCount: 2 });
  return { clock, store, queue };
}

/** Advance the fake clock in steps until `p` settles (at most `limitMs` of fake time). */
async function drive<T>(clock: FakeClock, p: Promise<T>, limitMs: number, stepMs = 250) {
  let settled = false;
  const result = p.finally(() => (settled = true));
  const start = clock.ms;
  while (!settled) {
    if (clock.ms - start > limitMs) throw new Error(`not settled after ${limitMs} ms of fake time`);
    await clock.run(stepMs, stepMs);
  }
  return await result;
}

/** A handler that takes `ms` of the fake clock and gives up when its signal is aborted. */
function takes(clock: FakeClock, ms: number) {
  return (_input: unknown, ctx: { signal: AbortSignal }) =>
    new Promise<{ ok: true }>((resolve, reject) => {
      const t = clock.setTimer(() => resolve({ ok: true }), ms);
      ctx.signal.addEventListener("abort", () => (t.cancel(), reject(ctx.signal.reason)));
    });
}

const ZERO = Object.fromEntries(
  [
    "claimed",
    "completed",
    "retried",
    "failed",
    "cancelled",
    "released",
    "lost",
    "recovered",
    "errors",
  ]
    .map((k) => [k, 0]),
) as Omit<DrainSummary, "elapsedMs" | "stoppedBecause">;

describe("drain mode on the memory store", () => {
  it("runs every due task and stops when none is due", async () => {
    const { clock, queue } = fakeQueue();
    const ids = [];
    for (let i = 0; i < 6; i++) ids.push((await queue.submit("ok", { i })).id);
    const bad = await queue.submit("bad", {}, { maxRetries: 0 });
    const flaky = await queue.submit("flaky", {}, { maxRetries: 2 });
    const later = await queue.submit("ok", {}, { delaySeconds: 3600 });
    const worker = new Worker(queue, "cron-1")
      .task("ok", () => ({ done: true }))
      .task("bad", () => {
        throw new PermanentError("no");
      })
      .task("flaky", () => {
        throw new Error("try again");
      });
    const summary = await drive(clock, worker.runUntilIdle({ concurrency: 3 }), 60_000);
    assert.deepEqual(summary, {
      ...ZERO,
      claimed: 8,
      completed: 6,
      failed: 1,
      retried: 1,
      elapsedMs: summary.elapsedMs,
      stoppedBecause: "idle",
    });
    for (const id of ids) assert.equal((await queue.get(id))!.status, "completed");
    assert.equal((await queue.get(bad.id))!.status, "failed");
    assert.equal((await queue.get(flaky.id))!.retryCount, 1);
    assert.equal((await queue.get(later.id))!.status, "pending", "not due: not run");
    assert.deepEqual(worker.inFlight, []);
  });

  it("a paused type is left pending: the run ends idle, the other types run", async () => {
    const { clock, queue } = fakeQueue();
    const held = await queue.submit("held", {});
    const ok = await queue.submit("ok", {});
    await queue.pause("held");
    const worker = new Worker(queue, "cron-p").task("held", () => ({})).task("ok", () => ({}));
    const summary = await drive(clock, worker.runUntilIdle({}), 60_000);
    assert.deepEqual([summary.claimed, summary.completed, summary.stoppedBecause], [1, 1, "idle"]);
    assert.equal((await queue.get(ok.id))!.status, "completed");
    assert.equal((await queue.get(held.id))!.status, "pending");
    await queue.resume("held");
    const again = await drive(clock, worker.runUntilIdle({}), 60_000);
    assert.equal(again.completed, 1);
    assert.equal((await queue.get(held.id))!.status, "completed");
  });

  it("stops claiming reserveMs before the budget ends, so the last task claimed finishes", async () => {
    const { clock, queue } = fakeQueue();
    const ids = [];
    for (let i = 0; i < 10; i++) ids.push((await queue.submit("slow", { i })).id);
    const worker = new Worker(queue, "cron-2").task("slow", takes(clock, 10_000));
    const start = clock.ms;
    // Budget 60 s, claiming until 48 s: tasks start at about 0, 10, 20, 30 and 40 s.
    const summary = await drive(clock, worker.runUntilIdle({ maxTimeMs: 60_000 }), 120_000);
    assert.equal(summary.stoppedBecause, "budget");
    assert.equal(summary.claimed, 5);
    assert.equal(summary.completed, 5);
    assert.equal(summary.released, 0);
    assert.ok(summary.elapsedMs <= 60_000, `elapsed ${summary.elapsedMs}`);
    assert.ok(clock.ms - start <= 60_000, "clock.ms - start <= 60_000");
    const statuses = await Promise.all(ids.map(async (id) => (await queue.get(id))!.status));
    assert.equal(statuses.filter((s) => s === "completed").length, 5);
    assert.equal(statuses.filter((s) => s === "pending").length, 5);
  });

  it("releases a task still running near the end of the budget, retry count unchanged", async () => {
    const { clock, queue } = fakeQueue();
    const task = await queue.submit("long", {}, { timeoutSeconds: 3600 });
    const worker = new Worker(queue, "cron-3").task("long", takes(clock, 600_000));
    const summary = await drive(
      clock,
      worker.runUntilIdle({ maxTimeMs: 30_000, abortGraceMs: 1000 }),
      120_000,
    );
    assert.equal(summary.stoppedBecause, "budget");
    assert.equal(summary.claimed, 1);
    assert.equal(summary.released, 1);
    assert.equal(summary.completed, 0);
    // Aborted at 30 - 1 (abort grace) - 1 (release) = 28 s, released by the end of the budget.
    assert.ok(summary.elapsedMs >= 28_000 && summary.elapsedMs <= 30_000, `${summary.elapsedMs}`);
    const after = (await queue.get(task.id))!;
    assert.equal(after.status, "pending");
    assert.equal(after.retryCount, 0);
    assert.deepEqual(after.errors, []);
  });

  it("runs again on the same worker, and refuses a second run at the same time", async () => {
    const { clock, queue } = fakeQueue();
    const worker = new Worker(queue, "cron-4").task("ok", () => "done");
    await queue.submit("ok", {});
    const first = worker.runUntilIdle();
    await assert.rejects(worker.runUntilIdle(), /already running/);
    assert.equal((await drive(clock, first, 60_000)).completed, 1);
    const empty = await drive(clock, worker.runUntilIdle(), 60_000);
    assert.deepEqual(empty, { ...ZERO, elapsedMs: empty.elapsedMs, stoppedBecause: "idle" });
    await queue.submit("ok", {});
    assert.equal((await drive(clock, worker.runUntilIdle(), 60_000)).completed, 1);
  });

  it("recovers the tasks of a run that died (one monitor cycle first)", async () => {
    const { clock, store, queue } = fakeQueue();
    const task = await queue.submit("ok", {}, { timeoutSeconds: 5 });
    // A run that claims the task and dies: its own clock never moves again, so it never
    // extends its lease, and its handler never returns.
    const deadQueue = new Queue(store, { warn: () => {}, clock: new FakeClock(clock.ms) });
    const dead = new Worker(deadQueue, "dead").task("ok", () => new Promise(() => {}));
    dead.configure({ withMonitor: false, leaseGraceSeconds: 1, leaseEntryAfterMs: 0 });
    assert.equal((await dead.pollOnce()).claimed, 1);
    clock.advance(60_000); // the lease (5 s + 1 s grace) has long expired
    const worker = new Worker(queue, "cron-5").task("ok", () => "done");
    const first = await drive(clock, worker.runUntilIdle({ maxTimeMs: 30_000 }), 60_000);
    assert.equal(first.recovered, 1, JSON.stringify(first));
    const recovered = (await queue.get(task.id))!;
    assert.equal(recovered.status, "pending");
    assert.equal(recovered.retryCount, 1, "the dead attempt counts");
    clock.advance(120_000); // the next cron run, after the retry back-off
    const second = await drive(clock, worker.runUntilIdle({ maxTimeMs: 30_000 }), 60_000);
    assert.equal(second.completed + first.completed, 1);
    assert.equal((await queue.get(task.id))!.status, "completed");
  });

  it("rejects bad budgets before doing anything", async () => {
    const { queue } = fakeQueue();
    const worker = new Worker(queue, "cron-6").task("ok", () => "done");
    await assert.rejects(worker.runUntilIdle({ maxTimeMs: 0 }), RangeError);
    await assert.rejects(worker.runUntilIdle({ maxTimeMs: -5 }), RangeError);
    await assert.rejects(
      worker.runUntilIdle({ maxTimeMs: 1000, reserveMs: 1000 }),
      /must be less than/,
    );
    await assert.rejects(worker.runUntilIdle({ reserveMs: 10 }), /needs "maxTimeMs"/);
  });
});
