/**
 * Fuzz: objects in the bucket written by someone else. Random bytes, truncated or mutated
 * task JSON, newer schema versions, heartbeats and schedules that are junk, index keys that
 * do not parse, and index entries that point nowhere, all placed where a Worker, its
 * embedded Monitor (with the sweep) and a Scheduler will meet them on the memory store.
 * They keep running, report what they skip through their events, leave the junk as it is,
 * and every valid task still completes.
 */
import { describe } from "node:test";
import assert from "node:assert/strict";
import { Monitor } from "../src/monitor/monitor.ts";
import { Queue } from "../src/queue/queue.ts";
import { Scheduler } from "../src/schedule/scheduler.ts";
import { MemoryStore } from "../src/store/memory_store.ts";
import { timeStamp } from "../src/protocol/keys.ts";
import { Worker } from "../src/worker/worker.ts";
import type { TaskRecord } from "../src/task/task.ts";
import { FakeClock, it, until } from "./helpers.ts";
import { hostileString, randomValue, Rng, taskRecord as record } from "./fixtures/fuzz.ts";

/** Worker settings for these tests: quick polls, an embedded monitor checking often. */
const FAST = {
  concurrency: 4,
  pollIntervalMs: 20,
  maxPollIntervalMs: 100,
  wakeCheckIntervalMs: 50,
  idleAfterMs: 5000,
  monitorCheckIntervalS: 0.2,
};

const enc = new TextEncoder();

/** A junk task body: random bytes, truncated or mutated JSON, a newer schema version. */
function junkBody(rng: Rng, id: string, now: number): Uint8Array {
  const good = JSON.stringify(record(id, now));
  switch (rng.int(0, 5)) {
    case 0:
      return rng.bytes(rng.int(0, 80));
    case 1:
      return enc.encode(good.slice(0, rng.int(0, good.length - 1)));
    case 2: {
      const b = enc.encode(good);
      b[rng.int(0, b.length - 1)] = 0xff; // invalid UTF-8
      return b;
    }
    case 3:
      return enc.encode(JSON.stringify({ ...record(id, now), schema_version: rng.int(2, 9) }));
    case 4: {
      const r: Record<string, unknown> = { ...record(id, now) };
      const f = rng.pick(Object.keys(r));
      if (rng.chance(0.5)) delete r[f];
      else r[f] = randomValue(rng, 2);
      r.status = rng.chance(0.5) ? "pending" : r.status; // so that it still looks claimable
      return enc.encode(JSON.stringify(r));
    }
    default:
      return enc.encode(hostileString(rng));
  }
}

interface Planted {
  key: string;
  body: Uint8Array;
}

/** Plant junk for lane `t` of every shard; returns what was written (to check it is kept). */
async function plant(store: MemoryStore, rng: Rng, now: number, n: number): Promise<Planted[]> {
  const planted: Planted[] = [];
  const put = async (key: string, body: Uint8Array | string) => {
    const b = typeof body === "string" ? enc.encode(body) : body;
    await store.put(key, b);
    planted.push({ key, body: b });
  };
  const past = timeStamp(now - 120_000);
  for (let i = 0; i < n; i++) {
    const shard = String(i % 4);
    const id = `${shard}-junk${i}`;
    await put(`tasks/${shard}/${id}.json`, junkBody(rng, id, now));
    await put(`ready/${shard}/t/${timeStamp(now - rng.int(0, 5000))}/${id}`, "");
    if (rng.chance(0.5)) await put(`deadlines/${shard}/${past}/${id}.lease`, "");
    // Entries that point nowhere (no task object).
    await put(`ready/${shard}/t/${timeStamp(now - rng.int(0, 5000))}/${shard}-ghost${i}`, "");
    // Keys in the indexes that are not ours at all.
    await put(
      rng.pick([
        `ready/${shard}/t/notastamp/${id}`,
        `ready/${shard}/t/${past}/bad id ${i}`,
        `ready/${shard}/t/${past}/${id}/extra`,
        `deadlines/${shard}/${past}/${id}.what`,
        `deadlines/${shard}/nope/${id}.lease`,
        `ready/${shard}/t/${past}/${hostileString(rng).replace(/\//g, "_") || "x"}`,
      ]),
      "",
    );
  }
  await put("workers/junk.json", rng.bytes(40));
  await put("workers/half.json", '{"schema_version":1,"worker_id":');
  await put("schedules/junk.json", rng.bytes(30));
  await put("schedules/newer.json", '{"schema_version":7}');
  await put("signals/any", rng.bytes(10));
  await put("signals/types/t", "not json at all");
  return planted;
}

