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
import type { Queue } from "../src/queue/queue.ts";
import { RequestCounters } from "../src/s3/counters.ts";
import type { MemoryStore } from "../src/store/memory_store.ts";
import {
  MAX_BATCH_RECORD_BYTES,
  readBatchBody,
  writeBatchEntry,
} from "../src/protocol/ready_batches.ts";
import { newTaskRecord, PROBE_PLACEMENT } from "../src/task/new_task.ts";
import type { TaskRecord } from "../src/task/task.ts";
import { BatchEntries, MAX_RECORDS } from "../src/worker/batch_entries.ts";
import { type Candidate, claimCandidate } from "../src/worker/claim.ts";
import { type FakeClock, it, memQueue } from "./helpers.ts";

async function batchCandidate(queue: Queue): Promise<Candidate> {
  const listed = await queue.store.list({ prefix: "ready/" });
  const batch = listed.objects.filter((o) => queue.keys.parseReadyBatch(o.key) !== null);
  assert.equal(batch.length, 1, "one batch entry");
  return { entry: queue.keys.parseReadyBatch(batch[0]!.key)!, versionId: "null", writtenAt: 0 };
}

// The candidates a worker of its own (its own BatchEntries) makes of the batch, by task id;
// `peers` counts the type's live workers (`undefined`: not counted yet).
async function expanded(
  queue: Queue,
  clock: FakeClock,
  peers: () => number | undefined = () => 1,
): Promise<Map<string, Candidate>> {
  const entries = new BatchEntries(queue.context, (e) => {
    throw e;
  }, peers);
  const cs = await entries.expand([await batchCandidate(queue)], clock.now());
  return new Map(cs.map((c) => [c.entry.taskId, c]));
}

// Requests of `f` by kind.
async function counted<T>(store: MemoryStore, f: () => Promise<T>) {
  const s0 = store.counters.snapshot();
  const result = await f();
  return { result, n: RequestCounters.diff(store.counters.snapshot(), s0) };
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

  it("peers: alone, claims in flight all assume; not counted, one until a win; shared, none", async () => {
    const { queue, store, clock } = memQueue({ shardCount: 1 });
    const tasks = await queue.submitMany(
      Array.from({ length: 12 }, (_, i) => ["job", { i }] as const),
    );
    const ids = tasks.map((t) => t.id);
    const round = async (w: Map<string, Candidate>, some: string[]) =>
      (await counted(store, () => Promise.all(some.map((id) => claim(queue, w.get(id)!, "w1"))))).n;
    assert.equal((await round(await expanded(queue, clock, () => 1), ids.slice(0, 4))).GET, 0);
    const uncounted = await expanded(queue, clock, () => undefined);
    assert.equal((await round(uncounted, ids.slice(4, 8))).GET, 3, "one assumes, three read");
    assert.equal((await round(uncounted, ids.slice(8, 10))).GET, 0, "after its win, all assume");
    const shared = await round(await expanded(queue, clock, () => 2), ids.slice(10));
    assert.equal(shared.GET, 2, "other workers run the type: read first");
    assert.equal(shared.PUT, 2 * 2, "no lost write");
    for (const t of tasks) assert.equal((await queue.get(t.id))?.status, "running", t.id);
  });

  it("past MAX_RECORDS kept, the batch listed longest ago gives its records up", async () => {
    const { queue, store, clock } = memQueue({ shardCount: 1 });
    const n = MAX_RECORDS / 100 + 1; // batches of 100
    for (let b = 0; b < n; b++) {
      await queue.submitMany(Array.from({ length: 100 }, (_, i) => ["job", { b, i }] as const));
    }
    const listed = (await store.list({ prefix: "ready/" })).objects.map((o) => ({
      entry: queue.keys.parseReadyBatch(o.key)!,
      versionId: "null",
      writtenAt: 0,
    }));
    assert.equal(listed.length, n);
    const entries = new BatchEntries(queue.context, (e) => {
      throw e;
    });
    const [first] = await entries.expand([listed[0]!], clock.now());
    clock.advance(1000);
    const rest = await entries.expand(listed.slice(1), clock.now());
    const old = await counted(store, () => claim(queue, first!, "w1"));
    assert.equal(old.result.kind, "claimed");
    assert.equal(old.n.GET, 1, "its records were given up: read first");
    const recent = await counted(store, () => claim(queue, rest[0]!, "w1"));
    assert.equal(recent.n.GET, 0, "a batch listed since keeps its records");
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
