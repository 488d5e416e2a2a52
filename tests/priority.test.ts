// oq-test: runtimes=node,bun,deno timeout=120
/**
 * Task priorities (issue 19): the level is in the ready entry's key, which sorts by the due
 * time moved by an hour per level, so workers claim higher levels first, lower levels age
 * into their turn, and nothing costs a request more. Memory store, fake clock, Worker.pollOnce.
 */
import { after, describe } from "node:test";
import assert from "node:assert/strict";
import { RequestCounters } from "../src/s3/counters.ts";
import { Keys } from "../src/protocol/keys.ts";
import type { Queue } from "../src/queue/queue.ts";
import { MAX_PRIORITY_SHIFT_MS, PRIORITY_STEP_MS } from "../src/task/priority.ts";
import { shuffleLevels } from "../src/worker/listing.ts";
import type { Candidate } from "../src/worker/claim.ts";
import { Worker } from "../src/worker/worker.ts";
import { FakeClock, it, memQueue } from "./helpers.ts";

const HOUR = 3_600_000;

const workers: Worker[] = [];
after(async () => {
  for (const w of workers) await w.stop();
});

/** A worker with one slot that records the `n` of each input it runs, in order (stopped after the suite). */
function recorder(queue: Queue, types = ["t"]) {
  const ran: unknown[] = [];
  let w = new Worker(queue, "w1");
  for (const type of types) w = w.task(type, (input) => void ran.push((input as { n: unknown }).n));
  w.configure({ withMonitor: false, concurrency: 1 });
  workers.push(w);
  return { w, ran };
}

/** Poll and run, a second of fake time per round (idle lanes wake on their schedule). */
async function drainAll(w: Worker, clock: FakeClock, rounds = 40): Promise<void> {
  for (let i = 0; i < rounds; i++) {
    await w.pollOnce();
    await w.drain();
    clock.advance(1000);
  }
}

