// oq-test: runtimes=node timeout=300
// Node only: real-time latency of the library's poll schedule, which is runtime-independent.
/**
 * Delayed (one-shot) tasks: 100 tasks with staggered `scheduleAt` never start before their
 * time by the store's clock, and all of them run. On the memory store with a fake clock
 * (deterministic: each starts at the first poll at or after its time), then with real time
 * on the memory store and on moto (skipped when unavailable), where the lateness is
 * reported, not asserted: how late a task starts in real time depends on the machine and
 * the server (bench/ measures it), never early does not.
 */
import { describe } from "node:test";
import assert from "node:assert/strict";
import { Queue } from "../src/queue/queue.ts";
import { getEnv } from "../src/runtime/mod.ts";
import { DEFAULT_POLL_SETTINGS } from "../src/worker/poll_schedule.ts";
import { MemoryStore } from "../src/store/memory_store.ts";
import type { ObjectStore } from "../src/store/types.ts";
import type { Task } from "../src/task/task.ts";
import { Worker } from "../src/worker/worker.ts";
import { type BackendFactory, motoBackend } from "./backends.ts";
import { FakeClock, it, memQueue, until } from "./helpers.ts";

const N = 100;
const POLL_MS = DEFAULT_POLL_SETTINGS.pollIntervalMs;

/**
 * Submit N tasks due from `leadMs` from now, one every `spreadMs / N`, in shuffled order.
 * A time already past when its task is written means "now": each task's `availableAt` is
 * the later of its `scheduleAt` and its creation, whatever the machine's speed.
 */
async function submitStaggered(queue: Queue, leadMs: number, spreadMs: number): Promise<Task[]> {
  const base = (await queue.now()).getTime() + leadMs;
  const order = Array.from({ length: N }, (_, i) => i).sort(() => Math.random() - 0.5);
  const tasks = await queue.submitMany(
    order.map((i) =>
      ["delayed", { i }, { scheduleAt: new Date(base + Math.round((i * spreadMs) / N)) }] as const
    ),
  );
  for (const [k, t] of tasks.entries()) {
    const asked = base + Math.round((order[k]! * spreadMs) / N);
    assert.equal(
      t.availableAt.getTime(),
      Math.max(asked, t.createdAt.getTime()),
      "available at its scheduleAt, or at its creation if that time had passed",
    );
  }
  return tasks;
}

/**
 * A lead that lets N submits finish before the first task is due on this machine and
 * store: twice what 10 submits took here, scaled to N. Measured, not assumed.
 */
async function measuredLeadMs(queue: Queue): Promise<number> {
  const t0 = performance.now();
  await queue.submitMany(Array.from({ length: 10 }, (_, i) => ["probe", { i }] as const));
  const perTask = (performance.now() - t0) / 10;
  return Math.ceil(500 + 2 * perTask * N);
}

function lateness(tasks: Task[], starts: Map<string, number>) {
  const late = tasks.map((t) => starts.get(t.id)! - t.availableAt.getTime()).sort((a, b) => a - b);
  const at = (q: number) => late[Math.min(late.length - 1, Math.floor(late.length * q))]!;
  return { min: late[0]!, p50: at(0.5), p95: at(0.95), max: late.at(-1)! };
}

/**
 * One worker (default poll settings, 4 shards) and N tasks due over `spreadMs`. "Early" is
 * judged by the store's clock at handler start, allowing for its stated uncertainty, and,
 * when the store shares this host's clock (`hostClock`: the memory store, a moto on
 * loopback), also by that clock exactly. Lateness is reported as `#` lines.
 */
