/**
 * Scenarios of the long-running commands (worker, dev, tail), as `it` blocks shared by the
 * source suite (cli_worker.test.ts) and the binary suite (cli_binary.test.ts).
 */
import assert from "node:assert/strict";
import { mkdtemp, readFile, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import process from "node:process";
import {
  type CliBackend,
  type CliRunner,
  run,
  sleep,
  start,
  testBucket,
  waitTask,
} from "./cli_helpers.ts";
import { it } from "./helpers.ts";
import type { Queue } from "../src/queue/queue.ts";

const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

async function waitGone(pid: number, ms = 30_000): Promise<void> {
  const end = Date.now() + ms;
  while (alive(pid)) {
    if (Date.now() > end) throw new Error(`process ${pid} is still running`);
    await sleep(50);
  }
}

/** Commands started by a worker under test (from their pid files), for {@link killCommands}. */
const commands = new Set<number>();

/**
 * SIGKILL every command a case's worker started that still runs: after a failed case, the
 * worker was killed without stopping them (one of them ignores SIGTERM and loops forever).
 */
export function killCommands(): void {
  for (const pid of commands) if (alive(pid)) process.kill(pid, "SIGKILL");
  commands.clear();
}

async function readPid(file: string, ms = 60_000): Promise<number> {
  const end = Date.now() + ms;
  for (;;) {
    const text = await readFile(file, "utf8").catch(() => "");
    if (/^\d+\s*$/.test(text)) {
      commands.add(Number(text.trim()));
      return Number(text.trim());
    }
    if (Date.now() > end) throw new Error(`no pid in ${file}`);
    await sleep(50);
  }
}

const FAST = ["--poll-interval", "200ms", "--no-monitor"];

// The suites that use these cases kill every `oq` and command still running after each case
// (afterEach: killAll, killCommands), so a case that fails midway leaves no process behind.

/** Keys under `workers/`: none once every worker has stopped gracefully. */
async function heartbeats(queue: Queue): Promise<string[]> {
  return (await queue.store.list({ prefix: queue.keys.workersPrefix() })).objects.map((o) => o.key);
}

/** A worker with --exec handlers: success (JSON and text), retry on 75, permanent failure. */
export function execOutcomes(cli: CliRunner, get: () => CliBackend): void {
  it("worker --exec: JSON and text output, exit 75 retries, other codes fail with stderr", async () => {
    const bucket = testBucket();
    const queue = await get().prepare(bucket);
    const echo = await queue.submit("echo", { a: 1 });
    const text = await queue.submit("text", null);
    const flaky = await queue.submit("flaky", {}, { maxRetries: 2 });
    const fail = await queue.submit("fail", {}, { maxRetries: 3 });
    const empty = await queue.submit("empty", {});
    const w = await start(cli, [
      "worker",
      "--id",
      "exec-w1",
      "--concurrency",
      "4",
      "--log-format",
      "json",
      ...FAST,
      "--exec",
      "echo=cat",
      "--exec",
      'text=echo "hello $OQ_TASK_TYPE"',
      "--exec",
      `flaky=[ "$OQ_ATTEMPT" -ge 2 ] && echo "{\\"attempt\\":$OQ_ATTEMPT}" || { echo try later >&2; exit 75; }`,
      "--exec",
      "fail=echo bad input for $OQ_TASK_ID >&2; exit 3",
      "--exec",
      "empty=true",
    ], { env: get().env(bucket) });
    const done = (t: { status: string }) => t.status === "completed" || t.status === "failed";
    const [e, t, f, x, m] = await Promise.all(
      [echo, text, flaky, fail, empty].map((s) => waitTask(queue, s.id, done)),
    );
    const workers = JSON.parse(
      (await run(cli, ["workers", "--json"], { env: get().env(bucket) })).stdout,
    );
    assert.deepEqual(workers.map((b: { worker_id: string }) => b.worker_id), ["exec-w1"]);
    const r = await w.stop("SIGTERM");
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, "", "a worker writes nothing on stdout");
    const gone = await run(cli, ["workers", "--json"], { env: get().env(bucket) });
    assert.deepEqual(JSON.parse(gone.stdout), [], "a stopped worker is not listed");

    assert.equal(e!.status, "completed");
    assert.deepEqual(e!.output, { a: 1 }, "stdin carried the input, stdout the output");
    assert.equal(t!.status, "completed");
    assert.equal(t!.output, "hello text", "non-JSON stdout is stored as a string");
    assert.equal(m!.output, null, "empty stdout is null");
    assert.equal(f!.status, "completed");
    assert.equal(f!.retryCount, 1);
    assert.deepEqual(f!.output, { attempt: 2 });
    assert.equal(f!.errors[0]!.message, "try later");
    assert.equal(x!.status, "failed");
    assert.equal(x!.retryCount, 0, "a permanent failure does not retry");
    assert.equal(x!.lastError, `command exited with 3: bad input for ${fail.id}`);

    const events = r.stderr.trim().split("\n").filter((l) => l.startsWith("{")).map((l) =>
      JSON.parse(l)
    );
    const kinds = new Set(events.map((ev: { event: string }) => ev.event));
    for (
      const k of [
        "worker:started",
        "task:claimed",
        "task:completed",
        "task:retried",
        "task:failed",
        "worker:stopped",
      ]
    ) {
      assert.ok(kinds.has(k), `log has ${k}`);
    }
    assert.ok(
      r.stderr.trim().split("\n").every((l) => l.startsWith("{")),
      "--log-format json: every line is JSON, the commands' stderr included",
    );
    const stderrLine = events.find((ev: { event: string; task_id: string }) =>
      ev.event === "task:stderr" && ev.task_id === fail.id
    );
    assert.equal(stderrLine.line, `bad input for ${fail.id}`);
    const failed = events.find((ev: { event: string }) => ev.event === "task:failed");
    assert.equal(failed.task_id, fail.id);
    assert.equal(failed.worker_id, "exec-w1");
    assert.equal(failed.level, "error");
  });
}

