/**
 * One injected clock (issue 14): every deadline and wait of the worker, monitor and scheduler
 * loops reads the queue's clock, so each loop runs here on a fake clock, with days passing in
 * milliseconds of real time and no sleep: task timeouts (a 30-day one), delayed tasks, lease
 * recovery, cron runs and the stop deadline.
 */
import { describe } from "node:test";
import assert from "node:assert/strict";
import { Monitor } from "../src/monitor/monitor.ts";
import { Queue } from "../src/queue/queue.ts";
import { createSchedule } from "../src/schedule/operations.ts";
import { Scheduler } from "../src/schedule/scheduler.ts";
import { MemoryStore } from "../src/store/memory_store.ts";
import { Worker } from "../src/worker/worker.ts";
import { FakeClock, it, settle } from "./helpers.ts";

const DAY = 86_400_000;

function fakeQueue() {
  const clock = new FakeClock();
  const store = new MemoryStore({ clock: clock.now });
  const queue = new Queue(store, { warn: () => {}, clock, shardCount: 2 });
  return { clock, store, queue };
}

/** Advance until `done()` or `limitMs` of fake time passed; returns the fake time used. */
async function runUntil(
  clock: FakeClock,
  done: () => Promise<boolean>,
  limitMs: number,
  stepMs = 1000,
) {
  const start = clock.ms;
  while (!(await done())) {
    if (clock.ms - start > limitMs) throw new Error(`not done after ${limitMs} ms of fake time`);
    await clock.run(stepMs, stepMs);
  }
  return clock.ms - start;
}

