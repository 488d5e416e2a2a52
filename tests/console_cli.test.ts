/**
 * `oq serve` and `oq worker --metrics-port` as real subprocesses (from source, on the
 * runtime running the tests) against an in-process `oq dev` server; and WorkerMetrics and
 * the Prometheus writer directly.
 */
import { after, afterEach, before, describe } from "node:test";
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
import { it, memQueue } from "./helpers.ts";
import { WorkerMetrics } from "../src/console/worker_metrics.ts";
import { escapeLabelValue, Exposition, newHistogram, observe } from "../src/console/prometheus.ts";
import { Worker } from "../src/worker/worker.ts";
import { PermanentError, SnoozeError } from "../src/worker/handler.ts";

const cli = sourceRunner();

describe(`oq serve and oq worker --metrics-port (${cli.name})`, () => {
  let backend: CliBackend;
  before(async () => {
    backend = await devBackend();
  });
  afterEach(() => killAll());
  after(async () => {
    await killAll();
    await backend?.close();
  });

  it("refuses to bind beyond loopback without a token", async () => {
    const r = await run(cli, ["serve", "--host", "0.0.0.0", "--port", "0"], {
      env: backend.env(testBucket(), { OQ_CONSOLE_TOKEN: "" }),
    });
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, /Refusing to serve on 0\.0\.0\.0 without a token/);
  });

  it("serves the console: counts, token, read-only; stops on SIGTERM", async () => {
    const bucket = testBucket();
    const queue = await backend.prepare(bucket);
    const task = await queue.submit("email", { to: "a@b.c" });
    const token = "cli-token-0123456789";
    const s = await start(cli, ["serve", "--port", "0", "--read-only"], {
      env: backend.env(bucket, { OQ_CONSOLE_TOKEN: token }),
    });
    const [, url] = await s.waitFor("stderr", /console at (http:\/\/127\.0\.0\.1:\d+\/)/);
    assert.match(s.stderr(), /\(read-only\) \(token required\)/);
    const auth = { authorization: `Bearer ${token}` };
    assert.equal((await fetch(`${url}api/overview`)).status, 401);
    const o = await (await fetch(`${url}api/overview`, { headers: auth })).json();
    assert.equal(o.totals.ready, 1);
    const listed = await (await fetch(`${url}api/tasks?state=ready`, { headers: auth })).json();
    assert.deepEqual(listed.tasks.map((t: { id: string }) => t.id), [task.id]);
    const refused = await fetch(`${url}api/tasks/${task.id}/cancel`, {
      method: "POST",
      headers: { ...auth, "content-type": "application/json" },
      body: "{}",
    });
    assert.equal(refused.status, 403);
    const page = await (await fetch(url!, { headers: auth })).text();
    assert.ok(!page.includes(token), "the token is in no page");
    assert.ok(!page.includes("oqdevsecret"), "nor the S3 secret");
    const r = await s.stop("SIGTERM");
    assert.equal(r.code, 0, r.stderr);
  });

  it("starts while the bucket is unreachable and shows why", async () => {
    const s = await start(cli, ["serve", "--port", "0"], {
      env: backend.env(testBucket(), { S3_ENDPOINT: "http://127.0.0.1:9" }),
    });
    const [, url] = await s.waitFor("stderr", /console at (http:\/\/127\.0\.0\.1:\d+\/)/);
    assert.match(s.stderr(), /could not be checked/);
    const res = await fetch(url!);
    assert.equal(res.status, 503);
    assert.match(await res.text(), /The bucket cannot be read/);
    assert.equal((await fetch(`${url}assets/app.css`)).status, 200, "the console is up");
    assert.equal((await s.stop("SIGTERM")).code, 0);
  });

  it("oq worker --metrics-port serves the worker's counters and durations", async () => {
    const bucket = testBucket();
    const queue = await backend.prepare(bucket);
    const w = await start(cli, [
      "worker",
      "--poll-interval",
      "200ms",
      "--no-monitor",
      "--metrics-port",
      "0",
      "--exec",
      "echo_it=cat",
    ], { env: backend.env(bucket) });
    const [, url] = await w.waitFor("stderr", /(http:\/\/127\.0\.0\.1:\d+\/metrics)/);
    const task = await queue.submit("echo_it", { n: 1 });
    await waitTask(queue, task.id, (t) => t.status === "completed");
    let text = "";
    for (let i = 0; i < 100 && !/outcome="completed"/.test(text); i++) {
      text = await (await fetch(url!)).text();
      if (!/outcome="completed"/.test(text)) await new Promise((r) => setTimeout(r, 50));
    }
    assert.match(
      text,
      /^oq_worker_tasks_total\{worker_id="[^"]+",outcome="completed",task_type="echo_it"\} 1$/m,
    );
    assert.match(text, /^oq_worker_handler_duration_seconds_count\{.*outcome="completed".*\} 1$/m);
    assert.match(text, /^oq_worker_s3_requests_total\{worker_id="[^"]+",kind="PUT"\} [1-9]/m);
    assert.equal((await fetch(url!.replace("/metrics", "/other"))).status, 404);
    assert.equal((await w.stop("SIGTERM")).code, 0);
  });
});

