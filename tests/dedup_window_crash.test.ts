// oq-test: runtimes=node,bun,deno timeout=300
/**
 * Deduplication windows and what a replaced task leaves behind: its stale index entries are
 * harmless to workers and the monitor, its payloads are swept (never read as the new
 * task's), and a re-submit that dies after any of its requests leaves one task under the id
 * that completes (the crash-matrix pattern of tests/crash.test.ts). Memory store, fake clock.
 */
import { describe } from "node:test";
import assert from "node:assert/strict";
import { Monitor } from "../src/monitor/monitor.ts";
import { Queue } from "../src/queue/queue.ts";
import { MemoryStore } from "../src/store/memory_store.ts";
import { RequestCounters, type RequestCounts } from "../src/s3/counters.ts";
import type { Task } from "../src/task/task.ts";
import { Worker } from "../src/worker/worker.ts";
import { FakeClock, it } from "./helpers.ts";
import { dyingStore } from "./fixtures/dying_store.ts";

// Inputs and outputs over 1 KiB are stored beside the task (payload references).
const OPTIONS = { shardCount: 1, inlinePayloadBytes: 1024, warn: () => {} };
const KEYED = { idempotencyKey: "nightly", idempotencyTtlSeconds: 60 };

interface World {
  clock: FakeClock;
  store: MemoryStore;
  queue: Queue;
}

function world(): World {
  const clock = new FakeClock();
  const store = new MemoryStore({ clock: clock.now });
  return { clock, store, queue: new Queue(store, OPTIONS) };
}

/** A large input (stored beside the task) that says which generation it is. */
function big(gen: string): { gen: string; blob: string } {
  return { gen, blob: gen.repeat(3000) };
}

/** Run due tasks once; the handler records the generations it saw and returns a large output. */
async function workOnce(queue: Queue, seen: string[] = []): Promise<void> {
  const worker = new Worker(queue, "w").task("job", (input: { gen: string }, ctx) => {
    seen.push(input.gen);
    return { gen: input.gen, out: "o".repeat(2000), attempt: ctx.attempt };
  });
  try {
    await worker.pollOnce();
    await worker.drain();
  } finally {
    await worker.stop();
  }
}

/** Healthy monitors and workers over hours of fake time (past leases and the orphan age). */
async function recover(w: World, seen: string[] = []): Promise<void> {
  const monitor = new Monitor(w.queue);
  for (let round = 0; round < 12; round++) {
    w.clock.advance(400_000);
    await monitor.runOnce({ sweep: true });
    await workOnce(w.queue, seen);
  }
}

/** A finished keyed task (large input and output) whose window has passed. */
async function finishedAndPassed(w: World): Promise<Task> {
  const old = await w.queue.submit("job", big("a"), KEYED);
  await workOnce(w.queue);
  assert.equal((await w.queue.get(old.id))?.status, "completed");
  w.clock.advance(61_000);
  return old;
}

function sum(d: RequestCounts): number {
  return Object.values(d).reduce((a, b) => a + b, 0);
}

/** Every payload version left is one the current task records. */
async function assertNoOrphanPayloads(w: World, t: Task): Promise<void> {
  const live = new Set([
    t.inputRef && w.queue.keys.payload(t.id, "input", t.inputRef.sha256),
    t.outputRef && w.queue.keys.payload(t.id, "output", t.outputRef.sha256),
  ]);
  const left = await w.store.listVersions({ prefix: "payloads/" });
  for (const v of left.versions) assert.ok(live.has(v.key), `orphan payload ${v.key}`);
}

