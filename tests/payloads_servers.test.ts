// oq-test: runtimes=node,bun,deno timeout=600
/**
 * Payload references on real servers: a 50 MB input and a 50 MB output round-trip through
 * a worker on moto and on an in-process `oq dev`, and `oq get` shows the reference while
 * `oq get --payload` reads the value; 50 MB of raw bytes streamed in and out.
 */
import { after, describe } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Worker } from "../src/worker/worker.ts";
import { Bytes, bytes, iterate } from "../src/task/bytes.ts";
import { cephBackend, testBucket } from "./backends.ts";
import { Queue } from "../src/queue/queue.ts";
import { devAndMoto, killAll, run, sourceRunner } from "./cli_helpers.ts";
import { it, until } from "./helpers.ts";

const MB = 1024 * 1024;
const cli = sourceRunner();
const backends = devAndMoto();

after(killAll);

for (const [name, open, skip] of backends) {
  describe(`payload references on ${name}`, () => {
    it("a 50 MB input and a 50 MB output round-trip through a worker", {
      skip,
      timeout: 300_000,
    }, async () => {
      const backend = await open();
      try {
        const queue = await backend.prepare(testBucket());
        const blob = "a".repeat(50 * MB);
        const t = await queue.submit("big", { blob });
        assert.ok(t.inputRef !== null && t.inputRef.size > 50 * MB, "input stored beside");
        let seen = 0;
        const worker = new Worker(queue, "w").task("big", (input: { blob: string }) => {
          seen = input.blob.length;
          return { blob: "b".repeat(input.blob.length) };
        });
        try {
          await worker.pollOnce();
          await worker.drain();
        } finally {
          await worker.stop();
        }
        assert.equal(seen, 50 * MB, "the handler saw the whole input");
        const ref = await queue.get(t.id, { payloads: false });
        assert.equal(ref?.status, "completed", ref?.lastError ?? "");
        assert.equal(ref?.output, null);
        assert.ok((ref?.outputRef?.size ?? 0) > 50 * MB, "output stored beside");
        const done = await queue.get(t.id);
        const output = done?.output as { blob: string };
        assert.equal(output.blob.length, 50 * MB);
        assert.ok(/^b+$/.test(output.blob), "/^b+$/.test(output.blob)");
        assert.equal((done?.input as { blob: string }).blob, blob);
      } finally {
        if (name === "oq dev") await backend.close();
      }
    });

    it("50 MB of raw bytes in and out, streamed through a worker and checked", {
      skip,
      timeout: 300_000,
    }, async () => {
      const backend = await open();
      try {
        const queue = await backend.prepare(testBucket());
        const data = new Uint8Array(50 * MB).map((_, i) => (i * 7) & 0xff);
        const t = await queue.submit("raw", bytes(new Blob([data])));
        assert.equal(t.inputRef?.format, "bytes");
        let seen = 0;
        let mismatch = -1;
        const worker = new Worker(queue, "w").task("raw", async (input: Bytes) => {
          for await (const chunk of iterate(input.stream())) {
            for (let i = 0; i < chunk.length && mismatch < 0; i++) {
              if (chunk[i] !== ((seen + i) * 7 & 0xff)) mismatch = seen + i;
            }
            seen += chunk.length;
          }
          return input; // streamed back out as the output
        });
        try {
          await worker.pollOnce();
          await worker.drain();
        } finally {
          await worker.stop();
        }
        assert.equal(seen, 50 * MB, "the handler streamed the whole input");
        assert.equal(mismatch, -1, "and every byte was right");
        const done = await queue.get(t.id);
        assert.equal(done?.status, "completed", done?.lastError ?? "");
        assert.ok(done?.output instanceof Bytes, "the output is Bytes");
        assert.equal(done.outputRef?.sha256, t.inputRef?.sha256);
        assert.deepEqual(await done.output.bytes(), data);
      } finally {
        if (name === "oq dev") await backend.close();
      }
    });

    it("oq submit --bytes FILE, oq get shows it as raw, oq payload writes it back checked", {
      skip,
    }, async () => {
      const backend = await open();
      const dir = mkdtempSync(join(tmpdir(), "oq-bytes-"));
      try {
        const bucket = testBucket();
        const queue = await backend.prepare(bucket);
        const env = backend.env(bucket);
        const letters = "abcdefghijklmnopqrstuvwxyz0123456789";
        const text = Array.from({ length: 3 * MB }, (_, i) => letters[(i * 7919) % 36]).join("");
        const file = join(dir, "in.bin");
        writeFileSync(file, text);
        const sub = await run(cli, ["submit", "-t", "raw", "--bytes", file, "--json"], { env });
        assert.equal(sub.code, 0, sub.stderr);
        const id = (JSON.parse(sub.stdout) as { id: string }).id;
        const t = await queue.get(id, { payloads: false });
        assert.equal(t?.inputRef?.format, "bytes");
        assert.equal(t?.inputRef?.size, 3 * MB);
        const worker = new Worker(queue, "w").task("raw", (input: Bytes) => input);
        // Submitted by another process: the worker polls for it as it would in production.
        const running = worker.run({ withMonitor: false, pollIntervalMs: 100 });
        try {
          await until(
            async () => (await queue.get(id, { payloads: false }))?.status === "completed",
            120_000,
            "the task completes",
          );
        } finally {
          await worker.stop();
          await running;
        }
        const shown = await run(cli, ["get", id], { env });
        assert.match(
          shown.stdout,
          new RegExp(`output +stored beside the task: ${3 * MB} bytes \\(raw\\)`),
        );
        const back = await run(cli, ["payload", id, "output"], { env });
        assert.equal(back.code, 0, back.stderr);
        assert.ok(back.stdout === text, "oq payload wrote the bytes that were submitted");

        // Bytes that no longer match: what was read is written, and the command fails.
        const done = await queue.get(id, { payloads: false });
        await queue.store.put(
          queue.keys.payload(id, "output", done!.outputRef!.sha256),
          "x".repeat(3 * MB),
        );
        const bad = await run(cli, ["payload", id, "output"], { env });
        assert.equal(bad.code, 1, bad.stderr);
        assert.match(bad.stderr, /has SHA-256 [0-9a-f]{64}, but the task recorded/);
        const none = await run(cli, ["payload", "0-01JD3XW1Q8AAAAAAAAAAAAAAAA", "input"], { env });
        assert.equal(none.code, 3, none.stderr);
        const usage = await run(cli, ["submit", "-t", "raw", "--bytes", join(dir, "missing")], {
          env,
        });
        assert.equal(usage.code, 2, usage.stderr);
      } finally {
        rmSync(dir, { recursive: true, force: true });
        if (name === "oq dev") await backend.close();
      }
    });

    it("oq get shows the reference; --payload reads the value", { skip }, async () => {
      const backend = await open();
      try {
        const bucket = testBucket();
        const queue = await backend.prepare(bucket);
        const input = { blob: "c".repeat(300 * 1024) };
        const t = await queue.submit("big", input);
        const env = backend.env(bucket);
        const shown = await run(cli, ["get", t.id], { env });
        assert.equal(shown.code, 0, shown.stderr);
        assert.match(
          shown.stdout,
          new RegExp(`input +stored beside the task: ${t.inputRef!.size}`),
        );
        assert.ok(
          shown.stdout.includes(`payloads/${t.id.split("-")[0]}/${t.id}/input-`),
          'shown.stdout.includes(`payloads/${t.id.split("-")[0]}/${t.id}/input-`)',
        );
        const json = await run(cli, ["get", t.id, "--json"], { env });
        const plain = JSON.parse(json.stdout) as { input: unknown; inputRef: { sha256: string } };
        assert.equal(plain.input, null);
        assert.equal(plain.inputRef.sha256, t.inputRef!.sha256);
        const full = await run(cli, ["get", t.id, "--payload", "--json"], { env });
        assert.equal(full.code, 0, full.stderr);
        assert.deepEqual((JSON.parse(full.stdout) as { input: unknown }).input, input);

        // A purge removes the payload with every version, and leaves no delete marker.
        const rec = (await queue.context.tasks.read(t.id))!.rec;
        await queue.context.tasks.purge(t.id, rec);
        assert.equal(await queue.get(t.id), null);
        const left = await queue.store.listVersions({ prefix: "payloads/" });
        assert.deepEqual(left.versions.map((v) => v.key), []);
      } finally {
        if (name === "oq dev") await backend.close();
      }
    });
  });
}

