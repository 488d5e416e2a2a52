// oq-test: runtimes=node,bun,deno timeout=300
/**
 * Streamed payloads on the memory store with the fake clock: raw bytes (`bytes(...)`) as
 * an input and an output, read by the handler as a stream and checked as they stream; the
 * request counts; sources that lie about their size; stored bytes that do not match; JSON
 * payloads encoded chunk by chunk (surrogate pairs kept whole) and decoded as they arrive.
 */
import { describe } from "node:test";
import assert from "node:assert/strict";
import { RequestCounters } from "../src/s3/counters.ts";
import { Bytes, bytes, iterate } from "../src/task/bytes.ts";
import { PayloadError, readJsonPayload, textChunks } from "../src/task/payload_ref.ts";
import { sha256Hex } from "../src/runtime/hash.ts";
import { concatBytes } from "../src/runtime/portable.ts";
import { chunksOf } from "../src/store/streams.ts";
import { Worker } from "../src/worker/worker.ts";
import { it, memQueue } from "./helpers.ts";
import { MemoryStore } from "../src/store/memory_store.ts";
import { Queue } from "../src/queue/queue.ts";
import { PreconditionFailedError } from "../src/base/errors.ts";
import type { PutBody, PutOptions, PutResult } from "../src/store/types.ts";

const pattern = (n: number, seed = 7) => new Uint8Array(n).map((_, i) => (i * seed + 3) & 0xff);

/** A source that yields `n` bytes of a pattern in chunks of `chunk`, and counts its reads. */
function generated(n: number, chunk = 10_000, seed = 7) {
  const source = {
    size: n,
    opened: 0,
    stream(): ReadableStream<Uint8Array> {
      source.opened++;
      let at = 0;
      return new ReadableStream<Uint8Array>({
        pull(c) {
          if (at >= n) return c.close();
          const len = Math.min(chunk, n - at);
          c.enqueue(new Uint8Array(len).map((_, i) => ((at + i) * seed + 3) & 0xff));
          at += len;
        },
      });
    },
  };
  return source;
}

async function readAll(s: ReadableStream<Uint8Array>): Promise<Uint8Array> {
  const parts: Uint8Array[] = [];
  for await (const c of iterate(s)) parts.push(c);
  return concatBytes(parts);
}

