// oq-test: runtimes=node,bun,deno timeout=120
/**
 * Pause and resume a task type for every worker (issue 19): on the memory store with a fake
 * clock, driving Worker.pollOnce directly, so every bound is in the clock's time.
 */
import { describe } from "node:test";
import assert from "node:assert/strict";
import { SchemaError } from "../src/base/errors.ts";
import { setPaused } from "../src/protocol/flow.ts";
import type { GetOptions } from "../src/store/types.ts";
import { MemoryStore } from "../src/store/memory_store.ts";
import { Queue } from "../src/queue/queue.ts";
import { Worker } from "../src/worker/worker.ts";
import { DEFAULT_POLL_SETTINGS } from "../src/worker/poll_schedule.ts";
import { FakeClock, it, memQueue } from "./helpers.ts";

const WAKE = DEFAULT_POLL_SETTINGS.wakeCheckIntervalMs;

/** A worker for types a and b that records what it claimed. */
function worker(queue: Queue, id = "w1") {
  const started: string[] = [];
  const w = new Worker(queue, id)
    .task("a", (_i, ctx) => void started.push(ctx.task.id))
    .task("b", (_i, ctx) => void started.push(ctx.task.id));
  w.configure({ withMonitor: false, concurrency: 8 });
  return { w, started };
}

/** Poll every `stepMs` of fake time for `ms`. */
async function pollFor(w: Worker, clock: FakeClock, ms: number, stepMs = 500) {
  for (let t = 0; t < ms; t += stepMs) {
    await w.pollOnce();
    await w.drain();
    clock.advance(stepMs);
  }
}

