// oq-test: runtimes=node,bun,deno timeout=120
/**
 * Workers share the polling of their task types (src/worker/peers.ts): the live peers are
 * counted from the heartbeats, and each of N workers lists an active lane N times less
 * often (src/worker/poll_schedule.ts).
 */
import { describe } from "node:test";
import assert from "node:assert/strict";
import { FakeClock, it, memQueue } from "./helpers.ts";
import { putHeartbeat } from "./fixtures/heartbeat.ts";
import { PeerView } from "../src/worker/peers.ts";
import { DEFAULT_POLL_SETTINGS, PollSchedule } from "../src/worker/poll_schedule.ts";
import { RequestCounters } from "../src/s3/counters.ts";
import { Worker } from "../src/worker/worker.ts";
import type { Queue } from "../src/queue/queue.ts";

const SETTINGS = { intervalMs: 60_000, freshMs: 75_000 };

function beat(queue: Queue, worker_id: string, task_types: string[]) {
  return putHeartbeat(queue, {
    worker_id,
    shards: ["0"],
    task_types,
    started_at: new Date(0).toISOString(),
    concurrency: 4,
    runtime: "node",
  });
}

describe("PeerView", () => {
  it("counts the live workers of each of its types, itself included, from fresh heartbeats", async () => {
    const { queue, clock } = memQueue();
    await beat(queue, "old", ["email"]);
    clock.advance(80_000); // "old" stopped beating: stale
    await beat(queue, "w1", ["email"]); // itself
    await beat(queue, "a", ["email", "pdf"]);
    await beat(queue, "b", ["email"]);
    await beat(queue, "c", ["video"]);
    const view = new PeerView(queue.context, "w1", ["email", "pdf"], SETTINGS, clock.ms);
    assert.equal(view.sharing("email"), 1, "alone until the first count");
    assert.equal(view.counted("email"), undefined, "not counted yet");
    assert.equal(view.due(clock.ms + 4999), false, "the first count comes 5 s after the start");
    assert.equal(view.due(clock.ms + 5000), true);
    clock.advance(60_000); // the others' heartbeats are 60 s old: still fresh (75 s)
    await view.refresh(clock.ms);
    assert.equal(view.sharing("email"), 3, "w1, a and b");
    assert.deepEqual(view.counted("email"), {
      sharing: 3,
      rank: 2,
      keys: ["a", "b", "w1"].map((id) => queue.keys.worker(id)),
      settled: false,
    }, "its first count: not settled");
    assert.equal(view.sharing("pdf"), 2, "w1 and a");
    assert.equal(view.sharing("video"), 1, "not one of its types: nobody counted");
    assert.equal(view.rank("email"), 2, "a and b sort before w1: its turn is the third");
    assert.equal(view.rank("pdf"), 1);
  });

  it("counts when asked, checks a first or changed count 1 s later, then once per interval", async () => {
    const { queue, clock } = memQueue();
    const start = clock.ms;
    const view = new PeerView(queue.context, "w1", ["email"], SETTINGS, start);
    view.recountSoon(); // nothing counted yet: nothing to do
    assert.equal(view.due(start + 100), false);
    view.countNow(start + 100); // batches were listed
    assert.equal(view.due(start + 100), true, "asked: at once");
    await view.refresh(start + 100);
    assert.equal(view.counted("email")?.settled, false, "a first count is not settled");
    assert.equal(view.due(start + 1099), false);
    assert.equal(view.due(start + 1100), true, "checked 1 s later");
    await view.refresh(start + 1100);
    assert.equal(view.counted("email")?.settled, true, "two counts alike");
    assert.equal(view.due(start + 61_099), false);
    await beat(queue, "late", ["email"]); // started after the first counts
    view.recountSoon(); // the late worker took a task of this worker's share
    assert.equal(view.due(start + 2100), true, "asked: 1 s after the last count");
    await view.refresh(start + 2100);
    assert.equal(view.sharing("email"), 2, "the late worker is counted");
    assert.equal(view.counted("email")?.settled, false, "a change");
    assert.equal(view.due(start + 3099), false);
    assert.equal(view.due(start + 3100), true, "a change is checked 1 s later");
    await view.refresh(start + 3100);
    assert.equal(view.counted("email")?.settled, true);
    assert.equal(view.due(start + 63_099), false);
    assert.equal(view.due(start + 63_100), true, "then once per interval");
    view.countNow(start + 4000);
    assert.equal(view.due(start + 4000), false, "once counted, countNow does nothing");
  });

  it("one LIST per interval, and a GET only for a worker it has not met", async () => {
    const { queue, store, clock } = memQueue();
    await beat(queue, "a", ["email"]);
    const view = new PeerView(queue.context, "w1", ["email"], SETTINGS, clock.ms - 60_000);
    let before = store.counters.snapshot();
    await view.refresh(clock.ms);
    let used = RequestCounters.diff(store.counters.snapshot(), before);
    assert.deepEqual([used.LIST, used.GET], [1, 1], JSON.stringify(used));
    // A first count is checked 1 s later (no GET: a is known), then one per interval.
    await view.refresh(clock.ms + 1000);
    assert.equal(RequestCounters.diff(store.counters.snapshot(), before).LIST, 2, "checked");
    assert.equal(RequestCounters.diff(store.counters.snapshot(), before).GET, 1, "a known");
    await view.refresh(clock.ms + 60_999);
    assert.equal(RequestCounters.diff(store.counters.snapshot(), before).LIST, 2, "not due yet");
    clock.advance(30_000);
    await beat(queue, "a", ["email"]); // a beats again
    await beat(queue, "b", ["email"]); // b starts
    clock.advance(31_000);
    before = store.counters.snapshot();
    await view.refresh(clock.ms);
    used = RequestCounters.diff(store.counters.snapshot(), before);
    assert.deepEqual([used.LIST, used.GET], [1, 1], `only b is read: ${JSON.stringify(used)}`);
    assert.equal(view.sharing("email"), 3);
    // a stops cleanly (its heartbeat deleted): counted no more at the next count.
    await store.delete(queue.keys.worker("a"));
    clock.advance(30_000);
    await beat(queue, "b", ["email"]);
    clock.advance(30_000);
    await view.refresh(clock.ms);
    assert.equal(view.sharing("email"), 2, "w1 and b; a is gone");
  });

  it("a heartbeat that is not one is reported once and never counted", async () => {
    const warnings: string[] = [];
    const { queue, store, clock } = memQueue({ warn: (m) => void warnings.push(m) });
    await store.put(queue.keys.worker("junk"), "{not json", {});
    const view = new PeerView(queue.context, "w1", ["email"], SETTINGS, clock.ms - 60_000);
    await view.refresh(clock.ms);
    clock.advance(60_000);
    const before = store.counters.snapshot();
    await view.refresh(clock.ms);
    assert.equal(view.sharing("email"), 1);
    assert.equal(RequestCounters.diff(store.counters.snapshot(), before).GET, 0, "not read again");
    assert.equal(warnings.length, 1, warnings.join("\n"));
  });
});