// Ceph RGW with an unversioned bucket: a re-submit of the same input must not delete the
// object the existing task points to (there is no version of its own to delete).
const ceph = cephBackend();
describe("payload references on ceph (unversioned bucket)", () => {
  it("idempotent re-submits, a round trip and a purge", { skip: ceph.skip }, async () => {
    const { store, close } = await ceph.open();
    try {
      const queue = new Queue(store, { inlinePayloadBytes: 1024, warn: () => {} });
      const a = { blob: "a".repeat(2 * MB) };
      const t = await queue.submit("big", a, { idempotencyKey: "k" });
      await queue.submit("big", a, { idempotencyKey: "k" }); // same bytes, same key
      await queue.submit("big", { blob: "b".repeat(4000) }, { idempotencyKey: "k" });
      const keys = async () =>
        (await store.list({ prefix: "payloads/" })).objects.map((o) => o.key);
      assert.deepEqual(await keys(), [queue.keys.payload(t.id, "input", t.inputRef!.sha256)]);
      const worker = new Worker(queue, "w").task("big", (i: { blob: string }) => ({
        n: i.blob.length,
        echo: i.blob,
      }));
      try {
        await worker.pollOnce();
        await worker.drain();
      } finally {
        await worker.stop();
      }
      const done = await queue.get(t.id);
      assert.equal(done?.status, "completed", done?.lastError ?? "");
      assert.equal((done?.output as { n: number }).n, 2 * MB);
      assert.equal((await keys()).length, 2);
      await queue.context.tasks.purge(t.id, (await queue.context.tasks.read(t.id))!.rec);
      assert.deepEqual(await keys(), []);
    } finally {
      await close();
    }
  });
});
