// Long durations and far times: timers over 2^31 ms (about 24.8 days) work instead of firing
// at once; what cannot work is refused at the edge (library options, CLI flags, stored
// records) with a message naming the option or flag and the range; submit options that can
// never run are refused before anything is written.
import { describe } from "node:test";
import assert from "node:assert/strict";
import { CliError, EXIT } from "../src/cli/errors.ts";
import { parseDuration, parseTimeFlag, parseTimeout } from "../src/cli/parse.ts";
import { parseJsonLines, submitOptions, withFlagNames } from "../src/cli/submit.ts";
import { SchemaError } from "../src/base/errors.ts";
import { Heartbeat } from "../src/worker/heartbeat.ts";
import { MAX_DELAY_SECONDS, MAX_TIMEOUT_SECONDS } from "../src/base/limits.ts";
import { Loop } from "../src/base/loop.ts";
import { Monitor } from "../src/monitor/monitor.ts";
import { Queue } from "../src/queue/queue.ts";
import { Scheduler } from "../src/schedule/scheduler.ts";
import { MAX_TIMER_MS, setLongTimeout, type TimerFunctions } from "../src/base/timer.ts";
import { Worker } from "../src/worker/worker.ts";
import { it, memQueue } from "./helpers.ts";

const DAY_MS = 86_400_000;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** `f` throws a usage error (exit 2) whose message matches `re`. */
const refused = (f: () => unknown, re: RegExp) =>
  assert.throws(f, (e: Error) => {
    assert.ok(e instanceof CliError, String(e));
    assert.equal(e.exitCode, EXIT.usage);
    assert.match(e.message, re);
    return true;
  });

/** Timer functions driven by hand: `advance` fires what is due, in order. */
class ManualTimers implements TimerFunctions {
  now = 0;
  delays: number[] = [];
  #timers = new Map<number, { at: number; fn: () => void }>();
  #next = 1;
  set = (fn: () => void, ms: number): unknown => {
    this.delays.push(ms);
    const id = this.#next++;
    this.#timers.set(id, { at: this.now + ms, fn });
    return id;
  };
  clear = (h: unknown): void => void this.#timers.delete(h as number);
  get pending(): number {
    return this.#timers.size;
  }
  advance(ms: number): void {
    const end = this.now + ms;
    for (;;) {
      const due = [...this.#timers.entries()].filter(([, t]) =>
        t.at <= end
      ).sort((a, b) => a[1].at - b[1].at)[0];
      if (!due) {
        break;
      }
      this.#timers.delete(due[0]);
      this.now = due[1].at;
      due[1].fn();
    }
    this.now = end;
  }
}

describe("setLongTimeout", () => {
  it("fires a 30-day timer after 30 days, on timers that each fit setTimeout", () => {
    const timers = new ManualTimers();
    let fired = 0;
    setLongTimeout(() => fired++, 30 * DAY_MS, { timers });
    assert.ok(timers.delays.every((d) => d <= MAX_TIMER_MS), String(timers.delays));
    timers.advance(30 * DAY_MS - 1);
    assert.equal(fired, 0, "not a millisecond early");
    timers.advance(1);
    assert.equal(fired, 1);
    assert.ok(timers.delays.every((d) => d <= MAX_TIMER_MS), String(timers.delays));
    assert.equal(timers.delays.reduce((a, b) => a + b, 0), 30 * DAY_MS);
    assert.equal(timers.pending, 0);
  });

  it("the longest timeout accepted (365 days) and cancel; a short delay is one timer", () => {
    const timers = new ManualTimers();
    let fired = 0;
    const t = setLongTimeout(() => fired++, MAX_TIMEOUT_SECONDS * 1000, { timers });
    timers.advance(200 * DAY_MS);
    t.cancel();
    timers.advance(400 * DAY_MS);
    assert.equal(fired, 0);
    assert.equal(timers.pending, 0);
    setLongTimeout(() => fired++, 1500, { timers });
    assert.equal(timers.delays.at(-1), 1500);
    timers.advance(1500);
    assert.equal(fired, 1);
  });

  it("with the real setTimeout, a 30-day timer does not fire at once", async () => {
    let fired = false;
    const t = setLongTimeout(() => (fired = true), 30 * DAY_MS);
    await sleep(50);
    t.cancel();
    assert.equal(fired, false);
  });
});

