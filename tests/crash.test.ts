/**
 * The crash matrix: for each operation (submit, claim + complete, retry, cancel, monitor
 * recovery), the process dies after its Nth request, for every N. Then healthy workers and
 * monitors run, and every task must reach a terminal state: none lost, none stuck, no
 * completed task reopened, and history showing what happened.
 */
import { Bytes, bytes } from "../src/task/bytes.ts";
import { describe } from "node:test";
import assert from "node:assert/strict";
import { Monitor } from "../src/monitor/monitor.ts";
import { Queue } from "../src/queue/queue.ts";
import { MemoryStore } from "../src/store/memory_store.ts";
import { Worker } from "../src/worker/worker.ts";
import { FakeClock, it } from "./helpers.ts";
import { dyingStore } from "./fixtures/dying_store.ts";

interface World {
  clock: FakeClock;
  store: MemoryStore;
  queue: Queue;
}

// Inputs and outputs over 1 KiB are stored beside the task (payload references).
const OPTIONS = { shardCount: 2, inlinePayloadBytes: 1024, warn: () => {} };

function world(): World {
  const clock = new FakeClock();
  const store = new MemoryStore({ clock: clock.now });
  return { clock, store, queue: new Queue(store, OPTIONS) };
}

/** A queue over the same bucket whose process dies after `n` requests. */
function dying(w: World, n: number): Queue {
  return new Queue(dyingStore(w.store, n), OPTIONS);
}

/**
 * A handler's output: large (stored beside the task) when the input asks for it, and
 * different per attempt, so an attempt that dies after writing it leaves an orphan.
 */
function outputFor(input: { out?: number } | Bytes, attempt: number): unknown {
  if (input instanceof Bytes) { // raw bytes in, raw bytes out (the input and the attempt)
    return input.bytes().then((b) => bytes(new Uint8Array([...b, attempt])));
  }
  return input.out ? { echo: "o".repeat(input.out), attempt } : { done: true };
}

/** Run healthy workers and monitors until every task is terminal (or give up). */
async function recover(w: World, failFirst = false): Promise<void> {
  const worker = new Worker(w.queue, "survivor").task(
    "job",
    (input: { fail?: boolean; out?: number }, ctx) => {
      if ((input.fail || failFirst) && ctx.attempt === 1) throw new Error("first attempt fails");
      return outputFor(input, ctx.attempt);
    },
  );
  const monitor = new Monitor(w.queue);
  for (let round = 0; round < 12; round++) {
    w.clock.advance(400_000); // past any lease (timeout 300 s + grace), back-off and settle time
    await monitor.runOnce({ sweep: true });
    worker.configure({ concurrency: 4 });
    await worker.pollOnce();
    await worker.drain();
  }
}

async function allTasks(w: World) {
  const out = [];
  for (const shard of w.queue.shards) out.push(...await w.queue.list(shard, { limit: 1000 }));
  return out;
}

async function checkInvariants(w: World, mustExist: string[]): Promise<string[]> {
  const tasks = await allTasks(w);
  for (const id of mustExist) assert.ok(tasks.some((t) => t.id === id), `task ${id} was lost`);
  for (const t of tasks) {
    assert.ok(t.isTerminal, `task ${t.id} is stuck in ${t.status}`);
    const history = await w.queue.getHistory(t.id);
    const firstDone = history.findIndex((h) => h.status === "completed");
    if (firstDone >= 0) {
      assert.ok(
        history.slice(firstDone).every((h) => h.status === "completed"),
        `completed task ${t.id} was reopened`,
      );
    }
    assert.equal(
      history[history.length - 1]?.status,
      t.status,
      "history ends in the current state",
    );
    // Every reference resolves (the payload was written before the task pointing to it).
    const full = await w.queue.get(t.id);
    if (t.inputRef) assert.notEqual(full?.input, null, `input of ${t.id}`);
    if (t.outputRef) assert.notEqual(full?.output, null, `output of ${t.id}`);
    // Raw bytes are read when streamed: read them (a missing or wrong object throws).
    if (full?.input instanceof Bytes) await full.input.bytes();
    if (full?.output instanceof Bytes) await full.output.bytes();
  }
  // And the sweep (which ran during recovery, hours of fake time) left no orphan behind.
  const live = new Set(
    tasks.flatMap((t) => [
      t.inputRef && w.queue.keys.payload(t.id, "input", t.inputRef.sha256),
      t.outputRef && w.queue.keys.payload(t.id, "output", t.outputRef.sha256),
    ]),
  );
  const payloads = await w.store.listVersions({ prefix: "payloads/" });
  for (const v of payloads.versions) assert.ok(live.has(v.key), `orphan payload ${v.key}`);
  return tasks.map((t) => t.status);
}

