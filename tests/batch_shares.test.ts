// oq-test: runtimes=node,bun,deno timeout=300
/**
 * Batches shared out among the workers of a type (src/worker/batch_entries.ts): each of the
 * `n` workers counted takes its own share of a batch first, claiming without a read; the
 * other shares come after, each from its end and read first, and a share found taken by its
 * owner is left alone for a while, except by the batch's keeper, which reads every task and
 * deletes the entry once all have left. What must hold: the shares split every batch; own
 * claims need no GET; nothing is claimed twice; a share is passed only when its owner took
 * it; a task of a worker's own share taken by another tells that the count is out of date;
 * no task is left unclaimed, and no entry left behind, when workers run together.
 */
import { describe } from "node:test";
import assert from "node:assert/strict";
import { fnv1a } from "../src/base/ids.ts";
import { BatchEntries, MAX_RECORDS, type PeerCount } from "../src/worker/batch_entries.ts";
import { type Candidate, claimCandidate } from "../src/worker/claim.ts";
import { ClassifyingStore } from "../harness/classifying_store.ts";
import { MemoryStore } from "../src/store/memory_store.ts";
import { Queue } from "../src/queue/queue.ts";
import { Worker } from "../src/worker/worker.ts";
import { counted, FakeClock, it, memQueue } from "./helpers.ts";
import { putHeartbeat } from "./fixtures/heartbeat.ts";

// The batch entries listed under ready/, as a listing's candidates.
async function listedBatches(queue: Queue): Promise<Candidate[]> {
  const listed = await queue.store.list({ prefix: "ready/" });
  return listed.objects.flatMap((o) => {
    const entry = queue.keys.parseReadyBatch(o.key);
    return entry === null ? [] : [{ entry, versionId: "null", writtenAt: 0 }];
  });
}

// How worker `id` sees the workers `ids` (all counted, sorted by heartbeat key).
function view(queue: Queue, ids: string[], id: string): PeerCount {
  const keys = ids.map((i) => queue.keys.worker(i)).sort();
  return { sharing: keys.length, rank: keys.indexOf(queue.keys.worker(id)), keys };
}

// Worker `id`'s batches, and the candidates it makes of the batch entries listed, in order.
async function expandFor(
  queue: Queue,
  clock: FakeClock,
  peers: PeerCount,
  disagree: (taskType: string) => void = () => {},
) {
  const entries = new BatchEntries(
    queue.context,
    (e) => {
      throw e;
    },
    { count: () => peers, first: () => Promise.resolve(), disagree },
  );
  const listed = await entries.expand(await listedBatches(queue), clock.now());
  return { entries, ...listed };
}

const claim = (queue: Queue, c: Candidate, worker: string) =>
  claimCandidate(queue.context, c, worker, 1000);
const idsOf = (cs: Candidate[]) => cs.map((c) => c.entry.taskId);

// Two workers' candidates for one batch of 10 tasks, and which of them keeps the batch.
async function twoWorkers() {
  const { queue, store, clock } = memQueue({ shardCount: 1 });
  const tasks = await queue.submitMany(
    Array.from({ length: 10 }, (_, i) => ["job", { i }] as const),
  );
  const ids = ["wA", "wB"];
  const a = await expandFor(queue, clock, view(queue, ids, "wA"));
  const b = await expandFor(queue, clock, view(queue, ids, "wB"));
  const key = a.candidates[0]!.entry.key;
  const keeper = fnv1a(key) % 2 === view(queue, ids, "wA").rank ? "wA" : "wB";
  return { queue, store, clock, tasks, a, b, key, keeper };
}

