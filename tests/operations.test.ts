/**
 * Operations around the queue: connect() and its messages, bucket set-up, bulk
 * cancellation, heartbeats, and a dev server restarted on its directory mid-queue.
 */
import { describe } from "node:test";
import assert from "node:assert/strict";
import { connect } from "../src/queue/connect.ts";
import { ConfigError } from "../src/base/errors.ts";
import { initBucket } from "../src/queue/init.ts";
import { Keys } from "../src/protocol/keys.ts";
import { Queue } from "../src/queue/queue.ts";
import { MemoryStore } from "../src/store/memory_store.ts";
import { Worker } from "../src/worker/worker.ts";
import { devStore, removeDir, startTestServer, tempDir } from "./dev_backend.ts";
import { it, memQueue, until } from "./helpers.ts";

describe("connect()", () => {
  it("a missing bucket says to create it or set S3_BUCKET", async () => {
    const store = new MemoryStore({ bucket: "missing", createBucket: false });
    await assert.rejects(
      connect({ store }),
      (e: unknown) =>
        e instanceof ConfigError && /does not exist.*oq init.*S3_BUCKET/.test(e.message),
    );
  });

  it("versioning off is refused unless allowNoVersioning, which warns once", async () => {
    const store = new MemoryStore({ bucket: "plain", createBucket: false });
    await store.createBucket();
    await assert.rejects(connect({ store }), /versioning is Unversioned.*OQ_ALLOW_NO_VERSIONING=1/);
    const warnings: string[] = [];
    const q = await connect({ store, allowNoVersioning: true, warn: (m) => void warnings.push(m) });
    assert.ok(q instanceof Queue, "q instanceof Queue");
    assert.match(warnings.join("\n"), /history .* not guaranteed/);
  });

  it("missing configuration names every env var and option to set", async () => {
    await assert.rejects(
      connect({
        bucket: undefined,
        accessKeyId: undefined,
        secretAccessKey: undefined,
        endpoint: "http://127.0.0.1:1",
      }),
      (e: unknown) =>
        e instanceof ConfigError && /S3_BUCKET/.test(e.message) &&
        /AWS_ACCESS_KEY_ID/.test(e.message),
    );
  });

  it("bad credentials say which variables to check (dev server verifies signatures)", async () => {
    const server = await startTestServer({ bucket: "oq-creds" });
    try {
      await assert.rejects(
        connect({
          endpoint: server.url,
          bucket: "oq-creds",
          accessKeyId: "oqdev",
          secretAccessKey: "wrong-secret",
        }),
        (e: unknown) => e instanceof ConfigError && /AWS_SECRET_ACCESS_KEY/.test(e.message),
      );
      const q = await connect({
        endpoint: server.url,
        bucket: "oq-creds",
        accessKeyId: "oqdev",
        secretAccessKey: "oqdevsecret",
      });
      assert.ok((await q.now()).getTime() > 0, "(await q.now()).getTime() > 0");
    } finally {
      await server.stop();
    }
  });
});

describe("initBucket", () => {
  it("creates the bucket, enables versioning and installs the index lifecycle rules; idempotent", async () => {
    const store = new MemoryStore({ bucket: "fresh", createBucket: false });
    const keys = new Keys("oq/");
    const r = await initBucket(store, keys.prefix);
    assert.equal(r.created, true);
    assert.equal(r.versioning, "Enabled");
    assert.deepEqual(r.rules.map((x) => x.prefix), [
      "oq/ready/",
      "oq/deadlines/",
      "oq/signals/",
      "oq/workers/",
      "oq/schedule-runs/",
    ]);
    assert.deepEqual(store.engine.bucket("fresh").lifecycle, r.rules);
    const again = await initBucket(store, keys.prefix);
    assert.equal(again.created, false);
  });
});

