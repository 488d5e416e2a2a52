/**
 * Listing a worker's lanes together (src/worker/listing.ts): one LIST of the lanes' common
 * prefix split by lane, what a truncated page covers, and the worker's switch to listing
 * lane by lane while the index is large.
 */
import { describe } from "node:test";
import assert from "node:assert/strict";
import { it, memQueue } from "./helpers.ts";
import { combinedPrefix, ListingMode, listLane, listLanes } from "../src/worker/listing.ts";
import { Worker } from "../src/worker/worker.ts";

const lanesOf = (shards: string[], types: string[]) =>
  types.flatMap((taskType) => shards.map((shard) => ({ shard, taskType })));

describe("one LIST for several lanes", () => {
  it("the common prefix is a whole path segment under ready/, and only for two lanes or more", () => {
    const { queue } = memQueue({ shardCount: 4 });
    const q = queue.context;
    assert.equal(combinedPrefix(q, lanesOf(["0", "1"], ["email"])), "ready/");
    assert.equal(combinedPrefix(q, lanesOf(["2"], ["email", "emit"])), "ready/2/");
    assert.equal(combinedPrefix(q, lanesOf(["2"], ["email"])), null);
    assert.equal(combinedPrefix(q, []), null);
  });

  it("a complete page gives every lane what its own LIST would, other types passed over", async () => {
    const { queue, clock } = memQueue({ shardCount: 4 });
    const q = queue.context;
    for (let i = 0; i < 12; i++) await queue.submit(i % 3 === 0 ? "other" : "email", { i });
    await queue.submit("email", {}, { delaySeconds: 30 });
    const lanes = lanesOf(["0", "1", "2", "3"], ["email"]);
    const now = clock.now();
    const c = await listLanes(q, "ready/", lanes, now, 1000);
    assert.equal(c.truncated, false);
    assert.deepEqual(c.uncovered, []);
    let total = 0;
    for (const lane of lanes) {
      const own = await listLane(q, lane.shard, lane.taskType, now, 100);
      const got = c.listings.get(lane)!;
      assert.deepEqual(got.candidates, own.candidates, `lane ${lane.shard}`);
      assert.equal(got.nextDueAt, own.nextDueAt);
      assert.equal(got.complete, true);
      total += got.candidates.length;
    }
    assert.equal(total, 8, "the 8 due email tasks, none of the other type");
  });

  it("a truncated page: lanes before its last key are whole, that key's lane partial, later lanes not reached", async () => {
    const { queue, clock } = memQueue({ shardCount: 4 });
    const q = queue.context;
    for (let i = 0; i < 40; i++) await queue.submit("email", { i });
    const lanes = lanesOf(["0", "1", "2", "3"], ["email"]);
    const counts = await Promise.all(
      lanes.map(async (l) =>
        (await listLane(q, l.shard, l.taskType, clock.now(), 100)).candidates.length
      ),
    );
    // A page that ends inside the second lane.
    const limit = counts[0]! + 1;
    const c = await listLanes(q, "ready/", lanes, clock.now(), limit);
    assert.equal(c.truncated, true);
    assert.equal(c.listings.get(lanes[0]!)?.complete, true);
    assert.equal(c.listings.get(lanes[0]!)?.candidates.length, counts[0]);
    assert.equal(c.listings.get(lanes[1]!)?.complete, false);
    assert.equal(c.listings.get(lanes[1]!)?.candidates.length, 1);
    assert.deepEqual(c.uncovered, [lanes[2], lanes[3]]);
  });

  it("a truncated page sends the worker lane by lane for a while, then it tries again", () => {
    const mode = new ListingMode(60_000);
    assert.equal(mode.combined(0), true);
    mode.truncated(1000);
    assert.equal(mode.combined(60_999), false);
    assert.equal(mode.combined(61_000), true);
  });
});

describe("a worker listing its lanes together", () => {
  it("finds work in every lane with one LIST while the index is small", async () => {
    const { queue, store } = memQueue({ shardCount: 4 });
    await queue.syncLayout();
    for (let i = 0; i < 8; i++) await queue.submit("email", { i });
    const w = new Worker(queue, "w1").task("email", () => "ok").configure({
      concurrency: 8,
    });
    try {
      const before = store.counters.snapshot();
      const r = await w.pollOnce();
      await w.drain();
      const after = store.counters.snapshot();
      assert.equal(r.claimed, 8);
      assert.equal(r.listed, 1);
      assert.equal(after.LIST_VERSIONS - before.LIST_VERSIONS, 1);
    } finally {
      await w.stop();
    }
  });

  it("with a backlog, one truncated LIST and then lane by lane; every task runs once", async () => {
    const { queue, store, clock } = memQueue({ shardCount: 4 });
    await queue.syncLayout();
    const n = 300;
    // One by one: an entry per task (submitMany would share entries), a backlog of 300.
    for (let i = 0; i < n; i++) await queue.submit("email", { i });
    const prefixes: string[] = [];
    const list = store.listVersions.bind(store);
    store.listVersions = (o = {}) => {
      if (o.prefix?.startsWith("ready/")) prefixes.push(o.prefix);
      return list(o);
    };
    const ran = new Map<number, number>();
    const w = new Worker(queue, "w1").task(
      "email",
      (input: { i: number }) => void ran.set(input.i, (ran.get(input.i) ?? 0) + 1),
    ).configure({ concurrency: 4, listLimit: 20 });
    try {
      for (let round = 0; round < 400 && ran.size < n; round++) {
        await w.pollOnce();
        await w.drain();
        clock.advance(100);
      }
    } finally {
      await w.stop();
    }
    assert.equal(ran.size, n);
    assert.ok([...ran.values()].every((c) => c === 1), "each task ran once");
    assert.equal(prefixes[0], "ready/", "first, all lanes at once");
    const combined = prefixes.flatMap((p, i) => p === "ready/" ? [i] : []);
    // Lane by lane after the truncated page, until the index was listed whole again.
    assert.ok(prefixes.length > combined.length, "lanes were listed one by one");
    assert.ok(prefixes.slice(1, 5).every((p) => p !== "ready/"), prefixes.slice(0, 6).join(" "));
  });
});
