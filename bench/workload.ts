/**
 * The oq workloads of the benchmark: burn-down (N no-op tasks submitted up front, then the
 * workers start) and steady rate (workers running, tasks submitted at R/s for T s). Workers
 * are separate processes (harness/worker_process.ts) except on the memory backend,
 * where they run in the harness process. Times come from the final task records (store
 * clock): createdAt, claimedAt, completedAt.
 */
import { Queue } from "../src/queue/queue.ts";
import { readFileBytes, type RuntimeName } from "../src/runtime/mod.ts";
import { RequestCounters, type RequestCounts } from "../src/s3/counters.ts";
import { Worker } from "../src/worker/worker.ts";
import { addCalls, type CallCounts, ClassifyingStore } from "../harness/classifying_store.ts";
import { type FixtureEvent, type FixtureProcess, startWorker } from "../harness/procs.ts";
import type { BenchBackend } from "./backends.ts";
import { addCounts, cpuMsOf, emptyCounts, shortId, sleep, summary, waitUntil } from "./util.ts";

// How long the workers may run on after the last completion to empty the ready index.
const CLEANUP_MS = 15_000;

/** What to run. */
export interface WorkloadOptions {
  kind: "burn-down" | "steady";
  /** Burn-down: tasks submitted up front. */
  tasks: number;
  /** Steady: tasks per second, for `durationS`. */
  rate: number;
  durationS: number;
  workers: number;
  concurrency: number;
  runtime: RuntimeName;
  /** Give up waiting for completions after this long. */
  timeoutMs: number;
  /** Extra worker_process.ts flags. */
  workerArgs?: string[];
  /**
   * Burn-down: how the producer submits. `many`: `submitMany` in calls of 1,000; `single`:
   * `submit()` with 64 calls in flight (coalesced, the default); `single-alone`: the same
   * with `submitCoalescing: false`. @default "many"
   */
  submitMode?: "many" | "single" | "single-alone";
  /** The producer's `submitCoalescing.lingerMs` (absent: the default, 0). */
  lingerMs?: number;
  /** Checked while waiting: a reason to give up early (e.g. the server's memory), or null. */
  abort?: () => string | null;
}

/** What one workload run measured. */
export interface WorkloadResult {
  kind: "burn-down" | "steady";
  workers: number;
  concurrency: number;
  runtime: string;
  submitted: number;
  completed: number;
  /** All submitted tasks completed before the timeout. */
  finished: boolean;
  /** Why the run was given up early, if it was. */
  aborted?: string;
  /** The bucket it ran in. */
  bucket: string;
  /** Peak RSS of the server process(es) during the run, KiB (when known). */
  serverPeakRssKb?: number;
  /** Seconds the producer spent submitting, and its rate. */
  submitSecs: number;
  submitRate: number;
  /** Store time from the first claim to the last completion. */
  windowSecs: number;
  /** Completed tasks per second over that window. */
  throughput: number;
  /** Local time from starting the workers (burn-down) or the first submit (steady) to the last completion. */
  wallSecs: number;
  /** After the last completion, until the ready index was empty (or CLEANUP_MS). */
  cleanupSecs: number;
  /** Submit-to-start and submit-to-complete latency in ms (store clock). */
  startLatency: ReturnType<typeof summary>;
  completeLatency: ReturnType<typeof summary>;
  /** Requests (HTTP attempts, retries included) of the producer and of all workers. */
  producerCounts: RequestCounts;
  workerCounts: RequestCounts;
  /** Calls by operation and key class. */
  producerCalls: CallCounts;
  workerCalls: CallCounts;
  claimed: number;
  /**
   * Task writes that lost their condition, plus task GETs beyond one per claim: candidates
   * another worker had taken, claims that lost the race, cancel checks of long tasks and the
   * monitor's sweep. A claim that assumed a batch entry's record reads nothing, so with such
   * claims the GETs beyond one per claim are a lower bound.
   */
  conflicts: number;
  /** Worker errors by context and name. */
  errors: Record<string, number>;
  /** Peak RSS (VmHWM) per worker process in KiB (the harness process on memory). */
  peakRssKb: number[];
  /** CPU time (ms) of all worker processes from ready to exit (NaN on memory). */
  workerCpuMs: number;
  /** ... of which their main threads (JavaScript; the rest is GC and compiler threads). */
  workerMainCpuMs: number;
  /** CPU time (ms) of the server process(es) from the first submit to the last completion. */
  serverCpuMs?: number;
  /** Tasks/s the server sustains for this run's worker request mix replayed as plain requests. */
  replayCapacity?: number;
  /** Index objects left after the run (ready, deadlines). */
  leftover: { ready: number; deadlines: number };
}

