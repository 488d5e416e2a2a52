/**
 * Backlog scaling (spec invariants 7 and 8): the requests of one worker poll that claims a
 * task, and of one monitor cycle, with 0, 10,000 or 100,000 tasks of another type or due in
 * the future present. Both must stay flat: a worker never lists future time buckets or other
 * types' lanes, and a monitor cycle reads one page of each shard's deadline index.
 *
 * - "tasks" mode (memory store, injected clock): real tasks through `submit`: half of another
 *   type due now, half of the worker's type delayed 1 h with a 2 h TTL (a ready entry in a
 *   future bucket plus a TTL deadline entry each). The clock then moves 2 minutes on, so the
 *   sweep's settle time has passed and it does its full work.
 * - "entries" mode (S3 servers, where writing 20,000+ objects per 10,000 tasks would take
 *   minutes on moto): the index objects a poll or a monitor cycle could list, without the task
 *   objects: half ready entries of another type due now, a quarter future ready entries of
 *   the worker's type, a quarter future TTL deadline entries. A request that read them would
 *   still be counted (a GET of a missing task is a request), so the check is as strict.
 */
import { Monitor } from "../src/monitor/monitor.ts";
import { Queue } from "../src/queue/queue.ts";
import { mapLimit } from "../src/base/concurrency.ts";
import { RequestCounters, type RequestCounts } from "../src/s3/counters.ts";
import { MemoryStore } from "../src/store/memory_store.ts";
import type { ObjectStore } from "../src/store/types.ts";
import { Worker } from "../src/worker/worker.ts";
import { type CallCounts, ClassifyingStore } from "../harness/classifying_store.ts";

/** Requests of one measured step. */
export interface StepCost {
  counts: RequestCounts;
  calls: CallCounts;
  /** PUT-class + GET-class requests (DELETE free, not counted). */
  requests: number;
}

/** One backlog size. */
export interface BacklogPoint {
  size: number;
  mode: "tasks" | "entries";
  setupSecs: number;
  /** A fresh worker's first poll: wake-up check, lane LISTs, claim of the one due task. */
  pollClaim: StepCost & { claimed: number };
  /** A monitor cycle without the sweep step. */
  monitor: StepCost;
  /** The sweep step of a monitor cycle (tasks mode only). */
  sweep: (StepCost & { scanned: number; read: number }) | null;
  /** Errors the worker or monitor reported during the probe. */
  errors: string[];
}

function diffCalls(after: CallCounts, before: CallCounts): CallCounts {
  const out: CallCounts = {};
  for (const [k, v] of Object.entries(after)) {
    const d = v - (before[k] ?? 0);
    if (d) out[k] = d;
  }
  return out;
}

function billable(c: RequestCounts): number {
  return c.PUT + c.GET + c.HEAD + c.LIST + c.LIST_VERSIONS + c.DELETE_MANY + c.BUCKET;
}

async function measure(store: ClassifyingStore, f: () => Promise<void>): Promise<StepCost> {
  const c0 = store.counters.snapshot();
  const k0 = store.calls();
  await f();
  const counts = RequestCounters.diff(store.counters.snapshot(), c0);
  return { counts, calls: diffCalls(store.calls(), k0), requests: billable(counts) };
}

async function probe(
  queue: Queue,
  store: ClassifyingStore,
  withSweep: boolean,
  settleMs: number,
): Promise<Pick<BacklogPoint, "pollClaim" | "monitor" | "sweep" | "errors">> {
  await queue.submit("bench", { probe: true });
  // The S3 store's clock estimate (midpoint of what the Date headers allow) can step back by
  // some milliseconds as samples arrive, so a task submitted a moment ago can still look
  // not yet due to a poll in the same process. Measure the steady case, not that race.
  if (settleMs > 0) await new Promise((r) => setTimeout(r, settleMs));
  let release!: () => void;
  const gate = new Promise<void>((r) => (release = r));
  const errors: string[] = [];
  const worker = new Worker(queue, "probe").task("bench", () => gate);
  worker.on(
    "worker:error",
    ({ error, context }) => void errors.push(`${context}: ${error.message}`),
  );
  worker.configure({ withMonitor: false });
  let claimed = 0;
  const pollClaim = await measure(store, async () => {
    claimed = (await worker.pollOnce()).claimed;
  });
  release();
  await worker.drain();
  const monitor = new Monitor(queue);
  monitor.events.on("monitor:error", ({ error }) => void errors.push(`monitor: ${error.message}`));
  const cycle = await measure(store, async () => void (await monitor.runOnce({ sweep: false })));
  let sweep: BacklogPoint["sweep"] = null;
  if (withSweep) {
    let scanned = 0;
    let read = 0;
    const withIt = await measure(store, async () => {
      const r = await monitor.runOnce({ sweep: true });
      scanned = r.sweep?.scanned ?? 0;
      read = r.sweep?.read ?? 0;
    });
    const counts = RequestCounters.diff(withIt.counts, cycle.counts);
    sweep = {
      counts,
      calls: diffCalls(withIt.calls, cycle.calls),
      requests: billable(counts),
      scanned,
      read,
    };
  }
  return { pollClaim: { ...pollClaim, claimed }, monitor: cycle, sweep, errors };
}

/** Tasks mode on a fresh memory store with an injected clock. */
export async function backlogOnMemory(size: number): Promise<BacklogPoint> {
  let now = Date.UTC(2026, 10, 22, 12, 0, 0);
  const mem = new MemoryStore({ clock: () => now });
  const store = new ClassifyingStore(mem);
  const queue = new Queue(store, { warn: () => {} });
  const t = performance.now();
  const half = Math.floor(size / 2);
  await mapLimit(
    Array.from({ length: size }, (_, i) => i),
    64,
    (i) =>
      i < half
        ? queue.submit("other", { i })
        : queue.submit("bench", { i }, { delaySeconds: 3600, ttlSeconds: 7200 }),
  );
  const setupSecs = (performance.now() - t) / 1000;
  now += 120_000;
  return { size, mode: "tasks", setupSecs, ...(await probe(queue, store, true, 0)) };
}

/** Entries mode on an S3 bucket (see the module doc). */
export async function backlogOnS3(
  inner: ObjectStore,
  size: number,
  prefix: string,
): Promise<BacklogPoint> {
  const store = new ClassifyingStore(inner, prefix);
  const queue = new Queue(store, { prefix, warn: () => {} });
  const now = (await queue.now()).getTime();
  const t = performance.now();
  const keys = queue.keys;
  const shards = queue.shards;
  await mapLimit(Array.from({ length: size }, (_, i) => i), 32, async (i) => {
    const shard = shards[i % shards.length]!;
    const id = `${shard}-bk${i}`;
    const key = i < size / 2
      ? keys.ready(shard, "other", now, id)
      : i < (size * 3) / 4
      ? keys.ready(shard, "bench", now + 3_600_000, id)
      : keys.deadline(shard, now + 7_200_000, id, "ttl");
    await inner.put(key, "", { contentType: "application/octet-stream" });
  });
  const setupSecs = (performance.now() - t) / 1000;
  return { size, mode: "entries", setupSecs, ...(await probe(queue, store, false, 1500)) };
}