describe("WorkerMetrics", () => {
  it("counts outcomes by type and times attempts from the worker's events", async () => {
    const { queue, clock } = memQueue({ shardCount: 1 });
    let t = 0;
    const metrics = new WorkerMetrics({ now: () => t, durationBuckets: [1, 10] });
    const worker = new Worker(queue, "w1")
      // The handlers run at once (claims write nothing before them): only "bad" moves the
      // metrics' clock, so its time is its own.
      .task("ok", () => 1)
      .task("bad", () => {
        t += 5000;
        throw new PermanentError("no");
      })
      .task("flaky", () => {
        throw new Error("again");
      })
      .task("sleepy", (_input, ctx) => {
        if (ctx.attempt === 1) throw new SnoozeError(3600);
      });
    const detach = metrics.attach(worker, queue.store);
    await queue.submit("ok", {});
    await queue.submit("bad", {});
    await queue.submit("flaky", {}, { maxRetries: 3 });
    await queue.submit("sleepy", {});
    worker.configure({ concurrency: 4 });
    for (let i = 0; i < 3; i++) {
      await worker.pollOnce();
      await worker.drain();
      clock.advance(1000);
    }
    assert.equal(metrics.count("completed", "ok"), 1);
    assert.equal(metrics.count("failed", "bad"), 1);
    assert.ok(metrics.count("retried", "flaky") >= 1, 'metrics.count("retried", "flaky") >= 1');
    assert.equal(metrics.count("snoozed", "sleepy"), 1, "a snooze ends its attempt");
    const text = metrics.text();
    assert.match(text, /^oq_worker_tasks_claimed_total\{worker_id="w1",task_type="ok"\} 1$/m);
    assert.match(
      text,
      /oq_worker_handler_duration_seconds_bucket\{worker_id="w1",outcome="failed",task_type="bad",le="1"\} 0\noq_worker_handler_duration_seconds_bucket\{[^}]*le="10"\} 1\n[^\n]*le="\+Inf"\} 1\noq_worker_handler_duration_seconds_sum\{[^}]*\} 5\n/,
    );
    assert.match(text, /^oq_worker_in_flight_tasks\{worker_id="w1"\} 0$/m);
    assert.match(text, /^oq_worker_s3_requests_total\{worker_id="w1",kind="GET"\} [1-9]/m);
    detach();
    await queue.submit("ok", {});
    await worker.pollOnce();
    await worker.drain();
    assert.equal(metrics.count("completed", "ok"), 1, "detached: no longer counted");
    await worker.stop({ timeoutMs: 0 });
  });

  it("the text format escapes label values and keeps histograms cumulative", () => {
    assert.equal(escapeLabelValue('a"b\\c\nd'), 'a\\"b\\\\c\\nd');
    const h = newHistogram([1, 2]);
    for (const v of [0.5, 1.5, 1.7, 3]) observe(h, v);
    const e = new Exposition().family("x", "histogram", "help\nline");
    e.histogram("x", h, { k: "v" });
    assert.equal(
      e.text(),
      [
        "# HELP x help\\nline",
        "# TYPE x histogram",
        'x_bucket{k="v",le="1"} 1',
        'x_bucket{k="v",le="2"} 3',
        'x_bucket{k="v",le="+Inf"} 4',
        'x_sum{k="v"} 6.7',
        'x_count{k="v"} 4',
        "",
      ].join("\n"),
    );
    assert.throws(() => new Exposition().family("bad name", "gauge", "x"), TypeError);
    assert.throws(() => new WorkerMetrics({ durationBuckets: [2, 1] }), RangeError);
  });
});
