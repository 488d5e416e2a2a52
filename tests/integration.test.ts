// oq-test: runtimes=node timeout=600
// Node only: the same library code on every runtime; each runtime's fetch and processes against
// these servers are covered by the store conformance suite and the CLI worker suites.
/**
 * Queue and workers end to end on real S3 servers (moto, versioned; Ceph RGW,
 * unversioned): many workers, many tasks, every task completed exactly once.
 */
import { describe } from "node:test";
import assert from "node:assert/strict";
import { Queue } from "../src/queue/queue.ts";
import { Worker } from "../src/worker/worker.ts";
import { RequestCounters } from "../src/s3/counters.ts";
import type { ObjectStore } from "../src/store/types.ts";
import type { Task } from "../src/task/task.ts";
import { type BackendFactory, cephBackend, memoryBackend, motoBackend } from "./backends.ts";
import { it, until, untilProgress } from "./helpers.ts";

const TYPES = ["resize", "email", "report"] as const;

async function runScenario(
  factory: BackendFactory,
  workerSpecs: Array<{ id: string; types: readonly string[] }>,
  n: number,
) {
  const b = await factory.open();
  try {
    await scenario(b.store, workerSpecs, n, factory.name);
  } finally {
    await b.close();
  }
}

async function scenario(
  store: ObjectStore,
  workerSpecs: Array<{ id: string; types: readonly string[] }>,
  n: number,
  name: string,
) {
  const b = { store };
  const queue = new Queue(b.store, {
    shardCount: 4,
    prefix: `it-${crypto.randomUUID().slice(0, 8)}/`,
    warn: () => {},
  });
  const runs = new Map<string, number>();
  const wrongType: string[] = [];
  const errors: string[] = [];
  let pollFailures = 0;
  const workers = workerSpecs.map(({ id, types }) => {
    const w = new Worker(queue, id);
    for (const type of types) {
      w.task(type, (input: { i: number }, ctx) => {
        if (ctx.task.taskType !== type) wrongType.push(ctx.task.id);
        runs.set(ctx.task.id, (runs.get(ctx.task.id) ?? 0) + 1);
        return { i: input.i, by: id };
      });
    }
    w.on("worker:error", (e) => {
      // A failed LIST is retried at the next poll: moto answers 500 to ListObjectVersions
      // now and then under concurrent writes. Anything else is a real error.
      if (e.context.startsWith("poll ") && e.error.name === "TransientStoreError") pollFailures++;
      else errors.push(`${id} ${e.context}: ${e.error.message}`);
    });
    return w;
  });
  const c0 = b.store.counters.snapshot();
  const t0 = Date.now();
  const submitted: Task[] = await queue.submitMany(
    Array.from({ length: n }, (_, i) => [TYPES[i % TYPES.length]!, { i }] as const),
  );
  const running = workers.map((w) =>
    w.run({
      concurrency: 4,
      withMonitor: false,
      pollIntervalMs: 100,
      maxPollIntervalMs: 400,
      wakeCheckIntervalMs: 200,
    })
  );
  try {
    // How long 500 tasks take depends on the machine and the server (minutes on moto):
    // only a run that stops moving fails.
    await untilProgress(
      () => [...runs.values()].reduce((a, c) => a + c, 0),
      n,
      60_000,
      `${n} tasks to run`,
    );
    // Tasks submitted together share batch entries (src/protocol/ready_batches.ts): the
    // workers, still running, delete each once one of them has seen all its tasks leave it.
    await until(
      async () => {
        await new Promise((r) => setTimeout(r, 50));
        const ready = await b.store.list({ prefix: `${queue.keys.prefix}ready/` });
        return ready.objects.length === 0;
      },
      60_000,
      "the workers to delete the batch entries",
    );
    const secs = (Date.now() - t0) / 1000;
    const used = RequestCounters.diff(b.store.counters.snapshot(), c0);
    const perTask = Object.entries(used).filter(([, v]) => v > 0).map(([k, v]) =>
      `${k} ${(v / n).toFixed(2)}`
    );
    console.log(
      `# ${name}: ${n} tasks in ${secs.toFixed(1)} s; requests per task: ${perTask.join(", ")}`,
    );
  } finally {
    await Promise.all(workers.map((w) => w.stop()));
    await Promise.all(running);
  }
  // Every task completed, exactly once, by a handler of its type.
  for (const t of submitted) {
    assert.equal(runs.get(t.id), 1, `task ${t.id} ran once`);
    const cur = await queue.get(t.id);
    assert.equal(cur?.status, "completed", `task ${t.id} completed`);
    assert.equal(cur?.attempt, 1);
  }
  assert.deepEqual(wrongType, []);
  assert.deepEqual(errors, []);
  if (pollFailures) {
    console.log(`# ${name}: ${pollFailures} transient LIST failures, retried`);
  }
  // Nothing left in the indexes.
  const left = await b.store.list({ prefix: `${queue.keys.prefix}ready/` });
  assert.equal(left.objects.length, 0, "no ready entries left");
  const leases = await b.store.list({ prefix: `${queue.keys.prefix}deadlines/` });
  assert.equal(leases.objects.length, 0, "no deadline entries left");
}

for (const factory of [motoBackend(), cephBackend(), memoryBackend()]) {
  const n = factory.name === "memory" ? 300 : 500;
  describe(`queue and workers on ${factory.name}`, { skip: factory.skip }, () => {
    it(`8 workers x concurrency 4, ${n} tasks of 3 types: each completed exactly once`, {
      timeout: 1_800_000, // a backstop only: a stalled run fails after a minute
    }, async () => {
      await runScenario(
        factory,
        Array.from({ length: 8 }, (_, i) => ({ id: `w${i}`, types: TYPES })),
        n,
      );
    });

    it(`one worker per type, ${n} tasks: handlers never see another type`, {
      timeout: 1_800_000, // a backstop only: a stalled run fails after a minute
    }, async () => {
      await runScenario(factory, TYPES.map((t) => ({ id: `only-${t}`, types: [t] })), n);
    });
  });
}
