// oq-test: runtimes=node,bun,deno timeout=300
/**
 * Payload references on the memory store with the fake clock: inputs and outputs over
 * `inlinePayloadBytes` are stored beside the task, read back by the worker, `get` and the
 * CLI's formatter, checked by hash; request counts with and without them; removal with
 * the task; orphans removed by the sweep.
 */
import { describe } from "node:test";
import assert from "node:assert/strict";
import { Monitor } from "../src/monitor/monitor.ts";
import { ORPHAN_PAYLOAD_AGE_MS, sweepPayloads } from "../src/monitor/payload_sweep.ts";
import { RequestCounters } from "../src/s3/counters.ts";
import { PayloadError } from "../src/task/payload_ref.ts";
import { Worker } from "../src/worker/worker.ts";
import { taskDetails } from "../src/cli/format.ts";
import { it, memQueue } from "./helpers.ts";
import type { MemoryStore } from "../src/store/memory_store.ts";

const INLINE = 1024;
const big = (n: number, tag = "x") => ({ blob: tag.repeat(n) });

async function payloadKeys(store: MemoryStore): Promise<string[]> {
  const page = await store.listVersions({ prefix: "payloads/" });
  return page.versions.map((v) => v.key);
}

function worker(queue: ReturnType<typeof memQueue>["queue"], seen: unknown[] = []) {
  return new Worker(queue, "w1").task("job", (input: { blob?: string; out?: number }, ctx) => {
    seen.push(input, ctx.task.input);
    return input.out === undefined ? { ok: true } : { echo: "y".repeat(input.out) };
  });
}