describe("long timeouts and intervals run", { timeout: 30_000 }, () => {
  it("a task with a 30-day timeout runs its handler to the end (it is not killed at once)", async () => {
    const { queue } = memQueue({ shardCount: 1 });
    const task = await queue.submit("slow", {}, { timeoutSeconds: 30 * 86_400, maxRetries: 0 });
    let abortedWhileRunning = false;
    const w = new Worker(queue, "w1").task("slow", async (_i, ctx) => {
      await sleep(100);
      abortedWhileRunning = ctx.signal.aborted;
      await ctx.extendLease(40 * 86_400); // re-arms the timer: still longer than setTimeout holds
      await sleep(100);
      abortedWhileRunning ||= ctx.signal.aborted;
      return "done";
    });
    w.configure({ withMonitor: false });
    assert.equal((await w.pollOnce()).claimed, 1);
    await w.drain();
    const t = (await queue.get(task.id))!;
    assert.equal(abortedWhileRunning, false);
    assert.equal(t.status, "completed", t.lastError ?? "");
    assert.equal(t.output, "done");
  });

  it("the timeout the CLI and library accept at most (365 days) gives a valid lease", async () => {
    const { queue, clock } = memQueue({ shardCount: 1 });
    const task = await queue.submit("t", {}, { timeoutSeconds: MAX_TIMEOUT_SECONDS });
    const w = new Worker(queue, "w1").task("t", async (_i, ctx) => {
      assert.equal(
        ctx.task.leaseExpiresAt!.getTime(),
        clock.ms + (MAX_TIMEOUT_SECONDS + 10) * 1000,
      );
      await sleep(30);
      return ctx.signal.aborted ? "aborted" : "ran";
    });
    w.configure({ withMonitor: false });
    await w.pollOnce();
    await w.drain();
    assert.equal((await queue.get(task.id))!.output, "ran");
  });

  it("a loop (monitor, scheduler, worker) waits out a 30-day delay instead of spinning", async () => {
    let steps = 0;
    const loop = new Loop(() => Promise.resolve(++steps && 30 * DAY_MS));
    const done = loop.start();
    try {
      await sleep(100);
      assert.equal(steps, 1);
    } finally {
      await loop.stop();
      await done;
    }
  });

  it("a heartbeat with a 30-day interval beats once, not every millisecond", async () => {
    const { queue, store } = memQueue();
    const hb = new Heartbeat(
      queue.context,
      {
        worker_id: "w1",
        shards: ["0"],
        task_types: ["t"],
        started_at: new Date(0).toISOString(),
        concurrency: 1,
        runtime: "node",
      },
      () => [],
      { busyMs: 30 * DAY_MS, idleMs: 30 * DAY_MS },
    );
    const puts = store.counters.snapshot().PUT;
    await hb.start();
    try {
      await sleep(100);
      assert.equal(store.counters.snapshot().PUT - puts, 1);
    } finally {
      await hb.stop();
    }
  });

  it("a cancel check every 30 days sends no request while the task runs", async () => {
    const { queue, store } = memQueue({ shardCount: 1 });
    await queue.submit("t", {});
    const w = new Worker(queue, "w1").task("t", () => sleep(100));
    w.configure({ withMonitor: false, cancelCheckIntervalMs: 30 * DAY_MS });
    await w.pollOnce();
    const gets = store.counters.snapshot().GET;
    await w.drain();
    assert.equal(store.counters.snapshot().GET - gets, 0);
  });
});

