// oq-test: runtimes=node,bun,deno timeout=180
/**
 * The rate limit's bound on real handler starts (issue 19): a start is recorded before the
 * claim's writes, so a claim whose writes are slow must not start its handler later than
 * the slack after its recorded start (it records a new start if the window has room, else
 * it is given back, attempt unspent), and an early one
 * waits for it. Memory store, fake clock; the slow writes move the clock.
 */
import { describe } from "node:test";
import assert from "node:assert/strict";
import type { PutOptions, PutResult } from "../src/store/types.ts";
import { MemoryStore } from "../src/store/memory_store.ts";
import { rateSpan, START_SLACK_MS } from "../src/protocol/rate.ts";
import { Queue } from "../src/queue/queue.ts";
import { Worker } from "../src/worker/worker.ts";
import * as transitions from "../src/task/transitions.ts";
import { FakeClock, it, memQueue, settle } from "./helpers.ts";

/** A memory store whose claim writes (a task PUT to `running`) take `delay(n)` ms of fake time. */
class SlowClaims extends MemoryStore {
  claims = 0;
  /** Writes of the rate log (recorded starts). */
  ratePuts = 0;
  readonly #clock: FakeClock;
  readonly #delay: (n: number) => number;
  constructor(clock: FakeClock, delay: (n: number) => number) {
    super({ clock: clock.now });
    this.#clock = clock;
    this.#delay = delay;
  }
  override async put(
    key: string,
    body: Uint8Array | string,
    options: PutOptions = {},
  ): Promise<PutResult> {
    const r = await super.put(key, body, options);
    if (key.includes("control/rate/")) this.ratePuts++;
    const text = typeof body === "string" ? body : new TextDecoder().decode(body);
    if (key.startsWith("tasks/") && options.ifMatch && text.includes('"status":"running"')) {
      const ms = this.#delay(this.claims++);
      if (ms > 0) this.#clock.advance(ms);
    }
    return r;
  }
}

/** Most of the (sorted) `starts` in any half-open window of `ms`. */
function maxInWindow(starts: number[], ms: number): number {
  let max = 0;
  for (let i = 0, j = 0; i < starts.length; i++) {
    while (starts[i]! - starts[j]! >= ms) j++;
    max = Math.max(max, i - j + 1);
  }
  return max;
}

/** `n` workers of type "a" recording their handler starts; tasks finish at once. */
async function runRated(
  store: MemoryStore,
  clock: FakeClock,
  tasks: number,
  workers: number,
  ratePerSecond = 2,
) {
  // The fake clock's timers too: a start that is early waits for its recorded time on it.
  const queue = new Queue(store, { warn: () => {}, shardCount: 2, clock });
  await queue.setLimit("a", { ratePerSecond });
  const starts: number[] = [];
  let released = 0;
  const ws = Array.from({ length: workers }, (_, i) => {
    const w = new Worker(queue, `w${i}`).task("a", () => void starts.push(clock.now()));
    w.on("task:released", () => void released++);
    w.configure({ withMonitor: false, concurrency: 1 });
    return w;
  });
  const submitted = await queue.submitMany(
    Array.from({ length: tasks }, (_, i) => ["a", { i }] as const),
  );
  try {
    for (let r = 0; r < 2000 && starts.length < tasks; r++) {
      for (const w of ws) await w.pollOnce();
      await settle();
      clock.advance(100);
      await settle();
    }
  } finally {
    for (const w of ws) await w.drain();
  }
  const attempts = await Promise.all(submitted.map(async (t) => (await queue.get(t.id))!));
  return { starts: starts.sort((x, y) => x - y), released, tasks: attempts };
}

describe("rate limit: handler starts, not only recorded starts", () => {
  it("a claim whose writes are slow does not start its handler outside the bound; its attempt is not spent", async () => {
    const clock = new FakeClock();
    // The first and fifth claims' task writes take 900 ms (more than the slack), the others
    // none. At 1 start per second a late claim finds its own recorded start still in the
    // window, so it must be given back whatever the other worker did meanwhile (at 2 per
    // second that hung on the order of the two workers' steps).
    const store = new SlowClaims(clock, (n) => n === 0 || n === 4 ? 900 : 0);
    const r = await runRated(store, clock, 9, 2, 1);
    assert.equal(r.starts.length, 9, `${r.starts.length} of 9 ran`);
    assert.ok(
      maxInWindow(r.starts, 1000) <= 1,
      `more than 1 handler start in a second: ${r.starts.map((s) => s - r.starts[0]!)}`,
    );
    assert.ok(r.released > 0, "no late claim was given back: the scenario did not test the bound");
    for (const t of r.tasks) {
      assert.equal(t.status, "completed");
      assert.equal(t.attempt, 1, `${t.id} spent ${t.attempt} attempts`);
    }
  });

  it("steady slow writes: the worker learns to record its starts ahead and keeps running", async () => {
    const clock = new FakeClock();
    const store = new SlowClaims(clock, () => 400);
    const r = await runRated(store, clock, 8, 1);
    assert.equal(r.starts.length, 8);
    assert.ok(maxInWindow(r.starts, 1000) <= 2, "maxInWindow(r.starts, 1000) <= 2");
    // 400 ms is past the slack: the first claims are late (recorded again, or given back
    // when the window is full), then the lead covers it.
    const late = r.released + (store.ratePuts - 8);
    assert.ok(late >= 1 && late <= 4, `${late} late claims (${r.released} given back)`);
    for (const t of r.tasks) assert.equal(t.attempt, 1);
  });

  it("a late claim records a new start when the window has room, instead of giving the task back", async () => {
    const clock = new FakeClock();
    const store = new SlowClaims(clock, (n) => n === 0 ? 900 : 0);
    const r = await runRated(store, clock, 1, 1);
    assert.equal(r.starts.length, 1, "the task ran");
    assert.equal(r.released, 0, "it was not given back");
    assert.equal(store.ratePuts, 2, "its late start was recorded again (the first record stays)");
    assert.equal(r.tasks[0]!.attempt, 1, "one attempt");
  });

  it("the span is the window widened by the clocks' disagreement and the slack", () => {
    assert.equal(rateSpan(1000, 0), 1000 + START_SLACK_MS);
    assert.equal(rateSpan(60_000, 40), 60_000 + 80 + START_SLACK_MS);
  });

  it("unclaim: back to pending, due now, with the attempt it had; a cancel request cancels", async () => {
    const { queue, clock } = memQueue();
    const t = await queue.submit("a", {});
    const rec = (await queue.context.tasks.read(t.id))!.rec;
    clock.advance(1000);
    const c = transitions.claim(rec, clock.now(), "w1", 60_000);
    assert.ok(c.ok, "c.ok");
    const ref = { workerId: "w1", attempt: 1 };
    const u = transitions.unclaim(c.next, clock.now() + 5, ref);
    assert.ok(u.ok, "u.ok");
    assert.deepEqual(
      [u.next.status, u.next.attempt, u.next.available_at, u.next.lease_expires_at],
      ["pending", 0, new Date(clock.now() + 5).toISOString(), null],
    );
    // A new ready key: a stale cleanup of the old one cannot delete the new entry.
    assert.notEqual(queue.context.tasks.readyKey(u.next), queue.context.tasks.readyKey(rec));
    const x = transitions.unclaim({ ...c.next, cancel_requested: true }, clock.now(), ref);
    assert.ok(x.ok && x.next.status === "cancelled", 'x.ok && x.next.status === "cancelled"');
    assert.equal(
      transitions.unclaim(c.next, clock.now(), { workerId: "w2", attempt: 1 }).ok,
      false,
    );
  });
});