/** Requests an operation needs when nothing fails: the upper bound of N. */
async function requestsOf(
  op: (q: Queue, w: World) => Promise<unknown>,
  setup: (w: World) => Promise<void>,
): Promise<number> {
  const w = world();
  await setup(w);
  const before = w.store.counters.total();
  await op(w.queue, w);
  return w.store.counters.total() - before;
}

async function matrix(
  setup: (w: World) => Promise<string[]>,
  op: (q: Queue, w: World) => Promise<unknown>,
  expect: (statuses: string[], n: number) => void,
): Promise<number> {
  const total = await requestsOf(op, async (w) => void await setup(w));
  for (let n = 0; n <= total; n++) {
    const w = world();
    const ids = await setup(w);
    const q = dying(w, n);
    const returned: string[] = [];
    try {
      const r = await op(q, w);
      // A task returned (or tasks: submitMany, coalesced submits) must never be lost.
      for (const t of Array.isArray(r) ? r : [r]) {
        if (t && typeof t === "object" && "id" in t) returned.push(String(t.id));
      }
    } catch {
      // The process died mid-operation.
    }
    await recover(w);
    const statuses = await checkInvariants(w, [...ids, ...returned]);
    expect(statuses, n);
  }
  return total;
}

describe("crash matrix: the process dies after request N, for every N", () => {
  const report: string[] = [];

  it("submit", async () => {
    const total = await matrix(
      () => Promise.resolve([]),
      (q) => q.submit("job", {}),
      (statuses) => {
        assert.ok(
          statuses.every((s) => s === "completed"),
          `every task that exists completes: ${statuses}`,
        );
      },
    );
    report.push(`submit: N = 0..${total}`);
  });

  it("submitMany (a batch entry, then its tasks)", async () => {
    const total = await matrix(
      () => Promise.resolve([]),
      (q) => q.submitMany([["job", {}], ["job", {}], ["job", {}]]),
      (statuses) => {
        assert.ok(
          statuses.every((s) => s === "completed"),
          `every task that exists completes: ${statuses}`,
        );
      },
    );
    report.push(`submitMany: N = 0..${total}`);
  });

  it("coalesced submits (three calls in one turn: a batch entry, then their tasks)", async () => {
    const total = await matrix(
      () => Promise.resolve([]),
      (q) => Promise.all([1, 2, 3].map((i) => q.submit("job", { i }))),
      (statuses) => {
        assert.ok(
          statuses.every((s) => s === "completed"),
          `every task that exists completes: ${statuses}`,
        );
      },
    );
    report.push(`coalesced submits: N = 0..${total}`);
  });

  async function submitted(w: World, input: object = {}): Promise<string[]> {
    return [(await w.queue.submit("job", input)).id];
  }

  async function workOnce(q: Queue, failFirst = false, concurrency = 1): Promise<void> {
    const worker = new Worker(q, "doomed").task("job", (input: { out?: number }, ctx) => {
      if (failFirst && ctx.attempt === 1) throw new Error("boom");
      return outputFor(input, ctx.attempt);
    });
    worker.configure({ concurrency });
    await worker.pollOnce();
    await worker.drain();
  }

  it("claim and complete", async () => {
    const total = await matrix((w) => submitted(w), (q) => workOnce(q), (statuses) => {
      assert.deepEqual(statuses, ["completed"]);
    });
    report.push(`claim + complete: N = 0..${total}`);
  });

  it("claim and complete of three tasks under one lease group (group entry, then claims)", async () => {
    const total = await matrix(
      async (w) =>
        (await w.queue.submitMany([["job", {}], ["job", {}], ["job", {}]])).map((t) => t.id),
      (q) => workOnce(q, false, 3),
      (statuses) => assert.deepEqual(statuses, ["completed", "completed", "completed"]),
    );
    report.push(`claim + complete under a lease group: N = 0..${total}`);
  });

  it("submit with an input stored beside the task (payload, then ready entry, then task)", async () => {
    const total = await matrix(
      () => Promise.resolve([]),
      (q) => q.submit("job", { blob: "i".repeat(4000) }),
      (statuses) => {
        assert.ok(statuses.every((s) => s === "completed"), `${statuses}`);
      },
    );
    report.push(`submit (payload): N = 0..${total}`);
  });

  it("claim and complete with input and output stored beside the task", async () => {
    const total = await matrix(
      (w) => submitted(w, { blob: "i".repeat(4000), out: 4000 }),
      (q) => workOnce(q),
      (statuses) => {
        assert.deepEqual(statuses, ["completed"]);
      },
    );
    report.push(`claim + complete (payloads): N = 0..${total}`);
  });

  it("submit, claim and complete with raw bytes in and out (payload before each task write)", async () => {
    const input = bytes(new Uint8Array(3000).map((_, i) => i & 0xff));
    const submit = await matrix(
      () => Promise.resolve([]),
      (q) => q.submit("job", input),
      (statuses) => assert.ok(statuses.every((s) => s === "completed"), `${statuses}`),
    );
    const work = await matrix(
      (w) => submitted(w, input),
      (q) => workOnce(q),
      (statuses) => assert.deepEqual(statuses, ["completed"]),
    );
    report.push(
      `submit (raw bytes): N = 0..${submit}; claim + complete (raw bytes): N = 0..${work}`,
    );
  });

  it("retention purging a task with payloads (task versions, then payloads)", async () => {
    const setup = async (w: World) => {
      await submitted(w, { blob: "i".repeat(4000), out: 4000 });
      await workOnce(w.queue);
      w.clock.advance(2 * 86_400_000);
      return []; // the task may be gone: that is what the operation does
    };
    const total = await matrix(
      setup,
      (q) => new Monitor(q, { retention: { purgeAfterSeconds: 86_400 } }).runOnce({ sweep: true }),
      (statuses) => {
        assert.ok(statuses.length === 0 || statuses[0] === "completed", `${statuses}`);
      },
    );
    report.push(`purge (payloads): N = 0..${total}`);
  });

  it("retry after a failed attempt", async () => {
    const total = await matrix(
      (w) => submitted(w, { fail: true }),
      (q) => workOnce(q, true),
      (statuses) => {
        assert.deepEqual(statuses, ["completed"]);
      },
    );
    report.push(`retry: N = 0..${total}`);
  });

  it("cancel of a pending task", async () => {
    let id = "";
    const total = await matrix(
      async (w) => (id = (await submitted(w))[0]!, [id]),
      (q) => q.cancel(id),
      (statuses) => {
        assert.equal(statuses.length, 1);
        assert.ok(["cancelled", "completed"].includes(statuses[0]!), statuses[0]);
      },
    );
    report.push(`cancel: N = 0..${total}`);
  });

  it("monitor recovering an expired lease", async () => {
    const setup = async (w: World) => {
      const ids = await submitted(w);
      const hung = new Worker(w.queue, "hung").task("job", () => new Promise(() => {}));
      hung.configure({ cancelCheckIntervalMs: 3_600_000 });
      await hung.pollOnce();
      w.clock.advance(400_000);
      return ids;
    };
    const total = await matrix(
      setup,
      (q) => new Monitor(q).runOnce({ sweep: false }),
      (statuses) => {
        assert.deepEqual(statuses, ["completed"]);
      },
    );
    report.push(`monitor recovery: N = 0..${total}`);
    console.log(`# crash matrix, all recovered: ${report.join("; ")}`);
  });
});