describe("durations and times beyond the limits are refused at the edge", () => {
  it("submit options: the message names the option and the range; nothing is written", async () => {
    const { queue, store } = memQueue({ shardCount: 1 });
    const bad: Array<[Record<string, unknown>, RegExp]> = [
      [{ timeoutSeconds: 1e21 }, /Invalid timeoutSeconds: 1e\+21 .*at most 31536000 = 365 days/],
      [{ timeoutSeconds: MAX_TIMEOUT_SECONDS + 1 }, /Invalid timeoutSeconds/],
      [{ timeoutSeconds: Infinity }, /Invalid timeoutSeconds: Infinity/],
      [
        { delaySeconds: 99999999999 * 604_800 },
        /Invalid delaySeconds: .*at most 3153600000 = 100 years/,
      ],
      [{ ttlSeconds: MAX_DELAY_SECONDS + 1 }, /Invalid ttlSeconds/],
      [
        { scheduleAt: new Date(Date.UTC(20000, 0, 1)) },
        /Invalid scheduleAt .*9999-12-31T23:59:59.999Z/,
      ],
      [{ expiresAt: new Date(8.64e15) }, /Invalid expiresAt .*9999-12-31T23:59:59.999Z/],
      [{ retryPolicy: { maxIntervalMs: 1e300 } }, /Invalid retryPolicy.maxIntervalMs: 1e\+300/],
      [{ retryPolicy: { initialIntervalMs: 400 * DAY_MS } }, /initialIntervalMs/],
    ];
    for (const [options, message] of bad) {
      await assert.rejects(queue.submit("t", {}, options), (e: Error) => {
        assert.ok(e instanceof RangeError, `${JSON.stringify(options)}: ${e}`);
        assert.match(e.message, message);
        return true;
      });
    }
    assert.equal((await store.list({ prefix: "" })).objects.length, 0);
    assert.throws(() => new Queue(store, { defaultTimeoutSeconds: 1e21 }), /defaultTimeoutSeconds/);
    // The longest accepted values work, and give valid dates.
    const t = await queue.submit("t", {}, {
      timeoutSeconds: MAX_TIMEOUT_SECONDS,
      delaySeconds: MAX_DELAY_SECONDS - 1,
      ttlSeconds: MAX_DELAY_SECONDS,
      retryPolicy: { initialIntervalMs: 365 * DAY_MS, maxIntervalMs: 365 * DAY_MS },
    });
    assert.ok(
      Number.isFinite(t.availableAt.getTime()) && Number.isFinite(t.expiresAt!.getTime()),
      "Number.isFinite(t.availableAt.getTime()) && Number.isFinite(t.expiresAt!.getTime())",
    );
  });

  it("worker, monitor and scheduler intervals, and lease extensions", async () => {
    const { queue } = memQueue({ shardCount: 1 });
    const w = new Worker(queue, "w1").task("t", () => null);
    for (
      const o of [
        { pollIntervalMs: Infinity },
        { cancelCheckIntervalMs: 1e300 },
        { heartbeatIntervalMs: 400 * DAY_MS },
        { leaseGraceSeconds: 1e21 },
        { monitorCheckIntervalS: Infinity },
        { shutdownTimeoutMs: Number.NaN },
      ]
    ) {
      assert.throws(() => w.configure(o), RangeError, JSON.stringify(o));
    }
    assert.throws(() => new Monitor(queue, { idleCheckIntervalS: 1e21 }), /idleCheckIntervalS/);
    assert.throws(() => new Scheduler(queue).run({ intervalS: 1e21 }), /Invalid intervalS/);
    await queue.submit("t", {});
    let error: unknown;
    const w2 = new Worker(queue, "w2").task("t", async (_i, ctx) => {
      error = await ctx.extendLease(1e21).catch((e) => e);
    });
    w2.configure({ withMonitor: false });
    await w2.pollOnce();
    await w2.drain();
    assert.ok(error instanceof RangeError, "error instanceof RangeError");
    assert.match((error as Error).message, /Invalid lease extension: 1e\+21/);
  });

  it("a stored record with an unbounded duration or date is reported as invalid", async () => {
    const { queue, store } = memQueue({ shardCount: 1 });
    const cases: Array<[string, (r: Record<string, unknown>) => void]> = [
      ["timeout_seconds", (r) => (r.timeout_seconds = 1e300)],
      ["retry_policy.max_interval_ms", (r) => {
        (r.retry_policy as Record<string, number>).max_interval_ms = 1e300;
      }],
      ["available_at", (r) => (r.available_at = "+275760-09-13T00:00:00.000Z")],
    ];
    for (const [field, change] of cases) {
      const t = await queue.submit("t", {});
      const key = `tasks/${t.shard}/${t.id}.json`;
      const o = await store.get(key);
      assert.ok(o && o.kind === "object", 'o && o.kind === "object"');
      const rec = JSON.parse(new TextDecoder().decode(o.body));
      change(rec);
      await store.put(key, JSON.stringify(rec));
      await assert.rejects(queue.get(t.id), (e: Error) => {
        assert.ok(e instanceof SchemaError, String(e));
        assert.ok(e.message.includes(field), e.message);
        return true;
      });
    }
  });

  it("CLI flags: the message names the flag and the limit", () => {
    refused(
      () => submitOptions({ delay: "99999999999w" }),
      /Invalid duration "99999999999w" for --delay: at most 36500d \(100 years\)/,
    );
    refused(() => submitOptions({ timeout: "1000000000000000000000" }), /--timeout: at most 365d/);
    refused(() => submitOptions({ timeout: "366d" }), /--timeout: at most 365d \(365 days\)/);
    refused(() => parseTimeout("0"), /Invalid --timeout: must be more than 0/);
    refused(() => parseDuration("400d", "--poll-interval", "ms"), /--poll-interval: at most 365d/);
    refused(
      () => parseTimeFlag("9999-12-31T23:59:59-01:00", "--at"),
      /Invalid time .* for --at: at most 9999-12-31T23:59:59.999Z/,
    );
    assert.equal(submitOptions({ timeout: "30d" }).timeoutSeconds, 30 * 86_400);
    assert.equal(submitOptions({ timeout: "365d" }).timeoutSeconds, MAX_TIMEOUT_SECONDS);
    assert.equal(submitOptions({ delay: "36500d" }).delaySeconds, MAX_DELAY_SECONDS);
    // JSON-lines carry library option names: the library refuses them, naming the option.
    const [entry] = parseJsonLines('{"type":"t","timeoutSeconds":1e21}', "f");
    assert.equal(entry![2].timeoutSeconds, 1e21);
  });
});

