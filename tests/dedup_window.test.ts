// oq-test: runtimes=node,bun,deno timeout=300
/**
 * Deduplication windows (`idempotencyTtlSeconds`): within the window a re-submit returns the
 * task; after it a finished task is replaced under the same id (one new version, one winner
 * among concurrent re-submits); a live task is still returned. Requests counted. Memory store
 * with a fake clock.
 */
import { describe } from "node:test";
import assert from "node:assert/strict";
import { Monitor } from "../src/monitor/monitor.ts";
import type { Queue } from "../src/queue/queue.ts";
import { RequestCounters, type RequestCounts, type RequestMeter } from "../src/s3/counters.ts";
import { parseJsonLines, submitOptions, withFlagNames } from "../src/cli/submit.ts";
import type { SubmitOptions } from "../src/task/new_task.ts";
import { parseTaskRecord } from "../src/task/task.ts";
import { Worker } from "../src/worker/worker.ts";
import { FakeClock, it, memQueue } from "./helpers.ts";

const HOUR = 3_600_000;

/** A queue with one shard over a fresh memory store, with a fake clock. */
function world() {
  return memQueue({ shardCount: 1 }, new FakeClock());
}

/**
 * Requests of a submit, by kind (only the kinds it used). A plain submit of the same type
 * just before touches the wake-up signal, so the counted one finds it coalesced.
 */
async function submitCounted(
  queue: Queue,
  store: { counters: RequestMeter },
  input: unknown,
  options: SubmitOptions,
): Promise<Partial<RequestCounts>> {
  await queue.submit("job", "warm-up");
  const before = store.counters.snapshot();
  await queue.submit("job", input, options);
  const d = RequestCounters.diff(store.counters.snapshot(), before);
  return Object.fromEntries(Object.entries(d).filter(([, n]) => n > 0));
}

/** Run every due task of type "job" with a worker that echoes its input. */
async function work(queue: Queue, seen: unknown[] = []): Promise<void> {
  const worker = new Worker(queue, "w").task("job", (input: unknown) => {
    seen.push(input);
    return { echo: input };
  });
  try {
    await worker.pollOnce();
    await worker.drain();
  } finally {
    await worker.stop();
  }
}

const KEYED = { idempotencyKey: "order-42", idempotencyTtlSeconds: 3600 };

