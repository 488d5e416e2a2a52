// oq-test: runtimes=node,bun,deno timeout=600
/**
 * `oq wait` and `oq delete` as real subprocesses against an in-process `oq dev` and moto
 * (versioned: delete must remove the history versions too): exit codes for completed,
 * failed, unknown, invalid and timed-out tasks, several ids at once, SIGTERM, and a delete
 * that leaves nothing of the task in the bucket.
 */
import { after, describe } from "node:test";
import assert from "node:assert/strict";
import type { Queue } from "../src/queue/queue.ts";
import { PermanentError } from "../src/worker/handler.ts";
import { Worker } from "../src/worker/worker.ts";
import {
  type CliBackend,
  devAndMoto,
  killAll,
  run,
  sourceRunner,
  start,
  testBucket,
} from "./cli_helpers.ts";
import { it } from "./helpers.ts";

const cli = sourceRunner();
const backends = devAndMoto();

after(killAll);

/** Run the tasks of `job` once: input `{fail: true}` fails for good, others echo `{n}`. */
async function work(queue: Queue): Promise<void> {
  const worker = new Worker(queue, "w").task(
    "job",
    (input: { n?: number; fail?: boolean; big?: number }) => {
      if (input.fail) throw new PermanentError("bad input");
      // Over the 256 KiB default: stored beside the task, read back by `oq wait`.
      if (input.big) return { blob: "b".repeat(input.big) };
      return { doubled: (input.n ?? 0) * 2 };
    },
  );
  worker.configure({ withMonitor: false, concurrency: 4 });
  try {
    await worker.pollOnce();
    await worker.drain();
  } finally {
    await worker.stop();
  }
}

/** Every stored version (and delete marker) whose key names the task. */
async function leftOf(queue: Queue, id: string): Promise<string[]> {
  const out: string[] = [];
  for (const prefix of ["tasks/", "ready/", "deadlines/", "payloads/"]) {
    const page = await queue.store.listVersions({ prefix, maxKeys: 1000 });
    out.push(...page.versions.filter((v) => v.key.includes(id)).map((v) => v.key));
  }
  return out;
}

for (const [name, open, skip] of backends) {
  describe(`oq wait and oq delete on ${name} (${cli.name})`, () => {
    let backend: CliBackend | undefined;
    after(async () => {
      if (name === "oq dev") await backend?.close();
    });
    async function bucket() {
      backend ??= await open();
      const b = testBucket();
      return { queue: await backend.prepare(b), env: backend.env(b) };
    }

    it(
      "wait: completed and failed tasks together, exit 1; completed alone, exit 0",
      { skip },
      async () => {
        const { queue, env } = await bucket();
        const ok = await queue.submit("job", { n: 21 });
        const bad = await queue.submit("job", { fail: true });
        const waiting = await start(cli, ["wait", ok.id, bad.id], { env });
        await waiting.waitFor("stderr", /waiting for 2 task/);
        await work(queue);
        const r = await waiting.done;
        assert.equal(r.code, 1, r.stderr);
        assert.match(r.stdout, new RegExp(`${ok.id}  completed  \\{"doubled":42\\}`));
        assert.match(r.stdout, new RegExp(`${bad.id}  failed  bad input`));
        assert.match(r.stderr, /1 of 2 task\(s\) not completed/);
        const one = await run(cli, ["wait", ok.id, "--json"], { env });
        assert.equal(one.code, 0, one.stderr);
        const parsed = JSON.parse(one.stdout);
        assert.equal(parsed.length, 1);
        assert.equal(parsed[0].outcome, "completed");
        assert.deepEqual(parsed[0].task.output, { doubled: 42 });

        const big = await queue.submit("job", { big: 300 * 1024 });
        await work(queue);
        const large = await run(cli, ["wait", big.id, "--json"], { env });
        assert.equal(large.code, 0, large.stderr);
        const [entry] = JSON.parse(large.stdout);
        assert.ok(entry.task.outputRef, "the output is stored beside the task");
        assert.equal(entry.task.output.blob.length, 300 * 1024, "and read back");
      },
    );

    it("wait: an invalid id exits 2, an unknown one 3, a timeout 4", { skip }, async () => {
      const { queue, env } = await bucket();
      const bad = await run(cli, ["wait", "../etc"], { env });
      assert.equal(bad.code, 2, bad.stderr);
      assert.match(bad.stderr, /Invalid task id/);
      const unknown = await run(cli, ["wait", "0-01JD3XW1Q8ZZZZZZZZZZZZZZZZ"], { env });
      assert.equal(unknown.code, 3, unknown.stderr);
      assert.match(unknown.stdout, /not found/);
      const pending = await queue.submit("job", { n: 1 });
      const late = await run(cli, ["wait", pending.id, "--timeout", "1s", "--json"], { env });
      assert.equal(late.code, 4, late.stderr);
      const [entry] = JSON.parse(late.stdout);
      assert.equal(entry.outcome, "timeout");
      assert.equal(entry.task.status, "pending");
      const badFlag = await run(cli, ["wait", pending.id, "--timeout", "soon"], { env });
      assert.equal(badFlag.code, 2, badFlag.stderr);
    });

    it(
      "wait: SIGTERM stops waiting cleanly (exit 130), the task is untouched",
      { skip },
      async () => {
        const { queue, env } = await bucket();
        const t = await queue.submit("job", { n: 1 });
        const waiting = await start(cli, ["wait", t.id], { env });
        await waiting.waitFor("stderr", /waiting for 1 task/);
        const r = await waiting.stop("SIGTERM");
        assert.equal(r.code, 130, r.stderr);
        assert.match(r.stderr, /SIGTERM received, stopped waiting/);
        assert.equal((await queue.get(t.id))?.status, "pending");
      },
    );

    it("delete: a finished task goes with its history and payloads; pending needs --pending", {
      skip,
    }, async () => {
      const { queue, env } = await bucket();
      const done = await queue.submit("job", { n: 2, blob: "x".repeat(300 * 1024) });
      await work(queue);
      assert.ok((await queue.getHistory(done.id)).length >= 3, "history kept before delete");
      const r = await run(cli, ["delete", done.id], { env });
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, new RegExp(`${done.id}  deleted \\(was completed; \\d+ version`));
      assert.deepEqual(await leftOf(queue, done.id), []);
      const get = await run(cli, ["get", done.id], { env });
      assert.equal(get.code, 3, get.stderr);

      const p2 = await queue.submit("job", { n: 4 });
      const refused = await run(cli, ["delete", p2.id], { env });
      assert.equal(refused.code, 1, refused.stderr);
      assert.match(refused.stderr, /is pending; pass pending: true/);
      assert.equal((await queue.get(p2.id))?.status, "pending");
      const forced = await run(cli, ["delete", p2.id, "--pending", "--json"], { env });
      assert.equal(forced.code, 0, forced.stderr);
      assert.equal(JSON.parse(forced.stdout)[0].status, "cancelled");
      assert.deepEqual(await leftOf(queue, p2.id), []);

      const unknown = await run(cli, ["delete", "0-01JD3XW1Q8ZZZZZZZZZZZZZZZZ"], { env });
      assert.equal(unknown.code, 3, unknown.stderr);
      const invalid = await run(cli, ["delete", "../x"], { env });
      assert.equal(invalid.code, 2, invalid.stderr);
    });
  });
}
