// Recording an attempt's outcome: a result the task cannot hold (not JSON, over
// maxOutputBytes) ends the attempt at once as a recorded failure, the lease entry goes as on
// any other end; a write that keeps failing leaves the lease entry for the monitor; a
// cancelled task's error says "cancelled". Memory store, injected clock.
import { describe } from "node:test";
import assert from "node:assert/strict";
import { TransientStoreError } from "../src/base/errors.ts";
import { Monitor } from "../src/monitor/monitor.ts";
import { Queue } from "../src/queue/queue.ts";
import { MemoryStore } from "../src/store/memory_store.ts";
import type {
  GetOptions,
  NotModified,
  PutOptions,
  PutResult,
  StoredObject,
} from "../src/store/types.ts";
import { Worker } from "../src/worker/worker.ts";
import { FakeClock, it, memQueue, until } from "./helpers.ts";

async function leaseEntries(store: MemoryStore): Promise<string[]> {
  const page = await store.listVersions({ prefix: "deadlines/" });
  return page.versions.filter((v) => v.key.endsWith(".lease") && !v.isDeleteMarker).map((v) =>
    v.key
  );
}

async function runOne(worker: Worker, options: { leaseEntryAfterMs?: number } = {}): Promise<void> {
  worker.configure({ withMonitor: false, ...options });
  assert.equal((await worker.pollOnce()).claimed, 1);
  await worker.drain();
}

describe("an attempt whose result the task cannot hold", { timeout: 30_000 }, () => {
  const unstorable: Array<[string, () => unknown, RegExp]> = [
    ["a BigInt", () => ({ n: 10n }), /Task output is not JSON-serializable: .*BigInt/i],
    ["a cycle", () => {
      const a: Record<string, unknown> = { name: "a" };
      a.self = a;
      return a;
    }, /Task output is not JSON-serializable: .*(circular|cyclic)/i],
    ["a throwing toJSON", () => ({
      toJSON() {
        throw new Error("no JSON today");
      },
    }), /Task output is not JSON-serializable: no JSON today/],
  ];
  for (const [what, output, message] of unstorable) {
    it(`${what}: fails the task at once with the reason, no retry, lease entry gone`, async () => {
      const { queue, store } = memQueue({ shardCount: 1 });
      const task = await queue.submit("t", {}, { maxRetries: 3 });
      const events: string[] = [];
      const w = new Worker(queue, "w1").task("t", output);
      w.on("task:failed", ({ error }) => void events.push(`failed: ${error.message}`));
      w.on("task:lost", ({ reason }) => void events.push(`lost: ${reason}`));
      w.on("worker:error", ({ error }) => void events.push(`error: ${error.message}`));
      await runOne(w);
      const t = (await queue.get(task.id))!;
      assert.equal(t.status, "failed", JSON.stringify(events));
      assert.match(t.lastError ?? "", message);
      assert.equal(t.retryCount, 0, "not retried: the handler would return it again");
      assert.equal(t.errors.length, 1);
      assert.equal(t.errors[0]!.kind, "permanent");
      assert.equal(t.output, null);
      assert.deepEqual(await leaseEntries(store), [], "the lease entry is cleaned up");
      assert.equal(events.length, 1);
      assert.match(events[0]!, /^failed: Task output is not JSON-serializable/);
    });
  }

  it("an output over maxOutputBytes fails with sizes and the option's name; at the limit it is stored", async () => {
    const { queue, store } = memQueue({ shardCount: 1, maxOutputBytes: 1000 });
    assert.equal(memQueue().queue.options.maxOutputBytes, 64 * 1024 * 1024, "default like inputs");
    const big = await queue.submit("big", { n: 1000 });
    const fits = await queue.submit("big", { n: 998 }); // "x" * 998 + 2 quotes = 1000 bytes
    const w = new Worker(queue, "w1").task("big", (i: { n: number }) => "x".repeat(i.n));
    w.configure({ withMonitor: false, concurrency: 2 });
    assert.equal((await w.pollOnce()).claimed, 2);
    await w.drain();
    const t = (await queue.get(big.id))!;
    assert.equal(t.status, "failed");
    assert.equal(
      t.lastError,
      "Task output is 1002 bytes, over the limit of 1000 (queue option maxOutputBytes)",
    );
    assert.equal(t.retryCount, 0);
    const f = (await queue.get(fits.id))!;
    assert.equal(f.status, "completed");
    assert.equal(f.output, "x".repeat(998));
    assert.deepEqual(await leaseEntries(store), []);
    assert.throws(() => new Queue(store, { maxOutputBytes: 0 }), /Invalid maxOutputBytes/);
  });

  it("an output is stored as JSON stores it (a Date as its string, undefined as null)", async () => {
    const { queue } = memQueue({ shardCount: 1 });
    const a = await queue.submit("t", 1);
    const w = new Worker(queue, "w1").task("t", () => ({ at: new Date(0), gone: undefined }));
    await runOne(w);
    assert.deepEqual((await queue.get(a.id))!.output, { at: "1970-01-01T00:00:00.000Z" });
  });
});