describe("deduplication window", () => {
  it("within the window a re-submit returns the task: no new version", async () => {
    const { queue, clock } = world();
    const first = await queue.submit("job", { n: 1 }, KEYED);
    assert.equal(first.idempotencyExpiresAt?.getTime(), clock.ms + HOUR);
    await work(queue);
    clock.advance(HOUR - 1);
    const again = await queue.submit("job", { n: 2 }, KEYED);
    assert.equal(again.id, first.id);
    assert.equal(again.status, "completed");
    assert.deepEqual(again.input, { n: 1 });
    const history = await queue.getHistory(first.id);
    assert.deepEqual(history.map((t) => t.status), ["pending", "running", "completed"]);
  });

  it("after the window a finished task is replaced: same id, one new version", async () => {
    const { queue, clock } = world();
    const first = await queue.submit("job", { n: 1 }, KEYED);
    await work(queue);
    clock.advance(HOUR);
    const again = await queue.submit("job", { n: 2 }, KEYED);
    assert.equal(again.id, first.id);
    assert.equal(again.status, "pending");
    assert.deepEqual(again.input, { n: 2 });
    assert.equal(again.createdAt.getTime(), clock.ms);
    assert.equal(again.idempotencyExpiresAt?.getTime(), clock.ms + HOUR, "a new window");
    const history = await queue.getHistory(first.id);
    assert.deepEqual(
      history.map((t) => t.status),
      ["pending", "running", "completed", "pending"],
      "the old task's versions stay in history, then the new task's one",
    );
    assert.equal(again.revision, history[2]!.revision + 1, "the revision counts on");
    // The new task runs (its ready entry was written before it), the old one does not again.
    const seen: unknown[] = [];
    await work(queue, seen);
    assert.deepEqual(seen, [{ n: 2 }]);
    assert.equal((await queue.get(first.id))?.status, "completed");
  });

  it("concurrent re-submits after the window: exactly one new task, all return it", async () => {
    const { queue, clock } = world();
    const first = await queue.submit("job", { n: 0 }, KEYED);
    await work(queue);
    clock.advance(2 * HOUR);
    const before = (await queue.getHistory(first.id)).length;
    const all = await Promise.all(
      Array.from({ length: 8 }, (_, i) => queue.submit("job", { n: i + 1 }, KEYED)),
    );
    const history = await queue.getHistory(first.id);
    assert.equal(history.length, before + 1, "one new version");
    const winner = history[history.length - 1]!;
    assert.equal(winner.status, "pending");
    for (const t of all) {
      assert.equal(t.id, first.id);
      assert.deepEqual(t.input, winner.input, "every submit returns the winner's task");
      assert.equal(t.revision, winner.revision);
    }
    const seen: unknown[] = [];
    await work(queue, seen);
    assert.deepEqual(seen, [winner.input], "the new task runs once");
  });

  it("after the window a pending or running task is still returned (no two live tasks)", async () => {
    const { queue, clock } = world();
    const first = await queue.submit("job", { n: 1 }, KEYED);
    clock.advance(HOUR);
    const pending = await queue.submit("job", { n: 2 }, KEYED);
    assert.equal(pending.status, "pending");
    assert.deepEqual(pending.input, { n: 1 });
    // Running past its window: still returned.
    let release!: () => void;
    const gate = new Promise<void>((r) => release = r);
    const worker = new Worker(queue, "w").task("job", async (input: unknown) => {
      await gate;
      return input;
    });
    try {
      await worker.pollOnce();
      const running = await queue.submit("job", { n: 3 }, KEYED);
      assert.equal(running.status, "running");
      assert.deepEqual(running.input, { n: 1 });
      release();
      await worker.drain();
    } finally {
      release();
      await worker.stop();
    }
    // Once it has finished, the next submit replaces it.
    const next = await queue.submit("job", { n: 4 }, KEYED);
    assert.equal(next.id, first.id);
    assert.equal(next.status, "pending");
    assert.deepEqual(next.input, { n: 4 });
  });

  it("every finished state is replaced after the window: failed, cancelled, expired", async () => {
    const { queue, clock } = world();
    const key = (k: string) => ({ idempotencyKey: k, idempotencyTtlSeconds: 60 });
    const failed = await queue.submit("bad", null, { ...key("f"), maxRetries: 0 });
    const worker = new Worker(queue, "w").task("bad", () => {
      throw new Error("no");
    });
    try {
      await worker.pollOnce();
      await worker.drain();
    } finally {
      await worker.stop();
    }
    const cancelled = await queue.submit("job", null, key("c"));
    await queue.cancel(cancelled.id);
    const expired = await queue.submit("job", null, { ...key("e"), ttlSeconds: 1 });
    clock.advance(2_000);
    await new Monitor(queue).runOnce();
    for (
      const [t, status] of [[failed, "failed"], [cancelled, "cancelled"], [expired, "expired"]]
    ) {
      assert.equal((await queue.get((t as { id: string }).id))?.status, status);
    }
    clock.advance(60_000);
    for (
      const [t, k, type] of [[failed, "f", "bad"], [cancelled, "c", "job"], [expired, "e", "job"]]
    ) {
      const again = await queue.submit(type as string, { again: true }, key(k as string));
      assert.equal(again.id, (t as { id: string }).id);
      assert.equal(again.status, "pending", `${k} replaced`);
    }
  });

  it("without the option a key holds forever, at the same cost as before", async () => {
    const { queue, store, clock } = world();
    const plain = { idempotencyKey: "forever" };
    // A keyed submit is two PUTs: ready entry, then task (create-only).
    assert.deepEqual(await submitCounted(queue, store, { n: 1 }, plain), { PUT: 2 });
    await work(queue);
    clock.advance(100 * 365 * 86_400_000);
    const resubmit = await submitCounted(queue, store, { n: 2 }, plain);
    // Ready entry PUT, task PUT (412), GET, DELETE of the unneeded ready entry.
    assert.deepEqual(resubmit, { PUT: 2, GET: 1, DELETE: 1 });
    assert.deepEqual((await queue.get((await queue.submit("job", {}, plain)).id))?.input, {
      n: 1,
    });
  });

  it("counts: a re-submit within the window costs as without one; after it, one more PUT", async () => {
    const { queue, store, clock } = world();
    await queue.submit("job", { n: 1 }, KEYED);
    await work(queue);
    clock.advance(1000); // a later submit writes its ready entry under a later time
    const within = await submitCounted(queue, store, { n: 2 }, KEYED);
    assert.deepEqual(within, { PUT: 2, GET: 1, DELETE: 1 });
    clock.advance(HOUR);
    // Ready entry PUT, task PUT (412), GET, task PUT (If-Match); the signal is coalesced.
    const after = await submitCounted(queue, store, { n: 3 }, KEYED);
    assert.deepEqual(after, { PUT: 3, GET: 1 });
    clock.advance(HOUR);
    // A live task after its window: as within it.
    const live = await submitCounted(queue, store, { n: 4 }, KEYED);
    assert.deepEqual(live, { PUT: 2, GET: 1, DELETE: 1 });
  });

  it("counts: two concurrent re-submits after the window", async () => {
    const { queue, store, clock } = world();
    await queue.submit("job", { n: 1 }, KEYED);
    await work(queue);
    clock.advance(HOUR);
    // The same store ms, so the same ready key (no DELETE). The winner: 3 PUT + 1 GET. The
    // loser: 2 PUT + 1 GET when it reads after the winner's write, else 3 PUT (its If-Match
    // gets 412) + 2 GET.
    await queue.submit("job", "warm-up");
    const before = store.counters.snapshot();
    await Promise.all([queue.submit("job", { n: 5 }, KEYED), queue.submit("job", { n: 6 }, KEYED)]);
    const d = RequestCounters.diff(store.counters.snapshot(), before);
    const seen = JSON.stringify({ PUT: d.PUT, GET: d.GET, DELETE: d.DELETE });
    assert.ok(
      [{ PUT: 5, GET: 2, DELETE: 0 }, { PUT: 6, GET: 3, DELETE: 0 }].some((c) =>
        JSON.stringify(c) === seen
      ),
      seen,
    );
  });

  it("the option is validated before any request", async () => {
    const { queue, store } = world();
    const before = store.counters.total();
    await assert.rejects(
      queue.submit("job", null, { idempotencyTtlSeconds: 60 }),
      (e) => e instanceof TypeError && /needs an idempotencyKey/.test(e.message),
    );
    await assert.rejects(
      queue.submit("job", null, { idempotencyKey: "k", idempotencyTtlSeconds: "60" as never }),
      (e) => e instanceof TypeError && /Invalid idempotencyTtlSeconds: "60"/.test(e.message),
    );
    for (const bad of [0, -1, Number.NaN, Number.POSITIVE_INFINITY, 3_153_600_001]) {
      await assert.rejects(
        queue.submit("job", null, { idempotencyKey: "k", idempotencyTtlSeconds: bad }),
        (e) => e instanceof RangeError && /Invalid idempotencyTtlSeconds/.test(e.message),
        String(bad),
      );
    }
    await assert.rejects(
      queue.submitMany([["job", 1, { idempotencyKey: "a", idempotencyTtlSeconds: 5 }], [
        "job",
        2,
        { idempotencyTtlSeconds: 5 },
      ]]),
      TypeError,
    );
    assert.equal(store.counters.total() - before, 0, "nothing sent for bad options");
    const [a] = await queue.submitMany([["job", 1, { idempotencyKey: "a" }]], {
      idempotencyTtlSeconds: 0.5,
    });
    assert.equal(a!.idempotencyExpiresAt?.getTime(), (await queue.now()).getTime() + 500);
  });

  it("old records without the field parse; a task without a window prints as before", async () => {
    const { queue, store } = world();
    const t = await queue.submit("job", null, { idempotencyKey: "old" });
    const o = await store.get(queue.keys.task(t.id));
    assert.ok(o !== null && o.kind === "object", 'o !== null && o.kind === "object"');
    const text = new TextDecoder().decode(o.body);
    assert.ok(!text.includes("idempotency_expires_at"), "no new field in the bytes");
    const rec = parseTaskRecord(queue.keys.task(t.id), o.body);
    assert.equal(rec.idempotency_expires_at, undefined);
    assert.equal(t.idempotencyExpiresAt, null);
    assert.ok(!("idempotencyExpiresAt" in t.toJSON()), '!("idempotencyExpiresAt" in t.toJSON())');
    const w = await queue.submit("job", null, { idempotencyKey: "new", idempotencyTtlSeconds: 9 });
    assert.equal(typeof w.toJSON().idempotencyExpiresAt, "object");
    assert.throws(
      () =>
        parseTaskRecord(
          queue.keys.task(t.id),
          new TextEncoder().encode(JSON.stringify({ ...rec, idempotency_expires_at: "soon" })),
        ),
      /idempotency_expires_at/,
    );
  });

  it("the CLI flag parses durations and names itself in errors", () => {
    const o = submitOptions({ idempotencyKey: "k", idempotencyTtl: "1h30m" });
    assert.equal(o.idempotencyTtlSeconds, 5400);
    assert.equal(
      submitOptions({ idempotencyKey: "k", idempotencyTtl: "90" }).idempotencyTtlSeconds,
      90,
    );
    assert.throws(() => submitOptions({ idempotencyTtl: "0s" }), /Invalid --idempotency-ttl/);
    assert.throws(() => submitOptions({ idempotencyTtl: "soon" }), /--idempotency-ttl/);
    const e = withFlagNames(
      new TypeError("idempotencyTtlSeconds needs an idempotencyKey"),
    ) as Error;
    assert.match(e.message, /--idempotency-ttl needs an --idempotency-key/);
    const [line] = parseJsonLines(
      '{"type":"j","idempotencyKey":"a","idempotencyTtlSeconds":9}',
      "f",
    );
    assert.deepEqual(line![2], { idempotencyKey: "a", idempotencyTtlSeconds: 9 });
  });
});
