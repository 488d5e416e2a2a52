// oq-test: timeout=300
/**
 * The bucket's layout through the command line (issue 13): 16 tasks submitted with 8
 * shards, then `oq worker` with OQ_SHARD_COUNT=4 refuses and names both values; without a
 * count it uses the bucket's and runs all 16; `oq reshard 4` while a worker runs moves the
 * work and loses nothing; `oq layout` shows the result. Against an in-process `oq dev`.
 */
import { after, before, describe } from "node:test";
import { it } from "./helpers.ts";
import assert from "node:assert/strict";
import {
  type CliBackend,
  devBackend,
  killAll,
  run,
  sourceRunner,
  start,
  testBucket,
  waitTask,
} from "./cli_helpers.ts";

const cli = sourceRunner();

describe(`oq layout and reshard (${cli.name})`, () => {
  let backend: CliBackend;
  before(async () => {
    backend = await devBackend();
  });
  after(async () => {
    await killAll();
    await backend?.close();
  });

  it("a worker configured with another shard count refuses; the bucket's count runs everything", {
    timeout: 120_000,
  }, async () => {
    const bucket = testBucket();
    const env8 = backend.env(bucket, { OQ_SHARD_COUNT: "8" });
    const init = await run(cli, ["init"], { env: env8 });
    assert.equal(init.code, 0, init.stderr);
    assert.match(init.stdout, /shards\s+8/);
    const queue = await backend.queue(bucket);
    assert.equal(queue.shards.length, 8, "the library adopts the bucket's 8");
    const tasks = await queue.submitMany(
      Array.from({ length: 16 }, (_, i) => ["job", { i }] as const),
    );
    assert.equal(new Set(tasks.map((t) => t.shard)).size, 8);

    const refused = await run(
      cli,
      ["worker", "--exec", "job=cat", "--no-monitor"],
      { env: backend.env(bucket, { OQ_SHARD_COUNT: "4" }), timeoutMs: 60_000 },
    );
    assert.equal(refused.code, 1);
    assert.match(refused.stderr, /configured with 4 shards/);
    assert.match(refused.stderr, /has 8/);
    assert.equal((await queue.get(tasks[0]!.id))!.status, "pending", "nothing was claimed");

    const w = await start(cli, [
      "worker",
      "--exec",
      "job=cat",
      "--poll-interval",
      "200ms",
      "--no-monitor",
    ], { env: backend.env(bucket) });
    try {
      for (const t of tasks) await waitTask(queue, t.id, (x) => x.status === "completed", 60_000);
    } finally {
      await w.stop();
    }
    const shown = await run(cli, ["layout", "--json"], { env: backend.env(bucket) });
    assert.equal(shown.code, 0, shown.stderr);
    assert.equal(JSON.parse(shown.stdout).shardCount, 8);
  });

  it("oq reshard 4 while a worker runs: pending, delayed and running work moves, none is lost", {
    timeout: 180_000,
  }, async () => {
    const bucket = testBucket();
    const init = await run(cli, ["init"], { env: backend.env(bucket, { OQ_SHARD_COUNT: "8" }) });
    assert.equal(init.code, 0, init.stderr);
    const queue = await backend.queue(bucket);
    const env = backend.env(bucket);
    const w = await start(cli, [
      "worker",
      "--concurrency",
      "8",
      "--exec",
      "slow=sleep 5; cat",
      "--exec",
      "job=cat",
      "--poll-interval",
      "200ms",
    ], { env });
    try {
      await w.waitFor("stderr", /started|polling|worker/i);
      const slow = await queue.submitMany(
        Array.from({ length: 8 }, (_, i) => ["slow", { i }] as const),
      );
      for (const t of slow) await waitTask(queue, t.id, (x) => x.status !== "pending", 60_000);
      const delayed = await queue.submitMany(
        Array.from({ length: 8 }, (_, i) => ["job", { d: i }, { delaySeconds: 4 }] as const),
      );
      const r = await run(cli, ["reshard", "4", "--no-wait", "--json"], { env });
      assert.equal(r.code, 0, r.stderr);
      const result = JSON.parse(r.stdout);
      assert.deepEqual([result.from, result.to, result.retired], [8, 4, ["4", "5", "6", "7"]]);
      const ready = await queue.submitMany(
        Array.from({ length: 8 }, (_, i) => ["job", { r: i }] as const),
      );
      for (const t of [...slow, ...delayed, ...ready]) {
        const done = await waitTask(queue, t.id, (x) => x.status === "completed", 90_000);
        assert.equal(done.attempt, 1, `${t.id} ran once`);
      }
      const shown = await run(cli, ["layout"], { env });
      assert.match(shown.stdout, /shards\s+4 \(0-3\)/);
      assert.match(shown.stdout, /retired shards\s+4, 5, 6, 7/);
      assert.match(shown.stdout, /8 -> 4/);
    } finally {
      await w.stop();
    }
  });
});
