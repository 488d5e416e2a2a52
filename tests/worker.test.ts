import { describe } from "node:test";
import assert from "node:assert/strict";
import { Monitor } from "../src/monitor/monitor.ts";
import { PermanentError, RetryableError, TaskAbortedError } from "../src/worker/handler.ts";
import { Worker } from "../src/worker/worker.ts";
import { RequestCounters } from "../src/s3/counters.ts";
import { it, memQueue, until } from "./helpers.ts";

describe("Worker", () => {
  it("runs tasks to completion; a lone submit's happy path costs 4 PUT + 1 GET, plus the LIST", async () => {
    const { queue, store } = memQueue({ shardCount: 1 });
    const w = new Worker(queue, "w1").task(
      "email",
      (input: { to: string }) => ({ sent: input.to }),
    );
    const n = 10;
    await queue.syncLayout(); // the bucket's layout: written once, by the first process
    const s0 = store.counters.snapshot();
    // One by one (submitMany shares ready entries: tests/ready_batches.test.ts).
    const tasks = [];
    for (let i = 0; i < n; i++) tasks.push(await queue.submit("email", { to: `u${i}` }));
    const s1 = store.counters.snapshot();
    w.configure({ concurrency: n });
    const r = await w.pollOnce();
    await w.drain();
    const s2 = store.counters.snapshot();
    assert.equal(r.claimed, n);
    for (const [i, t] of tasks.entries()) {
      const done = await queue.get(t.id);
      assert.equal(done?.status, "completed");
      assert.deepEqual(done?.output, { sent: `u${i}` });
    }
    const submit = RequestCounters.diff(s1, s0);
    const work = RequestCounters.diff(s2, s1);
    assert.equal(
      submit.PUT,
      2 * n + 2,
      "ready entry + task per task, one coalesced wake-up (type + queue-wide)",
    );
    assert.equal(work.LIST_VERSIONS, 1, "one LIST found all ten");
    assert.equal(
      work.GET,
      n + 1,
      "one GET per claim + the type's flow control (read once per worker, before its first claim)",
    );
    assert.equal(
      work.PUT,
      2 * n,
      "claim and completion per task: the ready entries index the leases (no lease entry)",
    );
    assert.equal(work.DELETE, n, "the ready entries, by version id (free), at the end");
    const left = await store.listVersions({ prefix: "ready/" });
    assert.equal(
      left.versions.length + (await store.listVersions({ prefix: "deadlines/" })).versions.length,
      0,
      "no delete markers",
    );
  });

  it("never GETs a task of a type it has no handler for, and never sees one", async () => {
    const { queue, store } = memQueue({ shardCount: 2 });
    for (let i = 0; i < 20; i++) await queue.submit("other", { i });
    const seen: string[] = [];
    const w = new Worker(queue, "w1").task("mine", (_i, ctx) => void seen.push(ctx.task.taskType));
    w.configure();
    const g0 = store.counters.snapshot().GET;
    await w.pollOnce();
    await w.drain();
    assert.equal(store.counters.snapshot().GET - g0, 0);
    await queue.submit("mine", {});
    w.configure();
    await w.pollOnce();
    await w.drain();
    assert.deepEqual(seen, ["mine"]);
  });

  it("retries with back-off, then completes; history shows every state", async () => {
    const { queue, clock } = memQueue({ shardCount: 1 });
    let calls = 0;
    const w = new Worker(queue, "w1").task("flaky", () => {
      calls++;
      if (calls <= 2) throw new RetryableError(`try ${calls}`);
      return "ok";
    });
    w.configure();
    const t = await queue.submit("flaky", {}, {
      retryPolicy: { initialIntervalMs: 1000, jitterPercent: 0 },
    });
    await w.pollOnce();
    await w.drain();
    let cur = await queue.get(t.id);
    assert.equal(cur?.status, "pending");
    assert.equal(cur?.retryCount, 1);
    assert.equal(cur?.availableAt.getTime(), clock.ms + 1000);
    w.configure();
    assert.equal((await w.pollOnce()).claimed, 0, "not claimable before its back-off ends");
    clock.advance(1000);
    w.configure();
    await w.pollOnce();
    await w.drain();
    clock.advance(2000);
    w.configure();
    await w.pollOnce();
    await w.drain();
    cur = await queue.get(t.id);
    assert.equal(cur?.status, "completed");
    assert.equal(cur?.attempt, 3);
    assert.deepEqual(cur?.errors.map((e) => e.message), ["try 1", "try 2"]);
    const history = await queue.getHistory(t.id);
    assert.deepEqual(history.map((h) => h.status), [
      "pending",
      "running",
      "pending",
      "running",
      "pending",
      "running",
      "completed",
    ]);
  });

  it("PermanentError and exhausted retries end in failed (the dead-letter state)", async () => {
    const { queue, clock } = memQueue({ shardCount: 1 });
    const w = new Worker(queue, "w1")
      .task("perm", () => {
        throw new PermanentError("invalid address");
      })
      .task("always", () => {
        throw "a string, not an Error";
      });
    const p = await queue.submit("perm", {}, { maxRetries: 5 });
    const a = await queue.submit("always", {}, {
      maxRetries: 1,
      retryPolicy: { jitterPercent: 0 },
    });
    for (let i = 0; i < 3; i++) {
      w.configure();
      await w.pollOnce();
      await w.drain();
      clock.advance(10_000);
    }
    const pt = await queue.get(p.id);
    assert.equal(pt?.status, "failed");
    assert.equal(pt?.lastError, "invalid address");
    assert.equal(pt?.attempt, 1);
    const at = await queue.get(a.id);
    assert.equal(at?.status, "failed");
    assert.equal(at?.attempt, 2);
    assert.equal(at?.lastError, "a string, not an Error");
  });

  it("enforces timeoutSeconds: the signal aborts and the attempt is retried", async () => {
    const { queue } = memQueue({ shardCount: 1 });
    let reason: unknown;
    const w = new Worker(queue, "w1").task("slow", (_i, ctx) =>
      new Promise((_resolve, reject) => {
        ctx.signal.addEventListener("abort", () => {
          reason = ctx.signal.reason;
          reject(ctx.signal.reason);
        });
      }));
    w.configure();
    const t = await queue.submit("slow", {}, { timeoutSeconds: 0.05 });
    await w.pollOnce();
    await w.drain();
    assert.ok(
      reason instanceof TaskAbortedError && reason.kind === "timeout",
      'reason instanceof TaskAbortedError && reason.kind === "timeout"',
    );
    const cur = await queue.get(t.id);
    assert.equal(cur?.status, "pending");
    assert.equal(cur?.errors[0]?.kind, "timeout");
    assert.match(cur?.lastError ?? "", /timed out after 0.05s/);
  });

  it("a handler that ignores the timeout is abandoned: the timeout is recorded anyway", async () => {
    const { queue } = memQueue({ shardCount: 1 });
    let release!: () => void;
    const w = new Worker(queue, "w1").task("stuck", () => new Promise<void>((r) => (release = r)));
    w.configure();
    const t = await queue.submit("stuck", {}, { timeoutSeconds: 0.05, maxRetries: 0 });
    await w.pollOnce();
    try {
      await until(async () => (await queue.get(t.id))?.status === "failed", 30_000, "timeout");
    } finally {
      release();
      await w.drain();
    }
  });

  it("abortGraceMs sets how long an ignored abort is waited for", async () => {
    const { queue } = memQueue({ shardCount: 1 });
    const releases: Array<() => void> = [];
    const signals = new Map<string, AbortSignal>();
    const w = new Worker(queue, "w1").task("stuck", (_i, ctx) => {
      signals.set(ctx.task.id, ctx.signal);
      return new Promise<void>((r) => releases.push(r));
    });
    assert.throws(() => w.configure({ abortGraceMs: -1 }), /Invalid abortGraceMs/);
    const claimWith = async (abortGraceMs: number) => {
      w.configure({ abortGraceMs, concurrency: 4 });
      const t = await queue.submit("stuck", {}, { timeoutSeconds: 0.05, maxRetries: 0 });
      await w.pollOnce();
      return t.id;
    };
    const status = async (id: string) => (await queue.get(id))?.status;
    try {
      // No wall-time bound: a task with no grace is settled while one with an hour's grace,
      // aborted as well, is still waited for.
      const none = await claimWith(0);
      const hour = await claimWith(3_600_000);
      await until(
        async () => signals.get(hour)?.aborted === true && (await status(none)) === "failed",
        30_000,
        "both timeouts",
      );
      assert.equal(await status(hour), "running", "abortGraceMs 3600000: still waited for");
      // A short grace is waited out, and then the attempt settles: never before it ends.
      const started = Date.now();
      const short = await claimWith(300);
      await until(async () => (await status(short)) === "failed", 30_000, "timeout");
      const settled = Date.now() - started;
      assert.ok(settled >= 300, `abortGraceMs 300: settled after ${settled} ms`);
    } finally {
      for (const r of releases) r();
      await w.drain();
    }
  });

  it("a completion that finds its lease lost does not overwrite the newer state", async () => {
    const { queue, clock } = memQueue({ shardCount: 1 });
    let finish!: () => void;
    const lost: string[] = [];
    const w = new Worker(queue, "w1").task(
      "long",
      () => new Promise<string>((r) => (finish = () => r("late"))),
    );
    w.on("task:lost", (e) => void lost.push(e.taskId));
    w.configure({ leaseGraceSeconds: 1, leaseEntryAfterMs: 0 }); // the monitor's to recover
    const t = await queue.submit("long", {}, { timeoutSeconds: 60 });
    await w.pollOnce();
    clock.advance(62_000); // past timeout + grace by the store's clock
    const m = await new Monitor(queue).runOnce();
    assert.equal(m.recovered, 1);
    finish();
    await w.drain();
    const cur = await queue.get(t.id);
    assert.equal(cur?.status, "pending", "the monitor's retry stands");
    assert.equal(cur?.output, null);
    assert.deepEqual(lost, [t.id]);
  });

  it("cancelling a running task aborts its signal; the task ends cancelled", async () => {
    const { queue } = memQueue({ shardCount: 1 });
    let sawRequest = false;
    const w = new Worker(queue, "w1").task("cancellable", (_i, ctx) =>
      new Promise((resolve) => {
        ctx.signal.addEventListener("abort", () => {
          sawRequest = ctx.isCancellationRequested();
          resolve("stopped early");
        });
      }));
    w.configure({ cancelCheckIntervalMs: 10 });
    const t = await queue.submit("cancellable", {});
    await w.pollOnce();
    const r = await queue.cancel(t.id, { reason: "user asked" });
    assert.equal(r.outcome, "requested");
    await w.drain();
    assert.equal(sawRequest, true);
    const cur = await queue.get(t.id);
    assert.equal(cur?.status, "cancelled");
    assert.equal(cur?.cancelReason, "user asked");
  });

  it("extendLease moves the lease and the lease index entry", async () => {
    const { queue, store, clock } = memQueue({ shardCount: 1 });
    const w = new Worker(queue, "w1").task("long", async (_i, ctx) => {
      clock.advance(5000);
      await ctx.extendLease(120);
      return "done";
    });
    w.configure({ leaseGraceSeconds: 0 });
    const t = await queue.submit("long", {}, { timeoutSeconds: 10 });
    let leases: string[] = [];
    w.on("task:completed", async () => {});
    await w.pollOnce();
    await w.drain();
    leases = (await store.listVersions({ prefix: "deadlines/" })).versions.map((v) => v.key);
    assert.deepEqual(leases, [], "no lease entry or delete marker is left");
    const h = await queue.getHistory(t.id);
    const extended = h.find((v, i) => i > 0 && v.status === "running" && v.revision === 2);
    assert.equal(extended?.leaseExpiresAt?.getTime(), clock.ms + 120_000);
    assert.equal((await queue.get(t.id))?.status, "completed");
  });

  it("16 workers racing for 5 tasks: each task is claimed exactly once", async () => {
    const { queue } = memQueue({ shardCount: 2 });
    const runs = new Map<string, number>();
    const workers = Array.from(
      { length: 16 },
      (_, i) =>
        new Worker(queue, `w${i}`).task("job", (_in, ctx) => {
          runs.set(ctx.task.id, (runs.get(ctx.task.id) ?? 0) + 1);
        }).configure({ concurrency: 2 }),
    );
    const tasks = await queue.submitMany(
      Array.from({ length: 5 }, (_, i) => ["job", { i }] as const),
    );
    await Promise.all(workers.map((w) => w.pollOnce()));
    await Promise.all(workers.map((w) => w.drain()));
    for (const t of tasks) assert.equal(runs.get(t.id), 1, `task ${t.id} ran once`);
    for (const t of tasks) assert.equal((await queue.get(t.id))?.status, "completed");
  });

  it("stop() lets running handlers finish, or gives their tasks back after the deadline", async () => {
    const { queue } = memQueue({ shardCount: 1 });
    const w = new Worker(queue, "w1").task(
      "forever",
      (_i, ctx) =>
        new Promise((_r, reject) =>
          ctx.signal.addEventListener("abort", () => reject(ctx.signal.reason))
        ),
    );
    const t = await queue.submit("forever", {});
    const running = w.run({ withMonitor: false, wakeCheckIntervalMs: 20, pollIntervalMs: 10 });
    try {
      await until(async () => (await queue.get(t.id))?.status === "running", 30_000, "claim");
    } finally {
      await w.stop({ timeoutMs: 50 });
      await running;
    }
    const cur = await queue.get(t.id);
    assert.equal(cur?.status, "pending");
    assert.equal(cur?.retryCount, 0, "a release is not a failure");
    assert.deepEqual(await queue.listReady(t.shard), [t.id]);
  });

  it("a listener that throws does not break the worker", async () => {
    const { queue } = memQueue({ shardCount: 1 });
    const errors: unknown[] = [];
    const w = new Worker(queue, "w1").task("x", () => 1);
    w.events.onListenerError = (e) => void errors.push(e);
    w.on("task:completed", () => {
      throw new Error("listener bug");
    });
    w.configure();
    const t = await queue.submit("x", {});
    await w.pollOnce();
    await w.drain();
    assert.equal((await queue.get(t.id))?.status, "completed");
    assert.equal(errors.length, 1);
  });

  it("a task object written by someone else with a bad schema is skipped, not fatal", async () => {
    const { queue, store } = memQueue({ shardCount: 1 });
    const errors: string[] = [];
    await store.put(queue.keys.ready("0", "x", store.now() - 1000, "0-BAD"), "");
    await store.put(queue.keys.task("0-BAD"), '{"schema_version": 1}');
    const good = await queue.submit("x", {});
    const w = new Worker(queue, "w1").task("x", () => 1);
    w.on("worker:error", (e) => void errors.push(e.error.message));
    w.configure({ concurrency: 2 });
    await w.pollOnce();
    await w.drain();
    assert.equal((await queue.get(good.id))?.status, "completed");
    assert.equal(errors.length, 1);
    assert.match(errors[0]!, /tasks\/0\/0-BAD.json/);
  });

  it("rejects invalid configuration before any I/O", () => {
    const { queue } = memQueue();
    assert.throws(() => new Worker(queue, "bad/id"), /Invalid worker id/);
    assert.throws(
      () => new Worker(queue, "w", { concurrency: 2 } as unknown as string[]),
      (e: Error) =>
        e instanceof TypeError && /list of shards.*worker.run\(options\)/.test(e.message),
    );
    assert.throws(() => new Worker(queue, "w", ["9"]), /not one of the queue's shards/);
    assert.throws(() => new Worker(queue, "w").configure(), /No handlers/);
    assert.throws(
      () => new Worker(queue, "w").task("t", () => 1).configure({ concurrency: 0 }),
      /concurrency/,
    );
  });
});