describe("pause and resume a task type", () => {
  it("pause, isPaused, pausedTypes, resume; idempotent; bad names and reasons refused", async () => {
    const { queue } = memQueue();
    assert.equal(await queue.isPaused("a"), false);
    const p = await queue.pause("a", { reason: "provider outage" });
    assert.deepEqual([p.changed, p.signalled, p.control.paused], [true, true, true]);
    assert.equal(await queue.isPaused("a"), true);
    const again = await queue.pause("a", { reason: "provider outage" });
    assert.equal(again.changed, false);
    assert.deepEqual(
      (await queue.pausedTypes()).map((c) => [c.taskType, c.reason]),
      [["a", "provider outage"]],
    );
    const r = await queue.resume("a");
    assert.deepEqual([r.changed, r.control.paused, r.control.reason], [true, false, null]);
    assert.equal((await queue.resume("a")).changed, false);
    assert.deepEqual(await queue.pausedTypes(), []);
    assert.equal((await queue.resume("never-paused")).changed, false);
    await assert.rejects(queue.pause("../x"), /task type/);
    await assert.rejects(queue.pause("a", { reason: "x".repeat(501) }), /at most 500/);
    assert.equal(await queue.isPaused("a"), false, "a refused pause wrote nothing");
  });

  it("a running worker stops claiming a paused type by its next wake-up check; resume restarts it", async () => {
    const { queue, clock } = memQueue({ shardCount: 2 });
    const { w, started } = worker(queue);
    await pollFor(w, clock, 1000); // the worker is up, knows nothing is paused
    await queue.pause("a");
    const pausedAt = clock.ms;
    // The bound: a worker may claim the type until its next wake-up check (WAKE); after, never.
    await pollFor(w, clock, WAKE);
    // Submitting still works while paused.
    const a = await queue.submitMany(Array.from({ length: 6 }, () => ["a", {}] as const));
    const b = await queue.submit("b", {});
    await pollFor(w, clock, WAKE + 500);
    assert.ok(started.includes(b.id), "the other type is claimed");
    assert.ok(a.every((t) => !started.includes(t.id)), "no task of the paused type was claimed");
    assert.deepEqual(w.pausedTypes, ["a"]);
    // Ten minutes later, still nothing claimed, and the tasks are pending, untouched.
    await pollFor(w, clock, 600_000, 5000);
    for (const t of a) {
      const now = (await queue.get(t.id))!;
      assert.equal(now.status, "pending");
      assert.equal(now.attempt, 0);
    }
    assert.ok(clock.ms - pausedAt > 600_000, "clock.ms - pausedAt > 600_000");
    await queue.resume("a");
    const resumedAt = clock.ms;
    let seen = -1;
    for (let t = 0; t <= WAKE + 1000; t += 250) {
      await w.pollOnce();
      await w.drain();
      if (a.every((x) => started.includes(x.id))) {
        seen = clock.ms - resumedAt;
        break;
      }
      clock.advance(250);
    }
    assert.ok(seen >= 0 && seen <= WAKE, `resumed tasks claimed ${seen} ms after resume`);
    for (const t of a) assert.equal((await queue.get(t.id))!.status, "completed");
  });

  it("a task already running when its type is paused finishes normally", async () => {
    const { queue, clock } = memQueue({ shardCount: 1 });
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const w = new Worker(queue, "w1").task("a", () => gate.then(() => ({ done: true })));
    w.configure({ withMonitor: false });
    const t = await queue.submit("a", {});
    assert.equal((await w.pollOnce()).claimed, 1);
    await queue.pause("a");
    clock.advance(WAKE);
    await w.pollOnce();
    release();
    await w.drain();
    const done = (await queue.get(t.id))!;
    assert.equal(done.status, "completed");
    assert.deepEqual(done.output, { done: true });
  });

  it("a lost wake-up signal delays the pause only until the worker's safety check", async () => {
    const clock = new FakeClock();
    let failSignals = false;
    class Flaky extends MemoryStore {
      override put(key: string, body: Uint8Array | string, options?: object) {
        if (failSignals && key.includes("signals/")) {
          return Promise.reject(new Error("connection reset"));
        }
        return super.put(key, body, options);
      }
    }
    const queue = new Queue(new Flaky({ clock: clock.now }), { warn: () => {}, shardCount: 1 });
    const { w, started } = worker(queue);
    await pollFor(w, clock, 1000);
    failSignals = true;
    const p = await queue.pause("a");
    assert.deepEqual([p.changed, p.signalled], [true, false]);
    failSignals = false;
    const t = await queue.submit("a", {}); // touches the signal again: coalesced, not sent
    let claimedAt = -1;
    for (let ms = 0; ms < DEFAULT_POLL_SETTINGS.safetyPollIntervalMs + 10_000; ms += 5000) {
      await w.pollOnce();
      await w.drain();
      if (started.includes(t.id)) claimedAt = ms;
      if (w.pausedTypes.includes("a")) break;
      clock.advance(5000);
    }
    assert.deepEqual(w.pausedTypes, ["a"], "the pause was seen by the safety check");
    // Until then the worker may have claimed it (it did not know); after, never.
    const before = started.length;
    await pollFor(w, clock, 60_000, 5000);
    assert.equal(started.length, before);
    assert.ok(
      claimedAt === -1 || claimedAt < DEFAULT_POLL_SETTINGS.safetyPollIntervalMs + 10_000,
      "claimedAt === -1 || claimedAt < DEFAULT_POLL_SETTINGS.safetyPollIntervalMs + 10_000",
    );
  });

  it("costs a worker nothing per poll: one control GET per type at start and per safety interval", async () => {
    const clock = new FakeClock();
    const controlGets: string[] = [];
    class Counting extends MemoryStore {
      override get(key: string, options?: GetOptions) {
        if (key.includes("control/")) controlGets.push(key);
        return super.get(key, options);
      }
    }
    const queue = new Queue(new Counting({ clock: clock.now }), { warn: () => {} });
    const { w } = worker(queue);
    const hour = 3_600_000;
    await pollFor(w, clock, hour, 1000);
    const perType = 1 + Math.floor(hour / DEFAULT_POLL_SETTINGS.safetyPollIntervalMs);
    assert.ok(
      controlGets.length <= 2 * perType,
      `${controlGets.length} control GETs in an idle hour for 2 types (bound ${2 * perType})`,
    );
    // A burst of submits (signal changes) costs at most one control GET per observed change.
    const before = controlGets.length;
    for (let i = 0; i < 50; i++) await queue.submit("a", { i });
    await pollFor(w, clock, 10_000, 500);
    assert.ok(
      controlGets.length - before <= 2,
      `${controlGets.length - before} GETs for 50 submits`,
    );
  });

  it("a malformed control object is reported once and does not stop the worker; unknown fields survive a pause", async () => {
    const warnings: string[] = [];
    const clock = new FakeClock();
    const store = new MemoryStore({ clock: clock.now });
    const queue = new Queue(store, { warn: (m) => void warnings.push(m), shardCount: 1 });
    await store.put(queue.keys.control("a"), "{not json");
    const { w, started } = worker(queue);
    const t = await queue.submit("a", {});
    await pollFor(w, clock, 20_000, 1000);
    assert.ok(started.includes(t.id), "treated as not paused");
    assert.equal(warnings.filter((m) => m.includes("control/types/a.json")).length, 1);
    await assert.rejects(queue.isPaused("a"), SchemaError);
    // A record written by a newer oq, with a field this one does not know.
    await store.put(
      queue.keys.control("b"),
      JSON.stringify({
        schema_version: 1,
        task_type: "b",
        paused: false,
        reason: null,
        updated_at: new Date(0).toISOString(),
        revision: 3,
        write_id: "x",
        concurrency: 5,
      }),
    );
    await setPaused(queue.context, "b", true);
    const o = await store.get(queue.keys.control("b"));
    const rec = JSON.parse(new TextDecoder().decode((o as { body: Uint8Array }).body));
    assert.deepEqual([rec.paused, rec.concurrency, rec.revision], [true, 5, 4]);
  });

  it("two operators pausing and resuming at once: each write is a compare-and-swap, the last one wins", async () => {
    const { queue } = memQueue();
    const ops = Array.from(
      { length: 20 },
      (_, i) => i % 2 ? queue.pause("a", { reason: `r${i}` }) : queue.resume("a"),
    );
    await Promise.all(ops);
    const o = await queue.context.store.get(queue.keys.control("a"));
    const rec = JSON.parse(new TextDecoder().decode((o as { body: Uint8Array }).body));
    assert.equal(rec.paused, await queue.isPaused("a"));
    assert.ok(rec.revision >= 1, "rec.revision >= 1");
  });
});
