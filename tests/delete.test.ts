// oq-test: runtimes=node,bun,deno timeout=300
/**
 * `queue.delete`: a finished (or, when asked, pending) task goes with its index entries,
 * payloads and history; it races a claim safely (both orders, and interleaved through a
 * store that pauses a request); a crash after any request leaves something a re-run of
 * delete or the monitor's sweep finishes, and never a task a worker runs. Memory store
 * (versioned), fake clock.
 */
import { describe } from "node:test";
import assert from "node:assert/strict";
import { Monitor } from "../src/monitor/monitor.ts";
import { Queue } from "../src/queue/queue.ts";
import { RequestCounters } from "../src/s3/counters.ts";
import { MemoryStore } from "../src/store/memory_store.ts";
import type { ObjectStore, PutOptions } from "../src/store/types.ts";
import { Worker } from "../src/worker/worker.ts";
import { FakeClock, it, settle } from "./helpers.ts";
import { dyingStore } from "./fixtures/dying_store.ts";

// Inputs and outputs over 1 KiB are stored beside the task (payload references).
const OPTIONS = { shardCount: 2, inlinePayloadBytes: 1024, warn: () => {} };

function world() {
  const clock = new FakeClock();
  const store = new MemoryStore({ clock: clock.now });
  return { clock, store, queue: new Queue(store, { ...OPTIONS, clock }) };
}
type World = ReturnType<typeof world>;

/** Every stored version (objects and delete markers) whose key names the task. */
async function leftOf(store: ObjectStore, id: string): Promise<string[]> {
  const page = await store.listVersions({ maxKeys: 1000 });
  return page.versions.filter((v) => v.key.includes(id)).map((v) =>
    `${v.key}${v.isDeleteMarker ? " (delete marker)" : ""}`
  );
}

/** A worker that counts the runs of `job` (and returns a large output for `out`). */
function counting(q: Queue, id = "w") {
  const runs: string[] = [];
  const worker = new Worker(q, id).task("job", (input: { out?: number }, ctx) => {
    runs.push(ctx.task.id);
    return input.out ? { blob: "o".repeat(input.out) } : { ok: true };
  });
  worker.configure({ withMonitor: false, concurrency: 4 });
  return { worker, runs };
}

async function work(q: Queue) {
  const { worker, runs } = counting(q);
  try {
    await worker.pollOnce();
    await worker.drain();
  } finally {
    await worker.stop();
  }
  return runs;
}

/** A completed task with input and output beside it, a TTL, and several history versions. */
async function completedWithPayloads(w: World) {
  const t = await w.queue.submit("job", { blob: "i".repeat(4000), out: 4000 }, {
    ttlSeconds: 3600,
  });
  assert.deepEqual(await work(w.queue), [t.id]);
  return t.id;
}