describe("submit options that can never run", () => {
  it("are refused by submit and by submitMany before anything is written", async () => {
    const { queue, store, clock } = memQueue({ shardCount: 1 });
    const now = clock.ms;
    const bad: Array<[Record<string, unknown>, RegExp]> = [
      [
        { delaySeconds: 100, ttlSeconds: 10 },
        /would expire before it becomes available: ttlSeconds \(10\) ends at .*delaySeconds \(100\)/,
      ],
      [{ delaySeconds: 100, ttlSeconds: 100 }, /would expire before it becomes available/],
      [
        { scheduleAt: new Date(now + 60_000), expiresAt: new Date(now + 30_000) },
        /would expire before it becomes available: expiresAt ends at .*scheduleAt/,
      ],
      [{ expiresAt: new Date(now - 1) }, /Invalid expiresAt ".*": already past/],
      [{ expiresAt: new Date(now) }, /already past/],
      [{ ttlSeconds: 0 }, /Invalid ttlSeconds: 0 \(a number of seconds > 0/],
    ];
    for (const [options, message] of bad) {
      await assert.rejects(queue.submit("t", {}, options), (e: Error) => {
        assert.ok(e instanceof RangeError, `${JSON.stringify(options)}: ${e}`);
        assert.match(e.message, message);
        return true;
      });
      await assert.rejects(
        queue.submitMany([["t", 1], ["t", 2, options], ["t", 3]]),
        RangeError,
      );
    }
    assert.equal((await store.list({ prefix: "" })).objects.length, 0, "nothing written");
    // What can run is accepted: a TTL longer than the delay, a past scheduleAt (now).
    await queue.submit("t", {}, { delaySeconds: 10, ttlSeconds: 11 });
    await queue.submit("t", {}, {
      scheduleAt: new Date(now - 60_000),
      expiresAt: new Date(now + 1000),
    });
  });

  it("the CLI refuses them naming the flags", async () => {
    refused(
      () => submitOptions({ delay: "100s", ttl: "10s" }),
      /--ttl "10s" ends before --delay "100s": the task would expire before it could run/,
    );
    refused(
      () => submitOptions({ at: "2030-01-01T00:01:00Z", expiresAt: "2030-01-01T00:00:00Z" }),
      /--expires-at "2030-01-01T00:00:00Z" is not after --at "2030-01-01T00:01:00Z"/,
    );
    refused(() => submitOptions({ ttl: "0s" }), /Invalid --ttl: must be more than 0/);
    // --expires-at against the store's clock: the library decides, the CLI names the flag.
    const { queue } = memQueue();
    const e = await queue.submit("t", {}, submitOptions({ expiresAt: "2020-01-01T00:00:00Z" }))
      .catch(withFlagNames);
    assert.ok(e instanceof CliError, String(e));
    assert.match(e.message, /^Invalid --expires-at "2020-01-01T00:00:00.000Z": already past/);
  });
});