describe("a replaced task leaves nothing that harms its successor", () => {
  it("stale ready, lease and TTL entries of the old task are dropped, never run the new one twice", async () => {
    const w = world();
    const old = await finishedAndPassed(w);
    const history = await w.queue.getHistory(old.id);
    const running = history.find((t) => t.status === "running")!;
    // Leftovers of a crash: the old task's ready entry, lease entry and a TTL entry.
    const k = w.queue.keys;
    const stale = [
      k.ready(old.shard, "job", old.availableAt.getTime(), old.id),
      k.deadline(old.shard, running.leaseExpiresAt!.getTime(), old.id, "lease"),
      k.deadline(old.shard, old.createdAt.getTime() + 30_000, old.id, "ttl"),
    ];
    for (const key of stale) await w.store.put(key, "");
    const fresh = await w.queue.submit("job", big("b"), KEYED);
    assert.equal(fresh.id, old.id);
    assert.equal(fresh.status, "pending");
    const seen: string[] = [];
    // The TTL entry is due (the lease entry later): stale, dropped, the new task untouched.
    const r = await new Monitor(w.queue).runOnce();
    assert.equal(r.staleEntries, 1);
    assert.equal(r.expired, 0);
    assert.equal((await w.queue.get(old.id))?.status, "pending", "the monitor left it pending");
    await recover(w, seen);
    assert.deepEqual(seen, ["b"], "the new task ran once; the old one never again");
    for (const key of stale) assert.equal(await w.store.head(key), null, `${key} removed`);
    const done = await w.queue.get(old.id);
    assert.equal(done?.status, "completed");
    assert.equal((done?.input as { gen: string }).gen, "b");
    assert.equal((done?.output as { gen: string }).gen, "b");
  });

  it("the old task's payloads are never the new task's and are swept", async () => {
    const w = world();
    const old = await finishedAndPassed(w);
    const oldFull = await w.queue.get(old.id);
    assert.ok(oldFull?.inputRef && oldFull.outputRef, "oldFull?.inputRef && oldFull.outputRef");
    const fresh = await w.queue.submit("job", big("b"), KEYED);
    assert.notEqual(fresh.inputRef?.sha256, oldFull.inputRef.sha256);
    assert.equal(fresh.outputRef, null, "the new task has no output yet");
    const read = await w.queue.get(old.id);
    assert.equal((read?.input as { gen: string }).gen, "b");
    assert.equal(read?.output, null);
    // Before the sweep the old input and output are still there (the history's versions
    // point to them); the sweep removes them once older than the orphan age.
    await recover(w);
    const done = (await w.queue.get(old.id))!;
    assert.equal(done.status, "completed");
    await assertNoOrphanPayloads(w, done);
    // The same input after the window again: the same payload key, written again.
    w.clock.advance(61_000);
    const third = await w.queue.submit("job", big("b"), KEYED);
    assert.equal(third.inputRef?.sha256, fresh.inputRef?.sha256);
    assert.equal(third.status, "pending");
    await recover(w);
    await assertNoOrphanPayloads(w, (await w.queue.get(old.id))!);
  });
});

describe("crash matrix: a re-submit after the window dies after request N, for every N", () => {
  it("one task under the id completes: the old one (died before the replace) or the new one", async () => {
    // Requests of the whole re-submit when nothing fails (a fresh process, as below): the
    // upper bound of N.
    const probe = world();
    await finishedAndPassed(probe);
    const before = probe.store.counters.snapshot();
    await new Queue(probe.store, OPTIONS).submit("job", big("b"), KEYED);
    const d = RequestCounters.diff(probe.store.counters.snapshot(), before);
    const total = sum(d);
    // Layout GET, payload PUT, ready entry PUT, create PUT (412), GET, If-Match PUT, and the
    // first wake-up of this process: two signal PUTs.
    assert.deepEqual({ GET: d.GET, PUT: d.PUT, total }, { GET: 2, PUT: 6, total: 8 });
    const outcomes = new Set<string>();
    for (let n = 0; n <= total; n++) {
      const w = world();
      const old = await finishedAndPassed(w);
      let returned: Task | undefined;
      try {
        returned = await new Queue(dyingStore(w.store, n), OPTIONS).submit("job", big("b"), KEYED);
      } catch {
        // The process died mid-submit.
      }
      const seen: string[] = [];
      await recover(w, seen);
      const cur = (await w.queue.get(old.id))!;
      assert.equal(cur.status, "completed", `N=${n}: ${cur.status}`);
      const gen = (cur.input as { gen: string }).gen;
      if (returned) assert.equal(gen, "b", `N=${n}: the returned task is the one stored`);
      assert.deepEqual(seen, gen === "b" ? ["b"] : [], `N=${n}: runs`);
      outcomes.add(gen);
      // History: the old task's versions, then (when replaced) the new task's; neither
      // reopens after completing.
      const history = await w.queue.getHistory(old.id);
      const gens = history.map((t) => t.createdAt.getTime());
      assert.deepEqual(gens, [...gens].sort((a, b) => a - b), `N=${n}: generations in order`);
      for (const g of new Set(gens)) {
        const one = history.filter((t) => t.createdAt.getTime() === g).map((t) => t.status);
        const done = one.indexOf("completed");
        assert.ok(done === -1 || done === one.length - 1, `N=${n}: reopened: ${one}`);
      }
      await assertNoOrphanPayloads(w, cur);
    }
    assert.deepEqual([...outcomes].sort(), ["a", "b"], "both sides of the replace were covered");
  });
});
