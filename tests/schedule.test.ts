/** Schedule objects: validation, the stored format, and every change as a conditional write. */
import { describe } from "node:test";
import assert from "node:assert/strict";
import { latestDueAt, nextDueAt, parseCron } from "../src/schedule/schedule.ts";
import {
  createSchedule,
  deleteSchedule,
  disableSchedule,
  enableSchedule,
  getSchedule,
  listSchedules,
  ScheduleExistsError,
  triggerSchedule,
} from "../src/schedule/operations.ts";
import { getScheduleLastRun } from "../src/schedule/last_run.ts";
import { it, memQueue } from "./helpers.ts";

const T = (s: string) => Date.parse(s);

describe("cron parsing", () => {
  it("accepts 5 fields and nicknames, reads them in the timezone", () => {
    const c = parseCron("0 9 * * MON-FRI", "Europe/Berlin");
    assert.equal(
      c.nextRun(new Date("2026-11-22T00:00:00Z"))?.toISOString(),
      "2026-11-23T08:00:00.000Z",
    );
    assert.equal(
      parseCron("@hourly").nextRun(new Date("2026-01-01T10:20:00Z"))?.toISOString(),
      "2026-01-01T11:00:00.000Z",
    );
  });

  it("rejects what is not a 5-field cron, saying what is wrong", () => {
    const cases: Array<[unknown, RegExp, ErrorConstructor]> = [
      [
        "* * * * * *",
        /Invalid cron "\* \* \* \* \* \*": 6 fields given; seconds are not supported/,
        TypeError,
      ],
      [
        "* * *",
        /3 fields given, expected 5 \(minute hour day-of-month month day-of-week\)/,
        TypeError,
      ],
      ["61 * * * *", /Invalid cron "61 \* \* \* \*": Invalid value for minute: 61/, RangeError],
      ["*/0 * * * *", /illegal stepping: 0/, TypeError],
      ["0 9 * * FUNDAY", /Invalid cron "0 9 \* \* FUNDAY"/, TypeError],
      ["", /Invalid cron "": expected 5 fields/, TypeError],
      [42, /Invalid cron 42/, TypeError],
      ["@reboot", /@reboot is not supported/, TypeError],
    ];
    for (const [cron, re, Ctor] of cases) {
      assert.throws(
        () => parseCron(cron),
        (e: Error) => e instanceof Ctor && re.test(e.message),
        String(cron),
      );
    }
    assert.throws(() => parseCron("* * * * *", "Mars/Olympus"), {
      name: "RangeError",
      message: /Unknown timezone "Mars\/Olympus": expected an IANA name/,
    });
    assert.throws(() => parseCron("* * * * *", ""), {
      name: "TypeError",
      message: /Invalid timezone ""/,
    });
  });

  it("latestDueAt coalesces a window into its latest due time; nextDueAt is strictly after", () => {
    const c = parseCron("*/15 * * * *");
    assert.equal(latestDueAt(c, T("2026-01-01T10:00:00Z"), T("2026-01-01T10:14:59Z")), null);
    assert.equal(
      latestDueAt(c, T("2026-01-01T10:00:00Z"), T("2026-01-01T10:15:00Z")),
      T("2026-01-01T10:15:00Z"),
    );
    assert.equal(
      latestDueAt(c, T("2026-01-01T10:00:00Z"), T("2026-01-01T11:07:00Z")),
      T("2026-01-01T11:00:00Z"),
    );
    assert.equal(latestDueAt(c, T("2026-01-01T10:15:00Z"), T("2026-01-01T10:15:00Z")), null);
    assert.equal(nextDueAt(c, T("2026-01-01T10:15:00Z")), T("2026-01-01T10:30:00Z"));
    assert.equal(nextDueAt(c, T("2026-01-01T10:14:59.500Z")), T("2026-01-01T10:15:00Z"));
  });
});