/** SIGTERM mid-task: the command is killed, the task goes back to pending, exit 0. */
export function gracefulStop(cli: CliRunner, get: () => CliBackend): void {
  it("SIGTERM mid-task: the command is killed and the task given back (pending, retries unchanged)", async () => {
    const bucket = testBucket();
    const queue = await get().prepare(bucket);
    const dir = await mkdtemp(join(tmpdir(), "oq-cli-"));
    const task = await queue.submit("slow", {}, { maxRetries: 2 });
    const w = await start(cli, [
      "worker",
      ...FAST,
      "--shutdown-timeout",
      "300ms",
      "--kill-grace",
      "2s",
      "--exec",
      // Ten minutes: a stop that waited for the command would outlast the case's timeout.
      `slow=echo $$ > ${dir}/pid; exec sleep 600`,
    ], { env: get().env(bucket) });
    const pid = await readPid(`${dir}/pid`);
    await waitTask(queue, task.id, (t) => t.status === "running");
    const r = await w.stop("SIGTERM");
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(await heartbeats(queue), [], "the heartbeat is deleted before the exit");
    assert.match(r.stderr, /SIGTERM received, stopping gracefully/);
    assert.match(r.stderr, /released/);
    await waitGone(pid);
    const after = await queue.get(task.id);
    assert.equal(after!.status, "pending");
    assert.equal(after!.retryCount, 0, "giving a task back is not a failure");
    assert.equal(after!.attempt, 1);
  });

  it("a second signal exits 130 at once and kills the command", async () => {
    const bucket = testBucket();
    const queue = await get().prepare(bucket);
    const dir = await mkdtemp(join(tmpdir(), "oq-cli-"));
    const task = await queue.submit("stubborn", {});
    const w = await start(cli, [
      "worker",
      ...FAST,
      "--shutdown-timeout",
      "1h", // waiting it out would outlast the case's timeout: only "at once" passes
      "--exec",
      `stubborn=trap '' TERM; echo $$ > ${dir}/pid; while :; do sleep 0.2; done`,
    ], { env: get().env(bucket) });
    const pid = await readPid(`${dir}/pid`);
    await waitTask(queue, task.id, (t) => t.status === "running");
    w.proc.kill("SIGTERM");
    await w.waitFor("stderr", /stopping gracefully/);
    await sleep(300); // a signal within 250 ms of the first counts as the same one
    const r = await w.stop("SIGINT");
    assert.equal(r.code, 130, r.stderr);
    assert.match(r.stderr, /second SIGINT, exiting at once/);
    await waitGone(pid);
  });
}

