// oq-test: timeout=900
// Output of `oq` through pipes: every byte of stdout and stderr reaches the reader, however
// slow it is, on every runtime and in the compiled binary (Bun's stream used to drop what
// was not written at exit: 64 KiB of a 4 MB `oq list --json`; Node's flush gave up after
// 2 s). Runs from source on the runtime running the tests, as `bun cli.ts` from any runtime
// (where the loss was), and as dist/oq (with OQ_TEST_BINARY=1, or when dist/oq is fresh).
// Also the README's recipe `oq list --status failed --all --json | jq -r '.[].id' | xargs
// -r oq retry` over 5,000 failed tasks.
import { after, before, describe } from "node:test";
import { it } from "./helpers.ts";
import assert from "node:assert/strict";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Queue } from "../src/queue/queue.ts";
import { mapLimit } from "../src/base/concurrency.ts";
import { getEnv, runtimeName } from "../src/runtime/mod.ts";
import { newTaskRecord } from "../src/task/new_task.ts";
import type { Task } from "../src/task/task.ts";
import * as transitions from "../src/task/transitions.ts";
import {
  BINARY,
  binarySkipReason,
  buildBinary,
  type CliBackend,
  type CliRunner,
  devBackend,
  killAll,
  ROOT,
  run,
  sourceRunner,
  testBucket,
} from "./cli_helpers.ts";

// The binary and `bun cli.ts` are the same whatever runs the tests: they are checked once,
// from the Node run; every runtime checks its own `cli.ts`.
const once = runtimeName() === "node";
const build = getEnv("OQ_TEST_BINARY") === "1";
const binarySkip = !once ? "checked from the Node run" : build ? false : await binarySkipReason();
if (binarySkip) console.log(`# cli pipe suite, dist/oq: skipped (${binarySkip})`);
const binary: CliRunner = { name: "dist/oq", command: BINARY, prefix: [] };
const bunSource: CliRunner = {
  name: "bun cli.ts",
  command: `${ROOT}/node_modules/.bin/bun`,
  prefix: [`${ROOT}/cli.ts`],
};
const runners = [sourceRunner(), ...(once ? [bunSource] : [])];
const jqMissing = (await run({ name: "sh", command: "sh", prefix: [] }, [
    "-c",
    "command -v jq",
  ])).code === 0
  ? false
  : "jq is not installed (the recipe under test pipes through jq)";

// Reads stdin into the file argv[4]: first sleeps argv[1] ms, then reads argv[3] bytes at a
// time with a pause of argv[2] ms after each read.
const SLOW_READER = `
const fs = require("fs");
const [delay, pause, chunk] = process.argv.slice(1, 4).map(Number);
const cell = new Int32Array(new SharedArrayBuffer(4));
const sleep = (ms) => { if (ms > 0) Atomics.wait(cell, 0, 0, ms); };
sleep(delay);
const buf = Buffer.alloc(chunk);
const fd = fs.openSync(process.argv[4], "w");
for (;;) {
  let n;
  try { n = fs.readSync(0, buf, 0, chunk, null); }
  catch (e) { if (e.code === "EAGAIN") { sleep(1); continue; } if (e.code === "EOF") break; throw e; }
  if (n === 0) break;
  fs.writeSync(fd, buf, 0, n);
  sleep(pause);
}
fs.closeSync(fd);
`;

/** A reader's pace: wait `delay` ms, then `chunk` bytes per read with `pause` ms after each. */
interface Pace {
  delay: number;
  pause: number;
  chunk: number;
}

const PACES: Pace[] = [
  { delay: 4500, pause: 0, chunk: 65536 }, // more than start-up plus Node's former 2 s flush limit
  { delay: 0, pause: 2, chunk: 16384 },
  { delay: 300, pause: 1, chunk: 4096 },
  { delay: 50, pause: 0, chunk: 1024 },
];

interface Piped {
  /** Exit status of oq. */
  code: number;
  /** What the reader got. */
  got: string;
  /** oq's other stream (captured directly). */
  other: string;
}