describe("raw bytes payloads (memory store)", () => {
  it("an input and an output of raw bytes round-trip as streams, one PUT and one GET each", async () => {
    const { queue, store } = memQueue({ shardCount: 1 });
    await queue.syncLayout();
    const source = generated(250_000);
    const s0 = store.counters.snapshot();
    const t = await queue.submit("copy", bytes(source));
    const s1 = store.counters.snapshot();
    assert.equal(RequestCounters.diff(s1, s0).PUT, 3 + 2, "payload, ready, task + wake-ups");
    assert.equal(source.opened, 2, "the source is read twice: to hash it, then to send it");
    assert.equal(t.inputRef?.format, "bytes");
    assert.equal(t.inputRef?.size, 250_000);
    assert.equal(t.inputRef?.sha256, await sha256Hex(pattern(250_000)));

    let seen: Uint8Array | undefined;
    const w = new Worker(queue, "w1").task("copy", async (input: Bytes, ctx) => {
      assert.ok(input instanceof Bytes, "the handler gets Bytes");
      assert.ok(ctx.task.input instanceof Bytes, "so does ctx.task");
      seen = await readAll(input.stream());
      return bytes(generated(120_000, 7_000, 11)); // an output made as it is sent
    });
    await w.pollOnce();
    await w.drain();
    const s2 = store.counters.snapshot();
    assert.deepEqual(seen, pattern(250_000), "the handler read the bytes that were submitted");
    const work = RequestCounters.diff(s2, s1);
    assert.equal(work.GET, 2 + 1, "the claim's GET, the input's (when read), the flow control");
    assert.equal(work.PUT, 3, "claim, output payload, completion (the ready entry is the lease's)");

    const done = await queue.get(t.id);
    assert.equal(done?.status, "completed");
    assert.equal(
      RequestCounters.diff(store.counters.snapshot(), s2).GET,
      1,
      "get reads the task only: bytes are read when streamed",
    );
    assert.ok(done?.output instanceof Bytes, "the output is Bytes");
    assert.equal(done.outputRef?.format, "bytes");
    assert.deepEqual(await done.output.bytes(), pattern(120_000, 11));
    assert.equal(await sha256Hex(await done.output.bytes()), done.outputRef?.sha256);
    assert.deepEqual(
      JSON.parse(JSON.stringify(done.toJSON().output)),
      { bytes: 120_000, sha256: done.outputRef?.sha256 },
      "in JSON, bytes show as their size and hash",
    );
  });

  it("a handler may return its input as its output (streamed through, not held)", async () => {
    const { queue } = memQueue({ shardCount: 1 });
    const data = pattern(70_000, 13);
    const t = await queue.submit("echo", bytes(new Blob([data])));
    const w = new Worker(queue, "w1").task("echo", (input: Bytes) => input);
    await w.pollOnce();
    await w.drain();
    const done = await queue.get(t.id);
    assert.equal(done?.status, "completed");
    assert.equal(done?.outputRef?.sha256, done?.inputRef?.sha256);
    assert.deepEqual(await (done?.output as Bytes).bytes(), data);
  });

  it("a source that gives fewer or more bytes than its size, or not bytes, is refused and nothing is written", async () => {
    const { queue, store } = memQueue({ shardCount: 1 });
    const short = { size: 100, stream: () => new Blob([pattern(60)]).stream() };
    await assert.rejects(queue.submit("x", bytes(short)), /gave 60 bytes, not its size 100/);
    const long = { size: 10, stream: () => new Blob([pattern(60)]).stream() };
    await assert.rejects(queue.submit("x", bytes(long)), /gave more than its size 10/);
    const text = {
      size: 3,
      stream: () =>
        new ReadableStream({
          start(c) {
            c.enqueue("abc");
            c.close();
          },
        }) as unknown as ReadableStream<Uint8Array>,
    };
    await assert.rejects(queue.submit("x", bytes(text)), /gave a string, not a Uint8Array/);
    assert.throws(() => bytes({ size: -1, stream: short.stream }), /size must be a whole number/);
    const listed = await store.listVersions({ prefix: "" });
    assert.deepEqual(
      listed.versions.filter((v) => !v.key.startsWith("_")).map((v) => v.key)
        .filter((k) => k.startsWith("payloads/") || k.startsWith("tasks/")),
      [],
      "no payload and no task written",
    );
    await assert.rejects(
      queue.createSchedule("s", "x", bytes(pattern(3)), "* * * * *"),
      /cannot be bytes/,
    );
  });

  it("stored bytes that do not match, or are missing, end the reader's stream with a PayloadError", async () => {
    const { queue, store } = memQueue({ shardCount: 1 });
    const t = await queue.submit("x", bytes(pattern(5000)));
    const key = queue.keys.payload(t.id, "input", t.inputRef!.sha256);
    const got = (await queue.get(t.id))?.input as Bytes;

    await store.put(key, pattern(5000, 9)); // same size, other bytes
    await assert.rejects(readAll(got.stream()), (e: unknown) => {
      assert.ok(e instanceof PayloadError, `PayloadError, got ${e}`);
      assert.equal(e.code, "PayloadMismatch");
      assert.match(e.message, /has SHA-256 [0-9a-f]{64}, but the task recorded/);
      return true;
    });
    await store.put(key, pattern(6000));
    await assert.rejects(got.bytes(), /is more than 5000 bytes, but the task recorded 5000/);
    await store.put(key, pattern(4000));
    await assert.rejects(got.text(), /is 4000 bytes, but the task recorded 5000/);
    await store.delete(key);
    await assert.rejects(
      got.bytes(),
      (e: unknown) => e instanceof PayloadError && e.code === "PayloadMissing",
    );
  });

  it("a handler reading its input bytes that do not match fails the task without a retry", async () => {
    const { queue, store } = memQueue({ shardCount: 1 });
    const t = await queue.submit("x", bytes(pattern(5000)), { maxRetries: 3 });
    await store.put(queue.keys.payload(t.id, "input", t.inputRef!.sha256), pattern(5000, 5));
    const w = new Worker(queue, "w1").task(
      "x",
      async (input: Bytes) => (await input.bytes()).length,
    );
    await w.pollOnce();
    await w.drain();
    const done = await queue.get(t.id, { payloads: false });
    assert.equal(done?.status, "failed", "no retry: reading again gives the same bytes");
    assert.equal(done?.attempt, 1);
    assert.match(done?.lastError ?? "", /but the task recorded/);
    // Another payload's error is the handler's own business: retried as any failure.
    const other = await queue.submit("y", {}, { maxRetries: 3 });
    const w2 = new Worker(queue, "w2").task("y", async () => {
      await (got as Bytes).bytes(); // t's input, not y's
    });
    const got = (await queue.get(t.id))?.input;
    await w2.pollOnce();
    await w2.drain();
    const retried = await queue.get(other.id, { payloads: false });
    assert.equal(retried?.status, "pending", "retried with back-off");
    assert.match(retried?.lastError ?? "", /but the task recorded/);
  });

  it("a submit whose create landed but was answered 412 (a retry the fetch made unseen) keeps its payload", async () => {
    // Deno's fetch can send a request again by itself after a dropped connection: the task
    // is created, and the answer oq sees is a plain 412 on its first attempt.
    class HiddenRetry extends MemoryStore {
      fired = false;
      override put(key: string, body: PutBody, options?: PutOptions): Promise<PutResult> {
        if (this.fired || !key.startsWith("tasks/") || options?.ifNoneMatch !== "*") {
          return super.put(key, body, options);
        }
        this.fired = true;
        return super.put(key, body, options).then(() => {
          throw new PreconditionFailedError("PreconditionFailed", { operation: "PutObject", key });
        });
      }
    }
    for (const input of [bytes(pattern(5000)), { blob: "x".repeat(300_000) }]) {
      const store = new HiddenRetry();
      const queue = new Queue(store, { shardCount: 1, warn: () => {} });
      const t = await queue.submit("x", input);
      assert.ok(store.fired, "the create was answered 412");
      const got = await queue.get(t.id);
      const value = got?.input instanceof Bytes ? (await got.input.bytes()).length : got?.input;
      assert.deepEqual(value, input instanceof Bytes ? 5000 : input, "the payload is still there");
    }
  });

  it("retention's purge removes bytes payloads with their task", async () => {
    const { queue, store } = memQueue({ shardCount: 1 });
    const t = await queue.submit("x", bytes(pattern(3000)));
    const w = new Worker(queue, "w1").task("x", () => bytes(pattern(2000)));
    await w.pollOnce();
    await w.drain();
    assert.equal((await store.listVersions({ prefix: "payloads/" })).versions.length, 2);
    const r = await queue.delete(t.id);
    assert.equal(r.deleted, true);
    assert.equal((await store.listVersions({ prefix: "payloads/" })).versions.length, 0);
  });
});