const outage = (operation: string, key: string) =>
  new TransientStoreError("ServiceUnavailable", { operation, key, status: 503 });

/** A memory store whose task writes (and reads) fail while `failing` (`failingReads`) is set. */
class FlakyStore extends MemoryStore {
  failing = false;
  failingReads = false;
  override put(key: string, body: Uint8Array | string, options?: PutOptions): Promise<PutResult> {
    if (this.failing && key.startsWith("tasks/")) return Promise.reject(outage("PutObject", key));
    return super.put(key, body, options);
  }
  override get(key: string, options?: GetOptions): Promise<StoredObject | NotModified | null> {
    if (this.failingReads && key.startsWith("tasks/")) {
      return Promise.reject(outage("GetObject", key));
    }
    return super.get(key, options);
  }
}

function flakyQueue(): { queue: Queue; store: FlakyStore; clock: FakeClock } {
  const clock = new FakeClock();
  const store = new FlakyStore({ clock: clock.now });
  return { queue: new Queue(store, { shardCount: 1, warn: () => {} }), store, clock };
}

describe("an outcome that cannot be written", { timeout: 30_000 }, () => {
  it("keeps the lease entry, reports the attempt lost with the reason, and the monitor recovers it", async () => {
    const { queue, store, clock } = flakyQueue();
    const task = await queue.submit("t", {}, { timeoutSeconds: 60 });
    const lost: string[] = [];
    const w = new Worker(queue, "w1").task("t", () => {
      store.failing = true; // the store goes away while the handler runs
      return { ok: true };
    });
    w.on("task:lost", ({ reason }) => void lost.push(reason));
    await runOne(w, { leaseEntryAfterMs: 0 }); // a lease entry at the claim: the monitor's
    store.failing = false;
    assert.equal(lost.length, 1);
    assert.match(lost[0]!, /the outcome could not be recorded: .*503/);
    assert.match(lost[0]!, /the lease entry stays/);
    const t = (await queue.get(task.id))!;
    assert.equal(t.status, "running", "nothing could be written");
    assert.equal((await leaseEntries(store)).length, 1, "the lease entry is kept for the monitor");
    clock.advance(60_000 + 10_000 + 1);
    const r = await new Monitor(queue).runOnce({ sweep: false });
    assert.equal(r.recovered, 1, "found through the lease index, not the slow sweep");
    assert.equal((await queue.get(task.id))!.status, "pending");
  });

  it("under the ready entry: the entry is kept, and a worker of the type recovers the task once its lease ends", async () => {
    const { queue, store, clock } = flakyQueue();
    const task = await queue.submit("t", {}, { timeoutSeconds: 60 });
    const lost: string[] = [];
    const w = new Worker(queue, "w1").task("t", () => {
      store.failing = true;
      return { ok: true };
    });
    w.on("task:lost", ({ reason }) => void lost.push(reason));
    await runOne(w);
    store.failing = false;
    assert.equal(lost.length, 1);
    assert.equal((await queue.get(task.id))!.status, "running", "nothing could be written");
    const ready = await store.list({ prefix: "ready/" });
    // The claim's entry, and the retry's written before its failed task write (stale).
    assert.ok(ready.objects.length >= 1, "the ready entry is kept: it indexes the lease");
    clock.advance(60_000 + 10_000 + 1);
    const w2 = new Worker(queue, "w2").task("t", () => "again");
    w2.configure({ withMonitor: false });
    // It finds the entry (and the retry's stale one, in random order: a poll may stop at that
    // one), the lease ended: recovered.
    for (let i = 0; i < 3 && (await queue.get(task.id))!.status === "running"; i++) {
      await w2.pollOnce();
      await w2.drain();
      clock.advance(1000);
    }
    const t = (await queue.get(task.id))!;
    assert.equal(t.status, "pending");
    assert.equal(t.errors[0]?.kind, "lease_expired");
  });

  it("a lost race whose re-read fails keeps the lease entry too (the task may still be ours)", async () => {
    const { queue, store, clock } = flakyQueue();
    const task = await queue.submit("t", {}, { timeoutSeconds: 60 });
    const lost: string[] = [];
    const w = new Worker(queue, "w1").task("t", async () => {
      await queue.cancel(task.id); // the worker's write of the outcome will lose its race
      store.failingReads = true; // and the re-read that follows fails
      return "done";
    });
    w.on("task:lost", ({ reason }) => void lost.push(reason));
    w.configure({ withMonitor: false, cancelCheckIntervalMs: 3_600_000, leaseEntryAfterMs: 0 });
    await w.pollOnce();
    await w.drain();
    store.failingReads = false;
    assert.equal(lost.length, 1);
    assert.match(lost[0]!, /the lease entry stays/);
    const t = (await queue.get(task.id))!;
    assert.equal(t.status, "running");
    assert.equal(t.cancelRequested, true);
    assert.equal((await leaseEntries(store)).length, 1, "kept: the monitor finds the task");
    clock.advance(70_001);
    assert.equal((await new Monitor(queue).runOnce({ sweep: false })).cancelled, 1);
    assert.equal((await queue.get(task.id))!.status, "cancelled");
  });

  it("records an error thrown while writing the outcome as the attempt's failure", async () => {
    const { queue, store } = flakyQueue();
    const task = await queue.submit("t", {}, { maxRetries: 2 });
    let writes = 0;
    const put = store.put.bind(store);
    // The first write of the outcome fails for good; the next one (the failure) succeeds.
    store.put = (key, body, options) => {
      if (key.startsWith("tasks/") && JSON.parse(String(body)).status === "completed") {
        writes++;
        return Promise.reject(new Error("the disk is full"));
      }
      return put(key, body, options);
    };
    const w = new Worker(queue, "w1").task("t", () => "done");
    await runOne(w);
    assert.equal(writes, 1);
    const t = (await queue.get(task.id))!;
    assert.equal(t.status, "pending", "retried: the cause is not the handler's");
    assert.equal(t.lastError, "the outcome could not be recorded: the disk is full");
    assert.equal(t.errors[0]!.kind, "retryable");
    assert.deepEqual(await leaseEntries(store), []);
  });
});

