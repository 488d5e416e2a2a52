/**
 * Three schedulers running concurrently against moto (a real S3 protocol, real
 * conditional writes) over a simulated one-hour window: every due run of every schedule
 * becomes exactly one task. The schedulers' decision clock is injected (SchedulerOptions.now)
 * so that two hours pass in seconds; the schedules and tasks use moto's own clock.
 */
import { describe } from "node:test";
import assert from "node:assert/strict";
import { clockOf } from "../src/base/clock.ts";
import { Queue } from "../src/queue/queue.ts";
import { parseCron } from "../src/schedule/schedule.ts";
import { Scheduler } from "../src/schedule/scheduler.ts";
import { createSchedule, getSchedule } from "../src/schedule/operations.ts";
import { getScheduleLastRun } from "../src/schedule/last_run.ts";
import type { ObjectStore } from "../src/store/types.ts";
import { derivedTaskId } from "../src/task/new_task.ts";
import { motoBackend } from "./backends.ts";
import { it } from "./helpers.ts";

const SCHEDULES: Array<[string, string, string]> = [
  ["every-minute", "* * * * *", "UTC"],
  ["every-2-min-ny", "*/2 * * * *", "America/New_York"],
  ["every-5-min", "*/5 * * * *", "UTC"],
  ["every-7-min", "*/7 * * * *", "UTC"],
  ["hourly-berlin", "0 * * * *", "Europe/Berlin"],
];

const moto = motoBackend();

describe("three schedulers on moto", { skip: moto.skip }, () => {
  it(
    "over a simulated 1-hour window, each due run produces exactly one task",
    { timeout: 300_000 },
    async () => {
      const b = await moto.open();
      try {
        await threeSchedulers(b.store);
      } finally {
        await b.close();
      }
    },
  );
});

/** The scenario on one store; its caller closes the store. */
async function threeSchedulers(store: ObjectStore): Promise<void> {
  const b = { store };
  const queue = new Queue(b.store, {
    shardCount: 4,
    prefix: `sched-${crypto.randomUUID().slice(0, 8)}/`,
    warn: () => {},
  });
  for (const [id, cron, timezone] of SCHEDULES) {
    await createSchedule(queue.context, id, "job", { id }, cron, { timezone });
  }
  let fake = (await queue.now()).getTime();
  const end = fake + 3600_000;
  const skew = [0, 400, -400]; // imperfect clocks
  const schedulers = skew.map((s) => new Scheduler(queue, { clock: clockOf(() => fake + s) }));
  let created = 0;
  let already = 0;
  let cycleFailures = 0;
  let scheduleErrors = 0;
  let rounds = 0;
  const t0 = Date.now();
  const requests0 = b.store.counters.snapshot();
  while (fake < end) {
    fake += 20_000;
    rounds++;
    // Usually all three race; now and then one or two sit a round out.
    const active = schedulers.filter((_, i) => i === rounds % 3 || Math.random() < 0.7);
    const results = await Promise.all(active.map((s) => s.runOnce().catch(() => null)));
    for (const r of results) {
      if (r === null) {
        cycleFailures++; // a transient LIST failure: the next round retries
        continue;
      }
      created += r.submitted.length;
      already += r.alreadySubmitted;
      scheduleErrors += r.errors.length;
    }
  }
  // Finish with one quiet cycle each, so that no run is left to a failed round.
  for (const s of schedulers) {
    const r = await s.runOnce();
    created += r.submitted.length;
    already += r.alreadySubmitted;
  }
  const elapsed = Date.now() - t0;
  const used = b.store.counters.snapshot();

  // Expected: every due time after the schedule's creation, up to the end of the window.
  const expected = new Set<string>();
  for (const [id, cron, timezone] of SCHEDULES) {
    const s = await getSchedule(queue.context, id);
    const c = parseCron(cron, timezone);
    let t = c.nextRun(s!.enabledAt);
    while (t && t.getTime() <= end + 400) {
      expected.add(
        await derivedTaskId(queue.keyShardCount, {
          tag: "s",
          material: `${id}@${t.toISOString()}`,
        }),
      );
      t = c.nextRun(t);
    }
    const last = await getScheduleLastRun(queue.context, id);
    assert.ok(
      last && last.lastRunAt.getTime() <= end + 400 &&
        last.lastRunAt.getTime() > end - 3600_000,
      id,
    );
  }
  const found: string[] = [];
  for (const shard of queue.shards) {
    let token: string | undefined;
    do {
      const page = await b.store.list({
        prefix: queue.keys.tasksPrefix(shard),
        continuationToken: token,
      });
      token = page.nextContinuationToken;
      for (const o of page.objects) found.push(o.key.slice(o.key.lastIndexOf("/") + 1, -5));
    } while (token);
  }
  console.log(
    `# 3 schedulers on moto: ${rounds} rounds in ${elapsed} ms; ${expected.size} due runs, ` +
      `${found.length} tasks, ${created} created, ${already} found already submitted, ` +
      `${cycleFailures} failed cycles, ${scheduleErrors} schedule errors; requests: ` +
      `${used.LIST - requests0.LIST} LIST, ${used.GET - requests0.GET} GET, ${
        used.PUT - requests0.PUT
      } PUT`,
  );
  assert.equal(found.length, expected.size, "one task per due run");
  assert.deepEqual(new Set(found), expected, "exactly the due runs' derived ids");
  if (created !== expected.size) {
    // Tell a store that applied two create-only writes (two versions of one task, each
    // revision 0: moto has been seen to, under load) from a scheduler that counts wrong.
    const doubled: string[] = [];
    let extra = 0;
    for (const id of expected) {
      const key = queue.keys.task(id);
      const page = await b.store.listVersions({ prefix: key });
      const creates = page.versions.filter((v) => v.key === key && !v.isDeleteMarker).length;
      if (creates > 1) doubled.push(`${id} (${creates} versions)`);
      extra += Math.max(0, creates - 1);
    }
    console.log(
      `# ${created - expected.size} extra create(s); keys with several creates: ${doubled}`,
    );
    assert.equal(
      created - expected.size,
      extra,
      "a scheduler reported a run as created that the store did not create twice",
    );
  }
}