/** Cancelling a running --exec task kills its command; the task ends cancelled. */
export function cancelRunning(cli: CliRunner, get: () => CliBackend): void {
  it("oq cancel of a running --exec task kills the command; the task ends cancelled", async () => {
    const bucket = testBucket();
    const queue = await get().prepare(bucket);
    const dir = await mkdtemp(join(tmpdir(), "oq-cli-"));
    const task = await queue.submit("long", {});
    const w = await start(cli, [
      "worker",
      ...FAST,
      "--cancel-check-interval",
      "300ms",
      "--exec",
      `long=echo $$ > ${dir}/pid; exec sleep 30`,
    ], { env: get().env(bucket) });
    const pid = await readPid(`${dir}/pid`);
    await waitTask(queue, task.id, (t) => t.status === "running");
    const c = await run(cli, ["cancel", task.id, "--reason", "no longer needed"], {
      env: get().env(bucket),
    });
    assert.equal(c.code, 0, c.stderr);
    assert.match(c.stdout, /requested/);
    const t = await waitTask(queue, task.id, (x) => x.status === "cancelled");
    assert.equal(t.cancelReason, "no longer needed");
    await waitGone(pid);
    const r = await w.stop("SIGTERM");
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /cancelled/);
  });
}

/** --handlers FILE: a TypeScript module with default and named exports. */
export function handlersFile(cli: CliRunner, get: () => CliBackend): void {
  it("worker --handlers FILE.ts: default and named exports; PermanentError by name", async () => {
    const bucket = testBucket();
    const queue = await get().prepare(bucket);
    const dir = await mkdtemp(join(tmpdir(), "oq-cli-handlers-"));
    // oq as the npm package's JavaScript on a Node without type stripping cannot import
    // TypeScript: it says so clearly (exit 2), and a .mjs file is tested instead.
    const noTypeScript = cli.name === "node cli.js" &&
      !(process.features as { typescript?: unknown }).typescript;
    let file = join(dir, "handlers.ts");
    if (noTypeScript) {
      await writeFile(file, "export default {};\n");
      const e = await run(cli, ["worker", "--handlers", file], { env: get().env(bucket) });
      assert.equal(e.code, 2, e.stderr);
      assert.match(e.stderr, /cannot import TypeScript\. Use a \.js or \.mjs file/);
      file = join(dir, "handlers.mjs");
    }
    const types = (annotated: string, plain: string) => noTypeScript ? plain : annotated;
    await writeFile(
      file,
      `// Self-contained: no imports, so any runtime and the compiled binary can load it.
${types("interface Input { n: number }", "")}
export default {
  double: (input${types(": Input", "")}, ctx${types(": { attempt: number }", "")}) => ({
    n: input.n * 2,
    attempt: ctx.attempt,
  }),
};
export function strict(input${types(": unknown", "")})${types(": unknown", "")} {
  if (input === null) {
    const e = new Error("null input");
    e.name = "PermanentError"; // recognised by name: fails at once, no retry
    throw e;
  }
  return input;
}
`,
    );
    const a = await queue.submit("double", { n: 21 });
    const b = await queue.submit("strict", null, { maxRetries: 3 });
    const w = await start(cli, ["worker", ...FAST, "--handlers", file], { env: get().env(bucket) });
    const ta = await waitTask(queue, a.id, (t) => t.status === "completed");
    const tb = await waitTask(queue, b.id, (t) => t.status === "failed");
    const r = await w.stop("SIGTERM");
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /task_types=double,strict/);
    assert.deepEqual(ta.output, { n: 42, attempt: 1 });
    assert.equal(tb.retryCount, 0);
    assert.equal(tb.lastError, "null input");

    const bad = join(dir, noTypeScript ? "bad.mjs" : "bad.ts");
    await writeFile(bad, "export default 42;\n");
    const e = await run(cli, ["worker", "--handlers", bad], { env: get().env(bucket) });
    assert.equal(e.code, 2);
    assert.match(e.stderr, /default export must be an object/);
  });
}