describe("queue.delete", () => {
  it("a key whose task a crashed delete left marked submits a new task (the submit finishes the delete)", async () => {
    const w = world();
    const key = { idempotencyKey: "order-7" };
    const old = await w.queue.submit("job", { blob: "a".repeat(4000) }, key);
    assert.deepEqual(await work(w.queue), [old.id]);
    // The delete dies right after its mark (GET, PUT): the task is marked, nothing removed.
    const dying = new Queue(dyingStore(w.store, 2), { ...OPTIONS, clock: w.clock });
    await assert.rejects(dying.delete(old.id), /process died/);
    assert.equal(await w.queue.get(old.id), null, "marked: gone for readers");
    const again = await w.queue.submit("job", { blob: "b".repeat(4000) }, key);
    assert.equal(again.id, old.id, "same key, same id");
    assert.equal(again.status, "pending");
    const got = await w.queue.get(again.id);
    assert.deepEqual(
      got?.input,
      { blob: "b".repeat(4000) },
      "the new input, read from its payload",
    );
    assert.deepEqual(await work(w.queue), [again.id]);
    const history = await w.queue.getHistory(again.id);
    assert.deepEqual(history.map((t) => t.status), ["pending", "running", "completed"]);
  });

  it("removes a completed task with its payloads, TTL entry and every history version", async () => {
    const w = world();
    const id = await completedWithPayloads(w);
    assert.ok(
      (await w.queue.getHistory(id)).length >= 3,
      "(await w.queue.getHistory(id)).length >= 3",
    );
    assert.ok(
      (await leftOf(w.store, id)).some((k) => k.startsWith("payloads/")),
      '(await leftOf(w.store, id)).some((k) => k.startsWith("payloads/"))',
    );
    const before = w.store.counters.snapshot();
    const r = await w.queue.delete(id);
    const cost = RequestCounters.diff(w.store.counters.snapshot(), before);
    assert.equal(r.deleted, true);
    assert.equal(r.status, "completed");
    assert.equal(r.payloads, 2);
    assert.ok(r.versions >= 4, `versions ${r.versions}`);
    assert.deepEqual(await leftOf(w.store, id), []);
    assert.equal(await w.queue.get(id), null);
    assert.deepEqual(await w.queue.getHistory(id), []);
    // GET, PUT (mark), LIST of ready/TTL/payloads/versions, one DeleteObjects each for the
    // payloads and the history; DELETEs: the TTL entry (still there after completion) and the
    // current version.
    assert.deepEqual(
      { GET: cost.GET, PUT: cost.PUT, LIST: cost.LIST_VERSIONS, MANY: cost.DELETE_MANY },
      { GET: 1, PUT: 1, LIST: 4, MANY: 2 },
      JSON.stringify(cost),
    );
    assert.equal(cost.DELETE, 2, JSON.stringify(cost));
    console.log(`# delete of a completed task with TTL and 2 payloads: ${JSON.stringify(cost)}`);
    // Deleting again: not found, and nothing sent but the GET.
    assert.deepEqual(await w.queue.delete(id), {
      taskId: id,
      deleted: false,
      versions: 0,
      payloads: 0,
    });
  });

  it("costs GET, PUT, 3 LIST, 1 DeleteObjects and 1 DELETE for a plain finished task", async () => {
    const w = world();
    const t = await w.queue.submit("job", {});
    await w.queue.cancel(t.id);
    const before = w.store.counters.snapshot();
    await w.queue.delete(t.id);
    const cost = RequestCounters.diff(w.store.counters.snapshot(), before);
    const sent = Object.fromEntries(Object.entries(cost).filter(([, n]) => n > 0));
    assert.deepEqual(sent, { PUT: 1, GET: 1, LIST_VERSIONS: 3, DELETE: 1, DELETE_MANY: 1 });
    console.log(`# delete of a cancelled task: ${JSON.stringify(sent)}`);
    assert.deepEqual(await leftOf(w.store, t.id), []);
  });

  it("refuses a pending task without `pending`, and deletes it with it: no worker runs it", async () => {
    const w = world();
    const t = await w.queue.submit("job", {}, { ttlSeconds: 600 });
    await assert.rejects(w.queue.delete(t.id), (e: Error) => {
      assert.ok(e instanceof RangeError, "e instanceof RangeError");
      assert.match(e.message, /pending; pass pending: true/);
      return true;
    });
    assert.equal((await w.queue.get(t.id))?.status, "pending", "left as it was");
    const r = await w.queue.delete(t.id, { pending: true });
    assert.equal(r.status, "cancelled");
    assert.deepEqual(await leftOf(w.store, t.id), []);
    assert.deepEqual(await work(w.queue), []);
  });

  it("refuses a running task with a clear error; deletes it once it finished", async () => {
    const w = world();
    const t = await w.queue.submit("job", {});
    let finish!: () => void;
    const worker = new Worker(w.queue, "w").task("job", () => new Promise<void>((r) => finish = r));
    worker.configure({ withMonitor: false });
    try {
      await worker.pollOnce();
      await settle();
      await assert.rejects(w.queue.delete(t.id, { pending: true }), /running; cancel it/);
      finish();
      await worker.drain();
    } finally {
      await worker.stop();
    }
    assert.equal((await w.queue.delete(t.id)).deleted, true);
    assert.deepEqual(await leftOf(w.store, t.id), []);
  });

  it("says not found for an unknown id and TypeError for an invalid one", async () => {
    const w = world();
    const r = await w.queue.delete("0-01JD3XW1Q8ZZZZZZZZZZZZZZZZ");
    assert.equal(r.deleted, false);
    await assert.rejects(w.queue.delete("../x"), TypeError);
  });

  it("works on an unversioned bucket", async () => {
    const clock = new FakeClock();
    const store = new MemoryStore({ clock: clock.now, createBucket: false });
    await store.createBucket(); // unversioned, as a new S3 bucket is
    assert.equal(await store.getVersioning(), "Unversioned");
    const queue = new Queue(store, { ...OPTIONS, clock });
    const t = await queue.submit("job", { blob: "i".repeat(4000) });
    await queue.cancel(t.id);
    const r = await queue.delete(t.id);
    assert.equal(r.versions, 1);
    assert.equal(r.payloads, 1);
    assert.deepEqual(await leftOf(store, t.id), []);
  });
});

/**
 * A store that holds the first `put` matching `match` until released: lets a test run
 * another process's requests between two of this one's.
 */
function pausing(inner: MemoryStore, match: (key: string, o?: PutOptions) => boolean) {
  let reached!: () => void;
  let release!: () => void;
  const atPause = new Promise<void>((r) => reached = r);
  const gate = new Promise<void>((r) => release = r);
  let armed = true;
  const store = new Proxy(inner, {
    get(target, p) {
      if (p === "put") {
        return async (key: string, body: string | Uint8Array, o?: PutOptions) => {
          if (armed && match(key, o)) {
            armed = false;
            reached();
            await gate;
          }
          return target.put(key, body, o);
        };
      }
      const v = Reflect.get(target, p, target);
      return typeof v === "function" ? v.bind(target) : v;
    },
  });
  return { store: store as ObjectStore, atPause, release };
}

const isCas = (key: string, o?: PutOptions) => key.startsWith("tasks/") && !!o?.ifMatch;