interface WorkerHandle {
  pid: number;
  events: FixtureEvent[];
  stop(): Promise<void>;
  final(): Promise<FixtureEvent | undefined>;
}

/** Request counts from classified calls (memory store: a call is a request). */
export function countsFromCalls(calls: CallCounts): RequestCounts {
  const out = emptyCounts();
  for (const [name, n] of Object.entries(calls)) {
    const [op, cls] = name.split(" ") as [string, string];
    if (cls === "bucket") out.BUCKET += n;
    else if (op in out) out[op as keyof RequestCounts] += n;
  }
  return out;
}

async function hwmKb(): Promise<number> {
  const b = await readFileBytes("/proc/self/status").catch(() => null);
  return Number(/^VmHWM:\s+(\d+) kB/m.exec(b ? new TextDecoder().decode(b) : "")?.[1] ?? NaN);
}

function processWorker(p: FixtureProcess): WorkerHandle {
  return {
    pid: p.pid,
    events: p.events,
    stop: async () => void (await p.stop(20_000)),
    final: () => Promise.resolve(p.events.findLast((e) => e.ev === "exit") ?? p.lastStats()),
  };
}

function inProcessWorker(
  backend: BenchBackend,
  bucket: string,
  prefix: string,
  id: string,
  concurrency: number,
): WorkerHandle {
  const store = new ClassifyingStore(backend.store(bucket), prefix);
  const queue = new Queue(store, { prefix, warn: () => {} });
  const worker = new Worker(queue, id).task("noop", () => ({}));
  const events: FixtureEvent[] = [];
  let claimed = 0;
  const emit = (e: Record<string, unknown>): void =>
    void events.push({ ...e, pid: 0, worker: id } as FixtureEvent);
  worker.on("task:claimed", () => void claimed++);
  worker.on("task:completed", ({ task }) =>
    emit({
      ev: "done",
      task: task.id,
      attempt: task.attempt,
      created: task.createdAt.getTime(),
      claimed: task.claimedAt?.getTime() ?? null,
      completed: task.completedAt?.getTime() ?? null,
    }));
  worker.on(
    "worker:error",
    ({ error, context }) =>
      emit({ ev: "error", context, name: error.name, message: error.message }),
  );
  const running = worker.run({ concurrency });
  emit({ ev: "ready" });
  return {
    pid: 0,
    events,
    stop: async () => {
      await worker.stop();
      await running;
    },
    final: async () => ({
      ev: "exit",
      pid: 0,
      worker: id,
      calls: store.calls(),
      counts: countsFromCalls(store.calls()),
      claimed,
      hwmKb: await hwmKb(),
    }),
  };
}

