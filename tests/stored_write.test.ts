/**
 * Conditional writes that recognise their own write on every 412 (docs/format.md, protocol
 * rule 3): an HTTP stack may send a request again on its own (Deno's fetch does after a
 * dropped connection), so the first answer oq sees can be a 412 to its own first copy.
 */
import { describe } from "node:test";
import assert from "node:assert/strict";
import { it, memQueue } from "./helpers.ts";
import { MemoryStore } from "../src/store/memory_store.ts";
import { Queue } from "../src/queue/queue.ts";
import { Worker } from "../src/worker/worker.ts";
import { PreconditionFailedError, TransientStoreError } from "../src/base/errors.ts";
import type { GetOptions, PutBody, PutOptions, PutResult } from "../src/store/types.ts";
import { writeOrRead, writeStored } from "../src/protocol/stored.ts";
import { z } from "zod";
import { submitTask } from "../src/protocol/submit.ts";

/**
 * A memory store whose chosen conditional PUTs of task objects land and are then answered
 * 412, as a resend the caller never saw would be. Counts GETs of task objects.
 */
class HiddenResend extends MemoryStore {
  taskGets = 0;
  resent = 0;
  readonly pick: (rec: Record<string, unknown>, options: PutOptions) => boolean;
  constructor(pick: (rec: Record<string, unknown>, options: PutOptions) => boolean) {
    super();
    this.pick = pick;
  }
  override async put(key: string, body: PutBody, options: PutOptions = {}): Promise<PutResult> {
    const conditional = options.ifMatch !== undefined || options.ifNoneMatch !== undefined;
    if (!key.startsWith("tasks/") || !conditional || typeof body !== "string") {
      return super.put(key, body, options);
    }
    if (!this.pick(JSON.parse(body), options)) return super.put(key, body, options);
    await super.put(key, body, options);
    this.resent++;
    throw new PreconditionFailedError("PreconditionFailed", { operation: "PutObject", key });
  }
  override get(key: string, options?: GetOptions) {
    if (key.startsWith("tasks/")) this.taskGets++;
    return super.get(key, options);
  }
}

describe("a 412 that answers our own write", () => {
  it("a claim that landed is run by its worker, not left running until its lease ends", async () => {
    let once = true;
    const store = new HiddenResend((rec) => {
      const hit = once && rec.status === "running";
      if (hit) once = false;
      return hit;
    });
    const queue = new Queue(store, { shardCount: 1, warn: () => {} });
    const t = await queue.submit("job", { n: 1 });
    const runs: string[] = [];
    const w = new Worker(queue, "w1").task("job", (input: { n: number }, ctx) => {
      runs.push(ctx.task.id);
      return input.n + 1;
    });
    try {
      assert.equal((await w.pollOnce()).claimed, 1, "the claim counts as this worker's");
      await w.drain();
    } finally {
      await w.stop();
    }
    assert.equal(store.resent, 1);
    assert.deepEqual(runs, [t.id]);
    const done = await queue.get(t.id);
    assert.equal(done?.status, "completed");
    assert.equal(done?.output, 2);
  });

  it("a completion that landed is not written again, and the task is not retried", async () => {
    const store = new HiddenResend((rec) => rec.status === "completed");
    const queue = new Queue(store, { shardCount: 1, warn: () => {} });
    const t = await queue.submit("job", {});
    let runs = 0;
    const w = new Worker(queue, "w1").task("job", () => ++runs);
    try {
      await w.pollOnce();
      await w.drain();
    } finally {
      await w.stop();
    }
    assert.equal(store.resent, 1);
    const done = await queue.get(t.id);
    assert.equal(done?.status, "completed");
    assert.equal(done?.output, 1);
    assert.equal(done?.attempt, 1);
  });

  it("a submit whose create landed reports it created, after one GET", async () => {
    let once = true;
    const store = new HiddenResend((_rec, o) => {
      const hit = once && o.ifNoneMatch === "*";
      if (hit) once = false;
      return hit;
    });
    const queue = new Queue(store, { shardCount: 1, warn: () => {} });
    const r = await submitTask(queue.context, "job", { a: 1 }, { idempotencyKey: "k1" });
    assert.equal(r.created, true);
    assert.equal(store.taskGets, 1, "the re-read, and nothing more");
    // A true re-submit of the key finds the task and says so, with one GET as before.
    const again = await submitTask(queue.context, "job", { a: 1 }, { idempotencyKey: "k1" });
    assert.equal(again.created, false);
    assert.equal(again.task.id, r.task.id);
    assert.equal(store.taskGets, 2);
  });

  it("a claim that truly loses spends one GET and leaves the task to the winner", async () => {
    const { queue, store } = memQueue({ shardCount: 1 });
    const t = await queue.submit("job", {});
    let gets = 0;
    const orig = store.get.bind(store);
    store.get = (key, options) => {
      if (key.startsWith("tasks/")) gets++;
      return orig(key, options);
    };
    const before = (await queue.context.tasks.read(t.id))!;
    const winner = { ...before.rec, status: "running" as const, write_id: "winner" };
    const loser = { ...before.rec, status: "running" as const, write_id: "loser" };
    assert.ok(await queue.context.tasks.replace(winner, before.etag), "the winner writes");
    gets = 0;
    assert.equal(await queue.context.tasks.replace(loser, before.etag), null);
    assert.equal(gets, 1);
    const lost = await queue.context.tasks.writeOrRead(loser, before.etag);
    assert.ok(
      "current" in lost && lost.current?.rec.write_id === "winner",
      "the loser sees the winner",
    );
  });
});