describe("bulk cancellation", () => {
  it("cancelMany reports cancelled, requested and skipped tasks, with progress", async () => {
    const { queue } = memQueue();
    const tasks = await queue.submitMany(
      Array.from({ length: 5 }, (_, i) => ["job", { i }] as const),
    );
    await queue.cancel(tasks[0]!.id);
    const progress: number[] = [];
    const r = await queue.cancelMany([...tasks.map((t) => t.id), "0-MISSING", "../bad"], {
      reason: "cleanup",
      onProgress: (p) => void progress.push(p.done),
    });
    assert.equal(r.cancelled.length, 4);
    assert.deepEqual(
      r.skipped.map((s) => s.reason).sort(),
      [
        "task is already cancelled",
        "task not found",
        r.skipped.find((s) => s.taskId === "../bad")!.reason,
      ].sort(),
    );
    assert.match(r.skipped.find((s) => s.taskId === "../bad")!.reason, /Invalid task id/);
    assert.deepEqual(progress, [7]);
  });

  it("cancelByType cancels every pending task of the type across shards, scheduled ones too", async () => {
    const { queue } = memQueue({ shardCount: 4 });
    const mine = await queue.submitMany(
      Array.from({ length: 30 }, (_, i) => ["old_type", { i }] as const),
    );
    await queue.submit("old_type", {}, { delaySeconds: 3600 });
    const other = await queue.submit("other", {});
    const r = await queue.cancelByType("old_type", { reason: "retired" });
    assert.equal(r.cancelled.length, 31);
    assert.equal((await queue.get(other.id))?.status, "pending");
    for (const t of mine) assert.equal((await queue.get(t.id))?.status, "cancelled");
    assert.equal((await queue.stats()).total.ready, 1);
  });

  it("cancelByType over thousands of tasks: pages past entries that stay, reports progress", async () => {
    const { queue, store, clock } = memQueue({ shardCount: 1 });
    // 1,100 stale entries at the head of the lane (their tasks are already cancelled, so
    // each is skipped and stays), then 2,000 pending tasks.
    const old = await queue.submitMany(
      Array.from({ length: 1100 }, (_, i) => ["bulk", { i }] as const),
    );
    await queue.cancelMany(old.map((t) => t.id));
    // (Their batch entries go: the stale entries below are the ones this test is about.)
    for (const o of (await store.list({ prefix: "ready/" })).objects) await store.delete(o.key);
    for (const t of old) {
      await store.put(queue.keys.ready("0", "bulk", clock.now() - 86_400_000, t.id), "");
    }
    clock.advance(1000);
    const pending = await queue.submitMany(
      Array.from({ length: 2000 }, (_, i) => ["bulk", { i }] as const),
    );
    const progress: number[] = [];
    const r = await queue.cancelByType("bulk", { onProgress: (p) => void progress.push(p.done) });
    assert.equal(r.cancelled.length, 2000);
    assert.equal(r.skipped.length, 1100);
    // (The 2,000 pending tasks are 20 batch entries: the lane is two pages.)
    assert.ok(progress.length >= 2, `progress reported per page (${progress.length} reports)`);
    assert.equal(progress[progress.length - 1], 3100);
    for (const t of pending.slice(0, 50)) {
      assert.equal((await queue.get(t.id))?.status, "cancelled");
    }
  });

  it("cancelByType with includeRunning asks running tasks of the type to stop", async () => {
    const { queue } = memQueue({ shardCount: 1 });
    const w = new Worker(queue, "w").task(
      "long",
      (_i, ctx) =>
        new Promise((resolve) => ctx.signal.addEventListener("abort", () => resolve("stopped"))),
    );
    w.configure({ cancelCheckIntervalMs: 10 });
    const t = await queue.submit("long", {});
    await w.pollOnce();
    const r = await queue.cancelByType("long", { includeRunning: true });
    assert.deepEqual(r.requested, [t.id]);
    await w.drain();
    assert.equal((await queue.get(t.id))?.status, "cancelled");
  });
});

describe("heartbeats", () => {
  it("a running worker keeps workers/{id}.json; a clean stop removes it", async () => {
    const { queue, store } = memQueue({ shardCount: 1 });
    const w = new Worker(queue, "beating").task("x", () => 1);
    const run = w.run({ withMonitor: false, wakeCheckIntervalMs: 50 });
    try {
      await until(
        async () => (await store.get(queue.keys.worker("beating"))) !== null,
        30_000,
        "heartbeat",
      );
      const o = await store.get(queue.keys.worker("beating"));
      const hb = JSON.parse(
        new TextDecoder().decode(o && o.kind === "object" ? o.body : new Uint8Array()),
      );
      assert.equal(hb.worker_id, "beating");
      assert.deepEqual(hb.task_types, ["x"]);
      assert.equal((await queue.stats()).workers, 1);
    } finally {
      await w.stop();
      await run;
    }
    assert.equal(await store.get(queue.keys.worker("beating")), null);
  });
});

describe("oq dev restarted on its directory", () => {
  it("tasks submitted before the restart are finished by workers after it", async () => {
    const dir = await tempDir();
    let server = await startTestServer({ dir, bucket: "oq-restart" });
    try {
      const q1 = new Queue(devStore(server.url, "oq-restart"), { shardCount: 2, warn: () => {} });
      const tasks = await q1.submitMany(
        Array.from({ length: 20 }, (_, i) => ["job", { i }] as const),
      );
      await server.stop();
      // A new process would bind a new port as easily: the data is in the directory.
      server = await startTestServer({ dir, bucket: "oq-restart" });
      const q2 = new Queue(devStore(server.url, "oq-restart"), { shardCount: 2, warn: () => {} });
      const w = new Worker(q2, "after-restart").task("job", (input: { i: number }) => input.i * 2);
      // Wait for the tasks themselves: an index count depends on whose clock says "now".
      const done = async () =>
        (await Promise.all(tasks.map((t) => q2.get(t.id)))).every((t) => t?.status === "completed");
      await until(
        async () => {
          w.configure({ concurrency: 4 });
          await w.pollOnce();
          await w.drain();
          return await done();
        },
        20_000,
        "all tasks done",
      );
      for (const t of tasks) {
        const cur = await q2.get(t.id);
        assert.equal(cur?.status, "completed");
        assert.equal(cur?.output, (t.input as { i: number }).i * 2);
        assert.deepEqual((await q2.getHistory(t.id)).map((h) => h.status), [
          "pending",
          "running",
          "completed",
        ]);
      }
    } finally {
      await server.stop();
      await removeDir(dir);
    }
  });
});