/** Run `oq args` with `stream` piped into the slow reader. */
async function piped(
  cli: CliRunner,
  args: string[],
  env: Record<string, string>,
  pace: Pace,
  stream: "stdout" | "stderr",
): Promise<Piped> {
  const dir = await mkdtemp(join(tmpdir(), "oq-pipe-"));
  try {
    const file = join(dir, "got");
    const redirect = stream === "stdout" ? "" : "2>&1 >&3";
    const r = await run(
      { name: "bash", command: "bash", prefix: [] },
      [
        "-c",
        `d=$1 p=$2 c=$3 f=$4; shift 4
         { "$@" ${redirect} | node -e "$OQ_SLOW_READER" "$d" "$p" "$c" "$f"
           echo "status \${PIPESTATUS[*]}"; } 3>&2`,
        "pipe",
        String(pace.delay),
        String(pace.pause),
        String(pace.chunk),
        file,
        cli.command,
        ...cli.prefix,
        ...args,
      ],
      { env: { ...env, OQ_SLOW_READER: SLOW_READER }, timeoutMs: 120_000 },
    );
    const m = /^status (\d+) (\d+)$/m.exec(r.stdout);
    assert.ok(m, `no status line; bash exit ${r.code}\n${r.stdout}\n${r.stderr}`);
    assert.equal(m[2], "0", `the reader failed:\n${r.stderr}`);
    return { code: Number(m[1]), got: await readFile(file, "utf8"), other: r.stderr };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

function sortLikeList(tasks: Task[]): Task[] {
  return tasks.sort((a, b) =>
    a.createdAt.getTime() - b.createdAt.getTime() || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0)
  );
}

/** Write `n` tasks of `type` that failed for good (as a worker leaves them), 32 at a time. */
async function putFailedTasks(queue: Queue, n: number, type: string): Promise<string[]> {
  const now = queue.store.now();
  return await mapLimit(Array.from({ length: n }, (_, i) => i), 32, async (i) => {
    const shard = queue.shards[i % queue.shards.length]!;
    const rec = await newTaskRecord(type, { i }, {}, queue.options, now, {
      pickShard: () => shard,
      keyShardCount: queue.keyShardCount,
      laneFor: () => shard,
    });
    const claimed = transitions.claim(rec, now, "w-1", 60_000);
    assert.ok(claimed.ok, "claimed.ok");
    const failed = transitions.failAttempt(
      claimed.next,
      now,
      { attempt: claimed.next.attempt, workerId: "w-1" },
      { permanent: true, kind: "permanent", message: `failure ${i}` },
    );
    assert.ok(failed.ok, "failed.ok");
    assert.equal(failed.next.status, "failed");
    await queue.store.put(queue.keys.task(rec.id), JSON.stringify(failed.next));
    return rec.id;
  });
}

describe("oq output through pipes", () => {
  let backend: CliBackend;
  const bucket = testBucket();
  let queue: Queue;
  let list = ""; // the expected `oq list --limit 1000 --json`
  let big: Task;
  const all: CliRunner[] = [...runners];

  before(async () => {
    if (!binarySkip) {
      if (build && (await binarySkipReason())) await buildBinary(); // missing or stale
      all.push(binary);
    }
    backend = await devBackend();
    queue = await backend.prepare(bucket);
    // 16 tasks of 250,000 characters each: `oq list --json` prints about 4 MB.
    const tasks = await mapLimit(
      Array.from({ length: 16 }, (_, i) => i),
      4,
      (i) => queue.submit("big", { n: i, s: String.fromCharCode(97 + i).repeat(250_000) }),
    );
    big = tasks[0]!;
    list = `${JSON.stringify(sortLikeList(tasks), null, 2)}\n`;
    assert.ok(list.length > 4_000_000, "list.length > 4_000_000");
  }, { timeout: 300_000 });
  after(async () => {
    await killAll();
    await backend?.close();
  });

  it(
    "`oq list --json` (4 MB) and `oq get --json` (250 KB) reach slow readers whole",
    { timeout: 900_000 },
    async () => {
      for (const cli of all) {
        const env = backend.env(bucket);
        const n = cli === binary ? 12 : 2; // the binary starts in milliseconds
        for (let i = 0; i < n; i++) {
          const pace = PACES[i % PACES.length]!;
          const r = await piped(cli, ["list", "--limit", "1000", "--json"], env, pace, "stdout");
          assert.equal(r.code, 0, `${cli.name} list, run ${i}: ${r.other}`);
          assert.equal(r.got.length, list.length, `${cli.name} list, run ${i}: length`);
          assert.ok(r.got === list, `${cli.name} list, run ${i}: byte-exact`);
        }
        const g = await piped(cli, ["get", big.id, "--json"], env, PACES[0]!, "stdout");
        assert.equal(g.code, 0, g.other);
        assert.ok(g.got === `${JSON.stringify(big, null, 2)}\n`, `${cli.name} get: byte-exact`);
      }
    },
  );

  it("stderr reaches a slow reader whole too (3,000 error lines of `oq retry`)", {
    timeout: 600_000,
  }, async () => {
    const ids = Array.from({ length: 3000 }, (_, i) => `0-missing${i}`);
    const expected = ids.map((id) => `oq retry: Task "${id}" not found\n`).join("") +
      "oq: 3000 of 3000 not retried\n";
    for (const cli of all) {
      const r = await piped(cli, ["retry", ...ids], backend.env(bucket), PACES[0]!, "stderr");
      assert.equal(r.code, 3, r.got.slice(-500));
      assert.equal(r.got.length, expected.length, `${cli.name}: length`);
      assert.ok(r.got === expected, `${cli.name}: byte-exact`);
    }
  });

  it("a reader that closes early (`| head -c 100`) ends oq quietly with status 0", {
    timeout: 300_000,
  }, async () => {
    for (const cli of all) {
      const r = await run(
        { name: "bash", command: "bash", prefix: [] },
        ["-c", `"$@" | head -c 100 >/dev/null; echo "status \${PIPESTATUS[0]}"`, "head", ...[
          cli.command,
          ...cli.prefix,
          "list",
          "--limit",
          "1000",
          "--json",
        ]],
        { env: backend.env(bucket), timeoutMs: 120_000 },
      );
      assert.equal(r.stdout, "status 0\n", `${cli.name}: ${r.stderr}`);
      assert.equal(r.stderr, "", cli.name);
    }
  });

  it(
    "the README recipe retries 5,000 failed tasks: list --all --json | jq | xargs oq retry",
    { skip: jqMissing || (once ? false : "run once, from the Node run"), timeout: 900_000 },
    async () => {
      // One runner: the binary when it is built, else `bun cli.ts` (from source, the runtime
      // that lost output); the same recipe on Node and Deno costs minutes and tests nothing more.
      const cli = all.includes(binary) ? binary : runners.at(-1)!;
      const b = testBucket();
      const q = await backend.prepare(b);
      const ids = await putFailedTasks(q, 5000, "thumbnail");
      const dir = await mkdtemp(join(tmpdir(), "oq-recipe-"));
      try {
        const quoted = [cli.command, ...cli.prefix].map((a) => `'${a}'`).join(" ");
        await writeFile(join(dir, "oq"), `#!/bin/sh\nexec ${quoted} "$@"\n`, { mode: 0o755 });
        const r = await run(
          { name: "bash", command: "bash", prefix: [] },
          [
            "-c",
            "set -o pipefail\n" +
            "oq list --status failed --all --json | jq -r '.[].id' | xargs -r oq retry",
          ],
          {
            env: { ...backend.env(b), PATH: `${dir}:${getEnv("PATH")}` },
            timeoutMs: 840_000,
          },
        );
        assert.equal(r.code, 0, `${cli.name}: ${r.stderr.slice(-2000)}`);
        const retried = r.stdout.trim().split("\n");
        assert.equal(retried.length, 5000, `${cli.name}: lines of oq retry`);
        assert.deepEqual(
          retried.map((l) => l.split(/\s+/)[0]).sort(),
          [...ids].sort(),
          "every failed task was retried once",
        );
        assert.ok(
          retried.every((l) => /\s+pending$/.test(l)),
          "retried.every((l) => /\\s+pending$/.test(l))",
        );
        const st = await q.stats();
        assert.equal(st.total.ready + st.total.scheduled, 5000, "all 5,000 are pending again");
      } finally {
        await rm(dir, { recursive: true, force: true });
      }
    },
  );
});
