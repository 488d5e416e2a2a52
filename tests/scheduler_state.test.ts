/**
 * The Scheduler's state rules over the memory store with a fake clock: coalescing,
 * disable/enable, trigger, deletes racing with a cycle, a crash between the submit and
 * the last-run write, malformed objects, request costs, and the loop's wake-ups.
 */
import { describe } from "node:test";
import assert from "node:assert/strict";
import { TransientStoreError } from "../src/base/errors.ts";
import { Queue } from "../src/queue/queue.ts";
import { Scheduler } from "../src/schedule/scheduler.ts";
import {
  createSchedule,
  deleteSchedule,
  disableSchedule,
  enableSchedule,
  triggerSchedule,
} from "../src/schedule/operations.ts";
import { getScheduleLastRun } from "../src/schedule/last_run.ts";
import { RequestCounters } from "../src/s3/counters.ts";
import { MemoryStore } from "../src/store/memory_store.ts";
import type { ObjectStore } from "../src/store/types.ts";
import { FakeClock, it, memQueue, until } from "./helpers.ts";

const START = "2026-11-22T12:00:00Z";
const at = (clock: FakeClock, iso: string) => void (clock.ms = Date.parse(iso));

async function taskCount(queue: Queue): Promise<number> {
  let n = 0;
  for (const s of queue.shards) {
    n += (await queue.store.list({ prefix: queue.keys.tasksPrefix(s) })).objects.length;
  }
  return n;
}

interface Hooks {
  beforePut?: (key: string) => void | Promise<void>;
  afterList?: (prefix: string) => void | Promise<void>;
  afterGet?: (key: string) => void | Promise<void>;
}

/** A memory store whose requests can be intercepted. */
function hookedQueue(hooks: Hooks, clock = new FakeClock(Date.parse(START))) {
  const store = new MemoryStore({ clock: clock.now });
  const proxy = new Proxy(store, {
    get(target, p) {
      if (p === "put") {
        return async (
          key: string,
          ...rest: Parameters<MemoryStore["put"]> extends [string, ...infer R] ? R : never
        ) => {
          await hooks.beforePut?.(key);
          return target.put(key, ...rest);
        };
      }
      if (p === "list") {
        return async (o: Parameters<MemoryStore["list"]>[0]) => {
          const page = await target.list(o);
          await hooks.afterList?.(o?.prefix ?? "");
          return page;
        };
      }
      if (p === "get") {
        return async (key: string, o: Parameters<MemoryStore["get"]>[1]) => {
          const r = await target.get(key, o);
          await hooks.afterGet?.(key);
          return r;
        };
      }
      const v = Reflect.get(target, p, target);
      return typeof v === "function" ? v.bind(target) : v;
    },
  }) as ObjectStore;
  return { queue: new Queue(proxy, { shardCount: 2, warn: () => {} }), store, clock };
}

