/**
 * Round trips of the read and write commands (everything but the long-running ones), as
 * `it` blocks that run in order against one backend and one fresh bucket.
 */
import assert from "node:assert/strict";
import { mkdtemp, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type CliBackend, type CliRunner, run, type RunResult } from "./cli_helpers.ts";
import { it } from "./helpers.ts";
import { RateLog } from "../src/protocol/rate.ts";
import { Slots } from "../src/protocol/slots.ts";

const ID = /^\d+-[A-Za-z0-9_.:=@+-]+$/;

/** Define the round-trip tests of `cli` on the backend `get()` returns, in `bucket`. */
export function commandRoundTrips(cli: CliRunner, get: () => CliBackend, bucket: string): void {
  const oq = (args: string[], o: { stdin?: string; env?: Record<string, string> } = {}) =>
    run(cli, args, { stdin: o.stdin, env: get().env(bucket, o.env) });
  const ok = (r: RunResult, what: string) => {
    assert.equal(r.code, 0, `${what}: exit ${r.code}\n${r.stderr}`);
    return r.stdout;
  };
  const json = (r: RunResult, what: string) => JSON.parse(ok(r, what));
  const ids: Record<string, string> = {};

  it("init creates the bucket (idempotent) and doctor passes every check", async () => {
    const first = ok(await oq(["init"]), "init");
    assert.match(first, /\(created\)/);
    assert.match(first, /versioning\s+Enabled/);
    const again = json(await oq(["init", "--json"]), "init --json");
    assert.equal(again.created, false);
    assert.equal(again.versioning, "Enabled");
    assert.ok(again.rules.length >= 4, "again.rules.length >= 4");
    const doctor = json(await oq(["doctor", "--json"]), "doctor");
    assert.equal(doctor.ok, true);
    for (const c of doctor.checks) assert.equal(c.status, "pass", `${c.name}: ${c.detail}`);
    assert.equal(doctor.checks.length, 10);
  });

  it("submit prints the id; --json the task; -i from a file and stdin; idempotency keys", async () => {
    ids.email = ok(await oq(["submit", "-t", "email", "-i", '{"to":"a@b.c"}']), "submit").trim();
    assert.match(ids.email, ID);
    const t = json(
      await oq([
        "submit",
        "-t",
        "report",
        "-i",
        "[1,2]",
        "--delay",
        "1h",
        "--ttl",
        "2h",
        "--timeout",
        "1m",
        "--max-retries",
        "5",
        "--idempotency-key",
        "k-1",
        "--json",
      ]),
      "submit --json",
    );
    ids.report = t.id;
    assert.equal(t.status, "pending");
    assert.deepEqual(t.input, [1, 2]);
    assert.equal(t.timeoutSeconds, 60);
    assert.equal(t.maxRetries, 5);
    assert.equal(t.idempotencyKey, "k-1");
    const delay = Date.parse(t.availableAt) - Date.parse(t.createdAt);
    assert.equal(delay, 3_600_000);
    assert.equal(Date.parse(t.expiresAt) - Date.parse(t.createdAt), 7_200_000);
    const same = ok(
      await oq(["submit", "-t", "report", "-i", "[1,2]", "--idempotency-key", "k-1"]),
      "resubmit",
    );
    assert.equal(same.trim(), t.id, "same idempotency key, same task");
    const fromStdin = json(
      await oq(["submit", "-t", "stdin", "-i", "-", "--json"], { stdin: '{"via":"stdin"}\n' }),
      "-i -",
    );
    assert.deepEqual(fromStdin.input, { via: "stdin" });
    const dir = await mkdtemp(join(tmpdir(), "oq-cli-"));
    await writeFile(join(dir, "in.json"), '{"via":"file"}');
    const fromFile = json(
      await oq(["submit", "-t", "file", "-i", `@${join(dir, "in.json")}`, "--json"]),
      "-i @",
    );
    assert.deepEqual(fromFile.input, { via: "file" });
    ids.file = fromFile.id;
  });

  it("get shows a task (exit 3 when missing); list, history, stats and now read back", async () => {
    const human = ok(await oq(["get", ids.email!]), "get");
    assert.match(human, /^status\s+pending$/m);
    assert.match(human, /^input\s+\{"to":"a@b\.c"\}$/m);
    const t = json(await oq(["get", ids.email!, "--json"]), "get --json");
    assert.deepEqual(t.input, { to: "a@b.c" });
    const missing = await oq(["get", "0-doesnotexist"]);
    assert.equal(missing.code, 3);
    assert.match(missing.stderr, /not found/);
    assert.equal(missing.stdout, "");

    const all = json(await oq(["list", "--json"]), "list");
    assert.deepEqual(
      new Set(all.map((x: { id: string }) => x.id)),
      new Set([
        ids.email,
        ids.report,
        ids.file,
        all.find((x: { taskType: string }) => x.taskType === "stdin").id,
      ]),
    );
    const emails = json(
      await oq(["list", "--type", "email", "--status", "pending", "--json"]),
      "list filtered",
    );
    assert.deepEqual(emails.map((x: { id: string }) => x.id), [ids.email]);
    const shard = ids.email!.split("-")[0]!;
    const inShard = json(await oq(["list", "--shard", shard, "--json"]), "list --shard");
    assert.ok(
      inShard.every((x: { shard: string }) => x.shard === shard),
      "inShard.every((x: { shard: string }) => x.shard === shard)",
    );
    const table = ok(await oq(["list", "--limit", "2"]), "list table");
    assert.match(table, /^ID\s+TYPE\s+STATUS\s+ATTEMPT/);
    assert.equal(table.trim().split("\n").length, 3, "header + 2 rows");

    const history = json(await oq(["history", ids.email!, "--json"]), "history");
    assert.equal(history.length, 1);
    assert.equal(history[0].status, "pending");

    const stats = json(await oq(["stats", "--json"]), "stats");
    assert.equal(stats.total.tasks, 4);
    // Just-submitted tasks are due "now" by the submitting process's estimate of the store
    // clock (1 s resolution): another process may still count them as scheduled.
    assert.equal(stats.total.ready + stats.total.scheduled, 4);
    assert.ok(stats.total.scheduled >= 1, "the delayed report is scheduled");
    assert.match(ok(await oq(["stats"]), "stats table"), /^total\s+\d+\s+\d+\s+0\s+4$/m);

    // The server runs on this machine: the true offset is 0, within the stated uncertainty
    // (1 ms for rounding); no fixed bound, since the uncertainty grows with the round trip.
    const now = json(await oq(["now", "--json"]), "now");
    assert.ok(
      Math.abs(now.localOffsetMs) <= now.uncertaintyMs + 1,
      `clock offset ${now.localOffsetMs} ms, uncertainty ${now.uncertaintyMs} ms`,
    );
  });

  it("bulk submit from JSON lines validates every line first", async () => {
    const queue = await get().queue(bucket);
    const count = async () => (await queue.stats()).total.tasks;
    const before = await count();
    const bad = await oq(["submit", "--file", "-"], {
      stdin: '{"type":"bulk","input":1}\n{"type":"bulk","input":2,"delaySecs":5}\n',
    });
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /stdin line 2: unknown field "delaySecs"/);
    const badType = await oq(["submit", "--file", "-"], {
      stdin: '{"type":"ok"}\n{"type":"no/slash"}\n',
    });
    assert.equal(badType.code, 2);
    assert.match(badType.stderr, /entry 2: Invalid task type/);
    assert.equal(await count(), before, "nothing written");
    const lines = ok(
      await oq(["submit", "-t", "bulk", "--file", "-", "--max-retries", "1"], {
        stdin: "1\n\n2\n3\n",
      }),
      "bulk -t",
    ).trim().split("\n");
    assert.equal(lines.length, 3);
    for (const l of lines) assert.match(l, ID);
    const objs = json(
      await oq(["submit", "--file", "-", "--json"], {
        stdin:
          '{"type":"bulk2","input":{"n":1}}\n{"type":"bulk2","input":{"n":2},"delaySeconds":600}\n',
      }),
      "bulk objects",
    );
    assert.equal(objs.length, 2);
    assert.deepEqual(objs[1].input, { n: 2 });
    assert.ok(
      Date.parse(objs[1].availableAt) - Date.parse(objs[1].createdAt) === 600_000,
      "Date.parse(objs[1].availableAt) - Date.parse(objs[1].createdAt) === 600_000",
    );
    ids.bulk = lines[0]!;
  });

  it("cancel and retry change states; history keeps every version", async () => {
    const c = ok(await oq(["cancel", ids.email!, "--reason", "user asked"]), "cancel");
    assert.match(c, new RegExp(`^${ids.email}\\s+cancelled$`, "m"));
    const t = (await (await get().queue(bucket)).get(ids.email!))!.toJSON();
    assert.equal(t.status, "cancelled");
    assert.equal(t.cancelReason, "user asked");
    const again = ok(await oq(["cancel", ids.email!]), "cancel again");
    assert.match(again, /skipped: task is already cancelled/);
    const missing = await oq(["cancel", "0-nosuchtask"]);
    assert.equal(missing.code, 3, missing.stderr);

    const r = ok(await oq(["retry", ids.email!]), "retry");
    assert.match(r, new RegExp(`^${ids.email}\\s+pending$`, "m"));
    const notRetryable = await oq(["retry", ids.email!]);
    assert.equal(notRetryable.code, 1);
    assert.match(notRetryable.stderr, /Cannot retry task/);
    const history = json(await oq(["history", ids.email!, "--json"]), "history");
    assert.deepEqual(history.map((v: { status: string }) => v.status), [
      "pending",
      "cancelled",
      "pending",
    ]);

    const byType = json(
      await oq(["cancel", "--task-type", "bulk", "--json"]),
      "cancel --task-type",
    );
    assert.equal(byType.cancelled.length, 3);
    assert.equal(byType.skipped.length, 0);
  });

  it("schedules: create, list, show, disable, enable, trigger, delete, run --once", async () => {
    const create = [
      "schedule",
      "create",
      "nightly",
      "-t",
      "report",
      "-i",
      '{"k":1}',
      "-c",
      "0 2 * * *",
    ];
    assert.equal(ok(await oq(create), "create").trim(), "nightly");
    const dup = await oq(create);
    assert.equal(dup.code, 1);
    assert.match(dup.stderr, /already exists \(use --upsert/);
    ok(await oq([...create, "--upsert", "--timezone", "Europe/Berlin"]), "upsert");
    const badCron = await oq(["schedule", "create", "x", "-t", "r", "-c", "61 * * * *"]);
    assert.equal(badCron.code, 2, badCron.stderr);
    assert.match(badCron.stderr, /Invalid cron/);

    const list = json(await oq(["schedule", "list", "--json"]), "list");
    assert.equal(list.length, 1);
    assert.equal(list[0].timezone, "Europe/Berlin");
    assert.match(
      ok(await oq(["schedule", "list"]), "list"),
      /^nightly\s+report\s+0 2 \* \* \*\s+Europe\/Berlin\s+enabled/m,
    );
    const asked = Date.now();
    const show = json(await oq(["schedule", "show", "nightly", "--json"]), "show");
    assert.equal(show.schedule.cron, "0 2 * * *");
    assert.equal(show.lastRun, null);
    // The next 02:00 in Berlin after the command ran (by the store's clock, which may be a
    // second off this one): within a day and an hour from when it was asked.
    const next = Date.parse(show.nextRunAt);
    assert.ok(next > asked - 5000 && next <= asked + 25 * 3_600_000, show.nextRunAt);
    const berlin = new Intl.DateTimeFormat("en-GB", {
      timeZone: "Europe/Berlin",
      hour: "2-digit",
      minute: "2-digit",
      hourCycle: "h23",
    }).format(next);
    assert.equal(berlin, "02:00");
    assert.match(ok(await oq(["schedule", "disable", "nightly"]), "disable"), /nightly\s+disabled/);
    assert.match(ok(await oq(["schedule", "enable", "nightly"]), "enable"), /nightly\s+enabled/);

    const id = ok(await oq(["schedule", "trigger", "nightly"]), "trigger").trim();
    assert.match(id, ID);
    const task = (await (await get().queue(bucket)).get(id))!;
    assert.equal(task.taskType, "report");
    assert.deepEqual(task.input, { k: 1 });

    const once = json(await oq(["schedule", "run", "--once", "--json"]), "run --once");
    assert.equal(once.schedules, 1);
    assert.deepEqual(once.submitted, [], "nothing due: it never fires for past times");

    assert.match(ok(await oq(["schedule", "delete", "nightly"]), "delete"), /nightly\s+deleted/);
    assert.equal((await oq(["schedule", "show", "nightly"])).code, 3);
  });

  it("pause, paused, resume: the types' flow control, seen by the library", async () => {
    assert.match(ok(await oq(["paused"]), "paused"), /^$/);
    const p = await oq(["pause", "email", "sms", "--reason", "outage \u001b[2J"]);
    assert.match(ok(p, "pause"), /email\s+paused\nsms\s+paused/);
    const q = await get().queue(bucket);
    assert.equal(await q.isPaused("email"), true);
    assert.match(ok(await oq(["pause", "email"]), "pause again"), /email\s+paused/);
    const listed = ok(await oq(["paused"]), "paused");
    assert.match(listed, /email/);
    assert.ok(!listed.includes("\u001b"), "the reason's control characters are escaped");
    const j = json(await oq(["paused", "--json"]), "paused --json");
    assert.deepEqual(j.map((c: { task_type: string }) => c.task_type), ["email", "sms"]);
    const r = json(await oq(["resume", "email", "sms", "--json"]), "resume --json");
    assert.deepEqual(r.map((c: { paused: boolean; changed: boolean }) => [c.paused, c.changed]), [
      [false, true],
      [false, true],
    ]);
    assert.equal(await q.isPaused("email"), false);
    assert.equal((await oq(["pause", "../x"])).code, 2, "a bad type name is a usage error");
  });

  it("limit, limits: a type's limits, seen by the library; bad values are usage errors", async () => {
    assert.match(ok(await oq(["limits"]), "limits"), /^$/);
    const set = ok(await oq(["limit", "api", "--concurrency", "5", "--rate", "10/s"]), "limit");
    assert.match(set, /api\s+concurrency 5, rate 10\/s/);
    const q = await get().queue(bucket);
    const c = await q.getControl("api");
    assert.deepEqual([c.concurrency, c.rateLimit], [5, { limit: 10, windowMs: 1000 }]);
    const j = json(await oq(["limits", "--json"]), "limits --json");
    assert.deepEqual(
      j.map((x: { task_type: string; concurrency: number }) => [x.task_type, x.concurrency]),
      [
        ["api", 5],
      ],
    );
    ok(await oq(["limit", "api", "--no-rate"]), "--no-rate");
    assert.equal((await q.getControl("api")).rateLimit, null);

    // oq stats shows the limits in use: one slot held, one start in the last minute.
    ok(await oq(["limit", "api", "--rate", "10/min"]), "--rate 10/min");
    const now = q.store.now();
    const holder = {
      task_id: "0-x",
      attempt: 1,
      worker_id: "w1",
      granted_at: now,
      lease_until: now + 600_000,
    };
    assert.equal((await new Slots(q.context, "api").acquire(holder, 5)).kind, "granted");
    assert.equal((await new RateLog(q.context, "api").admit(10, 60_000)).kind, "admitted");
    assert.deepEqual(json(await oq(["stats", "--json"]), "stats --json").limits, [{
      task_type: "api",
      paused: false,
      concurrency: 5,
      slots_in_use: 1,
      rate_limit: { limit: 10, window_ms: 60_000 },
      recent_starts: 1,
    }]);
    assert.match(ok(await oq(["stats"]), "stats"), /^api\s+1\/5 running\s+1\/10 per min$/m);
    for (
      const bad of [["--concurrency", "0"], ["--rate", "ten"], [], [
        "--clear",
        "--concurrency",
        "2",
      ]]
    ) {
      assert.equal((await oq(["limit", "api", ...bad])).code, 2, `usage error: ${bad.join(" ")}`);
    }
    assert.match(ok(await oq(["limit", "api", "--clear"]), "--clear"), /api\s+none/);
    assert.deepEqual(await q.limits(), []);
    const stats = await oq(["stats"]);
    assert.doesNotMatch(ok(stats, "stats"), /CONCURRENCY/);
    assert.deepEqual(json(await oq(["stats", "--json"]), "stats --json").limits, []);
  });

  it("monitor --once reports a cycle", async () => {
    const r = json(await oq(["monitor", "--once", "--json"]), "monitor --once");
    assert.equal(r.recovered, 0);
    assert.equal(typeof r.requests, "number");
  });

  it("submit --priority: levels -9 to 9 (a negative one too); others refused", async () => {
    for (const level of ["5", "-3"]) {
      const p = json(await oq(["submit", "-t", "prio", "--priority", level, "--json"]), level);
      assert.equal(p.priority, Number(level));
    }
    const badLevel = await oq(["submit", "-t", "prio", "--priority", "10"]);
    assert.equal(badLevel.code, 2);
    assert.match(badLevel.stderr, /Invalid --priority "10": an integer from -9 to 9/);
    assert.match(ok(await oq(["get", ids.email!]), "get"), /^status/m);
  });
}
