/**
 * Poll economics, simulated: the real worker and monitor code at default settings on the
 * memory store, driven event by event with an injected clock through an idle hour. Counts
 * every request, converts to dollars per month at AWS list prices, then measures how long
 * a task submitted after the idle hour waits before a worker claims it.
 */
import { describe } from "node:test";
import assert from "node:assert/strict";
import { Monitor } from "../src/monitor/monitor.ts";
import { RequestCounters } from "../src/s3/counters.ts";
import { Worker } from "../src/worker/worker.ts";
import { it, memQueue } from "./helpers.ts";

const HOURS_PER_MONTH = 720; // 30 days, as in the spec's "$400 a month" figure

function idleWorld(types: string[]) {
  const world = memQueue(); // default options: 4 shards
  const { queue, store, clock } = world;
  const claimedAt: number[] = [];
  const worker = new Worker(queue, "idle-1");
  for (const t of types) worker.task(t, () => void claimedAt.push(clock.ms));
  worker.configure(); // default poll settings, as worker.run() would
  // The monitor exactly as the worker embeds it.
  const monitor = new Monitor(queue, { activityHint: () => worker.inFlight.length > 0 });
  const heartbeatMs = 300_000; // idle heartbeat interval (default)
  let nextMonitor = clock.ms;
  let nextHeartbeat = clock.ms;
  /** Run every due event until `until` (store ms), jumping the clock from event to event. */
  async function runUntil(until: number, stop?: () => boolean) {
    for (;;) {
      const t = Math.min(worker.nextPollAt(), nextMonitor, nextHeartbeat);
      if (t > until || stop?.()) return;
      clock.ms = Math.max(clock.ms, t);
      if (worker.nextPollAt() <= clock.ms) {
        await worker.pollOnce();
        await worker.drain();
      }
      if (nextMonitor <= clock.ms) {
        nextMonitor = clock.ms + monitor.nextDelayMs(await monitor.runOnce());
      }
      if (nextHeartbeat <= clock.ms) {
        await store.put(queue.keys.worker(worker.id), "{}"); // one PUT, as Heartbeat.beat()
        nextHeartbeat = clock.ms + heartbeatMs;
      }
    }
  }
  return { ...world, worker, runUntil, claimedAt };
}

describe("poll economics (simulated, default settings)", () => {
  for (const types of [["email"], ["email", "report", "resize"]]) {
    it(`an idle worker with ${types.length} type(s) and its embedded monitor: under $1 a month`, async () => {
      const w = idleWorld(types);
      await w.runUntil(w.clock.ms + 60_000); // start-up: every lane listed once, first cycles
      const before = w.store.counters.snapshot();
      const hourStart = w.clock.ms;
      await w.runUntil(hourStart + 3_600_000);
      const hour = RequestCounters.diff(w.store.counters.snapshot(), before);
      const month = RequestCounters.cost(hour) * HOURS_PER_MONTH;
      const perHour = Object.entries(hour).filter(([, n]) => n > 0).map(([k, n]) => `${k} ${n}`)
        .join(", ");
      console.log(
        `# idle worker, ${types.length} type(s), 4 shards, per hour: ${perHour}; $${
          month.toFixed(3)
        } per month`,
      );
      assert.ok(month < 1, `idle cost ${month.toFixed(3)} $/month`);
    });
  }

  it("a task submitted after an idle hour starts within 5 s (wake-up signal, no LIST polling)", async () => {
    const w = idleWorld(["email"]);
    await w.runUntil(w.clock.ms + 3_600_000);
    const lateness: number[] = [];
    for (let i = 0; i < 20; i++) {
      // Run the idle schedule up to an arbitrary point, submit there, then let it run on.
      await w.runUntil(w.clock.ms + 12_345 + i * 977);
      w.clock.ms += 1 + ((i * 389) % 2000); // between two events
      await w.runUntil(w.clock.ms - 1);
      const submitted = w.clock.ms;
      const before = w.claimedAt.length;
      await w.queue.submit("email", { i });
      await w.runUntil(submitted + 30_000, () => w.claimedAt.length > before);
      assert.equal(w.claimedAt.length, before + 1, "the task was claimed");
      lateness.push(w.claimedAt[before]! - submitted);
      await w.runUntil(w.clock.ms + 120_000); // idle again (> idleAfterMs)
    }
    lateness.sort((a, b) => a - b);
    console.log(
      `# submit-to-start after idle: p50 ${lateness[10]} ms, max ${lateness[19]} ms (20 samples)`,
    );
    assert.ok(lateness[19]! <= 5000, `max ${lateness[19]} ms`);
  });

  it("under load the wake-up signal adds a fraction of a request per task", async () => {
    const { queue, store } = memQueue({ shardCount: 4 });
    await queue.syncLayout(); // written once per bucket
    const before = store.counters.snapshot();
    await queue.submitMany(Array.from({ length: 1000 }, (_, i) => ["email", { i }] as const));
    const used = RequestCounters.diff(store.counters.snapshot(), before);
    // A PUT per task, one per batch entry (src/protocol/ready_batches.ts), and the signals:
    // the type's and the queue-wide one.
    const entries = (await store.list({ prefix: "ready/" })).objects.length;
    assert.ok(entries >= 10 && entries <= 16, `${entries} batch entries for 4 lanes`);
    const signalPuts = used.PUT - 1000 - entries;
    console.log(
      `# 1,000 submits within the coalescing window: ${signalPuts} signal PUT(s), ${
        (signalPuts / 1000).toFixed(3)
      } per task`,
    );
    assert.equal(signalPuts, 2);
  });
});