describe("Scheduler: missed runs, enable/disable, trigger", () => {
  it("coalesces the runs missed while no scheduler ran into one run, the latest", async () => {
    const { queue, clock } = memQueue({}, new FakeClock(Date.parse(START)));
    await createSchedule(queue.context, "five", "t", {}, "*/5 * * * *");
    const s = new Scheduler(queue);
    at(clock, "2026-11-22T12:05:10Z");
    assert.deepEqual((await s.runOnce()).submitted.map((r) => r.dueAt.toISOString()), [
      "2026-11-22T12:05:00.000Z",
    ]);
    at(clock, "2026-11-22T13:02:00Z"); // down for an hour: 12:10 .. 13:00 were missed
    const r = await new Scheduler(queue).runOnce();
    assert.deepEqual(r.submitted.map((x) => x.dueAt.toISOString()), ["2026-11-22T13:00:00.000Z"]);
    assert.equal(r.due, 1);
    assert.equal(r.nextDueAt?.toISOString(), "2026-11-22T13:05:00.000Z");
    at(clock, "2026-11-22T13:05:00Z");
    assert.deepEqual((await s.runOnce()).submitted.map((x) => x.dueAt.toISOString()), [
      "2026-11-22T13:05:00.000Z",
    ]);
    assert.equal(await taskCount(queue), 3);
  });

  it("a disabled schedule fires nothing; enabling it does not replay what was missed", async () => {
    const { queue, clock } = memQueue({}, new FakeClock(Date.parse(START)));
    await createSchedule(queue.context, "m", "t", {}, "* * * * *");
    const s = new Scheduler(queue);
    at(clock, "2026-11-22T12:01:00Z");
    assert.equal((await s.runOnce()).submitted.length, 1);
    at(clock, "2026-11-22T12:01:30Z");
    await disableSchedule(queue.context, "m");
    at(clock, "2026-11-22T12:05:00Z");
    const off = await s.runOnce();
    assert.equal(off.submitted.length + off.due, 0);
    assert.equal(off.enabled, 0);
    at(clock, "2026-11-22T12:05:30Z");
    await enableSchedule(queue.context, "m");
    at(clock, "2026-11-22T12:05:40Z");
    assert.equal((await s.runOnce()).submitted.length, 0, "12:02 .. 12:05 are not replayed");
    at(clock, "2026-11-22T12:06:00Z");
    assert.deepEqual((await s.runOnce()).submitted.map((x) => x.dueAt.toISOString()), [
      "2026-11-22T12:06:00.000Z",
    ]);
    assert.equal(await taskCount(queue), 2);
  });

  it("trigger adds a run without disturbing the regular ones", async () => {
    const { queue, clock } = memQueue({}, new FakeClock(Date.parse(START)));
    await createSchedule(queue.context, "m", "t", { x: 1 }, "* * * * *");
    const s = new Scheduler(queue);
    at(clock, "2026-11-22T12:00:20Z");
    const extra = await triggerSchedule(queue.context, "m");
    assert.equal(extra.createdAt.toISOString(), "2026-11-22T12:00:20.000Z");
    assert.equal(await getScheduleLastRun(queue.context, "m"), null);
    at(clock, "2026-11-22T12:01:00Z");
    const r = await s.runOnce();
    assert.deepEqual(r.submitted.map((x) => x.dueAt.toISOString()), ["2026-11-22T12:01:00.000Z"]);
    assert.notEqual(r.submitted[0]!.task.id, extra.id);
    assert.equal(await taskCount(queue), 2);
  });
});

describe("Scheduler: deletes racing with a cycle", () => {
  it("a schedule deleted between cycles is skipped cleanly", async () => {
    const { queue, clock, store } = memQueue({}, new FakeClock(Date.parse(START)));
    await createSchedule(queue.context, "gone", "t", {}, "* * * * *");
    await createSchedule(queue.context, "kept", "t", {}, "* * * * *");
    const s = new Scheduler(queue);
    at(clock, "2026-11-22T12:01:00Z");
    assert.equal((await s.runOnce()).submitted.length, 2);
    assert.equal(await deleteSchedule(queue.context, "gone"), true);
    at(clock, "2026-11-22T12:02:00Z");
    const r = await s.runOnce();
    assert.deepEqual(r.errors, []);
    assert.deepEqual(r.submitted.map((x) => x.scheduleId), ["kept"]);
    assert.equal(await store.head("schedule-runs/gone.json"), null, "no record recreated");
  });

  it("deleted after the LIST, or after its first last-run read: no task, no orphan record, no error", async () => {
    for (const moment of ["after LIST", "after run read"] as const) {
      let armed = false;
      const del = async () => {
        if (!armed) return;
        armed = false;
        await deleteSchedule(queue.context, "x");
      };
      const { queue, clock, store } = hookedQueue({
        afterList: (p) => moment === "after LIST" && p === "schedules/" ? del() : undefined,
        afterGet: (k) =>
          moment === "after run read" && k === "schedule-runs/x.json" ? del() : undefined,
      });
      await createSchedule(queue.context, "x", "t", {}, "* * * * *");
      at(clock, "2026-11-22T12:01:00Z");
      armed = true;
      const r = await new Scheduler(queue).runOnce();
      assert.deepEqual(r.errors, [], moment);
      assert.equal(r.submitted.length, 0, moment);
      assert.equal(await taskCount(queue), 0, moment);
      assert.equal(await store.head("schedule-runs/x.json"), null, moment);
    }
  });
});