describe("writeStored and writeOrRead", () => {
  const Schema = z.object({ schema_version: z.number(), write_id: z.string(), v: z.number() });
  const rec = (write_id: string, v: number) => ({ schema_version: 1, write_id, v });

  it("a lost create gives null (writeStored) or the winner (writeOrRead)", async () => {
    const store = new MemoryStore();
    assert.ok(
      await writeStored(store, "k", rec("a", 1), { ifNoneMatch: "*" }, Schema, 1),
      "created",
    );
    assert.equal(await writeStored(store, "k", rec("b", 2), { ifNoneMatch: "*" }, Schema, 1), null);
    const read = async (k: string) => {
      const o = await store.get(k);
      if (o === null || o.kind !== "object") return null;
      return { rec: JSON.parse(new TextDecoder().decode(o.body)), etag: o.etag };
    };
    const w = await writeOrRead(store, "k", rec("b", 2), { ifNoneMatch: "*" }, read);
    assert.ok("current" in w && w.current?.rec.v === 1, "the first write is there");
  });

  it("a failing re-read: a lost race is lost, a transient failure keeps its own error", async () => {
    class Flaky extends MemoryStore {
      failGets = false;
      failPut: Error | null = null;
      override get(key: string, options?: GetOptions) {
        if (this.failGets) {
          return Promise.reject(
            new TransientStoreError(
              "ReadFailed",
              { operation: "GetObject", key: "k" },
              "read failed",
            ),
          );
        }
        return super.get(key, options);
      }
      override put(key: string, body: PutBody, options?: PutOptions) {
        if (this.failPut) return Promise.reject(this.failPut);
        return super.put(key, body, options);
      }
    }
    const store = new Flaky();
    await writeStored(store, "k", rec("a", 1), { ifNoneMatch: "*" }, Schema, 1);
    store.failGets = true;
    assert.equal(await writeStored(store, "k", rec("b", 2), { ifNoneMatch: "*" }, Schema, 1), null);
    const reader = () =>
      Promise.reject(
        new TransientStoreError("ReadFailed", { operation: "GetObject", key: "k" }, "read failed"),
      );
    await assert.rejects(
      writeOrRead(store, "k", rec("b", 2), { ifNoneMatch: "*" }, reader),
      /read failed/,
      "writeOrRead lets the caller see the read's failure",
    );
    store.failPut = new TransientStoreError(
      "Timeout",
      { operation: "PutObject", key: "k" },
      "put timed out",
    );
    await assert.rejects(
      writeStored(store, "k", rec("c", 3), { ifNoneMatch: "*" }, Schema, 1),
      /put timed out/,
    );
  });
});
