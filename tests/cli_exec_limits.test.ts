// `oq worker --exec` limits, as real subprocesses against an in-process `oq dev` (or moto):
// a command that cannot run is a configuration error of the worker, not a failure of every
// task (refused at start-up when its first word does not resolve; on the first task when the
// shell exits 127/126 the worker stops, exit 2, and gives the task back uncounted); and what
// one attempt's stderr can add to the worker log is capped.
import { after, before, describe } from "node:test";
import { it } from "./helpers.ts";
import assert from "node:assert/strict";
import {
  type CliBackend,
  killAll,
  primaryBackend,
  run,
  sourceRunner,
  start,
  testBucket,
} from "./cli_helpers.ts";

const cli = sourceRunner();

/** The JSON log lines of a worker's stderr. */
const logEvents = (stderr: string) =>
  stderr.trim().split("\n").filter((l) => l.startsWith("{")).map((l) => JSON.parse(l));

const FAST = ["--poll-interval", "200ms", "--no-monitor", "--shutdown-timeout", "1s"];

describe(`oq worker --exec limits (${cli.name})`, {
  timeout: 120_000,
}, () => {
  let backend: CliBackend;
  /** Start a worker logging JSON lines, with one --exec handler. */
  const worker = (bucket: string, exec: string) =>
    start(cli, ["worker", ...FAST, "--log-format", "json", "--exec", exec], {
      env: backend.env(bucket),
      timeoutMs: 60_000,
    });
  before(async () => {
    backend = await primaryBackend();
  });
  after(async () => {
    await killAll();
    await backend?.close();
  });

  it("a command that does not resolve is refused at start-up (exit 2), no task claimed", async () => {
    const bucket = testBucket();
    const queue = await backend.prepare(bucket);
    const task = await queue.submit("resize", {});
    const r = await run(cli, [
      "worker",
      ...FAST,
      "--exec",
      "echo=cat",
      "--exec",
      "resize=./no-such-resize-script.sh --fast",
    ], { env: backend.env(bucket), timeoutMs: 60_000 });
    assert.equal(r.code, 2, r.stderr);
    assert.match(
      r.stderr,
      /oq: Invalid --exec "resize=\.\/no-such-resize-script\.sh --fast": \.\/no-such-resize-script\.sh is not an executable file/,
    );
    const t = (await queue.get(task.id))!;
    assert.equal(t.status, "pending");
    assert.equal(t.attempt, 0, "never claimed");
  });

  it("exit 127 on the first task stops the worker (exit 2) and gives the task back", async () => {
    const bucket = testBucket();
    const queue = await backend.prepare(bucket);
    const task = await queue.submit("t", {}, { maxRetries: 3 });
    // The first word resolves (sh); the command it runs does not.
    const r = await (await worker(bucket, "t=sh -c no-such-command-for-oq-tests")).done;
    assert.equal(r.code, 2, r.stderr);
    const lines = r.stderr.trim().split("\n");
    const events = logEvents(r.stderr);
    const error = events.find((e) => e.event === "error" && e.context === "exec");
    assert.ok(error, r.stderr);
    assert.match(error.error, /command exited with 127 \(command not found\)/);
    assert.match(error.error, /configuration error of this worker, stopping/);
    assert.ok(events.some((e) => e.event === "task:released"), r.stderr);
    assert.ok(!events.some((e) => e.event === "task:failed"), r.stderr);
    assert.match(lines.at(-1)!, /^oq: Worker stopped: an --exec command cannot run: /);
    const t = (await queue.get(task.id))!;
    assert.equal(t.status, "pending");
    assert.equal(t.retryCount, 0, "the attempt is not counted as a failure");
    assert.deepEqual(t.errors, []);
  });

  it("a command's stderr adds at most 1000 lines per attempt to the log, then one summary", async () => {
    const bucket = testBucket();
    const queue = await backend.prepare(bucket);
    const task = await queue.submit("noisy", {}, { maxRetries: 0 });
    const w = await worker(bucket, "noisy=seq 1 20000 >&2; exit 3");
    try {
      await w.waitFor("stderr", /"event":"task:failed"/, 30_000);
    } finally {
      await w.stop("SIGTERM");
    }
    const stderr = logEvents(w.stderr()).filter((e) => e.event === "task:stderr");
    assert.equal(stderr.length, 1001, "1000 lines and the summary");
    assert.deepEqual(stderr.slice(0, 3).map((e) => e.line), ["1", "2", "3"]);
    const last = stderr.at(-1);
    assert.equal(last.dropped_lines, 19_000);
    assert.match(
      last.line,
      /^\[oq: 19000 more lines \(\d+ bytes\) of stderr not logged: at most 1000 lines/,
    );
    const t = (await queue.get(task.id))!;
    assert.match(t.lastError ?? "", /\n19999\n20000$/, "last_error keeps the end of stderr");
  });
});