describe("the queue's clock drives every loop", () => {
  it("a 30-day task timeout fires after 30 days of the clock, not at once, and not by sleeping", async () => {
    const { clock, queue } = fakeQueue();
    const task = await queue.submit("slow", {}, { timeoutSeconds: 30 * 86_400, maxRetries: 0 });
    let aborted = 0;
    const worker = new Worker(queue, "w").task(
      "slow",
      (_i, ctx) =>
        new Promise((_resolve, reject) => {
          ctx.signal.addEventListener("abort", () => {
            aborted = clock.ms;
            reject(ctx.signal.reason);
          });
        }),
    );
    const running = worker.run({ withMonitor: false, pollIntervalMs: 1000 });
    try {
      await runUntil(clock, async () => (await queue.get(task.id))!.status === "running", 60_000);
      const started = clock.ms;
      await clock.run(29 * DAY, DAY);
      assert.equal((await queue.get(task.id))!.status, "running", "still running after 29 days");
      await runUntil(
        clock,
        async () => (await queue.get(task.id))!.status === "failed",
        2 * DAY,
        3_600_000,
      );
      assert.ok(aborted - started >= 30 * DAY, "aborted at the 30-day deadline");
      assert.equal((await queue.get(task.id))!.errors.at(-1)!.kind, "timeout");
    } finally {
      const stopping = worker.stop({ timeoutMs: 0 });
      await clock.run(10_000);
      await stopping;
      await running;
    }
  });

  it("a task delayed by a day runs when the clock reaches it", async () => {
    const { clock, queue } = fakeQueue();
    const ran: number[] = [];
    const task = await queue.submit("later", {}, { delaySeconds: 86_400 });
    const worker = new Worker(queue, "w").task("later", () => void ran.push(clock.ms));
    const running = worker.run({ withMonitor: false });
    try {
      await runUntil(clock, () => Promise.resolve(ran.length === 1), 2 * DAY, 60_000);
      assert.ok(ran[0]! >= task.availableAt.getTime(), "never early");
      assert.ok(
        ran[0]! - task.availableAt.getTime() <= 5 * 60_000,
        "within the idle poll schedule",
      );
    } finally {
      const stopping = worker.stop();
      await clock.run(10_000);
      await stopping;
      await running;
    }
  });

  it("the monitor's loop recovers a lease that ended while its worker was gone", async () => {
    const { clock, queue, store } = fakeQueue();
    const task = await queue.submit("job", {}, { timeoutSeconds: 60 });
    // A worker claims the task and vanishes: a process of its own (its own clock, which
    // never moves, so it never times out or writes again).
    const gone = new Queue(store, { warn: () => {}, clock: new FakeClock(clock.ms) });
    const lost = new Worker(gone, "lost").task("job", () => new Promise(() => {}));
    lost.configure({ concurrency: 1, leaseEntryAfterMs: 0 }); // a lease entry at the claim
    await lost.pollOnce();
    assert.equal((await queue.get(task.id))!.status, "running");
    const monitor = new Monitor(queue, { checkIntervalS: 15, idleCheckIntervalS: 300 });
    const recovered: string[] = [];
    monitor.events.on("monitor:recovered", (e) => void recovered.push(e.taskId));
    const running = monitor.run();
    try {
      await runUntil(clock, () => Promise.resolve(recovered.length === 1), 10 * 60_000, 5_000);
      assert.equal((await queue.get(task.id))!.status, "pending");
    } finally {
      const stopping = monitor.stop();
      await clock.run(1000);
      await stopping;
      await running;
    }
  });

  it("a lease in the ready entry whose worker vanished: the monitor alone recovers it once its sweep reaches the task", async () => {
    const { clock, queue, store } = fakeQueue();
    const task = await queue.submit("job", {}, { timeoutSeconds: 60 });
    const gone = new Queue(store, { warn: () => {}, clock: new FakeClock(clock.ms) });
    const lost = new Worker(gone, "lost").task("job", () => new Promise(() => {}));
    lost.configure({ concurrency: 1 }); // the default: no lease entry before 10 s of running
    await lost.pollOnce();
    const monitor = new Monitor(queue, { checkIntervalS: 15, idleCheckIntervalS: 300 });
    const recovered: string[] = [];
    monitor.events.on("monitor:recovered", (e) => void recovered.push(e.taskId));
    const running = monitor.run();
    try {
      // One sweep step per sweepIntervalS (300 s), one shard each: the task's shard is reached
      // within two steps after its lease ended (2 shards), and the next cycle recovers it.
      const took = await runUntil(
        clock,
        () => Promise.resolve(recovered.length === 1),
        15 * 60_000,
        5_000,
      );
      assert.ok(took <= 2 * 300_000 + 60_000, `recovered after ${took} ms of fake time`);
      assert.equal((await queue.get(task.id))!.status, "pending");
    } finally {
      const stopping = monitor.stop();
      await clock.run(1000);
      await stopping;
      await running;
    }
  });

  it("the scheduler's loop submits one run per minute of the clock", async () => {
    const { clock, queue } = fakeQueue();
    await createSchedule(queue.context, "tick", "tick", {}, "* * * * *");
    const scheduler = new Scheduler(queue);
    const runs: string[] = [];
    scheduler.events.on("schedule:submitted", (r) => void runs.push(r.dueAt.toISOString()));
    const running = scheduler.run({ intervalS: 3600 });
    try {
      await runUntil(clock, () => Promise.resolve(runs.length >= 3), 5 * 60_000, 10_000);
      assert.deepEqual(
        runs.map((r) => Date.parse(r) % 60_000),
        [0, 0, 0],
        "on the minute",
      );
      assert.equal(Date.parse(runs[1]!) - Date.parse(runs[0]!), 60_000);
    } finally {
      const stopping = scheduler.stop();
      await clock.run(1000);
      await stopping;
      await running;
    }
  });

  it("stop() gives a stuck handler its shutdown timeout on the clock, then releases the task", async () => {
    const { clock, queue } = fakeQueue();
    const task = await queue.submit("stuck", {}, { timeoutSeconds: 86_400 });
    const worker = new Worker(queue, "w").task("stuck", () => new Promise(() => {}));
    const running = worker.run({ withMonitor: false, abortGraceMs: 1000 });
    await runUntil(clock, async () => (await queue.get(task.id))!.status === "running", 60_000);
    let stopped = false;
    const stopping = worker.stop({ timeoutMs: 3_600_000 }).then(() => (stopped = true));
    await clock.run(3_500_000, 100_000);
    assert.equal(stopped, false, "waits the hour");
    await runUntil(clock, () => Promise.resolve(stopped), 600_000, 10_000);
    await stopping;
    await running;
    const after = (await queue.get(task.id))!;
    assert.equal(after.status, "pending", "given back");
    assert.equal(after.retryCount, 0, "not counted as a failure");
    await settle();
  });
});