describe("createSchedule", () => {
  it("stores a schema-versioned snake_case object with a create-only write", async () => {
    const { queue, store, clock } = memQueue();
    const s = await createSchedule(
      queue.context,
      "nightly",
      "report",
      { kind: "daily" },
      "0 2 * * *",
      {
        timezone: "Europe/Berlin",
        timeoutSeconds: 600,
        maxRetries: 1,
      },
    );
    assert.equal(s.id, "nightly");
    assert.equal(s.enabled, true);
    assert.equal(s.createdAt.getTime(), clock.ms);
    assert.equal(s.enabledAt.getTime(), clock.ms);
    const raw = await store.get("schedules/nightly.json");
    assert.ok(raw && raw.kind === "object", 'raw && raw.kind === "object"');
    const json = JSON.parse(new TextDecoder().decode(raw.body));
    assert.deepEqual(Object.keys(json), [
      "schema_version",
      "id",
      "task_type",
      "input",
      "cron",
      "timezone",
      "timeout_seconds",
      "max_retries",
      "enabled",
      "enabled_at",
      "created_at",
      "updated_at",
      "revision",
      "write_id",
    ]);
    assert.equal(json.schema_version, 1);
    assert.equal(json.timezone, "Europe/Berlin");
    assert.equal(json.revision, 0);
    const got = await getSchedule(queue.context, "nightly");
    assert.deepEqual(got?.toJSON(), s.toJSON());
    assert.equal(
      got?.nextRunAfter(new Date("2026-11-22T12:00:00Z"))?.toISOString(),
      "2026-11-23T01:00:00.000Z",
    );
    assert.equal(await getSchedule(queue.context, "missing"), null);
    assert.equal(await getScheduleLastRun(queue.context, "nightly"), null);
    const defaults = await createSchedule(queue.context, "plain", "t", null, "* * * * *");
    assert.equal(defaults.timezone, "UTC");
    assert.equal(defaults.timeoutSeconds, null, "the queue's default applies at submit");
  });

  it("rejects a bad id, type, input, cron, timezone or option with a clear error and writes nothing", async () => {
    const { queue, store } = memQueue({ maxInputBytes: 100 });
    const cases: Array<[string, string, unknown, string, object, RegExp]> = [
      ["a/b", "t", {}, "* * * * *", {}, /Invalid schedule id "a\/b"/],
      ["..", "t", {}, "* * * * *", {}, /Invalid schedule id "\.\."/],
      ["", "t", {}, "* * * * *", {}, /Invalid schedule id ""/],
      ["s", "bad type", {}, "* * * * *", {}, /Invalid task type "bad type"/],
      ["s", "t", "x".repeat(200), "* * * * *", {}, /over the limit of 100/],
      ["s", "t", { f: 1n }, "* * * * *", {}, /not JSON-serializable/],
      ["s", "t", {}, "* * * * * *", {}, /seconds are not supported/],
      ["s", "t", {}, "0 0 31 2 *", {}, /Invalid cron "0 0 31 2 \*": it never fires/],
      [
        "s",
        "t",
        {},
        "* * * * *",
        { timezone: "Europe/Atlantis" },
        /Unknown timezone "Europe\/Atlantis"/,
      ],
      ["s", "t", {}, "* * * * *", { timeoutSeconds: 0 }, /Invalid timeoutSeconds: 0/],
      ["s", "t", {}, "* * * * *", { maxRetries: -1 }, /Invalid maxRetries: -1/],
      ["s", "t", {}, "* * * * *", { enabled: "yes" }, /Invalid enabled: "yes"/],
    ];
    const before = store.counters.snapshot();
    for (const [id, type, input, cron, opts, re] of cases) {
      await assert.rejects(
        createSchedule(queue.context, id, type, input, cron, opts),
        re,
        `${id} ${cron}`,
      );
    }
    const after = store.counters.snapshot();
    assert.equal(after.PUT - before.PUT, 0);
    assert.equal(
      after.GET + after.HEAD + after.LIST - before.GET - before.HEAD - before.LIST,
      0,
      "no I/O at all",
    );
  });

  it("an existing id is an error; upsert replaces it, and writes nothing when nothing changes", async () => {
    const { queue, clock } = memQueue();
    const a = await createSchedule(queue.context, "s", "t", { v: 1 }, "0 * * * *");
    await assert.rejects(
      createSchedule(queue.context, "s", "t", { v: 1 }, "0 * * * *"),
      ScheduleExistsError,
    );
    await assert.rejects(
      createSchedule(queue.context, "s", "t", {}, "0 * * * *"),
      /Schedule "s" already exists \(pass upsert: true/,
    );
    clock.advance(60_000);
    const same = await createSchedule(queue.context, "s", "t", { v: 1 }, "0 * * * *", {
      upsert: true,
    });
    assert.equal(same.revision, 0, "unchanged: no write");
    const input = await createSchedule(queue.context, "s", "t", { v: 2 }, "0 * * * *", {
      upsert: true,
    });
    assert.equal(input.revision, 1);
    assert.deepEqual(input.input, { v: 2 });
    assert.equal(input.createdAt.getTime(), a.createdAt.getTime());
    assert.equal(
      input.enabledAt.getTime(),
      a.enabledAt.getTime(),
      "same cron: the schedule keeps running as before",
    );
    clock.advance(60_000);
    const cron = await createSchedule(queue.context, "s", "t", { v: 2 }, "*/5 * * * *", {
      upsert: true,
    });
    assert.equal(cron.revision, 2);
    assert.equal(cron.enabledAt.getTime(), clock.ms, "a new cron starts from now");
    await disableSchedule(queue.context, "s");
    const kept = await createSchedule(queue.context, "s", "t", { v: 3 }, "*/5 * * * *", {
      upsert: true,
    });
    assert.equal(kept.enabled, false, "an upsert without `enabled` keeps the operator's choice");
  });

  it("concurrent changes are compare-and-swap loops: none is lost", async () => {
    const { queue } = memQueue();
    await createSchedule(queue.context, "s", "t", { v: 1 }, "0 * * * *");
    await Promise.all([
      disableSchedule(queue.context, "s"),
      createSchedule(queue.context, "s", "t", { v: 2 }, "0 * * * *", { upsert: true }),
      createSchedule(queue.context, "s", "t", { v: 2 }, "0 * * * *", { upsert: true }),
    ]);
    const s = await getSchedule(queue.context, "s");
    assert.equal(s?.enabled, false);
    assert.deepEqual(s?.input, { v: 2 });
    assert.ok(s!.revision === 2, `two changes, two revisions (got ${s!.revision})`);
    const created = await Promise.allSettled([
      createSchedule(queue.context, "race", "t", {}, "* * * * *"),
      createSchedule(queue.context, "race", "t", {}, "* * * * *"),
    ]);
    assert.deepEqual(created.map((c) => c.status).sort(), ["fulfilled", "rejected"]);
  });
});

describe("schedule operations", () => {
  it("enable and disable write only when the state changes; unknown ids are a RangeError", async () => {
    const { queue, store, clock } = memQueue();
    await createSchedule(queue.context, "s", "t", {}, "* * * * *");
    clock.advance(1000);
    const off = await disableSchedule(queue.context, "s");
    assert.equal(off.enabled, false);
    assert.equal(off.revision, 1);
    const p0 = store.counters.snapshot().PUT;
    assert.equal((await disableSchedule(queue.context, "s")).revision, 1);
    assert.equal(store.counters.snapshot().PUT, p0, "already disabled: no write");
    clock.advance(1000);
    const on = await enableSchedule(queue.context, "s");
    assert.equal(on.enabled, true);
    assert.equal(on.enabledAt.getTime(), clock.ms);
    assert.equal(on.updatedAt.getTime(), clock.ms);
    await assert.rejects(enableSchedule(queue.context, "nope"), {
      name: "RangeError",
      message: 'Schedule "nope" not found',
    });
    await assert.rejects(disableSchedule(queue.context, "bad/id"), {
      name: "TypeError",
      message: /Invalid schedule id "bad\/id"/,
    });
    await assert.rejects(triggerSchedule(queue.context, "nope"), { name: "RangeError" });
  });

  it("lists schedules by id and skips each malformed object with a warning", async () => {
    const warnings: string[] = [];
    const { queue, store } = memQueue({ warn: (m) => void warnings.push(m) });
    for (const id of ["b", "a", "c"]) {
      await createSchedule(queue.context, id, "t", { id }, "0 * * * *");
    }
    await store.put("schedules/broken.json", '{"schema_version":1,"id":"broken"}');
    await store.put("schedules/not an id.json", "{}");
    assert.deepEqual((await listSchedules(queue.context)).map((s) => s.id), ["a", "b", "c"]);
    assert.equal(warnings.length, 2);
    assert.match(warnings[0]!, /schedules\/not an id.json": the key names no schedule/);
    assert.match(warnings[1]!, /schedules\/broken.json/);
  });

  it("delete removes the schedule and its last-run record; a new one of the same id starts afresh", async () => {
    const { queue, store } = memQueue();
    await createSchedule(queue.context, "s", "t", {}, "* * * * *");
    await store.put("schedule-runs/s.json", "{}");
    assert.equal(await deleteSchedule(queue.context, "s"), true);
    assert.equal(await deleteSchedule(queue.context, "s"), false);
    assert.equal(await getSchedule(queue.context, "s"), null);
    assert.equal(await store.head("schedule-runs/s.json"), null);
    await store.put("schedule-runs/s.json", "{}"); // left by a scheduler racing with the delete
    await createSchedule(queue.context, "s", "t", {}, "* * * * *");
    assert.equal(await store.head("schedule-runs/s.json"), null, "a stale record is not inherited");
  });

  it("trigger submits an extra run now with the schedule's type, input and options", async () => {
    const { queue } = memQueue();
    await createSchedule(queue.context, "s", "report", { k: 1 }, "0 9 * * *", {
      timeoutSeconds: 42,
      maxRetries: 0,
    });
    await disableSchedule(queue.context, "s");
    const a = await triggerSchedule(queue.context, "s");
    const b = await triggerSchedule(queue.context, "s");
    assert.notEqual(a.id, b.id, "each trigger is its own run");
    assert.equal(a.taskType, "report");
    assert.deepEqual(a.input, { k: 1 });
    assert.equal(a.timeoutSeconds, 42);
    assert.equal(a.maxRetries, 0);
    assert.equal(a.status, "pending");
    assert.equal(
      await getScheduleLastRun(queue.context, "s"),
      null,
      "the regular runs are untouched",
    );
  });
});