async function unchanged(store: MemoryStore, planted: Planted[]): Promise<string[]> {
  const changed: string[] = [];
  for (const p of planted) {
    if (p.key.startsWith("ready/") || p.key.startsWith("deadlines/")) continue; // hints may go
    if (p.key.startsWith("signals/")) continue; // producers touch signals
    const o = await store.get(p.key);
    if (
      !o || o.kind !== "object" || o.body.length !== p.body.length ||
      !o.body.every((b, i) => b === p.body[i])
    ) {
      changed.push(p.key);
    }
  }
  return changed;
}

describe("fuzz: junk in the bucket while a Worker, Monitor and Scheduler run", () => {
  for (const seed of [31, 32, 33]) {
    it(`seed ${seed}: valid tasks complete, junk is reported and left alone`, async () => {
      const rng = new Rng(seed);
      const store = new MemoryStore();
      const queue = new Queue(store, { warn: () => {}, signalCoalesceMs: 0 });
      const planted = await plant(store, rng, Date.now(), 24);
      const valid = await queue.submitMany(
        Array.from({ length: 20 }, (_, i) => ["t", { i }] as const),
      );
      const ran = new Set<string>();
      const errors: Array<{ name: string; context: string; message: string }> = [];
      const worker = new Worker(queue, "w1").task("t", (_input, ctx) => void ran.add(ctx.task.id));
      worker.on(
        "worker:error",
        ({ error, context }) =>
          void errors.push({ name: error.name, context, message: error.message }),
      );
      const running = worker.run(FAST);
      const monitor = new Monitor(queue);
      const monitorErrors: string[] = [];
      monitor.events.on("monitor:error", ({ error }) => void monitorErrors.push(error.name));
      const scheduler = new Scheduler(queue);
      try {
        await until(() => valid.every((t) => ran.has(t.id)), 60_000, "the valid tasks");
        // A standalone monitor with full sweeps over every shard, and a scheduler pass.
        for (let i = 0; i < 4; i++) await monitor.runOnce({ sweep: true });
        await scheduler.runOnce();
        // The worker is still alive: new work still runs.
        const more = await queue.submitMany(
          Array.from({ length: 5 }, (_, i) => ["t", { i }] as const),
        );
        await until(() => more.every((t) => ran.has(t.id)), 60_000, "tasks submitted afterwards");
        for (const t of [...valid, ...more]) {
          assert.equal((await queue.get(t.id))?.status, "completed");
        }
      } finally {
        await worker.stop();
        await running;
      }
      assert.ok(errors.length > 0, "the junk was reported");
      const unexpected = errors.filter((e) => e.name !== "SchemaError");
      assert.deepEqual(unexpected, [], "only schema errors are reported");
      assert.ok(errors.every((e) => /junk\d+/.test(e.message)), "each report names the object");
      assert.deepEqual(await unchanged(store, planted), [], "junk objects are left as they are");
      assert.ok(
        ![...ran].some((id) => id.includes("junk") || id.includes("ghost")),
        '![...ran].some((id) => id.includes("junk") || id.includes("ghost"))',
      );
    });
  }

  it("schema-valid impostors (id, shard or type not matching the key) never touch real tasks", async () => {
    const store = new MemoryStore();
    const queue = new Queue(store, { warn: () => {}, signalCoalesceMs: 0 });
    const now = Date.now();
    const real = await queue.submit("t", { real: true });
    const impostors: Record<string, Partial<TaskRecord>> = {
      "0-claimsreal": { id: real.id, shard: real.shard }, // says it is the real task
      "0-claimsnobody": { id: "0-nobody" },
      "0-badshard": { shard: "../x" },
      "0-badtype": { task_type: "../../evil" },
      "0-badid": { id: "../../../etc/passwd" },
      "0-running": {
        status: "running",
        lease_expires_at: new Date(now - 60_000).toISOString(),
        attempt: 1,
        worker_id: "ghost",
        id: real.id,
      },
    };
    const planted: Planted[] = [];
    for (const [id, patch] of Object.entries(impostors)) {
      const body = enc.encode(JSON.stringify(record(id, now - 1000, patch)));
      await store.put(`tasks/0/${id}.json`, body);
      planted.push({ key: `tasks/0/${id}.json`, body });
      await store.put(`ready/0/t/${timeStamp(now - 1000)}/${id}`, "");
      await store.put(`deadlines/0/${timeStamp(now - 30_000)}/${id}.lease`, "");
    }
    const ran: string[] = [];
    const errors: string[] = [];
    const worker = new Worker(queue, "w1").task("t", (_i, ctx) => void ran.push(ctx.task.id));
    worker.on(
      "worker:error",
      ({ error, context }) => void errors.push(`${context}: ${error.name}`),
    );
    const running = worker.run(FAST);
    const monitor = new Monitor(queue);
    try {
      await until(() => ran.includes(real.id), 60_000, "the real task");
      for (let i = 0; i < 4; i++) await monitor.runOnce({ sweep: true });
      const late = await queue.submit("t", { late: true });
      await until(() => ran.includes(late.id), 60_000, "a task submitted afterwards");
    } finally {
      await worker.stop();
      await running;
    }
    assert.deepEqual(ran.filter((id) => id === real.id).length, 1, "the real task ran once");
    const history = await queue.getHistory(real.id);
    assert.deepEqual(history.map((t) => t.status), ["pending", "running", "completed"]);
    assert.deepEqual(await unchanged(store, planted), [], "impostors left as they are");
    // Each impostor is reported as a SchemaError naming its key (the record must be the
    // task its key names), skipped, and never retried in a loop.
    assert.ok(errors.length > 0, "impostors are reported");
    assert.ok(errors.every((e) => /SchemaError/.test(e)), errors.join("; "));
  });

  it("entries that point nowhere are removed once old; junk lease targets are reported, kept", async () => {
    const clock = new FakeClock();
    const store = new MemoryStore({ clock: clock.now });
    const queue = new Queue(store, { warn: () => {} });
    const rng = new Rng(34);
    const planted = await plant(store, rng, clock.now(), 8);
    const ghosts = planted.filter((p) => p.key.includes("ghost")).map((p) => p.key);
    const worker = new Worker(queue, "w1").task("t", () => ({}));
    const errors: string[] = [];
    worker.on("worker:error", ({ error }) => void errors.push(error.name));
    worker.configure({ concurrency: 8 });
    const monitor = new Monitor(queue);
    const monitorErrors: string[] = [];
    monitor.events.on("monitor:error", ({ error }) => void monitorErrors.push(error.name));
    await worker.pollOnce();
    await worker.drain();
    // Young entries may belong to a submit in progress: kept.
    for (const k of ghosts) assert.ok(await store.head(k), `${k} kept while young`);
    clock.advance(10 * 60_000);
    await queue.submit("t", {}); // wakes the lanes
    for (let i = 0; i < 5; i++) {
      clock.advance(20_000);
      await worker.pollOnce();
      await worker.drain();
      await monitor.runOnce({ sweep: true });
    }
    for (const k of ghosts) assert.equal(await store.head(k), null, `${k} removed once old`);
    const leftLeases = await store.list({ prefix: "deadlines/" });
    for (const o of leftLeases.objects) {
      assert.ok(!o.key.includes("ghost"), `${o.key}: a lease entry pointing nowhere is removed`);
    }
    assert.ok(
      monitorErrors.length > 0 && monitorErrors.every((n) => n === "SchemaError"),
      'monitorErrors.length > 0 && monitorErrors.every((n) => n === "SchemaError")',
    );
    assert.ok(errors.every((n) => n === "SchemaError"), errors.join(", "));
    assert.deepEqual(await unchanged(store, planted), []);
  });
});
