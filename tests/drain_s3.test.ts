// oq-test: runtimes=node,bun,deno timeout=300
/**
 * Drain mode over S3 (moto when OQ_TEST_MOTO_URL is set, else an in-process `oq dev`):
 * `worker.runUntilIdle()` through the library, and `oq worker --until-idle [--max-time]` as a
 * subprocess from source: it runs every due task and exits 0 with a `worker:drained`
 * summary; a task still running near the end of the budget is given back, retry count
 * unchanged. Also counts the requests of an empty drain run (docs/format.md).
 */
import { after, afterEach, before, describe } from "node:test";
import assert from "node:assert/strict";
import { Worker } from "../src/worker/worker.ts";
import {
  type CliBackend,
  killAll,
  primaryBackend,
  run,
  sourceRunner,
  testBucket,
} from "./cli_helpers.ts";
import { it } from "./helpers.ts";

const cli = sourceRunner();

function drained(stderr: string): Record<string, unknown> {
  const line = stderr.split("\n").filter((l) => l.startsWith("{")).map((l) => JSON.parse(l))
    .find((e) => e.event === "worker:drained");
  assert.ok(line, `a worker:drained event in:\n${stderr}`);
  return line;
}

describe(`drain mode over S3 (${cli.name})`, () => {
  let backend: CliBackend;
  before(async () => {
    backend = await primaryBackend();
    console.log(`# drain suite: backend ${backend.name}`);
  });
  afterEach(async () => await killAll());
  after(async () => {
    await killAll();
    await backend?.close();
  });

  it("worker.runUntilIdle runs every due task and returns its summary", async () => {
    const queue = await backend.prepare(testBucket());
    const ids = [];
    for (let i = 0; i < 8; i++) ids.push((await queue.submit("double", { n: i })).id);
    const worker = new Worker(queue, "drain-lib").task(
      "double",
      (input) => (input as { n: number }).n * 2,
    );
    const summary = await worker.runUntilIdle({ concurrency: 3, maxTimeMs: 120_000 });
    assert.equal(summary.stoppedBecause, "idle");
    assert.equal(summary.claimed, 8);
    assert.equal(summary.completed, 8);
    assert.equal(summary.errors, 0);
    for (const [i, id] of ids.entries()) {
      const t = (await queue.get(id))!;
      assert.equal(t.status, "completed");
      assert.equal(t.output, i * 2);
    }
    const history = await queue.getHistory(ids[0]!);
    assert.deepEqual(history.map((h) => h.status), ["pending", "running", "completed"]);
  });

  it("oq worker --until-idle runs the due tasks and exits 0 with a summary", async () => {
    const bucket = testBucket();
    const queue = await backend.prepare(bucket);
    const a = await queue.submit("echo", { a: 1 });
    const b = await queue.submit("echo", { b: 2 });
    const later = await queue.submit("echo", {}, { delaySeconds: 3600 });
    const r = await run(cli, [
      "worker",
      "--until-idle",
      "--max-time",
      "120s",
      "--log-format",
      "json",
      "--exec",
      "echo=cat",
    ], { env: backend.env(bucket), timeoutMs: 180_000 });
    assert.equal(r.code, 0, r.stderr);
    const s = drained(r.stderr);
    assert.equal(s.claimed, 2);
    assert.equal(s.completed, 2);
    assert.equal(s.released, 0);
    assert.equal(s.stopped_because, "idle");
    assert.deepEqual((await queue.get(a.id))!.output, { a: 1 });
    assert.deepEqual((await queue.get(b.id))!.output, { b: 2 });
    assert.equal((await queue.get(later.id))!.status, "pending");
    const workers = await run(cli, ["workers", "--json"], { env: backend.env(bucket) });
    assert.deepEqual(JSON.parse(workers.stdout), [], "drain mode leaves no heartbeat");
  });

  it("oq worker --until-idle --max-time gives back a task still running near the end", async () => {
    const bucket = testBucket();
    const queue = await backend.prepare(bucket);
    const slow = await queue.submit("slow", {}, { timeoutSeconds: 600 });
    const r = await run(cli, [
      "worker",
      "--until-idle",
      "--max-time",
      "20s",
      "--log-format",
      "json",
      "--kill-grace",
      "1s",
      "--exec",
      "slow=sleep 300",
    ], { env: backend.env(bucket), timeoutMs: 120_000 });
    assert.equal(r.code, 0, r.stderr);
    const s = drained(r.stderr);
    assert.equal(s.claimed, 1);
    assert.equal(s.released, 1);
    assert.equal(s.stopped_because, "budget");
    assert.ok(Number(s.elapsed_ms) <= 20_000, `elapsed ${s.elapsed_ms} ms`);
    const t = (await queue.get(slow.id))!;
    assert.equal(t.status, "pending");
    assert.equal(t.retryCount, 0);
  });

  it("oq worker refuses --max-time without --until-idle", async () => {
    const bucket = testBucket();
    await backend.prepare(bucket);
    const r = await run(cli, ["worker", "--max-time", "5s", "--exec", "x=true"], {
      env: backend.env(bucket),
    });
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, /--max-time needs --until-idle/);
  });
});