describe("Scheduler: failures", () => {
  it("a crash between the submit and the last-run write: the next cycle submits no duplicate and advances the record", async () => {
    let failRunWrites = 1;
    const { queue, clock } = hookedQueue({
      beforePut: (key) => {
        if (key.startsWith("schedule-runs/") && failRunWrites > 0) {
          failRunWrites--;
          throw new TransientStoreError("ServiceUnavailable", {
            operation: "PutObject",
            key,
            status: 503,
          });
        }
      },
    });
    await createSchedule(queue.context, "m", "t", {}, "* * * * *");
    at(clock, "2026-11-22T12:01:00Z");
    const crashed = await new Scheduler(queue).runOnce();
    assert.equal(crashed.submitted.length, 1, "the task was created");
    assert.equal(crashed.errors.length, 1);
    assert.match(crashed.errors[0]!.error.message, /503/);
    assert.equal(await getScheduleLastRun(queue.context, "m"), null, "the record was not advanced");
    at(clock, "2026-11-22T12:01:20Z");
    const next = await new Scheduler(queue).runOnce(); // a restarted process
    assert.equal(next.submitted.length, 0);
    assert.equal(next.alreadySubmitted, 1);
    assert.deepEqual(next.errors, []);
    const last = await getScheduleLastRun(queue.context, "m");
    assert.equal(last?.lastRunAt.toISOString(), "2026-11-22T12:01:00.000Z");
    assert.equal(last?.lastTaskId, crashed.submitted[0]!.task.id);
    assert.equal(await taskCount(queue), 1);
  });

  it("a malformed schedule is reported once and skipped; the others still run", async () => {
    const { queue, clock, store } = memQueue({}, new FakeClock(Date.parse(START)));
    await createSchedule(queue.context, "good", "t", {}, "* * * * *");
    await store.put("schedules/bad.json", '{"schema_version":1,"id":"bad"}');
    await store.put(
      "schedules/cron.json",
      JSON.stringify({
        schema_version: 1,
        id: "cron",
        task_type: "t",
        input: null,
        cron: "99 * * * *",
        timezone: "UTC",
        timeout_seconds: null,
        max_retries: null,
        enabled: true,
        enabled_at: START,
        created_at: START,
        updated_at: START,
        revision: 0,
        write_id: "w",
      }),
    );
    await store.put("schedules/nested/x.json", "{}");
    const s = new Scheduler(queue);
    const seen: string[] = [];
    s.events.on("schedule:error", (f) => void seen.push(f.key));
    at(clock, "2026-11-22T12:01:00Z");
    const r = await s.runOnce();
    assert.deepEqual(r.submitted.map((x) => x.scheduleId), ["good"]);
    assert.deepEqual(r.errors.map((e) => e.key).sort(), [
      "schedules/bad.json",
      "schedules/cron.json",
      "schedules/nested/x.json",
    ]);
    assert.ok(
      r.errors.every((e) => e.error.name === "SchemaError"),
      'r.errors.every((e) => e.error.name === "SchemaError")',
    );
    assert.match(
      r.errors.find((e) => e.key === "schedules/cron.json")!.error.message,
      /Invalid value for minute: 99/,
    );
    assert.equal(seen.length, 3);
    at(clock, "2026-11-22T12:02:00Z");
    const g0 = store.counters.snapshot().GET;
    const again = await s.runOnce();
    assert.deepEqual(again.errors, [], "reported once per object version");
    assert.equal(again.submitted.length, 1);
    assert.equal(
      store.counters.snapshot().GET - g0,
      2,
      "only the due schedule's last-run check, and the submit's re-check of the layout (a minute passed)",
    );
  });
});

