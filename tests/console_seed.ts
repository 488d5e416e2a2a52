/**
 * A queue seeded with one task in each state (ready, scheduled, running, completed, failed,
 * cancelled, expired), made through the library's own operations on a memory store with a
 * fake clock. Shared by the census, console API and browser tests.
 */
import { Monitor } from "../src/monitor/monitor.ts";
import type { Queue } from "../src/queue/queue.ts";
import type { MemoryStore } from "../src/store/memory_store.ts";
import type { Task } from "../src/task/task.ts";
import { Worker } from "../src/worker/worker.ts";
import { type FakeClock, memQueue } from "./helpers.ts";

/** Input of the ready task: must show as text, never run, in a page. */
export const XSS_INPUT = { note: "<script>alert(1)</script>" };
/** The failed task's error messages carry markup too. */
export const FAILED_ERROR = `boom <img src=x onerror="alert(2)">`;

/** A seeded queue. */
export interface Seeded {
  queue: Queue;
  store: MemoryStore;
  clock: FakeClock;
  /**
   * The worker that runs `email` (concurrency 4) and holds the `slow` task (stopped by
   * `close`). Its `drain()` would wait for the held task: wait for a task's state instead.
   */
  worker: Worker;
  ids: Record<
    "ready" | "scheduled" | "running" | "completed" | "failed" | "cancelled" | "expired",
    string
  >;
  /** Let the running task finish, and stop the worker. */
  close(): Promise<void>;
}

/** Seed a queue (2 shards) with one task in each state. */
export async function seedQueue(): Promise<Seeded> {
  const { queue, store, clock } = memQueue({ shardCount: 2 });
  let release!: () => void;
  const gate = new Promise<void>((r) => (release = r));
  const worker = new Worker(queue, "seed-worker")
    .task("email", (input: { fail?: boolean }, ctx) => {
      // Fails its first two attempts (then it is failed for good); a retry succeeds.
      if (input?.fail && ctx.attempt <= 2) {
        throw new Error(`${FAILED_ERROR} (attempt ${ctx.attempt})`);
      }
      return { sent: true };
    })
    .task("slow", async () => {
      await gate;
      return { slow: true };
    });
  const step = async () => {
    worker.configure({ concurrency: 4 });
    await worker.pollOnce();
    await worker.drain();
  };
  const completed = await queue.submit("email", { to: "a@b.c" });
  await step();
  const failed = await queue.submit("email", { fail: true }, {
    maxRetries: 1,
    retryPolicy: { initialIntervalMs: 1000, jitterPercent: 0 },
  });
  await step();
  clock.advance(5_000);
  await step();
  const cancelled = await queue.submit("report", { n: 1 });
  await queue.cancel(cancelled.id, { reason: "not needed" });
  const expired = await queue.submit("report", { n: 2 }, { ttlSeconds: 5 });
  clock.advance(10_000);
  await new Monitor(queue).runOnce();
  const scheduled = await queue.submit("email", { to: "later@b.c" }, {
    delaySeconds: 3600,
    priority: 2,
  });
  const running = await queue.submit("slow", {});
  worker.configure({ concurrency: 4 });
  await worker.pollOnce(); // claims it; the handler waits for the gate
  const ready = await queue.submit("report", XSS_INPUT);
  const ids = {
    ready: ready.id,
    scheduled: scheduled.id,
    running: running.id,
    completed: completed.id,
    failed: failed.id,
    cancelled: cancelled.id,
    expired: expired.id,
  };
  await expectStatuses(queue, ids);
  return {
    queue,
    store,
    clock,
    worker,
    ids,
    async close() {
      release();
      await worker.drain();
      await worker.stop({ timeoutMs: 0 });
    },
  };
}

async function expectStatuses(queue: Queue, ids: Seeded["ids"]): Promise<void> {
  const want: Record<string, Task["status"]> = {
    ready: "pending",
    scheduled: "pending",
    running: "running",
    completed: "completed",
    failed: "failed",
    cancelled: "cancelled",
    expired: "expired",
  };
  for (const [state, id] of Object.entries(ids)) {
    const t = await queue.get(id);
    if (t?.status !== want[state]) {
      throw new Error(`Seed: the ${state} task is ${t?.status ?? "missing"}`);
    }
  }
}

/**
 * Limits on two of the seed's types, with some use: `slow` may run 2 at once and one more
 * `slow` task is claimed under the limit (1 slot in use); `email` may start 5 times a second
 * and one more `email` task ran (1 recent start). Returns the ids of the two tasks.
 */
export async function seedLimits(s: Seeded): Promise<{ slow: string; email: string }> {
  await s.queue.setLimit("slow", { concurrency: 2 });
  await s.queue.setLimit("email", { ratePerSecond: 5 });
  // The worker notices the limits at its next wake-up check (2.5 s): let it come.
  s.clock.advance(3_000);
  const slow = await s.queue.submit("slow", {});
  const email = await s.queue.submit("email", { to: "limited@b.c" });
  s.worker.configure({ concurrency: 4 });
  await s.worker.pollOnce();
  for (let i = 0; i < 100 && (await s.queue.get(email.id))?.status !== "completed"; i++) {
    await new Promise((r) => setTimeout(r, 0));
  }
  const states = [(await s.queue.get(slow.id))?.status, (await s.queue.get(email.id))?.status];
  if (states[0] !== "running" || states[1] !== "completed") {
    throw new Error(`Seed: the limited tasks are ${states.join(", ")}`);
  }
  return { slow: slow.id, email: email.id };
}
