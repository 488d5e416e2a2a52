// The --exec runner on a worker over the memory store: what one attempt's stderr can push
// into the log is capped (with one line saying what was dropped) while last_error keeps the
// end of stderr; a command that cannot run (exit 127/126) is a configuration error that
// gives the task back instead of failing it.
import { describe } from "node:test";
import assert from "node:assert/strict";
import { chmod, mkdtemp, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { commandWord, ExecRunner } from "../src/cli/exec.ts";
import { StderrLines } from "../src/cli/stderr_log.ts";
import type { Queue } from "../src/queue/queue.ts";
import { Worker } from "../src/worker/worker.ts";
import { bytes as rawBytes } from "../src/task/bytes.ts";
import { it, memQueue } from "./helpers.ts";

const bytes = (s: string) => new TextEncoder().encode(s);

describe("StderrLines", () => {
  it("forwards up to the line and byte caps, then only counts; chunks may split lines", () => {
    const got: string[] = [];
    const s = new StderrLines((l) => got.push(l), 3, 1000);
    s.push(bytes("a\nb"));
    s.push(bytes("b\nc\nd\ne"));
    s.push(bytes("e\nf"));
    assert.deepEqual(s.end(), { lines: 3, bytes: 6 }, "d and ee with their newlines, f without");
    assert.deepEqual(got, ["a", "bb", "c"]);
    const big: string[] = [];
    const b = new StderrLines((l) => big.push(l), 1000, 10);
    b.push(bytes("12345\n67890\nabc\n"));
    assert.deepEqual(b.end(), { lines: 2, bytes: 10 });
    assert.deepEqual(big, ["12345"]);
    const all: string[] = [];
    const c = new StderrLines((l) => all.push(l));
    c.push(bytes("x\n\ny"));
    assert.deepEqual(c.end(), { lines: 0, bytes: 0 });
    assert.deepEqual(all, ["x", "", "y"]);
  });
});

/** A worker whose runner reports commands that cannot run, and stops at once on one. */
function stoppingWorker(queue: Queue): { w: Worker; runner: ExecRunner; reported: string[] } {
  const w = new Worker(queue, "w1");
  const reported: string[] = [];
  const runner = new ExecRunner({
    onCommandError: (_t, message) => {
      reported.push(message);
      void w.stop({ timeoutMs: 0 });
    },
  });
  return { w, runner, reported };
}

describe("ExecRunner", { timeout: 60_000 }, () => {
  it("a command printing 300,000 stderr lines logs at most the cap, then one summary", async () => {
    const { queue } = memQueue({ shardCount: 1 });
    const task = await queue.submit("noisy", {}, { maxRetries: 0 });
    let lines = 0;
    let logged = 0;
    const dropped: Array<{ lines: number; bytes: number }> = [];
    const runner = new ExecRunner({
      onStderrLine: (_t, l) => {
        lines++;
        logged += bytes(l).length + 1;
      },
      onStderrDropped: (_t, d) => void dropped.push(d),
    });
    const w = new Worker(queue, "w1").task("noisy", runner.handler("seq 1 300000 >&2; exit 3"));
    w.configure({ withMonitor: false });
    await w.pollOnce();
    await w.drain();
    assert.ok(lines <= 1000, `${lines} lines logged`);
    assert.ok(logged <= 64 * 1024, `${logged} bytes logged`);
    assert.equal(lines, 1000, "short lines: the line cap comes first");
    assert.equal(dropped.length, 1);
    assert.equal(dropped[0]!.lines, 299_000);
    const total = Array.from({ length: 300_000 }, (_, i) => String(i + 1).length + 1).reduce(
      (a, b) => a + b,
    );
    assert.equal(dropped[0]!.bytes + logged, total, "every byte is either logged or counted");
    const t = (await queue.get(task.id))!;
    assert.equal(t.status, "failed");
    assert.match(t.lastError ?? "", /^command exited with 3: .*\n299999\n300000$/s, "the tail");
  });

  it("an output over the stdout cap (8 MiB) or maxOutputBytes fails the task without a retry", async () => {
    const { queue } = memQueue({ shardCount: 1, maxOutputBytes: 1000 });
    const huge = await queue.submit("out", 9 * 1024 * 1024, { maxRetries: 3 });
    const big = await queue.submit("out", 2000, { maxRetries: 3 });
    const w = new Worker(queue, "w1").task(
      "out",
      new ExecRunner().handler(`read n; head -c "$n" /dev/zero | tr '\\0' x`),
    );
    w.configure({ withMonitor: false, concurrency: 2 });
    await w.pollOnce();
    await w.drain();
    const h = (await queue.get(huge.id))!;
    assert.equal(h.status, "failed", h.lastError ?? "");
    assert.equal(
      h.lastError,
      "command output is 9437184 bytes, over the limit of 8388608 (stdout read)",
    );
    const b = (await queue.get(big.id))!;
    assert.equal(b.status, "failed");
    assert.match(b.lastError ?? "", /^Task output is 2002 bytes, over the limit of 1000/);
  });

  it("with onCommandError, exit 127 gives the task back (uncounted) once the worker stops", async () => {
    const { queue } = memQueue({ shardCount: 1 });
    const task = await queue.submit("t", {}, { maxRetries: 3 });
    const { w, runner, reported } = stoppingWorker(queue);
    w.task("t", runner.handler("no-such-command-for-oq-tests"));
    w.configure({ withMonitor: false, abortGraceMs: 0 });
    await w.pollOnce();
    await w.drain();
    assert.equal(reported.length, 1);
    assert.match(reported[0]!, /^command exited with 127 \(command not found\): .*not found/);
    const t = (await queue.get(task.id))!;
    assert.equal(t.status, "pending");
    assert.equal(t.retryCount, 0);
    assert.deepEqual(t.errors, []);
  });

  it("exit 126 (not executable) too; without onCommandError, 127 fails the task as before", async () => {
    const dir = await mkdtemp(join(tmpdir(), "oq-exec-"));
    const script = join(dir, "not-executable.sh");
    await writeFile(script, "#!/bin/sh\necho hi\n");
    await chmod(script, 0o644);
    const { queue } = memQueue({ shardCount: 1 });
    const a = await queue.submit("a", {});
    const { w, runner, reported } = stoppingWorker(queue);
    w.task("a", runner.handler(script));
    w.configure({ withMonitor: false, abortGraceMs: 0 });
    await w.pollOnce();
    await w.drain();
    assert.match(reported[0] ?? "", /^command exited with 126 \(command not executable\)/);
    assert.equal((await queue.get(a.id))!.status, "pending");

    const b = await queue.submit("b", {}, { maxRetries: 3 });
    const plain = new Worker(queue, "w2").task("b", new ExecRunner().handler("exit 127"));
    plain.configure({ withMonitor: false });
    await plain.pollOnce();
    await plain.drain();
    assert.equal((await queue.get(b.id))!.status, "failed");
  });

  it("checkCommand resolves the command's first word before any task", async () => {
    const dir = await mkdtemp(join(tmpdir(), "oq-exec-"));
    const script = join(dir, "ok.sh");
    await writeFile(script, "#!/bin/sh\necho ok\n");
    await chmod(script, 0o755);
    const plain = join(dir, "plain.txt");
    await writeFile(plain, "");
    const r = new ExecRunner();
    for (
      const ok of [
        "cat",
        "LANG=C cat -n",
        script,
        `${script} --flag`,
        "exec sleep 1",
        "cd /tmp && ls",
        "if true; then echo; fi",
        '"$HOME/x"', // not a plain word: the shell decides
      ]
    ) {
      assert.equal(await r.checkCommand(ok), null, ok);
    }
    assert.match(
      (await r.checkCommand("no-such-command-for-oq-tests --x"))!,
      /no-such-command-for-oq-tests is not a command the shell can find/,
    );
    assert.match(
      (await r.checkCommand(`${dir}/missing.sh`))!,
      /missing.sh is not an executable file/,
    );
    assert.match((await r.checkCommand(plain))!, /plain.txt is not an executable file/);
    assert.equal(commandWord("A=1 B=x/y ./run.sh a b"), "./run.sh");
    assert.equal(commandWord("echo $(rm -rf /)"), "echo");
    assert.equal(commandWord("$(evil)"), null);
    assert.equal(commandWord("a;b"), null);
  });

  it("raw bytes stream to the command's stdin; bytes that do not match fail the task for good", async () => {
    const { queue, store } = memQueue({ shardCount: 1 });
    const data = new Uint8Array(3 * 1024 * 1024).map((_, i) => (i * 31) & 0xff);
    const good = await queue.submit("count", rawBytes(data), { maxRetries: 3 });
    const bad = await queue.submit("count", rawBytes(data), { maxRetries: 3 });
    // The second task's payload no longer matches its reference (same size, other bytes).
    await store.put(
      queue.keys.payload(bad.id, "input", bad.inputRef!.sha256),
      data.map((b) => b ^ 1),
    );
    const w = new Worker(queue, "w1").task(
      "count",
      new ExecRunner().handler(`test "$OQ_INPUT_FORMAT" = bytes && cksum`),
    );
    w.configure({ withMonitor: false, concurrency: 2 });
    await w.pollOnce();
    await w.drain();
    const ok = (await queue.get(good.id))!;
    assert.equal(ok.status, "completed", ok.lastError ?? "");
    const [crc, size] = String(ok.output).trim().split(/\s+/);
    assert.equal(Number(size), data.length, "the command read every byte");
    assert.match(crc!, /^\d+$/);
    const failed = (await queue.get(bad.id, { payloads: false }))!;
    assert.equal(failed.status, "failed", "no retry: the stored bytes would not change");
    assert.match(failed.lastError ?? "", /but the task recorded/);
  });
});