describe("batches shared out among workers", () => {
  it("each worker's own share first, then the other's from its end; own claims read nothing", async () => {
    const { queue, store, tasks, a, b } = await twoWorkers();
    assert.equal(a.candidates.length, 10);
    assert.equal(b.candidates.length, 10);
    const ownA = idsOf(a.candidates.slice(0, 5));
    const ownB = idsOf(b.candidates.slice(0, 5));
    assert.deepEqual(
      [...ownA, ...ownB].sort(),
      tasks.map((t) => t.id).sort(),
      "the two shares split the batch",
    );
    assert.deepEqual(idsOf(a.candidates.slice(5)), [...ownB].reverse(), "then B's, from its end");
    assert.deepEqual(idsOf(b.candidates.slice(5)), [...ownA].reverse(), "then A's, from its end");
    const both = await counted(store, () =>
      Promise.all([
        ...a.candidates.slice(0, 5).map((c) => claim(queue, c, "wA")),
        ...b.candidates.slice(0, 5).map((c) => claim(queue, c, "wB")),
      ]));
    assert.deepEqual(both.result.map((r) => r.kind), Array(10).fill("claimed"));
    assert.equal(both.n.GET, 0, "no task read: each claims its own share assuming its records");
    assert.equal(both.n.PUT, 10 * 2, "a lease entry and the task each: no write lost");
  });

  it("a share found taken by its owner is passed; the keeper reads on and deletes the entry", async () => {
    const { queue, store, a, b, keeper } = await twoWorkers();
    for (const [w, id] of [[a, "wA"], [b, "wB"]] as const) {
      for (const c of w.candidates.slice(0, 5)) {
        assert.equal((await claim(queue, c, id)).kind, "claimed");
      }
    }
    const [thief, thiefId] = keeper === "wA" ? [b, "wB"] : [a, "wA"];
    const keeping = keeper === "wA" ? a : b;
    const stolen = await counted(store, async () => {
      const out = [];
      for (const c of thief.candidates.slice(5)) out.push(await claim(queue, c, thiefId));
      return out;
    });
    assert.deepEqual(stolen.result.map((r) => r.kind === "skipped" && r.reason), [
      "task is running",
      ...Array(4).fill("another worker's share, found taken"),
    ]);
    assert.equal(stolen.n.GET, 1, "one read: the end of the share, taken by its owner");
    assert.equal(stolen.n.PUT, 0);
    const kept = await counted(store, async () => {
      for (const c of keeping.candidates.slice(5)) await claim(queue, c, keeper);
    });
    assert.equal(kept.n.GET, 5, "the keeper reads each task of the other share");
    assert.equal(kept.n.DELETE, 1, "and deletes the entry once all ten have left");
    assert.deepEqual(await listedBatches(queue), []);
  });

  it("a share whose end another than its owner took is not passed: its owner may be gone", async () => {
    const { queue, a, b, keeper } = await twoWorkers();
    const [thief, thiefId, owner] = keeper === "wA" ? [b, "wB", a] : [a, "wA", b];
    // The owner never came; a worker the thief did not count took the share's end.
    const end = owner.candidates[4]!;
    assert.equal((await claim(queue, end, "wX")).kind, "claimed");
    const results = [];
    for (const c of thief.candidates.slice(5)) results.push(await claim(queue, c, thiefId));
    assert.deepEqual(results.map((r) => r.kind), [
      "skipped",
      "claimed",
      "claimed",
      "claimed",
      "claimed",
    ]);
  });

  it("a task of its own share taken by another: the count is out of date, and it says so", async () => {
    const { queue, clock } = memQueue({ shardCount: 1 });
    await queue.submitMany(Array.from({ length: 10 }, (_, i) => ["job", { i }] as const));
    const ids = ["wA", "wB"];
    const told: string[] = [];
    const a = await expandFor(queue, clock, view(queue, ids, "wA"), (t) => void told.push(t));
    // B, counting itself alone, claims A's first task.
    const alone = await expandFor(queue, clock, { sharing: 1, rank: 0 });
    const first = a.candidates[0]!;
    const taken = alone.candidates.find((c) => c.entry.taskId === first.entry.taskId)!;
    assert.equal((await claim(queue, taken, "wB")).kind, "claimed");
    const r = await claim(queue, first, "wA");
    assert.deepEqual(r, { kind: "skipped", reason: "task is running" });
    assert.deepEqual(told, ["job"], "told once, for the type");
  });

  it("while the counts change, batches are not shared out: one run, read first, records kept", async () => {
    const { queue, store, clock } = await twoWorkers();
    let peers: PeerCount = { ...view(queue, ["wA", "wB"], "wA"), settled: false };
    const entries = new BatchEntries(queue.context, (e) => {
      throw e;
    }, { count: () => peers, first: () => Promise.resolve(), disagree: () => {} });
    const listed = await listedBatches(queue);
    const first = await entries.expand(listed, clock.now());
    assert.equal(first.candidates.length, 10, "every task, in one run");
    const run = await counted(
      store,
      () => Promise.all(first.candidates.slice(0, 2).map((c) => claim(queue, c, "wA"))),
    );
    assert.deepEqual(run.result.map((r) => r.kind), ["claimed", "claimed"]);
    assert.equal(run.n.GET, 2, "each read first: the workers may not agree on the shares");
    // The counts agree: shared out, with the records of its own share still at hand.
    peers = view(queue, ["wA", "wB"], "wA");
    const shared = await counted(store, () => entries.expand(listed, clock.now()));
    assert.equal(shared.n.GET, 0, "no body read again");
    const own = shared.result.candidates.filter((c) => c.batch!.written(c.entry.taskId));
    assert.ok(own.length >= 3, `its own share's records (${own.length}) are assumed`);
  });

  it("the other shares wait while batches wait for records; a worker keeps only its own", async () => {
    const { queue, clock } = memQueue({ shardCount: 1 });
    // Shared by two: each body keeps 50 records here, so MAX_RECORDS / 50 bodies fit.
    const fit = MAX_RECORDS / 50;
    for (let i = 0; i < fit + 2; i++) {
      await queue.submitMany(Array.from({ length: 100 }, (_, j) => ["job", { i, j }] as const));
    }
    const a = await expandFor(queue, clock, view(queue, ["wA", "wB"], "wA"));
    assert.equal(a.deferred, 2, "two bodies wait");
    assert.equal(a.candidates.length, MAX_RECORDS, "only its own share of each batch read");
    const assumed = a.candidates.filter((c) => c.batch!.written(c.entry.taskId) !== undefined);
    assert.equal(assumed.length, MAX_RECORDS, "each with its record");
  });

  it("three workers run 1,800 batch tasks: each once, no entry left, about a task read per task", async () => {
    const clock = new FakeClock();
    const store = new ClassifyingStore(new MemoryStore({ clock: clock.now }));
    const producer = new Queue(store, { warn: () => {}, shardCount: 2 });
    const n = 1800;
    await producer.submitMany(Array.from({ length: n }, (_, i) => ["job", { i }] as const));
    const ran = new Map<string, number>();
    const workers = ["w1", "w2", "w3"].map((id) =>
      new Worker(new Queue(store, { warn: () => {}, shardCount: 2 }), id)
        .task("job", (_input, ctx) => void ran.set(ctx.task.id, (ran.get(ctx.task.id) ?? 0) + 1))
        .configure({ concurrency: 4 })
    );
    for (const w of workers) {
      await putHeartbeat(producer, {
        worker_id: w.id,
        shards: ["0", "1"],
        task_types: ["job"],
        started_at: new Date(clock.now()).toISOString(),
        concurrency: 4,
        runtime: "node",
      });
    }
    const c0 = store.calls()["GET tasks"] ?? 0;
    try {
      for (let round = 0; round < 2000 && ran.size < n; round++) {
        // Each worker in turn claims up to its free slots, then the handlers run.
        for (const w of workers) await w.pollOnce();
        await Promise.all(workers.map((w) => w.drain()));
        clock.advance(50);
      }
      // Then until the keepers have seen every task leave (the entries are deleted).
      for (let round = 0; round < 200; round++) {
        if ((await store.list({ prefix: "ready/" })).objects.length === 0) break;
        for (const w of workers) await w.pollOnce();
        clock.advance(500);
      }
    } finally {
      await Promise.all(workers.map((w) => w.stop()));
    }
    assert.equal(ran.size, n, "every task ran");
    assert.deepEqual([...new Set(ran.values())], [1], "each once");
    const reads = (store.calls()["GET tasks"] ?? 0) - c0;
    // With shares 1,624-1,812 reads in 11 runs (once 2,262): the keepers' reads of the others'
    // shares (2/3 of the tasks), and reads in the first second, while the first count is
    // checked (batches not shared out). Without shares, 2,216 in one run: the bound is loose,
    // and the cases above pin the reads down.
    assert.ok(reads <= 1.4 * n, `${reads} task reads for ${n} tasks`);
    assert.deepEqual((await store.list({ prefix: "ready/" })).objects, [], "no entry left");
  });
});