/** Run one workload on a fresh bucket (or prefix) of `backend`. */
export async function runWorkload(
  backend: BenchBackend,
  o: WorkloadOptions,
  log: (line: string) => void,
): Promise<WorkloadResult> {
  const bucket = await backend.newBucket();
  const prefix = `b-${shortId()}/`;
  const producerStore = new ClassifyingStore(backend.store(bucket), prefix);
  const queue = new Queue(producerStore, {
    prefix,
    warn: () => {},
    ...(o.submitMode === "single-alone"
      ? { submitCoalescing: false as const }
      : o.lingerMs !== undefined
      ? { submitCoalescing: { lingerMs: o.lingerMs } }
      : {}),
  });
  const c0 = producerStore.counters.snapshot();
  const memory = backend.inProcess;
  const serverCpu0 = await cpuMsOf(backend.pids);

  const startWorkers = async (): Promise<WorkerHandle[]> => {
    if (memory) {
      return Array.from(
        { length: o.workers },
        (_, i) => inProcessWorker(backend, bucket, prefix, `w${i}`, o.concurrency),
      );
    }
    const procs = await Promise.all(
      Array.from({ length: o.workers }, (_, i) =>
        startWorker(o.runtime, [
          ...backend.workerArgs(bucket),
          ...["--prefix", prefix, "--id", `w${i}`, "--types", "noop"],
          ...["--concurrency", String(o.concurrency), "--record", "none", "--stats-ms", "5000"],
          ...(o.workerArgs ?? []),
        ])),
    );
    return procs.map(processWorker);
  };

  const ids: string[] = [];
  // Steady: the store time of each submit call, by task id. A task's created_at is when its
  // group was written, after any wait for others to join it (submitCoalescing.lingerMs).
  const called = new Map<string, number>();
  let submitSecs = 0;
  let wallStart = 0;
  let workers: WorkerHandle[] = [];
  const submitAll = async (n: number) => {
    const t = performance.now();
    if ((o.submitMode ?? "many") !== "many") {
      // A service's request handlers, each submitting one task: 64 calls in flight.
      let next = 0;
      await Promise.all(Array.from({ length: 64 }, async () => {
        while (next < n) {
          const i = next++;
          ids.push((await queue.submit("noop", { i })).id);
        }
      }));
      submitSecs = (performance.now() - t) / 1000;
      return;
    }
    for (let i = 0; i < n; i += 1000) {
      const batch = Array.from(
        { length: Math.min(1000, n - i) },
        (_, j) => ["noop", { i: i + j }] as const,
      );
      ids.push(...(await queue.submitMany(batch)).map((t) => t.id));
    }
    submitSecs = (performance.now() - t) / 1000;
  };

  try {
    if (o.kind === "burn-down") {
      log(`  submitting ${o.tasks} tasks`);
      await submitAll(o.tasks);
      log(`  submitted in ${submitSecs.toFixed(1)} s; starting ${o.workers} worker(s)`);
      wallStart = performance.now();
      workers = await startWorkers();
    } else {
      workers = await startWorkers();
      await sleep(3000); // let the workers finish their start-up polls
      await queue.now(); // the store's clock, read for each call below
      const n = Math.round(o.rate * o.durationS);
      log(`  submitting ${n} tasks at ${o.rate}/s for ${o.durationS} s`);
      wallStart = performance.now();
      const t0 = performance.now();
      let inFlight = 0;
      const pending: Promise<void>[] = [];
      for (let i = 0; i < n; i++) {
        const due = t0 + (i * 1000) / o.rate;
        const wait = due - performance.now();
        if (wait > 0) await sleep(wait);
        while (inFlight >= 64) await sleep(2);
        inFlight++;
        const calledAt = queue.context.clock.now();
        pending.push(
          queue.submit("noop", { i }).then((t) => {
            ids.push(t.id);
            called.set(t.id, calledAt);
          }).catch((e) => log(`  submit failed: ${(e as Error).message}`)).finally(() =>
            void inFlight--
          ),
        );
      }
      await Promise.all(pending);
      submitSecs = (performance.now() - t0) / 1000;
    }

    const done = new Map<string, FixtureEvent>();
    let lastDone = wallStart;
    const collect = () => {
      for (const w of workers) {
        for (const e of w.events) {
          if (e.ev === "done" && !done.has(e.task as string)) {
            done.set(e.task as string, e);
            lastDone = performance.now();
          }
        }
      }
      return done.size >= ids.length;
    };
    let lastLog = Date.now();
    let aborted: string | undefined;
    const finished = await waitUntil(
      () => {
        aborted = o.abort?.() ?? undefined;
        if (aborted) {
          log(`  giving up: ${aborted}`);
          return true;
        }
        if (Date.now() - lastLog > 10_000) {
          lastLog = Date.now();
          log(`  ${done.size}/${ids.length} completed`);
        }
        return collect();
      },
      o.timeoutMs,
      20,
    );
    const wallSecs = (lastDone - wallStart) / 1000;
    // A batch entry outlives its tasks until one worker has seen them all leave: the workers
    // run on until the ready index is empty (at most CLEANUP_MS), and their requests count.
    const t1 = performance.now();
    const check = backend.store(bucket);
    const readyEmpty = async () =>
      (await check.list({ prefix: `${prefix}ready/`, maxKeys: 1 })).objects.length === 0;
    if (finished && !aborted) await waitUntil(readyEmpty, CLEANUP_MS, 250);
    const cleanupSecs = (performance.now() - t1) / 1000;
    const serverCpuMs = (await cpuMsOf(backend.pids)) - serverCpu0;
    await Promise.all(workers.map((w) => w.stop()));
    collect();

    // Figures from the final records.
    const records = [...done.values()];
    const calledAt = (e: FixtureEvent) => called.get(e.task as string) ?? (e.created as number);
    const claimedAt = records.map((e) => e.claimed as number);
    const completedAt = records.map((e) => e.completed as number);
    const windowSecs = records.length
      ? (Math.max(...completedAt) - Math.min(...claimedAt)) / 1000
      : Number.NaN;
    const finals = await Promise.all(workers.map((w) => w.final()));
    const workerCounts = emptyCounts();
    const workerCalls: CallCounts = {};
    let claimed = 0;
    let workerFailures = 0; // task writes that lost their condition
    for (const f of finals) {
      if (!f) continue;
      addCounts(workerCounts, f.counts as RequestCounts);
      addCalls(workerCalls, f.calls as CallCounts);
      claimed += f.claimed as number;
      workerFailures += (f.failures as CallCounts | undefined)?.["PUT tasks"] ?? 0;
    }
    // From each worker's "ready" line to its exit: the start-up (runtime, transpiling) is
    // not the work.
    const cpuSince = (field: string) =>
      workers.reduce((sum, w, i) => {
        const ready = w.events.find((e) => e.ev === "ready");
        return sum + Number(finals[i]?.[field] ?? NaN) - Number(ready?.[field] ?? NaN);
      }, 0);
    const errors: Record<string, number> = {};
    for (const w of workers) {
      for (const e of w.events) {
        if (e.ev !== "error") continue;
        const k = `${String(e.context).split(" ")[0]}: ${e.name}`;
        errors[k] = (errors[k] ?? 0) + 1;
      }
    }
    const [ready, deadlines] = await Promise.all([
      check.list({ prefix: `${prefix}ready/` }),
      check.list({ prefix: `${prefix}deadlines/` }),
    ]);
    return {
      kind: o.kind,
      workers: o.workers,
      concurrency: o.concurrency,
      runtime: memory ? "in-process" : o.runtime,
      submitted: ids.length,
      completed: done.size,
      finished: finished && !aborted,
      aborted,
      bucket,
      submitSecs,
      submitRate: ids.length / submitSecs,
      windowSecs,
      throughput: done.size / windowSecs,
      wallSecs,
      cleanupSecs,
      startLatency: summary(records.map((e) => (e.claimed as number) - calledAt(e))),
      completeLatency: summary(records.map((e) => (e.completed as number) - calledAt(e))),
      producerCounts: memory
        ? countsFromCalls(producerStore.calls())
        : RequestCounters.diff(producerStore.counters.snapshot(), c0),
      workerCounts,
      producerCalls: producerStore.calls(),
      workerCalls,
      claimed,
      conflicts: workerFailures + Math.max(0, (workerCalls["GET tasks"] ?? 0) - claimed),
      errors,
      peakRssKb: finals.map((f) => Number(f?.hwmKb ?? NaN)),
      serverCpuMs: backend.pids.length ? serverCpuMs : undefined,
      workerCpuMs: memory ? Number.NaN : cpuSince("cpuMs"),
      workerMainCpuMs: memory ? Number.NaN : cpuSince("mainCpuMs"),
      leftover: { ready: ready.objects.length, deadlines: deadlines.objects.length },
    };
  } finally {
    await Promise.all(workers.map((w) => w.stop().catch(() => undefined)));
  }
}
