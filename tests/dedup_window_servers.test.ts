// oq-test: runtimes=node,bun,deno timeout=300
/**
 * Deduplication windows on real servers (moto, versioned; Ceph, unversioned): a re-submit
 * within the window returns the task, after it replaces the finished task by If-Match under
 * the same id (one new version on moto), and of concurrent re-submits exactly one writes.
 * Time is a fake clock injected into the queue; the store is the server. Then `oq submit
 * --idempotency-ttl` on an in-process `oq dev`.
 */
import { after, describe } from "node:test";
import assert from "node:assert/strict";
import { Queue } from "../src/queue/queue.ts";
import { Worker } from "../src/worker/worker.ts";
import { cephBackend, motoBackend } from "./backends.ts";
import { devBackend, killAll, run, sourceRunner, testBucket } from "./cli_helpers.ts";
import { FakeClock, it } from "./helpers.ts";

const KEYED = { idempotencyKey: "report-2026-12", idempotencyTtlSeconds: 600 };

for (const backend of [motoBackend(), cephBackend()]) {
  describe(`deduplication window on ${backend.name}`, () => {
    it("within, after, and concurrently after the window", {
      skip: backend.skip,
      timeout: 240_000,
    }, async () => {
      const b = await backend.open();
      const clock = new FakeClock();
      const queue = new Queue(b.store, { clock, shardCount: 1, warn: () => {} });
      const worker = new Worker(queue, "w").task("job", (input: { n: number }) => input.n);
      const work = async () => {
        await worker.pollOnce();
        await worker.drain();
      };
      try {
        const first = await queue.submit("job", { n: 1 }, KEYED);
        await work();
        clock.advance(599_000);
        const within = await queue.submit("job", { n: 2 }, KEYED);
        assert.equal(within.status, "completed");
        assert.deepEqual(within.input, { n: 1 });

        clock.advance(1_000);
        const after = await queue.submit("job", { n: 3 }, KEYED);
        assert.equal(after.id, first.id);
        assert.equal(after.status, "pending");
        assert.deepEqual(after.input, { n: 3 });
        if (backend.versioned) {
          const statuses = (await queue.getHistory(first.id)).map((t) => t.status);
          assert.deepEqual(statuses, ["pending", "running", "completed", "pending"]);
        }
        await work();
        assert.equal((await queue.get(first.id))?.output, 3);

        clock.advance(600_000);
        const all = await Promise.all(
          [10, 11, 12, 13].map((n) => queue.submit("job", { n }, KEYED)),
        );
        const cur = (await queue.get(first.id))!;
        // On failure, the history says whether the server let two If-Match writes with the
        // same ETag through (two new versions) or a submit returned a task it did not see.
        const history = (await queue.getHistory(first.id)).map((t) =>
          `${t.status} ${JSON.stringify(t.input)} r${t.revision}`
        );
        const why = `history ${JSON.stringify(history)}, returned ${
          JSON.stringify(all.map((t) => t.input))
        }`;
        assert.equal(cur.status, "pending", why);
        for (const t of all) assert.deepEqual(t.input, cur.input, why);
        assert.equal(cur.revision, 6, `the revision counts on across the replaces: ${why}`);
        if (backend.versioned) assert.equal(history.length, 7, `one new version: ${why}`);
      } finally {
        await worker.stop();
        await b.close();
      }
    });
  });
}

after(killAll);

describe("oq submit --idempotency-ttl (oq dev)", () => {
  it("sets the key's window, refuses it without a key, applies to keyed --file lines", {
    timeout: 240_000,
  }, async () => {
    const backend = await devBackend();
    try {
      const cli = sourceRunner();
      const bucket = testBucket();
      const queue = await backend.prepare(bucket);
      const env = backend.env(bucket);
      const args = ["submit", "-t", "job", "--idempotency-key", "k1", "--idempotency-ttl", "1h"];
      const first = await run(cli, args, { env });
      assert.equal(first.code, 0, first.stderr);
      const again = await run(cli, [...args, "-i", "2"], { env });
      assert.equal(again.stdout, first.stdout, "within the window: the same task");
      const t = (await queue.get(first.stdout.trim()))!;
      assert.equal(t.idempotencyExpiresAt!.getTime() - t.createdAt.getTime(), 3_600_000);
      const shown = await run(cli, ["get", t.id], { env });
      assert.match(shown.stdout, /key window\s+until /);

      const noKey = await run(cli, ["submit", "-t", "job", "--idempotency-ttl", "5m"], { env });
      assert.equal(noKey.code, 2);
      assert.match(noKey.stderr, /--idempotency-ttl needs --idempotency-key/);
      const zero = await run(cli, [...args.slice(0, 5), "--idempotency-ttl", "0s"], { env });
      assert.equal(zero.code, 2);
      assert.match(zero.stderr, /Invalid --idempotency-ttl/);

      const lines = [
        JSON.stringify({ type: "job", input: 1, idempotencyKey: "f1" }),
        JSON.stringify({ type: "job", input: 2 }),
        JSON.stringify({ type: "job", input: 3, idempotencyKey: "f3", idempotencyTtlSeconds: 5 }),
      ].join("\n");
      const file = await run(cli, ["submit", "--file", "-", "--idempotency-ttl", "2m", "--json"], {
        env,
        stdin: lines,
      });
      assert.equal(file.code, 0, file.stderr);
      const tasks = JSON.parse(file.stdout) as Array<
        { createdAt: string; idempotencyExpiresAt?: string }
      >;
      const windows = tasks.map((x) =>
        x.idempotencyExpiresAt === undefined
          ? null
          : Date.parse(x.idempotencyExpiresAt) - Date.parse(x.createdAt)
      );
      assert.deepEqual(windows, [120_000, null, 5_000]);
    } finally {
      await backend.close();
    }
  });
});
