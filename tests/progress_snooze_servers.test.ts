// oq-test: runtimes=node,bun,deno timeout=300
/**
 * Progress, snooze and waitFor on real servers (moto, versioned; Ceph, unversioned): what
 * the memory-store suites prove (tests/progress_snooze.test.ts, tests/wait.test.ts), once
 * more through S3 requests. Snooze runs on a fake clock injected into the queue; progress
 * and waitFor on the store's own time, with a gate the test opens.
 */
import { describe } from "node:test";
import assert from "node:assert/strict";
import { Queue } from "../src/queue/queue.ts";
import { SnoozeError } from "../src/worker/handler.ts";
import { Worker } from "../src/worker/worker.ts";
import { cephBackend, motoBackend } from "./backends.ts";
import { FakeClock, it, until } from "./helpers.ts";

for (const backend of [motoBackend(), cephBackend()]) {
  describe(`progress, snooze and waitFor on ${backend.name}`, () => {
    it("progress shows while running and its last value with the outcome; waitFor resolves", {
      skip: backend.skip,
      timeout: 240_000,
    }, async () => {
      const b = await backend.open();
      const queue = new Queue(b.store, { shardCount: 1, warn: () => {} });
      let open!: () => void;
      const gate = new Promise<void>((r) => (open = r));
      const worker = new Worker(queue, "w").task("job", async (_input, ctx) => {
        ctx.progress({ step: 1, of: 2 }); // the first value is written at once
        await gate;
        ctx.progress({ step: 2, of: 2 }); // coalesced: rides on the outcome write
        return "done";
      });
      worker.configure({ withMonitor: false, concurrency: 1 });
      try {
        const t = await queue.submit("job", {});
        const waiting = queue.waitFor(t.id, { timeoutMs: 120_000, minIntervalMs: 50 });
        assert.equal((await worker.pollOnce()).claimed, 1);
        await until(
          async () => (await queue.get(t.id))?.progressAt != null,
          60_000,
          "the first progress value",
        );
        const running = (await queue.get(t.id))!;
        assert.equal(running.status, "running");
        assert.deepEqual(running.progress, { step: 1, of: 2 });
        open();
        await worker.drain();
        const done = await waiting;
        assert.equal(done.status, "completed");
        assert.equal(done.output, "done");
        assert.deepEqual(done.progress, { step: 2, of: 2 }, "the last value, with the outcome");
      } finally {
        open();
        await worker.stop();
        await b.close();
      }
    });

    it("snooze: pending again after the delay, no failed attempt, then completed", {
      skip: backend.skip,
      timeout: 240_000,
    }, async () => {
      const b = await backend.open();
      const clock = new FakeClock();
      const queue = new Queue(b.store, { clock, shardCount: 1, warn: () => {} });
      const worker = new Worker(queue, "w").task("job", (_input, ctx) => {
        if (ctx.task.snoozes < 2) throw new SnoozeError(30);
        return { snoozed: ctx.task.snoozes };
      });
      worker.configure({ withMonitor: false, concurrency: 1 });
      const round = async () => {
        await worker.pollOnce();
        await worker.drain();
      };
      try {
        const t = await queue.submit("job", {});
        await round();
        const once = (await queue.get(t.id))!;
        assert.equal(once.status, "pending");
        assert.equal(once.snoozes, 1);
        assert.equal(once.retryCount, 0, "a snooze is not a failed attempt");
        assert.equal(once.availableAt.getTime(), clock.now() + 30_000);
        await round(); // not due yet: nothing runs
        assert.equal((await queue.get(t.id))!.snoozes, 1);
        for (let i = 0; i < 2; i++) {
          clock.advance(31_000);
          await round();
        }
        const done = (await queue.get(t.id))!;
        assert.equal(done.status, "completed");
        assert.deepEqual(done.output, { snoozed: 2 });
        assert.equal(done.retryCount, 0);
        assert.equal(done.errors.length, 0);
      } finally {
        await worker.stop();
        await b.close();
      }
    });
  });
}