describe("queue.delete races a worker's claim", () => {
  it("delete first, then the claim: the worker finds nothing to run", async () => {
    const w = world();
    const t = await w.queue.submit("job", {});
    await w.queue.delete(t.id, { pending: true });
    assert.deepEqual(await work(w.queue), []);
    assert.deepEqual(await leftOf(w.store, t.id), []);
  });

  it("the claim first, then delete: refused while running, the task completes", async () => {
    const w = world();
    const t = await w.queue.submit("job", {});
    assert.deepEqual(await work(w.queue), [t.id]);
    assert.equal((await w.queue.delete(t.id)).status, "completed");
  });

  it("interleaved: the mark lands between the claim's read and its write", async () => {
    const w = world();
    const t = await w.queue.submit("job", {});
    const p = pausing(w.store, isCas);
    const { worker, runs } = counting(new Queue(p.store, { ...OPTIONS, clock: w.clock }));
    try {
      const polling = worker.pollOnce();
      await p.atPause; // the worker read the task pending and wrote its lease entry
      const r = await w.queue.delete(t.id, { pending: true });
      assert.equal(r.deleted, true);
      p.release();
      await polling;
      await worker.drain();
    } finally {
      await worker.stop();
    }
    assert.deepEqual(runs, [], "the handler never ran");
    assert.deepEqual(await leftOf(w.store, t.id), [], "the claim's lease entry went with it");
  });

  it("interleaved: the claim lands between delete's read and its mark", async () => {
    const w = world();
    const t = await w.queue.submit("job", {});
    const p = pausing(w.store, isCas);
    const deleter = new Queue(p.store, { ...OPTIONS, clock: w.clock });
    const deleting = deleter.delete(t.id, { pending: true }).then(() => "deleted", (e) => e);
    await p.atPause; // delete read the task pending
    let finish!: () => void;
    const runs: string[] = [];
    const worker = new Worker(w.queue, "w").task("job", () => {
      runs.push("ran");
      return new Promise<void>((r) => finish = r);
    });
    worker.configure({ withMonitor: false });
    try {
      await worker.pollOnce();
      await settle();
      assert.deepEqual(runs, ["ran"]);
      p.release();
      const e = await deleting;
      assert.ok(e instanceof RangeError, String(e));
      assert.match(e.message, /is running/);
      finish();
      await worker.drain();
    } finally {
      await worker.stop();
    }
    assert.equal((await w.queue.get(t.id))?.status, "completed");
  });
});

describe("crash matrix: delete dies after request N, for every N", () => {
  async function requestsOf(setup: (w: World) => Promise<string>, pending: boolean) {
    const w = world();
    const id = await setup(w);
    const before = w.store.counters.total();
    await w.queue.delete(id, { pending });
    return w.store.counters.total() - before;
  }

  async function crashAt(
    setup: (w: World) => Promise<string>,
    pending: boolean,
    n: number,
    finish: "rerun" | "sweep",
  ) {
    const w = world();
    const id = await setup(w);
    const dying = new Queue(dyingStore(w.store, n), { ...OPTIONS, clock: w.clock });
    await dying.delete(id, { pending }).catch(() => undefined);
    const raw = await w.store.get(w.queue.keys.task(id));
    const marked = raw === null || (raw.kind === "object" &&
      "deleting_at" in JSON.parse(new TextDecoder().decode(raw.body)));
    // A marked (or deleted) task is gone for readers and workers.
    if (marked) {
      assert.equal(await w.queue.get(id), null, `N=${n}: get of a marked task`);
      assert.deepEqual(await work(w.queue), [], `N=${n}: a worker ran a marked task`);
      await assert.rejects(w.queue.retry(id), /being deleted|not found|task is completed/);
    }
    if (finish === "rerun") {
      await w.queue.delete(id, { pending });
      assert.deepEqual(await work(w.queue), [], `N=${n}: a worker ran a deleted task`);
    } else {
      const monitor = new Monitor(w.queue);
      for (let i = 0; i < 6; i++) {
        w.clock.advance(120_000);
        await monitor.runOnce({ sweep: true });
      }
      if (!marked) return; // nothing happened to the task: nothing to finish
    }
    assert.deepEqual(await leftOf(w.store, id), [], `N=${n} (${finish}): left behind`);
  }

  const cases: Array<[string, (w: World) => Promise<string>, boolean]> = [
    ["a completed task with payloads and TTL", completedWithPayloads, false],
    [
      "a pending task",
      async (w) => (await w.queue.submit("job", {}, { ttlSeconds: 3600 })).id,
      true,
    ],
  ];
  for (const [name, setup, pending] of cases) {
    it(`${name}: a re-run of delete finishes, and the sweep finishes a marked one`, async () => {
      const total = await requestsOf(setup, pending);
      for (let n = 0; n <= total; n++) {
        await crashAt(setup, pending, n, "rerun");
        await crashAt(setup, pending, n, "sweep");
      }
      console.log(`# delete crash matrix (${name}): N = 0..${total}, all finished`);
    });
  }
});
