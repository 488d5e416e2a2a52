// oq-test: runtimes=node,bun,deno timeout=300
/**
 * Progress (`ctx.progress`: coalesced writes, the last value with the outcome, bad values
 * refused at once) and snooze (`SnoozeError`, `ctx.snooze`: pending again without a failed
 * attempt, bounded by `maxSnoozes`), on the memory store with a fake clock.
 */
import { describe } from "node:test";
import assert from "node:assert/strict";
import { Queue } from "../src/queue/queue.ts";
import { MemoryStore } from "../src/store/memory_store.ts";
import { RequestCounters } from "../src/s3/counters.ts";
import { SnoozeError } from "../src/worker/handler.ts";
import { Worker } from "../src/worker/worker.ts";
import { MAX_PROGRESS_BYTES } from "../src/worker/progress.ts";
import { ExecRunner, EXIT_SNOOZE } from "../src/cli/exec.ts";
import { FakeClock, it, memQueue, settle } from "./helpers.ts";

function fakeQueue() {
  const clock = new FakeClock();
  const store = new MemoryStore({ clock: clock.now });
  const queue = new Queue(store, { warn: () => {}, clock, shardCount: 1 });
  return { clock, store, queue };
}

function gate() {
  let open!: () => void;
  const opened = new Promise<void>((r) => (open = r));
  return { open, opened };
}

describe("progress", () => {
  it("coalesces writes to one per interval and writes the last value with the completion", async () => {
    const { clock, store, queue } = fakeQueue();
    const task = await queue.submit("job", {});
    const step = gate();
    const finish = gate();
    const w = new Worker(queue, "w").task("job", async (_input, ctx) => {
      for (let i = 1; i <= 10; i++) ctx.progress(i); // one write at once (1), then coalesced
      await step.opened;
      ctx.progress({ done: 11, of: 12 });
      await finish.opened;
      ctx.progress({ done: 12, of: 12 }); // never written alone: rides on the completion
      return "ok";
    });
    // (No lease entry written while it runs: only progress PUTs are counted.)
    w.configure({ withMonitor: false, progressIntervalMs: 5000, leaseEntryAfterMs: 60_000 });
    try {
      await w.pollOnce();
      await settle();
      let t = await queue.get(task.id);
      assert.equal(t?.progress, 1, "the first value is written at once");
      const before = store.counters.snapshot();
      await clock.run(4000, 1000);
      assert.equal((await queue.get(task.id))?.progress, 1, "nothing before the interval");
      await clock.run(1000, 1000);
      t = await queue.get(task.id);
      assert.equal(t?.progress, 10, "the latest value after the interval, the others skipped");
      step.open();
      await settle();
      await clock.run(5000, 1000);
      assert.deepEqual((await queue.get(task.id))?.progress, { done: 11, of: 12 });
      const mid = RequestCounters.diff(store.counters.snapshot(), before);
      // Two progress PUTs in 10 s (plus the test's GETs and the cancel checks' GETs).
      assert.equal(mid.PUT, 2, `progress PUTs in 10 s: ${JSON.stringify(mid)}`);
      const s1 = store.counters.snapshot();
      finish.open();
      await w.drain();
      const end = RequestCounters.diff(store.counters.snapshot(), s1);
      t = await queue.get(task.id);
      assert.equal(t?.status, "completed");
      assert.deepEqual(t?.progress, { done: 12, of: 12 }, "the last value lands with the outcome");
      assert.ok(t?.progressAt instanceof Date, "t?.progressAt instanceof Date");
      assert.equal(end.PUT, 1, "the completion carries the last value: no extra PUT");
    } finally {
      step.open();
      finish.open();
      await w.stop();
    }
  });

  it("refuses a value it cannot store at once, with a clear error, and records nothing", async () => {
    const { queue } = fakeQueue();
    const task = await queue.submit("job", {}, { maxRetries: 0 });
    const errors: string[] = [];
    const w = new Worker(queue, "w").task("job", (_input, ctx) => {
      try {
        ctx.progress("x".repeat(MAX_PROGRESS_BYTES));
      } catch (e) {
        errors.push(`${(e as Error).name}: ${(e as Error).message}`);
      }
      try {
        ctx.progress(10n);
      } catch (e) {
        errors.push(`${(e as Error).name}: ${(e as Error).message}`);
      }
      return null;
    });
    w.configure({ withMonitor: false });
    try {
      await w.pollOnce();
      await w.drain();
      assert.match(errors[0]!, /^RangeError: Task progress is \d+ bytes, over the limit of 4096/);
      assert.match(errors[1]!, /^TypeError: Task progress is not JSON-serializable/);
      const t = await queue.get(task.id);
      assert.equal(t?.status, "completed");
      assert.equal(t?.progress, null);
    } finally {
      await w.stop();
    }
  });

  it("a task that never reports progress keeps its bytes: no progress fields", async () => {
    const { queue, store } = fakeQueue();
    const task = await queue.submit("job", {});
    const w = new Worker(queue, "w").task("job", () => 1);
    w.configure({ withMonitor: false });
    try {
      await w.pollOnce();
      await w.drain();
      const o = await store.get(`tasks/0/${task.id}.json`);
      assert.ok(o && o.kind === "object", 'o && o.kind === "object"');
      const rec = JSON.parse(new TextDecoder().decode(o.body));
      assert.equal(rec.status, "completed");
      for (const f of ["progress", "progress_at", "snoozes", "max_snoozes"]) {
        assert.equal(f in rec, false, `${f} absent`);
      }
    } finally {
      await w.stop();
    }
  });
});