/** `oq dev` as a subprocess serves another oq process. */
export function devSubprocess(cli: CliRunner): void {
  it("oq dev (subprocess) serves a submit and a get from other oq processes", async () => {
    const dev = await start(cli, ["dev", "--memory", "--port", "0", "--json"], {
      env: { NO_COLOR: "1" },
    });
    const line = (await dev.waitFor("stdout", /^\{.*\}\n/m))[0];
    const settings = JSON.parse(line);
    assert.match(settings.S3_ENDPOINT, /^http:\/\/127\.0\.0\.1:\d+$/);
    assert.equal(settings.S3_BUCKET, "oq-dev");
    assert.match(dev.stderr(), /FOR DEVELOPMENT ONLY/);
    assert.match(dev.stderr(), /AWS_SECRET_ACCESS_KEY=oqdevsecret/);
    const env: Record<string, string> = {
      NO_COLOR: "1",
      OQ_PREFIX: "",
      OQ_SHARD_COUNT: "",
      AWS_SESSION_TOKEN: "",
    };
    for (
      const k of [
        "S3_ENDPOINT",
        "S3_BUCKET",
        "S3_REGION",
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
      ]
    ) {
      env[k] = settings[k];
    }
    const s = await run(cli, ["submit", "-t", "hello", "-i", '{"from":"cli"}'], { env });
    assert.equal(s.code, 0, s.stderr);
    const g = await run(cli, ["get", s.stdout.trim(), "--json"], { env });
    assert.equal(g.code, 0, g.stderr);
    assert.deepEqual(JSON.parse(g.stdout).input, { from: "cli" });
    const d = await run(cli, ["doctor", "--json"], { env });
    assert.equal(d.code, 0, d.stdout);
    const r = await dev.stop("SIGINT");
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /oq dev: stopped/);
  });
}

/** `oq tail --json` follows a task's changes. */
export function tailFollows(cli: CliRunner, get: () => CliBackend): void {
  it("oq tail --json reports a new task and its state changes", async () => {
    const bucket = testBucket();
    const queue = await get().prepare(bucket);
    const tail = await start(cli, ["tail", "--json", "--initial", "--interval", "200ms"], {
      env: get().env(bucket),
    });
    const task = await queue.submit("watched", { x: 1 });
    await tail.waitFor("stdout", new RegExp(`"taskId":"${task.id}"`));
    await queue.cancel(task.id);
    await tail.waitFor("stdout", /"previousStatus":"pending"/);
    const r = await tail.stop("SIGINT");
    assert.equal(r.code, 0, r.stderr);
    const events = r.stdout.trim().split("\n").map((l) => JSON.parse(l));
    const mine = events.filter((e: { taskId: string }) => e.taskId === task.id);
    assert.equal(mine[0].event, "created");
    assert.equal(mine[0].task.status, "pending");
    assert.equal(mine[0].taskType, "watched");
    const last = mine[mine.length - 1];
    assert.equal(last.event, "changed");
    assert.equal(last.previousStatus, "pending");
    assert.equal(last.task.status, "cancelled");
  });
}