describe("Scheduler: cost and loop", () => {
  it("an idle cycle is one LIST; a due run is 1 GET + 3 PUT, plus the submit's wake-up signal", async () => {
    const { queue, clock, store } = memQueue(
      { signalCoalesceMs: 0 },
      new FakeClock(Date.parse(START)),
    );
    for (const id of ["a", "b", "c"]) await createSchedule(queue.context, id, "t", {}, "0 * * * *");
    await queue.syncLayout(); // written once per bucket
    const s = new Scheduler(queue);
    let c0 = store.counters.snapshot();
    let r = await s.runOnce();
    let d = RequestCounters.diff(store.counters.snapshot(), c0);
    assert.equal(r.requests, 7);
    assert.deepEqual(
      [d.LIST, d.GET, d.PUT],
      [1, 6, 0],
      "first cycle: each schedule and its record once",
    );
    at(clock, "2026-11-22T12:30:00Z");
    c0 = store.counters.snapshot();
    r = await s.runOnce();
    d = RequestCounters.diff(store.counters.snapshot(), c0);
    assert.deepEqual([d.LIST, d.GET, d.PUT, d.HEAD], [1, 0, 0, 0], "idle: one LIST");
    assert.equal(r.requests, 1);
    at(clock, "2026-11-22T13:00:00Z");
    c0 = store.counters.snapshot();
    r = await s.runOnce(); // first runs: + a check of the schedule object each
    d = RequestCounters.diff(store.counters.snapshot(), c0);
    assert.equal(
      r.requests,
      d.LIST + d.GET + d.PUT - 6,
      "all but the 6 signal PUTs (type + queue-wide)",
    );
    at(clock, "2026-11-22T14:00:00Z");
    c0 = store.counters.snapshot();
    r = await s.runOnce();
    d = RequestCounters.diff(store.counters.snapshot(), c0);
    assert.equal(r.submitted.length, 3);
    assert.equal(r.requests, 1 + 3 + 3 * 3 + 1);
    assert.deepEqual(
      [d.LIST, d.GET, d.PUT],
      [1, 3 + 1, 3 * 5],
      "per run: record check (GET); ready entry, task, 2 signals (coalesced by default), record " +
        "(PUT); and one re-check of the bucket's layout (GET: an hour passed)",
    );
  });

  it("the loop wakes at the next due time rather than waiting for the interval, and stops promptly", async () => {
    const clock = new FakeClock(Date.parse(START));
    const { queue } = memQueue({}, clock);
    await createSchedule(queue.context, "m", "t", {}, "* * * * *");
    clock.ms = Date.parse("2026-11-22T12:00:59.700Z");
    const s = new Scheduler(queue);
    const submitted: string[] = [];
    s.events.on("schedule:submitted", (r) => void submitted.push(r.dueAt.toISOString()));
    // With an hour's interval, a loop that waited for it would outlast the test's timeout.
    const running = s.run({ intervalS: 3600 });
    try {
      await until(() => queue.store.counters.snapshot().LIST >= 1, 30_000, "first cycle");
      clock.advance(300); // 12:01:00.000: the sleeping loop must wake (about 350 ms) without the hour's interval
      await until(() => submitted.length === 1, 30_000, "the 12:01 run");
      assert.deepEqual(submitted, ["2026-11-22T12:01:00.000Z"]);
    } finally {
      await s.stop(); // promptly: it does not wait for the interval
      await running;
    }
    assert.throws(() => s.run({ intervalS: 0 }), /Invalid intervalS: 0/);
    assert.throws(
      () => new Scheduler(queue, { concurrency: 0 }),
      /Invalid scheduler option concurrency: 0/,
    );
  });
});
