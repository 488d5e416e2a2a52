// oq-test: runtimes=node,bun,deno timeout=300
/**
 * Claims that assume a batch entry's record (src/worker/batch_entries.ts, src/worker/claim.ts):
 * a batch entry carries the records its tasks are written with and their ETags (the MD5 of
 * the bytes), so a worker claims such a task with one PUT (If-Match) and no GET. What must
 * hold: a write that loses reads the task and decides again with it (nothing claimed twice,
 * nothing lost); another worker's claim makes the batch "shared" (read first from then on);
 * a store whose ETags are not MD5s turns the assumption off after one lost write; a task not
 * written yet is neither claimed nor dropped; the body carries records up to its byte budget.
 */
import { describe } from "node:test";
import assert from "node:assert/strict";
import {
  MAX_BATCH_RECORD_BYTES,
  MAX_BATCH_TASKS,
  readBatchBody,
  writeBatchEntry,
} from "../src/protocol/ready_batches.ts";
import { newTaskRecord, PROBE_PLACEMENT } from "../src/task/new_task.ts";
import type { TaskRecord } from "../src/task/task.ts";
import { BatchEntries, MAX_RECORDS, type PeerCount } from "../src/worker/batch_entries.ts";
import { type Candidate, claimCandidate } from "../src/worker/claim.ts";
import { ClassifyingStore } from "../harness/classifying_store.ts";
import { MemoryStore } from "../src/store/memory_store.ts";
import { Queue } from "../src/queue/queue.ts";
import { Worker } from "../src/worker/worker.ts";
import { counted, FakeClock, it, memQueue } from "./helpers.ts";

async function batchCandidate(queue: Queue): Promise<Candidate> {
  const listed = await queue.store.list({ prefix: "ready/" });
  const batch = listed.objects.filter((o) => queue.keys.parseReadyBatch(o.key) !== null);
  assert.equal(batch.length, 1, "one batch entry");
  return { entry: queue.keys.parseReadyBatch(batch[0]!.key)!, versionId: "null", writtenAt: 0 };
}

// The candidates a worker of its own (its own BatchEntries) makes of the batch, by task id;
// `peers` counts the type's live workers, with its rank (`undefined`: not counted yet).
async function expanded(
  queue: Queue,
  clock: FakeClock,
  peers: () => PeerCount | undefined = () => ({ sharing: 1, rank: 0 }),
): Promise<Map<string, Candidate>> {
  const entries = new BatchEntries(queue.context, (e) => {
    throw e;
  }, { count: peers, first: () => Promise.resolve(), disagree: () => {} });
  const { candidates } = await entries.expand([await batchCandidate(queue)], clock.now());
  return new Map(candidates.map((c) => [c.entry.taskId, c]));
}

const claim = (queue: Queue, c: Candidate, worker: string) =>
  claimCandidate(queue.context, c, worker, 1000);

