/**
 * The Scheduler over the memory store with a fake clock (no sleeping): which due times
 * fire for common cron expressions and across DST transitions, each exactly once.
 */
import { describe } from "node:test";
import assert from "node:assert/strict";
import { type ScheduledRun, Scheduler } from "../src/schedule/scheduler.ts";
import { createSchedule } from "../src/schedule/operations.ts";
import { getScheduleLastRun } from "../src/schedule/last_run.ts";
import { derivedTaskId } from "../src/task/new_task.ts";
import type { Queue } from "../src/queue/queue.ts";
import { FakeClock, it, memQueue } from "./helpers.ts";

const MIN = 60_000;
const HOUR = 60 * MIN;

/** Advance the clock by `stepMs` until `untilIso`, one runOnce per step; every run submitted. */
async function drive(
  clock: FakeClock,
  scheduler: Scheduler,
  untilIso: string,
  stepMs: number,
): Promise<ScheduledRun[]> {
  const runs: ScheduledRun[] = [];
  const until = Date.parse(untilIso);
  while (clock.ms < until) {
    clock.advance(Math.min(stepMs, until - clock.ms));
    const r = await scheduler.runOnce();
    assert.deepEqual(r.errors, []);
    runs.push(...r.submitted);
  }
  return runs;
}

function setup(startIso: string) {
  const clock = new FakeClock(Date.parse(startIso));
  const { queue, store } = memQueue({ shardCount: 4 }, clock);
  return { queue, store, clock, scheduler: new Scheduler(queue) };
}

const dues = (runs: ScheduledRun[]) => runs.map((r) => r.dueAt.toISOString());

async function tasksOf(queue: Queue): Promise<number> {
  let n = 0;
  for (const s of queue.shards) {
    n += (await queue.store.list({ prefix: queue.keys.tasksPrefix(s) })).objects.length;
  }
  return n;
}

function range(startIso: string, stepMs: number, count: number): string[] {
  return Array.from(
    { length: count },
    (_, i) => new Date(Date.parse(startIso) + i * stepMs).toISOString(),
  );
}

describe("Scheduler: cron expressions", () => {
  it("every minute: one task per minute, under the derived id, with the schedule's type and input", async () => {
    const { queue, clock, scheduler } = setup("2026-11-22T12:00:00Z");
    await createSchedule(queue.context, "tick", "tick", { n: 1 }, "* * * * *", { maxRetries: 0 });
    const first = await scheduler.runOnce();
    assert.equal(first.submitted.length, 0, "never fires for the minute it was created in");
    assert.equal(first.nextDueAt?.toISOString(), "2026-11-22T12:01:00.000Z");
    const runs = await drive(clock, scheduler, "2026-11-22T12:10:30Z", 15_000);
    assert.deepEqual(dues(runs), range("2026-11-22T12:01:00Z", MIN, 10));
    for (const r of runs) {
      assert.equal(
        r.task.id,
        await derivedTaskId(queue.keyShardCount, {
          tag: "s",
          material: `tick@${r.dueAt.toISOString()}`,
        }),
      );
      assert.equal(r.task.taskType, "tick");
      assert.deepEqual(r.task.input, { n: 1 });
      assert.equal(r.task.maxRetries, 0);
      assert.equal(r.scheduleId, "tick");
    }
    assert.equal(await tasksOf(queue), 10);
    const last = await getScheduleLastRun(queue.context, "tick");
    assert.equal(last?.lastRunAt.toISOString(), "2026-11-22T12:10:00.000Z");
    assert.equal(last?.lastTaskId, runs.at(-1)!.task.id);
    assert.equal(last?.nextRunAt?.toISOString(), "2026-11-22T12:11:00.000Z");
  });

  it("hourly, daily at 09:00, weekdays only, and */15", async () => {
    const { queue, clock, scheduler } = setup("2026-11-22T12:00:00Z"); // a Sunday
    await createSchedule(queue.context, "hourly", "h", {}, "0 * * * *");
    await createSchedule(queue.context, "daily", "d", {}, "0 9 * * *");
    await createSchedule(queue.context, "weekdays", "w", {}, "30 8 * * MON-FRI");
    await createSchedule(queue.context, "quarter", "q", {}, "*/15 * * * *");
    const runs = await drive(clock, scheduler, "2026-11-29T12:00:00Z", 5 * MIN);
    const by = (id: string) => dues(runs.filter((r) => r.scheduleId === id));
    assert.deepEqual(by("hourly"), range("2026-11-22T13:00:00Z", HOUR, 7 * 24));
    assert.deepEqual(by("daily"), range("2026-11-23T09:00:00Z", 24 * HOUR, 7));
    assert.deepEqual(
      by("weekdays"),
      range("2026-11-23T08:30:00Z", 24 * HOUR, 5),
      "Mon 23 to Fri 27",
    );
    assert.deepEqual(by("quarter"), range("2026-11-22T12:15:00Z", 15 * MIN, 7 * 24 * 4));
    assert.equal(await tasksOf(queue), runs.length);
  });

  it("a schedule created after today's time fires first tomorrow", async () => {
    const { queue, clock, scheduler } = setup("2026-11-22T12:30:00Z");
    await createSchedule(queue.context, "noon", "n", {}, "0 12 * * *");
    const runs = await drive(clock, scheduler, "2026-11-23T12:30:00Z", 10 * MIN);
    assert.deepEqual(dues(runs), ["2026-11-23T12:00:00.000Z"]);
  });
});