describe("snooze", () => {
  it("puts the task back to pending for the delay without counting a failed attempt", async () => {
    const { clock, queue } = fakeQueue();
    const task = await queue.submit("job", {}, { maxRetries: 0 });
    const events: string[] = [];
    const w = new Worker(queue, "w").task("job", (_input, ctx) => {
      if (ctx.attempt === 1) throw new SnoozeError(60);
      if (ctx.attempt === 2) ctx.snooze(30);
      return { attempt: ctx.attempt };
    });
    w.events.on("task:snoozed", ({ until }) => {
      events.push(`snoozed until ${until.toISOString()}`);
    });
    w.configure({ withMonitor: false });
    try {
      const t0 = clock.ms;
      await w.pollOnce();
      await w.drain();
      let t = await queue.get(task.id);
      assert.equal(t?.status, "pending");
      assert.equal(t?.availableAt.getTime(), t0 + 60_000);
      assert.equal(t?.retryCount, 0, "not a failed attempt");
      assert.equal(t?.snoozes, 1);
      assert.deepEqual(t?.errors, []);
      assert.equal(events.length, 1);
      await clock.run(59_000, 1000);
      assert.equal((await w.pollOnce()).claimed, 0, "not before the delay");
      await clock.run(1000, 1000);
      await w.pollOnce();
      await w.drain();
      t = await queue.get(task.id);
      assert.equal(t?.snoozes, 2, "ctx.snooze counts the same");
      await clock.run(30_000, 1000);
      await w.pollOnce();
      await w.drain();
      t = await queue.get(task.id);
      assert.equal(t?.status, "completed", "maxRetries 0, yet two snoozes did not fail it");
      assert.deepEqual(t?.output, { attempt: 3 });
    } finally {
      await w.stop();
    }
  });

  it("fails the attempt for good beyond maxSnoozes, with the reason", async () => {
    const { clock, queue } = fakeQueue();
    const task = await queue.submit("job", {}, { maxSnoozes: 2, maxRetries: 5 });
    const w = new Worker(queue, "w").task("job", () => {
      throw new SnoozeError(0);
    });
    w.configure({ withMonitor: false });
    try {
      for (let i = 0; i < 3; i++) {
        await w.pollOnce();
        await w.drain();
        await clock.run(1000, 1000);
      }
      const t = await queue.get(task.id);
      assert.equal(t?.status, "failed");
      assert.equal(t?.snoozes, 2);
      assert.equal(t?.lastError, "snoozed 2 times, the task's limit (submit option maxSnoozes 2)");
      assert.equal(t?.errors[0]?.kind, "permanent");
    } finally {
      await w.stop();
    }
  });

  it("refuses bad delays and bad maxSnoozes with clear errors", async () => {
    const { queue } = fakeQueue();
    assert.throws(() => new SnoozeError(-1), /Invalid snooze seconds: -1/);
    assert.throws(() => new SnoozeError(Number.NaN), RangeError);
    await assert.rejects(queue.submit("job", {}, { maxSnoozes: 1.5 }), /Invalid maxSnoozes: 1.5/);
  });
});

describe("--exec snooze (exit 79)", { timeout: 60_000 }, () => {
  it("exit 79 with seconds on stdout snoozes; stdout that is not a delay fails with the reason", async () => {
    const { queue, clock } = memQueue({ shardCount: 1 });
    const ok = await queue.submit("later", {}, { maxRetries: 0 });
    const bad = await queue.submit("bad", {}, { maxRetries: 3 });
    const runner = new ExecRunner();
    const w = new Worker(queue, "w1")
      .task(
        "later",
        runner.handler(`[ "$OQ_SNOOZES" -ge 1 ] && echo done || { echo 90; exit ${EXIT_SNOOZE}; }`),
      )
      .task("bad", runner.handler(`echo soon; exit ${EXIT_SNOOZE}`));
    w.configure({ withMonitor: false, concurrency: 2 });
    try {
      const t0 = clock.ms;
      await w.pollOnce();
      await w.drain();
      let t = await queue.get(ok.id);
      assert.equal(t?.status, "pending");
      assert.equal(t?.snoozes, 1);
      assert.equal(t?.retryCount, 0);
      assert.equal(t?.availableAt.getTime(), t0 + 90_000);
      const b = await queue.get(bad.id);
      assert.equal(b?.status, "failed");
      assert.match(
        b!.lastError!,
        /^command exited with 79 \(snooze\) but stdout is not a delay in seconds: "soon"/,
      );
      clock.advance(90_000);
      await w.pollOnce();
      await w.drain();
      t = await queue.get(ok.id);
      assert.equal(t?.status, "completed");
      assert.equal(t?.output, "done");
    } finally {
      await w.stop();
    }
  });
});