describe("claims that assume a batch entry's record", () => {
  it("one PUT and no GET per claim; a second worker's write loses, reads the task and skips it", async () => {
    const { queue, store, clock } = memQueue({ shardCount: 1 });
    const [a, b, c] = await queue.submitMany([["job", { n: 1 }], ["job", { n: 2 }], ["job", {
      n: 3,
    }]]);
    const w1 = await expanded(queue, clock);
    const w2 = await expanded(queue, clock);
    const first = await counted(store, () => claim(queue, w1.get(a!.id)!, "w1"));
    assert.equal(first.result.kind, "claimed");
    assert.equal(first.n.GET, 0, "the task is not read");
    assert.equal(first.n.PUT, 2, "the lease entry and the task");
    const lost = await counted(store, () => claim(queue, w2.get(a!.id)!, "w2"));
    assert.equal(lost.result.kind, "skipped");
    assert.equal((lost.result as { reason: string }).reason, "task is running");
    assert.equal(lost.n.GET, 1, "the lost write's read, and no other");
    assert.equal((await queue.get(a!.id))?.workerId, "w1", "w1 keeps it");
    // w2 now knows the batch is shared: it reads b before writing.
    const read = await counted(store, () => claim(queue, w2.get(b!.id)!, "w2"));
    assert.equal(read.result.kind, "claimed");
    assert.equal(read.n.GET, 1);
    // w1 saw no loss: it still claims c without reading it.
    const still = await counted(store, () => claim(queue, w1.get(c!.id)!, "w1"));
    assert.equal(still.result.kind, "claimed");
    assert.equal(still.n.GET, 0);
    assert.equal((await queue.get(c!.id))?.workerId, "w1");
  });

  it("ETags that are not MD5s: the first lost write claims after its read, then tasks are read first", async () => {
    const { queue, store, clock } = memQueue({ shardCount: 1 });
    const recs = await records(queue, clock, 3);
    // A body whose ETags are not the store's (as with SSE-KMS): written by hand.
    const key = queue.context.tasks.readyKey(recs[0]!);
    const body = {
      schema_version: 1,
      task_type: "job",
      task_ids: recs.map((r) => r.id),
      created_at: new Date(clock.now()).toISOString(),
      write_id: "w",
      records: Object.fromEntries(
        recs.map((r) => [r.id, { etag: "0123456789abcdef0123456789abcdef", record: r }]),
      ),
    };
    await store.put(key, JSON.stringify(body));
    for (const r of recs) assert.ok(await queue.context.tasks.create(r), `created ${r.id}`);
    const w = await expanded(queue, clock);
    const first = await counted(store, () => claim(queue, w.get(recs[0]!.id)!, "w1"));
    assert.equal(first.result.kind, "claimed", "decided again with the task read");
    assert.equal(first.n.GET, 1);
    const next = await counted(store, () => claim(queue, w.get(recs[2]!.id)!, "w1"));
    assert.equal(next.result.kind, "claimed");
    assert.equal(next.n.GET, 1, "read first: no write that must lose");
    assert.equal(next.n.PUT, 2, "the lease entry and the task, no lost PUT");
  });

  it("a record in the body that does not check is not assumed: the task is read", async () => {
    const { queue, store, clock } = memQueue({ shardCount: 1 });
    const recs = await records(queue, clock, 2);
    const key = queue.context.tasks.readyKey(recs[0]!);
    await writeBatchEntry(queue.context, recs);
    const got = await store.get(key);
    assert.ok(got?.kind === "object", "the entry exists");
    const body = JSON.parse(new TextDecoder().decode(got.body));
    body.records[recs[0]!.id].record.status = "bogus";
    await store.put(key, JSON.stringify(body));
    for (const r of recs) assert.ok(await queue.context.tasks.create(r), `created ${r.id}`);
    const w = await expanded(queue, clock);
    const bad = await counted(store, () => claim(queue, w.get(recs[0]!.id)!, "w1"));
    assert.equal(bad.result.kind, "claimed", "the stored task is fine");
    assert.equal(bad.n.GET, 1, "read, not assumed");
    const good = await counted(store, () => claim(queue, w.get(recs[1]!.id)!, "w1"));
    assert.equal(good.result.kind, "claimed");
    assert.equal(good.n.GET, 0, "the other record is assumed");
  });

  it("a task not written yet is neither claimed nor dropped, and the batch is not taken for shared", async () => {
    const { queue, store, clock } = memQueue({ shardCount: 1 });
    const recs = await records(queue, clock, 2);
    await writeBatchEntry(queue.context, recs);
    const w = await expanded(queue, clock);
    const early = await claim(queue, w.get(recs[0]!.id)!, "w1");
    assert.deepEqual(early, { kind: "skipped", reason: "task not found" });
    assert.equal((await store.list({ prefix: "ready/" })).objects.length, 1, "the entry stays");
    for (const r of recs) assert.ok(await queue.context.tasks.create(r), `created ${r.id}`);
    const later = await counted(store, () => claim(queue, w.get(recs[1]!.id)!, "w1"));
    assert.equal(later.result.kind, "claimed");
    assert.equal(later.n.GET, 0, "still assumed");
  });

  it("a task changed since it was written (cancelled) is read and left, not claimed", async () => {
    const { queue, clock } = memQueue({ shardCount: 1 });
    const [a] = await queue.submitMany([["job", { n: 1 }], ["job", { n: 2 }]]);
    const w = await expanded(queue, clock);
    await queue.cancel(a!.id);
    const r = await claim(queue, w.get(a!.id)!, "w1");
    assert.deepEqual(r, { kind: "skipped", reason: "task is cancelled" });
    assert.equal((await queue.get(a!.id))?.status, "cancelled");
  });

  it("peers: alone, claims in flight all assume; not counted, one until a win", async () => {
    const { queue, store, clock } = memQueue({ shardCount: 1 });
    const tasks = await queue.submitMany(
      Array.from({ length: 12 }, (_, i) => ["job", { i }] as const),
    );
    const ids = tasks.map((t) => t.id);
    const round = async (w: Map<string, Candidate>, some: string[]) =>
      (await counted(store, () => Promise.all(some.map((id) => claim(queue, w.get(id)!, "w1"))))).n;
    assert.equal((await round(await expanded(queue, clock), ids.slice(0, 4))).GET, 0);
    const uncounted = await expanded(queue, clock, () => undefined);
    assert.equal((await round(uncounted, ids.slice(4, 8))).GET, 3, "one assumes, three read");
    assert.equal((await round(uncounted, ids.slice(8, 10))).GET, 0, "after its win, all assume");
    for (const t of tasks.slice(0, 10)) {
      assert.equal((await queue.get(t.id))?.status, "running", t.id);
    }
    // (Workers that share the type: tests/batch_shares.test.ts.)
  });

  it("reads bodies only while the records it holds stay under MAX_RECORDS; the rest wait", async () => {
    const { queue, store, clock } = memQueue({ shardCount: 1 });
    const n = MAX_RECORDS / 100 + 2; // batches of 100
    for (let b = 0; b < n; b++) {
      await queue.submitMany(Array.from({ length: 100 }, (_, i) => ["job", { b, i }] as const));
    }
    const listing = async () =>
      (await store.list({ prefix: "ready/" })).objects.map((o) => ({
        entry: queue.keys.parseReadyBatch(o.key)!,
        versionId: "null",
        writtenAt: 0,
      }));
    const listed = await listing();
    assert.equal(listed.length, n);
    const entries = new BatchEntries(queue.context, (e) => {
      throw e;
    });
    // Two lanes' listings expanded at once share the bound.
    const [a, b] = await counted(store, () =>
      Promise.all([
        entries.expand(listed.slice(0, n / 2), clock.now()),
        entries.expand(listed.slice(n / 2), clock.now()),
      ])).then(({ result, n: requests }) => {
        assert.equal(requests.GET, MAX_RECORDS / 100, "bodies read up to the bound");
        return result;
      });
    assert.equal(a.candidates.length + b.candidates.length, MAX_RECORDS);
    assert.equal(a.deferred + b.deferred, 2, "two batches wait");
    // Every record read is kept: each claim is one PUT, no GET.
    const claimAll = (cs: Candidate[]) =>
      counted(store, async () => {
        for (const c of cs) assert.equal((await claim(queue, c, "w1")).kind, "claimed");
      });
    const half = await claimAll(a.candidates.slice(0, 50));
    assert.equal(half.n.GET, 0, "no task read");
    // 50 records used are not room for a body (up to 100): none is read, none given up.
    clock.advance(1000);
    const early = await counted(store, async () => entries.expand(await listing(), clock.now()));
    assert.equal(early.n.GET, 0, "no body read");
    assert.equal(early.result.deferred, 2);
    const rest = await claimAll(a.candidates.slice(50, 100));
    assert.equal(rest.n.GET, 0, "the records are all still held: no task read");
    // A whole batch used (its entry deleted) makes room for one more body.
    clock.advance(1000);
    const relisted = await listing();
    assert.equal(relisted.length, n - 1, "the batch claimed whole is gone");
    const again = await counted(store, () => entries.expand(relisted, clock.now()));
    assert.equal(again.n.GET, 1, "one body read");
    assert.equal(again.result.deferred, 1, "one batch still waits");
    const before = new Set([...a.candidates, ...b.candidates].map((c) => c.entry.key));
    const late = again.result.candidates.filter((c) => !before.has(c.entry.key));
    assert.equal(late.length, 100, "the batch read now is a candidate");
    const claimed = await counted(store, () => claim(queue, late[0]!, "w1"));
    assert.equal(claimed.result.kind, "claimed");
    assert.equal(claimed.n.GET, 0, "its records are kept");
  });

  it("a worker runs more tasks than MAX_RECORDS from batch entries without reading one", async () => {
    const clock = new FakeClock();
    const store = new ClassifyingStore(new MemoryStore({ clock: clock.now }));
    const queue = new Queue(store, { warn: () => {}, shardCount: 1 });
    const n = MAX_RECORDS + 200;
    for (let i = 0; i < n; i += 1000) {
      await queue.submitMany(
        Array.from({ length: Math.min(1000, n - i) }, (_, j) => ["job", { i: i + j }] as const),
      );
    }
    let ran = 0;
    // One claim at a time: each batch's first claim wins, so nothing needs a read.
    const w = new Worker(queue, "w1").task("job", () => void ran++).configure({ concurrency: 1 });
    const c0 = store.calls()["GET tasks"] ?? 0;
    try {
      for (let round = 0; round < n + 100 && ran < n; round++) {
        await w.pollOnce();
        await w.drain();
      }
    } finally {
      await w.stop();
    }
    assert.equal(ran, n);
    assert.equal((store.calls()["GET tasks"] ?? 0) - c0, 0, "no task read before its claim");
    assert.deepEqual((await store.list({ prefix: "ready/" })).objects, [], "entries deleted");
  });

  it("a lane whose batch bodies all wait is listed again after an interval, not backed off", async () => {
    // Lane "a" (MAX_RECORDS tasks, listed first) fills the records a worker holds; lane "b"
    // lists only batches that wait. Once claims in "a" leave room for a body, "b" must be
    // listed within about one poll interval (500 ms), not after an empty lane's back-off (up
    // to 5 s). A small listLimit truncates the combined listing: from then on each lane is
    // listed on its own schedule (a's listings would otherwise list b too).
    const clock = new FakeClock();
    const store = new ClassifyingStore(new MemoryStore({ clock: clock.now }));
    const queue = new Queue(store, { warn: () => {}, shardCount: 1 });
    for (const [type, n] of [["a", MAX_RECORDS], ["b", MAX_RECORDS + 100]] as const) {
      for (let i = 0; i < n; i += 1000) {
        const k = Math.min(1000, n - i);
        await queue.submitMany(Array.from({ length: k }, (_, j) => [type, { j }] as const));
      }
    }
    const runs: { type: string; at: number }[] = [];
    const handler = (type: string) => () => void runs.push({ type, at: clock.now() });
    const w = new Worker(queue, "w1").task("a", handler("a")).task("b", handler("b"))
      .configure({ concurrency: 1, listLimit: MAX_RECORDS / MAX_BATCH_TASKS });
    const other = () => runs.find((r) => r.type !== runs[0]!.type);
    try {
      // One task every 70 ms: room for a body of the other lane comes with the 100th.
      for (let round = 0; round < 400 && other() === undefined; round++) {
        await w.pollOnce();
        await w.drain();
        clock.advance(70);
      }
    } finally {
      await w.stop();
    }
    const waited = other();
    assert.ok(waited !== undefined, "the lane that waited ran a task");
    const roomAt = runs[MAX_BATCH_TASKS - 1]!.at;
    assert.equal(runs[MAX_BATCH_TASKS - 1]!.type, runs[0]!.type, "one lane alone until then");
    const late = waited.at - roomAt;
    assert.ok(late <= 700, `its first task ran ${late} ms after there was room for its body`);
  });

  it("the body carries records up to its byte budget and names the rest", async () => {
    const { queue, clock } = memQueue({ shardCount: 1 });
    const big = "x".repeat(Math.floor(MAX_BATCH_RECORD_BYTES / 2.5));
    const tasks = await queue.submitMany([1, 2, 3, 4].map((n) => ["job", { n, big }] as const));
    const c = await batchCandidate(queue);
    const body = await readBatchBody(queue.context, c.entry.key);
    assert.equal(body?.ids.length, 4);
    assert.deepEqual([...body!.records.keys()], tasks.slice(0, 2).map((t) => t.id));
    // Every task still runs: the ones without a record are read first.
    const w = await expanded(queue, clock);
    for (const t of tasks) assert.equal((await claim(queue, w.get(t.id)!, "w1")).kind, "claimed");
  });
});

// `n` task records of one batch (not written).
async function records(queue: Queue, clock: FakeClock, n: number): Promise<TaskRecord[]> {
  const now = clock.now();
  const recs = await Promise.all(
    Array.from(
      { length: n },
      (_, i) => newTaskRecord("job", { i }, {}, queue.options, now, PROBE_PLACEMENT),
    ),
  );
  return recs.map((r) => ({ ...r, shard: "0", ready_batch: "01KBATCH0000000000000000AA" }));
}