async function realTime(store: ObjectStore, name: string, spreadMs: number, hostClock: boolean) {
  const queue = new Queue(store, {
    prefix: `delayed-${crypto.randomUUID().slice(0, 8)}/`,
    warn: () => {},
  });
  const starts = new Map<string, number>();
  const slack = new Map<string, number>();
  const host = new Map<string, number>();
  const worker = new Worker(queue, "w1").task("delayed", (_input, ctx) => {
    starts.set(ctx.task.id, queue.store.now()); // the store's clock when the handler starts
    slack.set(ctx.task.id, queue.store.clockUncertaintyMs());
    host.set(ctx.task.id, Date.now());
  });
  const errors: string[] = [];
  worker.on("worker:error", (e) => void errors.push(`${e.context}: ${e.error.message}`));
  const leadMs = await measuredLeadMs(queue);
  const running = worker.run({ concurrency: 8, withMonitor: false });
  let tasks: Task[];
  try {
    tasks = await submitStaggered(queue, leadMs, spreadMs);
    await until(() => starts.size === N, leadMs + spreadMs + 60_000, `${N} delayed tasks to start`);
  } finally {
    await worker.stop();
    await running;
  }
  const l = lateness(tasks, starts);
  const h = lateness(tasks, host);
  const clamped = tasks.filter((t) => t.availableAt.getTime() === t.createdAt.getTime()).length;
  console.log(
    `# delayed tasks on ${name}: ${N} over ${spreadMs} ms after a measured lead of ${leadMs} ms` +
      ` (${clamped} due before they were written); lateness by the store clock ` +
      `min ${l.min} ms, p50 ${l.p50} ms, p95 ${l.p95} ms, max ${l.max} ms` +
      (hostClock ? `; by the host clock min ${h.min} ms, p50 ${h.p50} ms, max ${h.max} ms` : "") +
      ` (poll interval ${POLL_MS} ms)`,
  );
  if (errors.length) console.log(`# worker errors (retried): ${errors.join("; ")}`);
  for (const t of tasks) {
    const due = t.availableAt.getTime();
    assert.ok(
      starts.get(t.id)! + slack.get(t.id)! >= due,
      `${t.id} started early by the store clock`,
    );
    if (hostClock) {
      assert.ok(host.get(t.id)! >= due, `${t.id} started ${due - host.get(t.id)!} ms early`);
    }
  }
}

describe("delayed tasks", () => {
  it("fake clock: never claimable before scheduleAt, claimed at the first poll after it", async () => {
    const clock = new FakeClock();
    const { queue } = memQueue({ shardCount: 4 }, clock);
    const starts = new Map<string, number>();
    const worker = new Worker(queue, "w1").task(
      "delayed",
      (_i, ctx) => void starts.set(ctx.task.id, queue.store.now()),
    );
    worker.configure({ concurrency: 8 });
    const tasks = await submitStaggered(queue, 1000, 10_000);
    const end = clock.ms + 12_000;
    let lists = 0;
    while (clock.ms < end) {
      const r = await worker.pollOnce();
      lists += r.listed;
      await worker.drain();
      clock.advance(50);
    }
    assert.equal(starts.size, N);
    const l = lateness(tasks, starts);
    assert.ok(l.min >= 0, "none early");
    assert.ok(l.max <= 50, `started at the first poll at or after its time (latest ${l.max} ms)`);
    const polls = 12_000 / 50;
    assert.ok(
      lists < polls * queue.shards.length / 2,
      `lanes are listed at due times, not every poll (${lists} LISTs)`,
    );
  });

  it("memory store, real time: 100 tasks over 3 s", async () => {
    await realTime(new MemoryStore(), "memory", 3000, true);
  });

  const moto: BackendFactory = motoBackend();
  it("moto, real time: 100 tasks over 10 s", { skip: moto.skip, timeout: 300_000 }, async () => {
    const b = await moto.open();
    try {
      const loopback = /^http:\/\/(127\.0\.0\.1|localhost)[:/]/.test(
        getEnv("OQ_TEST_MOTO_URL") ?? "",
      );
      await realTime(b.store, "moto", 10_000, loopback);
    } finally {
      await b.close();
    }
  });
});