describe("Scheduler: timezones and DST (as croner computes them)", () => {
  const local = (d: Date, tz: string) =>
    d.toLocaleString("en-GB", {
      timeZone: tz,
      hour12: false,
      month: "2-digit",
      day: "2-digit",
      hour: "2-digit",
      minute: "2-digit",
    });

  it("America/New_York, spring forward (2026-03-08): 02:30 daily runs at 03:00 EDT; hourly skips the missing hour", async () => {
    const { queue, clock, scheduler } = setup("2026-03-06T12:00:00Z");
    await createSchedule(queue.context, "daily", "d", {}, "30 2 * * *", {
      timezone: "America/New_York",
    });
    await createSchedule(queue.context, "hourly", "h", {}, "30 * * * *", {
      timezone: "America/New_York",
    });
    const runs = await drive(clock, scheduler, "2026-03-09T12:00:00Z", 5 * MIN);
    const daily = runs.filter((r) => r.scheduleId === "daily").map((r) => r.dueAt);
    assert.deepEqual(daily.map((d) => d.toISOString()), [
      "2026-03-07T07:30:00.000Z", // 02:30 EST
      "2026-03-08T07:00:00.000Z", // 02:30 does not exist: the first valid time after the gap, 03:00 EDT
      "2026-03-09T06:30:00.000Z", // 02:30 EDT
    ]);
    assert.deepEqual(daily.map((d) => local(d, "America/New_York")), [
      "07/03, 02:30",
      "08/03, 03:00",
      "09/03, 02:30",
    ]);
    const night = runs.filter((r) =>
      r.scheduleId === "hourly" && r.dueAt >= new Date("2026-03-08T05:00:00Z") &&
      r.dueAt < new Date("2026-03-08T09:00:00Z")
    );
    assert.deepEqual(night.map((r) => local(r.dueAt, "America/New_York")), [
      "08/03, 00:30",
      "08/03, 01:30",
      "08/03, 03:30", // 02:30 local never happened
      "08/03, 04:30",
    ]);
    const hourly = runs.filter((r) => r.scheduleId === "hourly");
    assert.equal(
      new Set(hourly.map((r) => r.dueAt.getTime())).size,
      hourly.length,
      "no due time twice",
    );
  });

  it("America/New_York, fall back (2026-11-01): a fixed 01:30 runs once; hourly runs at both 01:30s", async () => {
    const { queue, clock, scheduler } = setup("2026-10-31T12:00:00Z");
    await createSchedule(queue.context, "daily", "d", {}, "30 1 * * *", {
      timezone: "America/New_York",
    });
    await createSchedule(queue.context, "hourly", "h", {}, "30 * * * *", {
      timezone: "America/New_York",
    });
    const runs = await drive(clock, scheduler, "2026-11-02T12:00:00Z", 5 * MIN);
    assert.deepEqual(dues(runs.filter((r) => r.scheduleId === "daily")), [
      "2026-11-01T05:30:00.000Z", // 01:30 EDT, the first occurrence only
      "2026-11-02T06:30:00.000Z", // 01:30 EST
    ]);
    const night = runs.filter((r) =>
      r.scheduleId === "hourly" && r.dueAt >= new Date("2026-11-01T04:00:00Z") &&
      r.dueAt < new Date("2026-11-01T08:00:00Z")
    );
    assert.deepEqual(dues(night), range("2026-11-01T04:30:00Z", HOUR, 4));
    assert.deepEqual(night.map((r) => local(r.dueAt, "America/New_York")), [
      "01/11, 00:30",
      "01/11, 01:30",
      "01/11, 01:30", // the repeated hour, once in EDT and once in EST
      "01/11, 02:30",
    ]);
  });

  it("Europe/Berlin daily 09:00 moves from 08:00Z to 07:00Z on 2026-03-29", async () => {
    const { queue, clock, scheduler } = setup("2026-03-27T12:00:00Z");
    await createSchedule(queue.context, "b", "b", {}, "0 9 * * *", { timezone: "Europe/Berlin" });
    const runs = await drive(clock, scheduler, "2026-03-30T12:00:00Z", 10 * MIN);
    assert.deepEqual(dues(runs), [
      "2026-03-28T08:00:00.000Z",
      "2026-03-29T07:00:00.000Z",
      "2026-03-30T07:00:00.000Z",
    ]);
  });
});

describe("Scheduler: several schedulers at once (memory store)", () => {
  it("five schedulers racing every cycle: each due run is one task, submitted once", async () => {
    const clock = new FakeClock(Date.parse("2026-11-22T12:00:00Z"));
    const { queue } = memQueue({ shardCount: 4 }, clock);
    await createSchedule(queue.context, "a", "a", {}, "* * * * *");
    await createSchedule(queue.context, "b", "b", {}, "*/5 * * * *");
    const schedulers = Array.from({ length: 5 }, () => new Scheduler(queue));
    let submitted = 0;
    let already = 0;
    while (clock.ms < Date.parse("2026-11-22T13:00:00Z")) {
      clock.advance(20_000);
      const rs = await Promise.all(schedulers.map((s) => s.runOnce()));
      for (const r of rs) {
        assert.deepEqual(r.errors, []);
        submitted += r.submitted.length;
        already += r.alreadySubmitted;
      }
    }
    assert.equal(submitted, 60 + 12);
    assert.equal(await tasksOf(queue), 72);
    assert.ok(already >= 0, "already >= 0");
  });
});