describe("payload references (memory store)", () => {
  it("a task under the threshold costs what it cost before: 4 PUT + 1 GET + 1 DELETE + the LIST", async () => {
    const { queue, store } = memQueue({ shardCount: 1, inlinePayloadBytes: INLINE });
    await queue.syncLayout();
    const w = worker(queue);
    const s0 = store.counters.snapshot();
    const t = await queue.submit("job", big(INLINE - 20)); // JSON just under the threshold
    await w.pollOnce();
    await w.drain();
    const d = RequestCounters.diff(store.counters.snapshot(), s0);
    assert.equal(d.PUT, 4 + 2, "ready, task, claim, completion + the two wake-up PUTs");
    assert.equal(d.GET, 1 + 1, "the claim's GET + the type's flow control (once per worker)");
    assert.equal(d.DELETE, 1, "the ready entry, which indexed the lease");
    assert.equal(d.LIST_VERSIONS, 1);
    assert.equal(d.LIST, 0);
    const raw = await queue.context.tasks.read(t.id);
    assert.equal(raw?.rec.schema_version, 1, "an inline task keeps format version 1");
    assert.equal(raw?.rec.input_ref, undefined);
    assert.deepEqual(await payloadKeys(store), []);
  });

  it("input and output over the threshold go beside the task, with their hash; one PUT and one GET each", async () => {
    const { queue, store } = memQueue({ shardCount: 1, inlinePayloadBytes: INLINE });
    await queue.syncLayout();
    const seen: unknown[] = [];
    const w = worker(queue, seen);
    const input = { blob: "x".repeat(5000), out: 6000 };
    const s0 = store.counters.snapshot();
    const t = await queue.submit("job", input);
    const s1 = store.counters.snapshot();
    assert.deepEqual(t.input, input, "submit returns the caller's value");
    assert.equal(t.inputRef?.size, JSON.stringify(input).length);
    await w.pollOnce();
    await w.drain();
    const s2 = store.counters.snapshot();
    assert.equal(RequestCounters.diff(s1, s0).PUT, 3 + 2, "payload, ready, task + wake-ups");
    const work = RequestCounters.diff(s2, s1);
    assert.equal(work.GET, 2 + 1, "the claim's GET, the input's, the flow control (once)");
    assert.equal(work.PUT, 3, "claim, output payload, completion (the ready entry is the lease's)");
    assert.deepEqual(seen, [input, input], "the handler and ctx.task see the value");

    const raw = (await queue.context.tasks.read(t.id))!.rec;
    assert.equal(raw.schema_version, 2);
    assert.equal(raw.input, null);
    assert.equal(raw.output, null);
    assert.match(raw.input_ref!.sha256, /^[0-9a-f]{64}$/);
    assert.equal(raw.output_ref!.size, JSON.stringify({ echo: "y".repeat(6000) }).length);
    const keys = await payloadKeys(store);
    assert.deepEqual(
      keys.sort(),
      [
        queue.keys.payload(t.id, "input", raw.input_ref!.sha256),
        queue.keys.payload(t.id, "output", raw.output_ref!.sha256),
      ].sort(),
    );
    assert.ok(
      keys.every((k) => k.startsWith(`payloads/0/${t.id}/`)),
      "keys.every((k) => k.startsWith(`payloads/0/${t.id}/`))",
    );

    const s3 = store.counters.snapshot();
    const full = await queue.get(t.id);
    assert.equal(RequestCounters.diff(store.counters.snapshot(), s3).GET, 3, "task + 2 payloads");
    assert.deepEqual(full?.input, input);
    assert.deepEqual(full?.output, { echo: "y".repeat(6000) });
    const refOnly = await queue.get(t.id, { payloads: false });
    assert.equal(refOnly?.input, null);
    assert.deepEqual(refOnly?.inputRef, raw.input_ref);
    assert.deepEqual(refOnly?.toJSON().outputRef, raw.output_ref);
    const plain = { paint: (_s: string, t: string) => t, status: (s: string) => s } as never;
    const shown = taskDetails(refOnly!, 0, plain, queue.keys);
    assert.match(shown, new RegExp(`input +stored beside the task: ${raw.input_ref!.size} bytes`));
    assert.ok(
      shown.includes(queue.keys.payload(t.id, "output", raw.output_ref!.sha256)),
      'shown.includes(queue.keys.payload(t.id, "output", raw.output_ref!.sha256))',
    );
    assert.ok(
      taskDetails(full!, 0, plain).includes(`"echo":"yyy`),
      'taskDetails(full!, 0, plain).includes(`"echo":"yyy`)',
    );
  });

  it("a payload that does not match its hash, or is missing, is a clear error; the worker fails the task without a retry", async () => {
    const { queue, store } = memQueue({ shardCount: 1, inlinePayloadBytes: INLINE });
    const w = worker(queue);
    const t = await queue.submit("job", big(3000));
    const key = queue.keys.payload(t.id, "input", t.inputRef!.sha256);
    await store.put(key, JSON.stringify(big(3000, "z")));
    await assert.rejects(queue.get(t.id), (e: unknown) => {
      assert.ok(e instanceof PayloadError, "e instanceof PayloadError");
      assert.equal(e.code, "PayloadMismatch");
      assert.equal(e.key, key);
      assert.match(e.message, /has SHA-256 [0-9a-f]{64}, but the task recorded/);
      return true;
    });
    await w.pollOnce();
    await w.drain();
    const failed = await queue.get(t.id, { payloads: false });
    assert.equal(failed?.status, "failed", "no retry: the payload would not change");
    assert.match(failed?.lastError ?? "", /but the task recorded/);

    const u = await queue.submit("job", big(3000, "q"));
    await store.delete(queue.keys.payload(u.id, "input", u.inputRef!.sha256));
    await assert.rejects(queue.get(u.id), /Payload .* is missing/);
  });

  it("an idempotent re-submit with another input leaves the first task's payload alone and removes its own", async () => {
    const { queue, store } = memQueue({ shardCount: 1, inlinePayloadBytes: INLINE });
    const a = await queue.submit("job", big(3000, "a"), { idempotencyKey: "k" });
    const b = await queue.submit("job", big(3000, "b"), { idempotencyKey: "k" });
    assert.equal(b.id, a.id);
    assert.deepEqual(await payloadKeys(store), [
      queue.keys.payload(a.id, "input", a.inputRef!.sha256),
    ]);
    const again = await queue.submit("job", big(3000, "a"), { idempotencyKey: "k" });
    assert.equal(again.id, a.id);
    assert.equal((await payloadKeys(store)).length, 1, "the same bytes: no second version left");
    assert.deepEqual((await queue.get(a.id))?.input, big(3000, "a"));
  });

  it("retention's purge removes the payloads with the task; a task without one costs no extra LIST", async () => {
    const { queue, store, clock } = memQueue({ shardCount: 1, inlinePayloadBytes: INLINE });
    const w = worker(queue);
    const large = await queue.submit("job", { ...big(3000), out: 3000 });
    const small = await queue.submit("job", {});
    w.configure({ concurrency: 2 });
    await w.pollOnce();
    await w.drain();
    assert.equal((await payloadKeys(store)).length, 2);
    clock.advance(2 * 86_400_000);
    const m = new Monitor(queue, { retention: { purgeAfterSeconds: 86_400 } });
    const r = await m.runOnce({ sweep: true });
    assert.equal(r.sweep?.purged, 2);
    assert.equal(await queue.get(large.id), null);
    assert.equal(await queue.get(small.id), null);
    assert.deepEqual(await payloadKeys(store), [], "no payload outlives its task");

    // Request by request: the payload LIST only for a task that has a reference.
    const again = [await queue.submit("job", big(3000)), await queue.submit("job", {})];
    for (const [t, lists] of [[again[0]!, 2], [again[1]!, 1]] as const) {
      const rec = (await queue.context.tasks.read(t.id))!.rec;
      const s0 = store.counters.snapshot();
      await queue.context.tasks.purge(t.id, rec);
      assert.equal(RequestCounters.diff(store.counters.snapshot(), s0).LIST_VERSIONS, lists);
    }
    assert.deepEqual(await payloadKeys(store), []);
  });

  it("the sweep removes orphans once they are an hour old, and never a payload a task points to", async () => {
    const { queue, store, clock } = memQueue({ shardCount: 1, inlinePayloadBytes: INLINE });
    const kept = await queue.submit("job", big(3000, "k"));
    // Orphans: a submit that died after its payload, and an attempt's output it never recorded.
    const ghost = "0-01JGHOSTGHOSTGHOSTGHOSTGH";
    const ghostKey = queue.keys.payload(ghost, "input", "a".repeat(64));
    await store.put(ghostKey, "{}");
    const lostOutput = queue.keys.payload(kept.id, "output", "b".repeat(64));
    await store.put(lostOutput, "{}");
    const young = await sweepPayloads(queue.context, "0", 100);
    assert.equal(young.removed, 0, "younger than the orphan age: maybe a submit in progress");
    assert.equal(young.requests, 1, "all young and current: one LIST, no GET");
    clock.advance(ORPHAN_PAYLOAD_AGE_MS);
    const r = await sweepPayloads(queue.context, "0", 100);
    assert.equal(r.removed, 2);
    assert.equal(r.requests, 3, "one LIST, one GET per task with payloads");
    assert.deepEqual(await payloadKeys(store), [
      queue.keys.payload(kept.id, "input", kept.inputRef!.sha256),
    ]);
    assert.deepEqual((await queue.get(kept.id))?.input, big(3000, "k"));
  });

  it("an output of a running task is not an orphan while it runs", async () => {
    const { queue, store, clock } = memQueue({ shardCount: 1, inlinePayloadBytes: INLINE });
    const t = await queue.submit("job", {});
    const hung = new Worker(queue, "hung").task("job", () => new Promise(() => {}));
    hung.configure({ cancelCheckIntervalMs: 86_400_000 });
    await hung.pollOnce();
    const out = queue.keys.payload(t.id, "output", "c".repeat(64));
    await store.put(out, "{}");
    clock.advance(ORPHAN_PAYLOAD_AGE_MS + 1000);
    assert.equal((await sweepPayloads(queue.context, "0", 100)).removed, 0);
    assert.deepEqual(await payloadKeys(store), [out]);
  });

  it("an output stored by a cancelled attempt gives way to the next attempt's inline output", async () => {
    const { queue, clock } = memQueue({ shardCount: 1, inlinePayloadBytes: INLINE });
    let release = () => {};
    let big = true;
    const w = new Worker(queue, "w1").task("job", async () => {
      if (big) await new Promise<void>((r) => (release = r));
      return big ? { echo: "y".repeat(5000) } : { small: true };
    });
    const t = await queue.submit("job", {});
    await w.pollOnce();
    await queue.cancel(t.id); // while the handler runs
    release();
    await w.drain();
    const cancelled = await queue.get(t.id);
    assert.equal(cancelled?.status, "cancelled");
    assert.ok(cancelled?.outputRef, "the cancelled attempt's output is kept, by reference");
    assert.deepEqual(cancelled?.output, { echo: "y".repeat(5000) });
    big = false;
    await queue.retry(t.id);
    clock.advance(1000); // the worker emptied the lane: it lists it again after pollIntervalMs
    await w.pollOnce();
    await w.drain();
    const raw = (await queue.context.tasks.read(t.id))!.rec;
    assert.equal(raw.status, "completed");
    assert.equal(raw.output_ref, undefined, "no stale reference");
    assert.equal(raw.schema_version, 1);
    assert.deepEqual((await queue.get(t.id))?.output, { small: true });
  });

  it("the ceiling: inputs and outputs up to maxInputBytes / maxOutputBytes (default 64 MiB, at most 512 MiB)", async () => {
    const { queue } = memQueue();
    assert.equal(queue.options.inlinePayloadBytes, 256 * 1024);
    assert.equal(queue.options.maxInputBytes, 64 * 1024 * 1024);
    assert.equal(queue.options.maxOutputBytes, 64 * 1024 * 1024);
    assert.throws(
      () => memQueue({ maxInputBytes: 512 * 1024 * 1024 + 1 }),
      /Invalid maxInputBytes: 536870913 \(an integer from 1 to 536870912\)/,
    );
    const small = memQueue({ maxInputBytes: 4096, inlinePayloadBytes: 1024 }).queue;
    await assert.rejects(small.submit("job", big(5000)), /over the limit of 4096/);
  });
});