describe("PollSchedule shares the polling", () => {
  it("a drained lane waits pollIntervalMs x the workers sharing it / the tasks found, at most maxPollIntervalMs", () => {
    let n = 1;
    const s = new PollSchedule(["0"], ["email"], DEFAULT_POLL_SETTINGS, 0, () => n);
    const lane = s.lanes[0]!;
    s.listed(lane, 0, 1, null, true);
    assert.equal(lane.nextListAt, 500);
    n = 3;
    assert.equal(s.interval(lane, 1), 1500);
    assert.equal(s.interval(lane, 3), 500, "3 x 500 ms / 3 found: work comes faster than that");
    assert.equal(s.interval(lane, 2), 750);
    s.listed(lane, 3000, 1, null, true);
    assert.equal(lane.nextListAt, 4500, "on its turn: the interval after");
    s.listed(lane, 4500, 0, null); // empty: backs off from the shared interval
    assert.equal(lane.nextListAt, 6000);
    s.listed(lane, 6000, 0, null);
    assert.equal(lane.nextListAt, 9000, "doubled");
    n = 40;
    assert.equal(s.interval(lane, 1), 5000, "never beyond maxPollIntervalMs");
    s.listed(lane, 9100, 1, null, true);
    assert.equal(lane.nextListAt, 15_000, "40 turns in 5 s, 125 ms apart: its own, nearest 14.1 s");
  });

  it("workers sharing a lane take turns by rank, on the store's clock", () => {
    const [s0, s1] = [0, 1].map((rank) =>
      new PollSchedule(["0"], ["email"], DEFAULT_POLL_SETTINGS, 0, () => 2, () => rank)
    );
    const [a, b] = [s0!.lanes[0]!, s1!.lanes[0]!];
    // Both list at 10 s and find one task each: 2 x 500 ms, their turns half of it apart.
    s0!.listed(a, 10_000, 1, null, true);
    s1!.listed(b, 10_000, 1, null, true);
    assert.deepEqual([a.nextListAt, b.nextListAt], [11_000, 10_500]);
    // Off its turn (listed at once after a wake-up), worker 0 goes back to its turns.
    s0!.listed(a, 10_200, 1, null, true);
    assert.equal(a.nextListAt, 11_000);
    // An empty lane backs off on its turns: every 1 s, then 2 s, worker 1 half a round on.
    s1!.listed(b, 10_500, 0, null);
    assert.equal(b.nextListAt, 11_500);
    s1!.listed(b, 11_500, 0, null);
    assert.equal(b.nextListAt, 13_000, "the nearest of 11, 13, 15 s to 13.5 s");
    // Several tasks found: a shorter interval, turns still half of it apart.
    s0!.listed(a, 11_000, 2, null, true);
    s1!.listed(b, 11_000, 2, null, true);
    assert.deepEqual([a.nextListAt, b.nextListAt], [11_500, 11_250]);
  });

  it("a running worker with a live peer lists its emptied lane half as often", async () => {
    const clock = new FakeClock();
    const { queue } = memQueue({}, clock);
    const w = new Worker(queue, "w1").task("email", () => null);
    w.configure({ withMonitor: false });
    await beat(queue, "w2", ["email"]);
    clock.advance(60_000);
    await beat(queue, "w2", ["email"]);
    await queue.submit("email", {});
    assert.equal((await w.pollOnce()).claimed, 1, "counts its peers, then claims");
    await w.drain();
    assert.equal(w.nextPollAt() - clock.ms, 1000, "2 x pollIntervalMs");
  });
});