describe("JSON payloads as streams", () => {
  it("text is encoded in chunks that never split a surrogate pair, exactly as TextEncoder", () => {
    const unit = 64 * 1024;
    const samples = [
      "a".repeat(unit - 1) + "\u{1F600}" + "b".repeat(10), // a pair across the first boundary
      "\u{1F600}".repeat(unit + 3), // pairs everywhere
      "x".repeat(unit - 1) + "\ud800", // a lone high surrogate at the very end
      "\u00e9\u20ac".repeat(unit),
      "",
    ];
    for (const s of samples) {
      const chunks = [...textChunks(s)];
      assert.deepEqual(
        concatBytes(chunks),
        new TextEncoder().encode(s),
        `chunks of ${s.length} units`,
      );
    }
  });

  it("a streamed read checks size and hash, stops when more arrives than recorded, and refuses bad UTF-8", async () => {
    const json = JSON.stringify({ v: "\u00e9".repeat(100_000) });
    const data = new TextEncoder().encode(json);
    const ref = { sha256: await sha256Hex(data), size: data.length };
    assert.deepEqual(await readJsonPayload("k", chunksOf(data), ref), JSON.parse(json));
    await assert.rejects(
      readJsonPayload("k", chunksOf(concatBytes([data, new Uint8Array(5)])), ref),
      /is more than \d+ bytes/,
    );
    await assert.rejects(
      readJsonPayload("k", chunksOf(data.subarray(1)), ref),
      /is \d+ bytes, but/,
    );
    const bad = data.slice();
    bad[10] = 0xff;
    await assert.rejects(
      readJsonPayload("k", chunksOf(bad), { ...ref, sha256: await sha256Hex(bad) }),
      /not valid UTF-8 JSON/,
    );
  });
});
