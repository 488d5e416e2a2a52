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
    assert.equal(view.due(clock.ms + 4999), false, "the first count comes 5 s after the start");
    assert.equal(view.due(clock.ms + 5000), true);
    clock.advance(60_000); // the others' heartbeats are 60 s old: still fresh (75 s)
    await view.refresh(clock.ms);
    assert.equal(view.sharing("email"), 3, "w1, a and b");
    assert.equal(view.sharing("pdf"), 2, "w1 and a");
    assert.equal(view.sharing("video"), 1, "not one of its types: nobody counted");
  });

  it("one LIST per interval, and a GET only for a worker it has not met", async () => {
    const { queue, store, clock } = memQueue();
    await beat(queue, "a", ["email"]);
    const view = new PeerView(queue.context, "w1", ["email"], SETTINGS, clock.ms - 60_000);
    let before = store.counters.snapshot();
    await view.refresh(clock.ms);
    let used = RequestCounters.diff(store.counters.snapshot(), before);
    assert.deepEqual([used.LIST, used.GET], [1, 1], JSON.stringify(used));
    await view.refresh(clock.ms + 59_999);
    assert.equal(RequestCounters.diff(store.counters.snapshot(), before).LIST, 1, "not due yet");
    clock.advance(30_000);
    await beat(queue, "a", ["email"]); // a beats again
    await beat(queue, "b", ["email"]); // b starts
    clock.advance(30_000);
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
    s.listed(lane, 1000, 1, null, true);
    assert.equal(lane.nextListAt, 2500);
    s.listed(lane, 1000, 3, null, true); // three tasks found: work comes faster than that
    assert.equal(lane.nextListAt, 1500, "3 x 500 ms / 3 found");
    s.listed(lane, 1000, 2, null, true);
    assert.equal(lane.nextListAt, 1750, "3 x 500 ms / 2 found");
    s.listed(lane, 3000, 0, null); // empty: backs off from the shared interval
    assert.equal(lane.nextListAt, 4500);
    s.listed(lane, 5000, 0, null);
    assert.equal(lane.nextListAt, 8000, "doubled, then capped at 5 s");
    n = 40;
    s.listed(lane, 9000, 1, null, true);
    assert.equal(lane.nextListAt, 14_000, "never beyond maxPollIntervalMs");
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
