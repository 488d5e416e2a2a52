// What `oq` prints for people, driven as a subprocess from source against an in-process
// `oq dev` server: stored text never drives the terminal (control characters escaped,
// JSON output exact), `oq list` says when it printed less than what matches, reads of
// many objects report bad ones and show the rest, `oq stats` and `oq workers` agree, and
// `oq dev`'s settings load into a shell in one step.
import { after, before, describe } from "node:test";
import { it } from "./helpers.ts";
import assert from "node:assert/strict";
import { mkdtemp, rm, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { devEnv, shellExports } from "../src/dev/main.ts";
import { putHeartbeat as writeHeartbeat } from "./fixtures/heartbeat.ts";
import type { Queue } from "../src/queue/queue.ts";
import { newTaskRecord, PROBE_PLACEMENT } from "../src/task/new_task.ts";
import * as transitions from "../src/task/transitions.ts";
import {
  type CliBackend,
  devBackend,
  killAll,
  run,
  type RunResult,
  sourceRunner,
  start,
  testBucket,
} from "./cli_helpers.ts";

const cli = sourceRunner();

// C0 (but newline and tab), DEL, C1 and the bidirectional overrides.
// deno-lint-ignore no-control-regex
const RAW_CONTROL = /[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]/;

const HOSTILE_ERROR = "boom \x1b]0;owned\x07 then \x1b[2J cleared \x9b31m and \u202egnp.exe\r\n" +
  "second line";

function ok(r: RunResult, what: string): string {
  assert.equal(r.code, 0, `${what}: exit ${r.code}\n${r.stderr}`);
  return r.stdout;
}

function assertPrintable(r: RunResult, what: string): void {
  for (const [name, text] of [["stdout", r.stdout], ["stderr", r.stderr]] as const) {
    const m = RAW_CONTROL.exec(text);
    assert.equal(
      m,
      null,
      `${what}: raw control character ${JSON.stringify(m?.[0])} on ${name}:\n${text}`,
    );
  }
}

/** How often `needle` occurs in `text`. */
function count(text: string, needle: string): number {
  return text.split(needle).length - 1;
}

/** Store a task that ran once and failed for good with `message` (as a worker leaves it). */
async function putFailedTask(queue: Queue, message: string, workerId: string): Promise<string> {
  const now = queue.store.now();
  const rec = await newTaskRecord("evil", { s: "\x9b2J" }, {}, queue.options, now, PROBE_PLACEMENT);
  const key = queue.keys.task(rec.id);
  await queue.store.put(key, JSON.stringify(rec));
  const claimed = transitions.claim(rec, now, workerId, 60_000);
  assert.ok(claimed.ok, "claimed.ok");
  await queue.store.put(key, JSON.stringify(claimed.next));
  const failed = transitions.failAttempt(claimed.next, now, { attempt: 1, workerId }, {
    message,
    kind: "permanent",
    permanent: true,
  });
  assert.ok(failed.ok, "failed.ok");
  await queue.store.put(key, JSON.stringify(failed.next));
  return rec.id;
}

async function putHeartbeat(queue: Queue, id: string, runtime: string): Promise<void> {
  const base = {
    worker_id: id,
    shards: ["0"],
    task_types: ["evil\x9b"],
    started_at: new Date(queue.store.now()).toISOString(),
    concurrency: 2,
    runtime,
  };
  await writeHeartbeat(queue, base);
}

describe(`oq output for people (${cli.name})`, () => {
  let backend: CliBackend;
  before(async () => {
    backend = await devBackend();
  });
  after(async () => {
    await killAll();
    await backend?.close();
  });

  it("stored text never reaches the terminal raw; --json stays exact", {
    timeout: 300_000,
  }, async () => {
    const bucket = testBucket();
    const queue = await backend.prepare(bucket);
    const oq = (...args: string[]) => run(cli, args, { env: backend.env(bucket) });
    const id = await putFailedTask(queue, HOSTILE_ERROR, "w\x1b[2J");
    await putHeartbeat(queue, "w-1", "node\x1b]0;title\x07");
    await queue.createSchedule("nightly", "evil", { s: "\x9b\x1b[2J" }, "0 2 * * *");
    for (
      const args of [
        ["get", id],
        ["list"],
        ["list", "--status", "failed"],
        ["history", id],
        ["workers"],
        ["schedule", "list"],
        ["schedule", "show", "nightly"],
      ]
    ) {
      const r = await oq(...args);
      ok(r, args.join(" "));
      assertPrintable(r, `oq ${args.join(" ")}`);
      if (args[0] === "get" || args[0] === "list" || args[0] === "history") {
        assert.match(r.stdout, /boom \\u001b\]0;owned\\u0007 then \\u001b\[2J cleared \\u009b31m/);
      }
    }
    const tail = await start(cli, ["tail", "--initial", "--interval", "200ms"], {
      env: backend.env(bucket),
    });
    try {
      await tail.waitFor("stdout", new RegExp(`${id}.*error=`));
    } finally {
      await tail.stop("SIGINT");
    }
    assertPrintable(
      { code: 0, signal: null, stdout: tail.stdout(), stderr: tail.stderr() },
      "tail",
    );
    const got = JSON.parse(ok(await oq("get", id, "--json"), "get --json"));
    assert.equal(got.lastError, HOSTILE_ERROR);
    assert.equal(got.workerId, "w\x1b[2J");
    assert.deepEqual(got.input, { s: "\x9b2J" });
  });

  it("oq list says on stderr when more tasks match and when none do; --all lists them all", {
    timeout: 300_000,
  }, async () => {
    const bucket = testBucket();
    const queue = await backend.prepare(bucket);
    const oq = (...args: string[]) => run(cli, args, { env: backend.env(bucket) });
    const submitted = [];
    for (let i = 0; i < 3; i++) submitted.push(await queue.submit("t", { i }));
    // Oldest first, as oq list orders them: by creation time (ms), then by id (two submits in
    // one millisecond are ordered by id, not by the order they were made in).
    const ids = submitted.sort((a, b) =>
      a.createdAt.getTime() - b.createdAt.getTime() || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0)
    ).map((t) => t.id);
    const two = await oq("list", "--limit", "2");
    assert.equal(ok(two, "list --limit 2").trim().split("\n").length, 3); // header + 2
    assert.match(two.stderr, /^oq list: showing the oldest 2 tasks; more match: add --all/);
    assert.match(two.stderr, /--limit 20\b/);
    const twoJson = await oq("list", "--limit", "2", "--json");
    assert.deepEqual(JSON.parse(ok(twoJson, "list --json")).map((t: { id: string }) => t.id), [
      ...ids.slice(0, 2),
    ]);
    assert.match(twoJson.stderr, /more match/);
    const exact = await oq("list", "--limit", "3", "--type", "t");
    assert.equal(ok(exact, "list --limit 3").trim().split("\n").length, 4);
    assert.equal(exact.stderr, "", "exactly --limit tasks match: no note");
    const everything = await oq("list", "--all", "--json");
    assert.deepEqual(
      JSON.parse(ok(everything, "list --all")).map((t: { id: string }) => t.id),
      ids,
    );
    assert.equal(everything.stderr, "");
    const none = await oq("list", "--status", "running");
    assert.equal(ok(none, "list --status running"), "");
    assert.match(none.stderr, /^oq list: no tasks \(status running\)\n$/);
    assert.equal(ok(await oq("list", "--status", "running", "--json"), "json"), "[]\n");
    const both = await oq("list", "--all", "--limit", "5");
    assert.equal(both.code, 2);
    assert.match(both.stderr, /--limit or --all, not both/);
  });

  it("schedule list, stats, workers and history report bad objects once and show the rest", {
    timeout: 300_000,
  }, async () => {
    const bucket = testBucket();
    const queue = await backend.prepare(bucket);
    const store = queue.store;
    const oq = (...args: string[]) => run(cli, args, { env: backend.env(bucket) });
    await queue.createSchedule("good", "t", null, "0 * * * *");
    const rec = JSON.parse(
      new TextDecoder().decode(
        (await store.get("schedules/good.json") as { body: Uint8Array }).body,
      ),
    );
    await store.put(
      "schedules/badcron.json",
      JSON.stringify({ ...rec, id: "badcron", cron: "61 * * * *" }),
    );
    await store.put(
      "schedules/badtz.json",
      JSON.stringify({ ...rec, id: "badtz", timezone: "Mars/X" }),
    );
    await store.put("schedules/junk.json", "\x1b[2J not json");
    const list = await oq("schedule", "list");
    assert.match(ok(list, "schedule list"), /^good\s+t\s+0 \* \* \* \*/m);
    assert.doesNotMatch(list.stdout, /badcron|badtz|junk/);
    for (const k of ["badcron", "badtz", "junk"]) {
      assert.equal(count(list.stderr, `"schedules/${k}.json"`), 1, `${k} once:\n${list.stderr}`);
    }
    assertPrintable(list, "schedule list");
    const json = await oq("schedule", "list", "--json");
    assert.deepEqual(
      JSON.parse(ok(json, "schedule list --json")).map((s: { id: string }) => s.id),
      [
        "good",
      ],
    );
    assert.equal(count(json.stderr, "oq: skipped"), 3);
    const show = await oq("schedule", "show", "badcron");
    assert.match(ok(show, "schedule show badcron"), /^cron\s+61 \* \* \* \* \(UTC\)$/m);
    assert.match(show.stdout, /^next run\s+-$/m);
    assert.match(show.stderr, /schedule "badcron" cannot run: Invalid cron "61 \* \* \* \*"/);

    // Workers: one valid heartbeat, and garbage that stats used to count as workers.
    await putHeartbeat(queue, "w-1", "node");
    await store.put("workers/garbage.json", "not json");
    await store.put("workers/empty.json", "{}");
    const stats = await oq("stats", "--json");
    assert.equal(JSON.parse(ok(stats, "stats")).workers, 1);
    const workers = await oq("workers", "--json");
    assert.deepEqual(
      JSON.parse(ok(workers, "workers")).map((w: { worker_id: string }) => w.worker_id),
      [
        "w-1",
      ],
    );
    for (const r of [stats, workers]) {
      for (const k of ["garbage", "empty"]) assert.equal(count(r.stderr, `"workers/${k}.json"`), 1);
    }

    // History: a bad version between two good ones.
    const t = await queue.submit("t", null);
    const key = queue.keys.task(t.id);
    const good = (await store.get(key)) as { body: Uint8Array };
    await store.put(key, "garbage");
    await store.put(key, good.body);
    const history = await oq("history", t.id);
    assert.equal(ok(history, "history").trim().split("\n").length, 3); // header + 2 versions
    assert.equal(count(history.stderr, `"${key}"`), 1);
  });

  it("oq dev prints `export` lines, --print-env loads them with eval, --write-env with `.`", {
    timeout: 300_000,
  }, async () => {
    const sh = (script: string, args: string[] = [], env: Record<string, string> = {}) =>
      run({ name: "bash", command: "bash", prefix: [] }, ["-c", script, "sh", ...args], {
        env: { NO_COLOR: "1", OQ_PREFIX: "", OQ_SHARD_COUNT: "", AWS_SESSION_TOKEN: "", ...env },
      });
    const show = 'printf "%s|" "$S3_ENDPOINT" "$S3_BUCKET" "$S3_REGION" "$AWS_ACCESS_KEY_ID" ' +
      '"$AWS_SECRET_ACCESS_KEY"';
    const oqCmd = [cli.command, ...cli.prefix];

    // Values a shell would mangle unquoted survive shellExports and eval.
    const odd = { A: "it's [a] $HOME `x` ~", B: "", C: "http://[::1]:9000" };
    const back = await sh(`eval "$1"; printf "%s|" "$A" "$B" "$C"`, [shellExports(odd)]);
    assert.equal(back.stdout, `${odd.A}||${odd.C}|`);
    assert.match(
      shellExports(
        devEnv({ url: "http://127.0.0.1:1", accessKeyId: "k", secretAccessKey: "s" }),
      ),
      /^export S3_ENDPOINT=http:\/\/127\.0\.0\.1:1\nexport S3_REGION=us-east-1\n/,
    );

    const printed = await sh(
      `eval "$("$@" --bucket jobs dev --print-env --port 9123)"; ${show}`,
      oqCmd,
    );
    assert.equal(printed.code, 0, printed.stderr);
    assert.equal(printed.stdout, "http://127.0.0.1:9123|jobs|us-east-1|oqdev|oqdevsecret|");
    const zero = await run(cli, ["dev", "--print-env", "--port", "0"], { env: { NO_COLOR: "1" } });
    assert.equal(zero.code, 2);
    assert.match(zero.stderr, /--print-env needs the server's --port/);

    const dir = await mkdtemp(join(tmpdir(), "oq-dev-env-"));
    const file = join(dir, "oq-dev.env");
    const dev = await start(cli, ["dev", "--memory", "--port", "0", "--write-env", file], {
      env: { NO_COLOR: "1" },
    });
    try {
      await dev.waitFor("stderr", /settings written to/);
      // The banner's lines paste into a shell as they are.
      const banner = dev.stderr().split("\n").filter((l) => l.startsWith("export "));
      assert.equal(banner.length, 5, dev.stderr());
      const pasted = await sh(`${banner.join("\n")}\n${show}`);
      const sourced = await sh(`. "$1"; ${show}`, [file]);
      assert.match(
        sourced.stdout,
        /^http:\/\/127\.0\.0\.1:\d+\|oq-dev\|us-east-1\|oqdev\|oqdevsecret\|$/,
      );
      assert.equal(pasted.stdout, sourced.stdout);
      // And oq works with them.
      const used = await sh(`. "$1"; shift; "$@" list --json`, [file, ...oqCmd]);
      assert.equal(used.code, 0, used.stderr);
      assert.equal(used.stdout, "[]\n");
      const r = await dev.stop("SIGTERM");
      assert.equal(r.code, 0, r.stderr);
      assert.equal(await stat(file).catch(() => null), null, "the env file is removed at stop");
    } finally {
      dev.proc.kill("SIGKILL"); // a no-op when it has stopped
      await dev.done;
      await rm(dir, { recursive: true, force: true });
    }
  });
});