describe("a cancelled running task", { timeout: 30_000 }, () => {
  it("records its error as cancelled (with the reason), not as a timeout", async () => {
    const { queue } = memQueue({ shardCount: 1 });
    const task = await queue.submit("long", {});
    // Like the --exec runner: the command is killed on abort, and the abort reason thrown.
    const w = new Worker(queue, "w1").task("long", (_i, ctx) =>
      new Promise((_resolve, reject) => {
        ctx.signal.addEventListener("abort", () => reject(ctx.signal.reason), { once: true });
      }));
    w.configure({ withMonitor: false, cancelCheckIntervalMs: 10 });
    assert.equal((await w.pollOnce()).claimed, 1);
    assert.equal((await queue.cancel(task.id, { reason: "not needed" })).outcome, "requested");
    await w.drain();
    const t = (await queue.get(task.id))!;
    assert.equal(t.status, "cancelled");
    assert.equal(t.errors.length, 1);
    assert.equal(t.errors[0]!.kind, "cancelled");
    assert.equal(t.lastError, "cancellation requested: not needed");
  });

  it("a handler that throws its own error after the cancel is recorded as cancelled too", async () => {
    const { queue } = memQueue({ shardCount: 1 });
    const task = await queue.submit("long", {});
    const w = new Worker(queue, "w1").task("long", async (_i, ctx) => {
      await until(() => ctx.signal.aborted, 10_000, "the abort");
      throw new Error("This operation was aborted");
    });
    w.configure({ withMonitor: false, cancelCheckIntervalMs: 10 });
    await w.pollOnce();
    await queue.cancel(task.id);
    await w.drain();
    const t = (await queue.get(task.id))!;
    assert.equal(t.status, "cancelled");
    assert.equal(t.errors[0]!.kind, "cancelled");
    assert.equal(t.lastError, "cancellation requested");
  });
});