describe("priorities", () => {
  it("keys: a level other than 0 moves the sort stamp and is parsed back; level 0 keys are as before", () => {
    const keys = new Keys("");
    const due = Date.UTC(2026, 11, 6, 12, 0, 0);
    const plain = keys.ready("s0", "t", due, "s0-0000000000000000000000001a");
    assert.equal(plain, "ready/s0/t/20261206T120000.000Z/s0-0000000000000000000000001a");
    const high = keys.ready("s0", "t", due, "s0-0000000000000000000000001a", 3);
    assert.equal(high, "ready/s0/t/20261206T090000.000Z.p3/s0-0000000000000000000000001a");
    const low = keys.ready("s0", "t", due, "s0-0000000000000000000000001a", -9);
    assert.equal(low, "ready/s0/t/20261206T210000.000Z.p-9/s0-0000000000000000000000001a");
    for (const [key, p] of [[plain, 0], [high, 3], [low, -9]] as const) {
      const e = keys.parseReady(key)!;
      assert.equal(e.dueAt, due, key);
      assert.equal(e.priority, p);
      assert.equal(e.sortAt, due - p * PRIORITY_STEP_MS);
    }
    assert.ok(high < plain && plain < low, "keys sort by the moved time");
    assert.equal(
      keys.parseReady(plain.replace(".000Z/", ".000Z.p0/")),
      null,
      "level 0 has no suffix",
    );
    assert.equal(keys.parseReady(high.replace(".p3", ".p10")), null);
    assert.throws(
      () => keys.ready("s0", "t", due, "s0-0000000000000000000000001a", 10),
      RangeError,
    );
  });

  it("a worker claims higher levels first, and levels survive a retry", async () => {
    const { queue, clock } = memQueue({ shardCount: 1 }); // one lane: its order is the claim order
    for (let i = 0; i < 3; i++) await queue.submit("t", { n: `0-${i}` });
    await queue.submit("t", { n: "5" }, { priority: 5 });
    await queue.submit("t", { n: "-2" }, { priority: -2 });
    const two = await queue.submit("t", { n: "2" }, { priority: 2 });
    assert.equal(two.priority, 2);
    assert.equal((await queue.get(two.id))!.priority, 2);
    const { w, ran } = recorder(queue);
    await drainAll(w, clock);
    assert.deepEqual(ran.slice(0, 2), ["5", "2"]);
    assert.deepEqual(ran.slice(2, 5).sort(), ["0-0", "0-1", "0-2"]);
    assert.equal(ran[5], "-2");
    // Cancelled and retried, a task keeps its level and jumps the queue again.
    const three = await queue.submit("t", { n: "3" }, { priority: 3 });
    await queue.cancel(three.id);
    for (let i = 0; i < 3; i++) await queue.submit("t", { n: `late-${i}` });
    const again = await queue.retry(three.id);
    assert.equal(again.priority, 3);
    ran.length = 0;
    await drainAll(w, clock);
    assert.deepEqual(ran.slice(0, 1), ["3"]);
    assert.equal(ran.length, 4);
  });

  it("aging: a lower level goes first once it has waited longer than the difference is worth", async () => {
    const clock = new FakeClock();
    const { queue } = memQueue({ shardCount: 1 }, clock);
    await queue.submit("t", { n: "low" }, { priority: -1 }); // sorts at t0 + 1 h
    clock.advance(HOUR + 60_000);
    await queue.submit("t", { n: "normal, later" }); // sorts at t0 + 1 h 1 min
    await queue.submit("t", { n: "high, later" }, { priority: 1 }); // sorts at t0 + 1 min
    const { w, ran } = recorder(queue);
    await drainAll(w, clock);
    assert.deepEqual(ran, ["high, later", "low", "normal, later"]);
  });

  it("a delayed high-priority entry that sorts before now is skipped, not claimed early, and the lane's due work behind it is found", async () => {
    const clock = new FakeClock();
    const { queue } = memQueue({ shardCount: 1 }, clock);
    await queue.submit("t", { n: "high, in 30 min" }, { priority: 9, delaySeconds: 1800 });
    await queue.submit("t", { n: "low, now" }, { priority: -9 }); // sorts 9 h ahead
    const { w, ran } = recorder(queue);
    await drainAll(w, clock, 5);
    assert.deepEqual(ran, ["low, now"]);
    clock.advance(1800_000 + 1000);
    await drainAll(w, clock, 30);
    assert.deepEqual(ran, ["low, now", "high, in 30 min"]);
  });

  it("across lanes: the worker claims the lane whose first task sorts first", async () => {
    const { queue, clock } = memQueue({ shardCount: 4 });
    for (let i = 0; i < 8; i++) await queue.submit("a", { n: `a${i}` });
    await queue.submit("b", { n: "b-high" }, { priority: 4 });
    const { w, ran } = recorder(queue, ["a", "b"]);
    await drainAll(w, clock);
    assert.equal(ran[0], "b-high");
    assert.equal(ran.length, 9);
  });

  it("bad levels are refused with a clear error and write nothing", async () => {
    const { queue, store } = memQueue();
    await queue.syncLayout();
    const before = store.counters.snapshot();
    for (const bad of [10, -10, 1.5, Number.NaN, "high", null]) {
      await assert.rejects(
        queue.submit("t", {}, { priority: bad as number }),
        (e: Error) => e instanceof RangeError && /priority.*-9 to 9/.test(e.message),
        String(bad),
      );
    }
    assert.equal(RequestCounters.diff(store.counters.snapshot(), before).PUT, 0);
  });

  it("a level costs no request: submit, claim and complete cost the same with and without one", async () => {
    const cost = async (priority?: number) => {
      const { queue, store, clock } = memQueue();
      await queue.syncLayout();
      const { w } = recorder(queue);
      const before = store.counters.snapshot();
      for (let i = 0; i < 20; i++) {
        await queue.submit("t", { n: i }, priority === undefined ? {} : { priority });
      }
      await drainAll(w, clock, 30);
      return RequestCounters.diff(store.counters.snapshot(), before);
    };
    const plain = await cost();
    assert.deepEqual(await cost(7), plain);
    assert.deepEqual(await cost(-3), plain);
  });

  it("shuffling spreads workers within a level and keeps the order between levels", () => {
    const c = (priority: number, n: number) =>
      ({ entry: { priority, sortAt: n, taskId: String(n) } }) as unknown as Candidate;
    for (let round = 0; round < 50; round++) {
      const list = [c(3, 1), c(3, 2), c(3, 3), c(0, 4), c(0, 5), c(-1, 6), c(0, 7)];
      const out = shuffleLevels(list).map((x) => x.entry.priority);
      assert.deepEqual(out, [3, 3, 3, 0, 0, -1, 0]);
    }
    assert.ok(
      MAX_PRIORITY_SHIFT_MS === 9 * PRIORITY_STEP_MS,
      "MAX_PRIORITY_SHIFT_MS === 9 * PRIORITY_STEP_MS",
    );
  });
});
