// oq-test: runtimes=node,bun,deno timeout=600
/**
 * Payload references on real servers: a 50 MB input and a 50 MB output round-trip through
 * a worker on moto and on an in-process `oq dev`, and `oq get` shows the reference while
 * `oq get --payload` reads the value.
 */
import { after, describe } from "node:test";
import assert from "node:assert/strict";
import { Worker } from "../src/worker/worker.ts";
import { cephBackend, testBucket } from "./backends.ts";
import { Queue } from "../src/queue/queue.ts";
import { devAndMoto, killAll, run, sourceRunner } from "./cli_helpers.ts";
import { it } from "./helpers.ts";

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
