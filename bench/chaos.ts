/**
 * The chaos run: `npm run chaos -- [--tasks 2000] [--workers 4] [--fault-rate 0.05]
 * [--kill-every 5s] [--quick]`.
 *
 * oq runs through a fault-injecting proxy (bench/chaos_proxy.ts: delays, 500, 503 SlowDown,
 * connection resets, dropped responses, 500 after applying) in front of moto (or
 * `--backend`), with worker processes of which a random one is SIGKILLed every few seconds
 * and restarted. The producer submits through the proxy too (with idempotency keys, so a
 * failed submit can be retried safely). At the end, read straight from the server:
 *
 * - every task is completed; zero lost;
 * - zero completed twice in the task record (history: exactly one `completed` version, and
 *   nothing after it);
 * - no attempt ran twice (claims are exactly-once per attempt);
 * - duplicate executions (handler starts beyond one per task, from the workers' execution
 *   records) are counted, and each is explained by a lost lease: an earlier attempt whose
 *   end the task's history records (lease_expired after a kill, or another failure).
 *
 * With --limits, every fourth task is of type `chaos_lim` (at most --limit-concurrency, default 2,
 * running at once across every worker) and every fourth plus one of `chaos_rated` (at most
 * --limit-rate, default 5, starts per second): their handler runs (by wall time, a killed
 * worker's run counted until the kill) must never exceed the limits, and nothing is lost.
 * A killed worker's slot stays taken until its lease ends (that is the limit's guarantee),
 * and on moto every request slows as the run's ListObjectVersions pile up, so limited types
 * are slow there: --quick --limits allows 300 s instead of 100 (`--max-s`; on Ceph it takes
 * about 30 s).
 *
 * With --batches, the producer submits with submitMany, 100 tasks a call, straight to the
 * server (tasks of a call share batch entries; the workers still meet the faults and kills).
 *
 * Other flags: --concurrency C, --task-ms MS (handler time, plus up to as much jitter),
 * --timeout-s S (task timeout), --lease-grace-s S, --monitor-interval-s S, --restart-after MS,
 * --seed N, --runtime node|bun|deno, --backend moto|dev|ceph|endpoint=URL, --out DIR.
 */
import { Monitor } from "../src/monitor/monitor.ts";
import { Queue } from "../src/queue/queue.ts";
import { Worker } from "../src/worker/worker.ts";
import { mapLimit } from "../src/base/concurrency.ts";
import {
  cliArgs,
  exitProcess,
  makeDir,
  onTermSignals,
  processId,
  type RuntimeName,
  writeFileAtomic,
  writeStd,
} from "../src/runtime/mod.ts";
import { REQUEST_KINDS, type RequestCounts } from "../src/s3/counters.ts";
import { parseTaskRecord, Task } from "../src/task/task.ts";
import { addCalls, type CallCounts } from "../harness/classifying_store.ts";
import { type FixtureEvent, type FixtureProcess, startWorker } from "../harness/procs.ts";
import { type BenchBackend, startBackend } from "./backends.ts";
import { intervals, maxInWindow, maxOverlap, slotUse, startTimes } from "./limit_checks.ts";
import { type ChaosProxy, seededRandom, startChaosProxy } from "./chaos_proxy.ts";
import {
  addCounts,
  busyProcesses,
  emptyCounts,
  fmt,
  machineInfo,
  numberArg,
  parseArgs,
  ROOT,
  RssSampler,
  shortId,
  sleep,
  table,
  waitUntil,
} from "./util.ts";

const args = parseArgs(cliArgs());
const quick = args.has("quick");
const ms = (name: string, dflt: number) => {
  const v = args.get(name);
  if (v === undefined) return dflt;
  const m = /^(\d+(?:\.\d+)?)(ms|s)?$/.exec(v);
  if (!m) throw new RangeError(`--${name} must be a duration like 5s or 500ms, got ${v}`);
  return Number(m[1]) * (m[2] === "ms" ? 1 : 1000);
};
const tasks = numberArg(args, "tasks", quick ? 200 : 2000);
const workers = numberArg(args, "workers", 4);
const faultRate = numberArg(args, "fault-rate", 0.05);
const killEveryMs = ms("kill-every", quick ? 4000 : 5000);
const restartAfterMs = ms("restart-after", 1000);
const concurrency = numberArg(args, "concurrency", 4);
const taskMs = numberArg(args, "task-ms", 100);
const timeoutS = numberArg(args, "timeout-s", 5);
const leaseGraceS = numberArg(args, "lease-grace-s", 2);
const monitorIntervalS = numberArg(args, "monitor-interval-s", 1);
const seed = numberArg(args, "seed", 42);
const limits = args.has("limits");
const batches = args.has("batches");
const RETRY = { initialIntervalMs: 200, maxIntervalMs: 2000 };
const limitConcurrency = numberArg(args, "limit-concurrency", 2);
const limitRate = numberArg(args, "limit-rate", 5);
/** The type of task `i`: with --limits, a quarter each are concurrency- and rate-limited. */
const typeOf = (i: number) =>
  !limits ? "chaos" : ["chaos_lim", "chaos_rated", "chaos", "chaos"][i % 4]!;
const runtime = (args.get("runtime") ?? "node") as RuntimeName;
const backendSpec = args.get("backend") ?? "moto";
const outDir = args.get("out") ?? `${ROOT}bench/results`;
const deadlineMs = numberArg(args, "max-s", quick ? (limits ? 300 : 100) : 900) * 1000;
// moto's ListObjectVersions copies every version of the bucket on each call (time and memory
// grow with the bucket), so on moto a long run is split into rounds of at most 250 tasks,
// each on a fresh server and bucket. --rounds N overrides.
const rounds = numberArg(
  args,
  "rounds",
  backendSpec === "moto" ? Math.max(1, Math.ceil(tasks / 250)) : 1,
);

const log = (line: string) => writeStd("stdout", line + "\n");
const random = seededRandom(seed);
let currentBackend: BenchBackend | undefined;
let proxy: ChaosProxy | undefined;
const allProcs: FixtureProcess[][] = [];

onTermSignals(async () => {
  log("interrupted: stopping workers, proxy and backend");
  for (const p of allProcs.flat()) p.kill("SIGKILL");
  await proxy?.close().catch(() => undefined);
  await currentBackend?.stop().catch(() => undefined);
  await exitProcess(130);
});

interface Kill {
  at: number;
  /** Wall time of the kill. */
  wall: number;
  worker: string;
  pid: number;
  inFlight: string[];
}

/** What one round found (and, summed, the whole run). */
interface RoundResult {
  figures: Figures;
  kills: Kill[];
  counts: RequestCounts;
  producerCounts: RequestCounts;
  calls: CallCounts;
  lostIds: string[];
  unexplained: string[];
  submitErrors: string[];
}

/** Numbers of a round (summed over rounds for the total). */
interface Figures {
  tasks: number;
  finished: boolean;
  runSecs: number;
  statusCounts: Record<string, number>;
  lost: number;
  completedTwice: number;
  changedAfterCompleted: number;
  historyChecked: boolean;
  attemptRanTwice: number;
  executions: number;
  duplicateExecutions: number;
  duplicatesExplained: Record<string, number>;
  duplicatesUnexplained: number;
  claimsWithoutExecRecord: number;
  tasksWithMoreThanOneAttempt: number;
  kills: number;
  workerProcesses: number;
  proxy: { requests: number; forwarded: number; faults: Record<string, number> };
  submitErrorsRetried: number;
  taskLostEvents: number;
  workerErrors: Record<string, number>;
  leftover: { ready: number; deadlines: number };
  /** What the leftover entries point to (`deadline -> completed`: ...). */
  leftoverPointsTo: Record<string, number>;
  /** Index entries still there after one monitor cycle past their deadlines. */
  leftAfterMonitor: number;
  /** With --limits: most `chaos_lim` handlers running at once, and its limit. */
  limitOverlap: number | null;
  /** With --limits: most `chaos_rated` handler starts in any 1 s window, and its limit. */
  rateMax: number | null;
  /** With --limits: final states by task type. */
  statusByType: Record<string, number>;
}

/**
 * With --batches: submitMany in calls of 100 straight to the server (no idempotency key, so
 * no retry through the faults), the tasks of each call sharing batch entries
 * (src/protocol/ready_batches.ts); the workers still meet the faults and the kills.
 */
async function submitBatches(q: Queue, n: number): Promise<Task[]> {
  const out: Task[] = [];
  for (let i = 0; i < n; i += 100) {
    const ids = Array.from({ length: Math.min(100, n - i) }, (_, k) => i + k);
    out.push(
      ...await q.submitMany(
        ids.map((j) => [typeOf(j), { i: j }] as const),
        { timeoutSeconds: timeoutS, maxRetries: 20, retryPolicy: RETRY },
      ),
    );
  }
  return out;
}

/** One round: a fresh bucket (and, on moto, a fresh server), proxy, workers and `tasks` tasks. */
async function round(index: number, tasks: number): Promise<RoundResult> {
  const backend = currentBackend!;
  const procs: FixtureProcess[] = [];
  allProcs.push(procs);
  const bucket = await backend.newBucket();
  const prefix = `chaos-${shortId()}/`;
  proxy = await startChaosProxy({ upstream: backend.url!, faultRate, seed: seed + index });
  log(`round ${index + 1}: ${tasks} tasks; server ${backend.url}; proxy ${proxy.url}`);
  const direct = new Queue(backend.store(bucket), { prefix, warn: () => {} });
  const viaProxy = new Queue(backend.store(bucket, undefined, proxy.url), {
    prefix,
    warn: () => {},
  });

  const kills: Kill[] = [];
  let generation = 0;
  const workerArgs = (id: string) => [
    ...backend!.workerArgs(bucket, proxy!.url),
    ...[
      "--prefix",
      prefix,
      "--id",
      id,
      "--types",
      limits ? "chaos,chaos_lim,chaos_rated" : "chaos",
    ],
    ...["--record", "stdout"],
    ...["--concurrency", String(concurrency), "--sleep-ms", String(taskMs)],
    ...["--sleep-jitter-ms", String(taskMs), "--lease-grace-s", String(leaseGraceS)],
    ...["--monitor-interval-s", String(monitorIntervalS)],
    ...["--poll-ms", "200", "--max-poll-ms", "1000", "--wake-ms", "500", "--stats-ms", "2000"],
  ];
  const slots: FixtureProcess[] = [];
  const spawn = async (slot: number) => {
    const p = await startWorker(runtime, workerArgs(`w${slot}-g${generation++}`));
    procs.push(p);
    slots[slot] = p;
  };
  if (limits) {
    await direct.setLimit("chaos_lim", { concurrency: limitConcurrency });
    await direct.setLimit("chaos_rated", { ratePerSecond: limitRate });
  }
  await Promise.all(Array.from({ length: workers }, (_, i) => spawn(i)));
  log(`${workers} workers ready`);

  // Submit through the proxy while the workers run; a failed submit is retried with the same
  // idempotency key, which can never create a second task.
  const runId = `${shortId()}-r${index}`;
  const submitErrors: string[] = [];
  const t0 = Date.now();
  const submitting = batches ? submitBatches(direct, tasks) : mapLimit(
    Array.from({ length: tasks }, (_, i) => i),
    8,
    async (i) => {
      for (let round = 0;; round++) {
        try {
          return await viaProxy.submit(typeOf(i), { i }, {
            idempotencyKey: `${runId}-${i}`,
            timeoutSeconds: timeoutS,
            maxRetries: 20,
            retryPolicy: RETRY,
          });
        } catch (e) {
          submitErrors.push(`${(e as Error).name}: ${(e as Error).message.slice(0, 160)}`);
          if (round >= 10) throw e;
          await sleep(200 * (round + 1));
        }
      }
    },
  );

  // The killer: a random live worker every killEveryMs, restarted restartAfterMs later (the
  // restart does not delay the next kill).
  let killing = true;
  const restarts: Promise<void>[] = [];
  const killer = (async () => {
    while (killing) {
      await sleep(killEveryMs);
      if (!killing) break;
      const live = slots.map((p, i) => [p, i] as const).filter(([p]) => p.alive);
      if (live.length === 0) continue;
      const [victim, slot] = live[Math.floor(random() * live.length)]!;
      const done = new Set(victim.events.filter((e) => e.ev === "done").map((e) => e.task));
      const inFlight = victim.events.filter((e) => e.ev === "exec" && !done.has(e.task)).map((e) =>
        e.task as string
      );
      victim.kill("SIGKILL");
      kills.push({
        wall: Date.now(),
        at: Date.now() - t0,
        worker: victim.events[0]?.worker ?? "?",
        pid: victim.pid,
        inFlight,
      });
      restarts.push((async () => {
        await victim.exited;
        await sleep(restartAfterMs);
        if (killing) await spawn(slot).catch((e) => log(`restart failed: ${(e as Error).message}`));
      })());
    }
  })();

  const submitted: Task[] = await submitting;
  const ids = submitted.map((t) => t.id);
  log(
    `submitted ${ids.length} tasks in ${
      fmt((Date.now() - t0) / 1000, 1)
    } s (${submitErrors.length} submit errors retried)`,
  );

  // Wait until every task is completed (done lines, then the store for the rest).
  const doneIds = () => {
    const s = new Set<string>();
    for (const p of procs) for (const e of p.events) if (e.ev === "done") s.add(e.task as string);
    return s;
  };
  let lastCheck = 0;
  let lastLog = Date.now();
  const completedInStore = new Set<string>();
  const finished = await waitUntil(
    async () => {
      const done = doneIds();
      for (const id of completedInStore) done.add(id);
      if (Date.now() - lastLog > 10_000) {
        lastLog = Date.now();
        log(`  ${done.size}/${ids.length} completed, ${kills.length} kills`);
      }
      if (done.size >= ids.length) return true;
      if (Date.now() - lastCheck < 5000) return false;
      lastCheck = Date.now();
      const missing = ids.filter((id) => !done.has(id));
      if (missing.length > 200) return false;
      const cur = await mapLimit(missing, 8, (id) => direct.get(id).catch(() => null));
      for (const t of cur) if (t?.status === "completed") completedInStore.add(t.id);
      return cur.every((t) => t?.status === "completed");
    },
    deadlineMs,
    100,
  );
  const runSecs = (Date.now() - t0) / 1000;
  killing = false;
  await killer;
  await Promise.all(restarts);
  log(`${finished ? "all completed" : "TIMEOUT"} after ${fmt(runSecs, 1)} s; stopping workers`);
  await Promise.all(procs.map((p) => p.stop(20_000)));
  const proxyStats = proxy.stats();
  await proxy.close();
  proxy = undefined;

  // Verification, straight from the server.
  log("verifying: final records and histories");
  const finals = await mapLimit(ids, 8, (id) => direct.get(id));
  const statusCounts: Record<string, number> = {};
  for (const t of finals) {
    const s = t?.status ?? "missing";
    statusCounts[s] = (statusCounts[s] ?? 0) + 1;
  }
  const lost = ids.filter((_, i) => finals[i]?.status !== "completed");
  const histories = backend.versioned ? await histories_(direct, ids) : null;
  let completedTwice = 0;
  let changedAfterCompleted = 0;
  const endedAttempts = new Map<string, Map<number, string>>(); // task -> attempt -> error kind
  if (histories) {
    for (const [i, h] of histories.entries()) {
      const idx = h.findIndex((v) => v.status === "completed");
      const completedVersions = h.filter((v) => v.status === "completed").length;
      if (completedVersions > 1) completedTwice++;
      if (idx >= 0 && h.slice(idx + 1).some((v) => v.status !== "completed")) {
        changedAfterCompleted++;
      }
      const m = new Map<number, string>();
      for (const e of h[h.length - 1]?.errors ?? []) m.set(e.attempt, e.kind);
      endedAttempts.set(ids[i]!, m);
    }
  } else {
    for (const t of finals) {
      if (!t) continue;
      endedAttempts.set(t.id, new Map(t.errors.map((e) => [e.attempt, e.kind])));
    }
  }

  // The slowest tasks, each version of their history: where a long tail spent its time.
  if (histories) {
    const span = (h: Task[]) => {
      const done = h.find((v) => v.status === "completed");
      return done && h[0] ? done.updatedAt.getTime() - h[0].createdAt.getTime() : Infinity;
    };
    const slow = histories.map((h, i) => ({ h, i, ms: span(h) })).sort((a, b) => b.ms - a.ms);
    const clock = (d: Date) => d.toISOString().slice(11, 22);
    const killed = (w: string) => kills.find((k) => k.worker === w);
    log("slowest tasks (time: status attempt worker [killed at]; last error):");
    for (const { h, i, ms } of slow.slice(0, 5)) {
      const steps = h.map((v) => {
        const k = v.status === "running" && v.workerId ? killed(v.workerId) : undefined;
        return `${clock(v.updatedAt)} ${v.status} a${v.attempt}` +
          `${v.workerId ? ` ${v.workerId}` : ""}` +
          `${k ? ` [killed ${clock(new Date(k.wall))}]` : ""}${
            v.status === "pending" && v.lastError ? ` (${v.lastError.slice(0, 40)})` : ""
          }`;
      });
      log(`  ${ids[i]} ${(ms / 1000).toFixed(1)} s: ${steps.join(" | ")}`);
    }
  }

  // Executions: handler starts, from every process, killed ones included.
  const execs: FixtureEvent[] = procs.flatMap((p) => p.events.filter((e) => e.ev === "exec"));
  const byTask = new Map<string, FixtureEvent[]>();
  for (const e of execs) {
    const list = byTask.get(e.task as string) ?? [];
    list.push(e);
    byTask.set(e.task as string, list);
  }
  const killedPids = new Set(kills.map((k) => k.pid));
  let duplicateExecutions = 0;
  let attemptRanTwice = 0;
  const explained: Record<string, number> = {};
  const unexplained: string[] = [];
  for (const [id, list] of byTask) {
    const attempts = list.map((e) => e.attempt as number);
    if (new Set(attempts).size !== attempts.length) attemptRanTwice++;
    if (list.length <= 1) continue;
    duplicateExecutions += list.length - 1;
    const final = finals[ids.indexOf(id)];
    const ended = endedAttempts.get(id) ?? new Map();
    for (const e of list) {
      const a = e.attempt as number;
      if (final && a === final.attempt && final.status === "completed") continue;
      const kind = ended.get(a);
      if (kind === undefined) {
        unexplained.push(`${id} attempt ${a} (worker ${e.worker})`);
        continue;
      }
      const why = `${kind}${killedPids.has(e.pid) ? " (worker SIGKILLed)" : " (worker alive)"}`;
      explained[why] = (explained[why] ?? 0) + 1;
    }
  }
  const claimsWithoutExec =
    finals.filter((t) =>
      t && t.attempt > new Set((byTask.get(t.id) ?? []).map((e) => e.attempt)).size
    ).length;

  // Requests: the last stats line of every process (killed ones: up to 2 s before the kill).
  const counts = emptyCounts();
  const calls: CallCounts = {};
  const errors: Record<string, number> = {};
  let lostEvents = 0;
  for (const p of procs) {
    const s = p.lastStats();
    if (s) {
      addCounts(counts, s.counts as RequestCounts);
      addCalls(calls, s.calls as CallCounts);
    }
    for (const e of p.events) {
      if (e.ev === "lost") lostEvents++;
      if (e.ev === "error") {
        const k = `${String(e.context).split(" ")[0]}: ${e.name}`;
        errors[k] = (errors[k] ?? 0) + 1;
      }
    }
  }
  const producerCounts = viaProxy.store.counters.snapshot();
  const check = backend.store(bucket);
  const left = () =>
    Promise.all([
      check.list({ prefix: `${prefix}ready/` }),
      check.list({ prefix: `${prefix}deadlines/` }),
    ]);
  const [readyLeft, deadlinesLeft] = await left();
  // Entries left behind are stale hints (a worker killed between its task write and the
  // cleanup). Say what they point to, then let one monitor cycle past their deadlines and
  // one worker's listing of the lanes (a ready entry that indexed a finished task's lease
  // is a worker's to remove) remove them: they must not outlive those.
  const leftoverPointsTo: Record<string, number> = {};
  let latest = 0;
  for (const o of [...readyLeft.objects, ...deadlinesLeft.objects]) {
    const e = direct.keys.parseDeadline(o.key) ?? direct.keys.parseReady(o.key);
    const at = e && "at" in e ? e.at : e?.dueAt ?? 0;
    latest = Math.max(latest, at);
    const id = e && "taskId" in e ? e.taskId : undefined; // a lease group names several
    const t = id ? await direct.get(id) : null;
    const k = `${o.key.includes("/deadlines/") ? "deadline" : "ready"} -> ${t?.status ?? "?"}`;
    leftoverPointsTo[k] = (leftoverPointsTo[k] ?? 0) + 1;
  }
  let leftAfterMonitor = 0;
  if (readyLeft.objects.length + deadlinesLeft.objects.length > 0) {
    await sleep(Math.max(0, latest - direct.store.now()) + 2000);
    await new Monitor(direct).runOnce({ sweep: false });
    const types = limits ? ["chaos", "chaos_lim", "chaos_rated"] : ["chaos"];
    const lister = types.reduce(
      (w, t) =>
        w.task(t, () => {
          throw new Error("every task has finished: nothing to run");
        }),
      new Worker(direct, "chaos-check"),
    );
    await lister.runUntilIdle({ maxTimeMs: 30_000 });
    const [r2, d2] = await left();
    leftAfterMonitor = r2.objects.length + d2.objects.length;
  }
  // The limits, measured from the handler records (by wall time on this machine).
  const ofType = (t: string) => new Set(ids.filter((_, i) => typeOf(i) === t));
  const killedAt = new Map(kills.map((k) => [k.pid, k.wall]));
  const limRuns = limits ? intervals(procs, ofType("chaos_lim"), killedAt) : [];
  const limitOverlap = limits ? maxOverlap(limRuns) : null;
  if (limits) {
    const use = slotUse(limRuns, limitConcurrency);
    const killTimes = new Set(killedAt.values());
    log(
      `chaos_lim: slots in use ${(use.share * 100).toFixed(0)}% of the time, a slot free while ` +
        `work waited ${(use.freeSlotMs / 1000).toFixed(1)} slot-s; ${
          limRuns.filter(([, e]) => killTimes.has(e)).length
        } runs cut by a kill (each keeps its slot until its lease ends)`,
    );
  }
  const rateMax = limits ? maxInWindow(startTimes(procs, ofType("chaos_rated")), 1000) : null;
  const statusByType: Record<string, number> = {};
  if (limits) {
    finals.forEach((t, i) => {
      const k = `${typeOf(i)} ${t?.status ?? "missing"}`;
      statusByType[k] = (statusByType[k] ?? 0) + 1;
    });
  }
  const figures: Figures = {
    statusByType,
    limitOverlap,
    rateMax,
    tasks: ids.length,
    finished,
    runSecs,
    statusCounts,
    lost: lost.length,
    completedTwice,
    changedAfterCompleted,
    historyChecked: histories !== null,
    attemptRanTwice,
    executions: execs.length,
    duplicateExecutions,
    duplicatesExplained: explained,
    duplicatesUnexplained: unexplained.length,
    claimsWithoutExecRecord: claimsWithoutExec,
    tasksWithMoreThanOneAttempt: finals.filter((t) => (t?.attempt ?? 0) > 1).length,
    kills: kills.length,
    workerProcesses: procs.length,
    proxy: proxyStats,
    submitErrorsRetried: submitErrors.length,
    taskLostEvents: lostEvents,
    workerErrors: errors,
    leftover: { ready: readyLeft.objects.length, deadlines: deadlinesLeft.objects.length },
    leftoverPointsTo,
    leftAfterMonitor,
  };
  return {
    figures,
    kills,
    counts,
    producerCounts,
    calls,
    lostIds: lost.slice(0, 50),
    unexplained: unexplained.slice(0, 50),
    submitErrors: submitErrors.slice(0, 20),
  };
}

/**
 * Every version of every task, oldest first: one paged ListObjectVersions of the tasks prefix
 * and a GET per version (Queue.getHistory lists once per task, and every moto LIST scans the
 * whole bucket).
 */
async function histories_(queue: Queue, ids: string[]): Promise<Task[][]> {
  const byKey = new Map<string, string[]>();
  let keyMarker: string | undefined;
  let versionIdMarker: string | undefined;
  for (;;) {
    const page = await queue.store.listVersions({
      prefix: `${queue.keys.prefix}tasks/`,
      keyMarker,
      versionIdMarker,
    });
    for (const v of page.versions) {
      if (v.isDeleteMarker) continue;
      byKey.set(v.key, [...(byKey.get(v.key) ?? []), v.versionId]);
    }
    if (!page.isTruncated) break;
    keyMarker = page.nextKeyMarker;
    versionIdMarker = page.nextVersionIdMarker;
  }
  return await mapLimit(ids, 8, async (id) => {
    const key = queue.keys.task(id);
    const versions = await Promise.all((byKey.get(key) ?? []).map(async (versionId) => {
      const o = await queue.store.get(key, { versionId });
      return o && o.kind === "object" ? new Task(parseTaskRecord(key, o.body)) : null;
    }));
    return versions.filter((t): t is Task => t !== null).sort((a, b) => a.revision - b.revision);
  });
}

function sumInto(into: Record<string, number>, more: Record<string, number>): void {
  for (const [k, v] of Object.entries(more)) into[k] = (into[k] ?? 0) + v;
}

async function main(): Promise<number> {
  const started = Date.now();
  const machine = await machineInfo();
  log(
    `oq chaos on ${backendSpec}${quick ? " (quick)" : ""}: ${tasks} tasks in ${rounds} round(s), ` +
      `${workers} workers, ${faultRate * 100}% faults, SIGKILL every ${killEveryMs / 1000} s`,
  );
  const backend = currentBackend = await startBackend(backendSpec);
  if (!backend.url) {
    throw new Error("The chaos run needs an S3 backend (moto, dev, ceph, endpoint=URL)");
  }
  log(`backend ${backend.version}`);
  const interference = new Set<string>();
  const sample = async () => {
    for (const l of await busyProcesses(() => [processId(), ...backend.pids])) {
      if (!/worker_process\.ts|bench\/(main|chaos|dev_server)\.ts/.test(l)) {
        interference.add(`${new Date().toISOString().slice(11, 19)} ${l}`);
      }
    }
  };
  const sampler = setInterval(() => void sample(), 20_000);
  const serverRss = new RssSampler(() => backend.pids);
  const results: RoundResult[] = [];
  const serverPeaks: number[] = [];
  try {
    for (let r = 0; r < rounds; r++) {
      if (r > 0 && backend.restart) await backend.restart();
      serverRss.reset();
      const n = Math.floor(tasks / rounds) + (r < tasks % rounds ? 1 : 0);
      const res = await round(r, n);
      results.push(res);
      serverPeaks.push(serverRss.peakKb);
      const f = res.figures;
      log(
        `round ${r + 1}: ${f.statusCounts.completed ?? 0}/${f.tasks} completed, ${f.lost} lost, ` +
          `${f.completedTwice} completed twice, ${f.duplicateExecutions} duplicate executions ` +
          `(${f.duplicatesUnexplained} unexplained), ${f.kills} kills, ${fmt(f.runSecs, 1)} s`,
      );
    }
  } finally {
    clearInterval(sampler);
    serverRss.stop();
  }
  await sample();

  // Totals over the rounds.
  const total: Figures = {
    tasks: 0,
    finished: true,
    runSecs: 0,
    statusCounts: {},
    lost: 0,
    completedTwice: 0,
    changedAfterCompleted: 0,
    historyChecked: true,
    attemptRanTwice: 0,
    executions: 0,
    duplicateExecutions: 0,
    duplicatesExplained: {},
    duplicatesUnexplained: 0,
    claimsWithoutExecRecord: 0,
    tasksWithMoreThanOneAttempt: 0,
    kills: 0,
    workerProcesses: 0,
    proxy: { requests: 0, forwarded: 0, faults: {} },
    submitErrorsRetried: 0,
    taskLostEvents: 0,
    workerErrors: {},
    leftover: { ready: 0, deadlines: 0 },
    leftoverPointsTo: {},
    leftAfterMonitor: 0,
    limitOverlap: null,
    rateMax: null,
    statusByType: {},
  };
  const counts = emptyCounts();
  const producerCounts = emptyCounts();
  const calls: CallCounts = {};
  for (const { figures: f, ...r } of results) {
    for (
      const k of [
        "tasks",
        "runSecs",
        "lost",
        "completedTwice",
        "changedAfterCompleted",
        "attemptRanTwice",
        "executions",
        "duplicateExecutions",
        "duplicatesUnexplained",
        "claimsWithoutExecRecord",
        "tasksWithMoreThanOneAttempt",
        "kills",
        "workerProcesses",
        "submitErrorsRetried",
        "taskLostEvents",
      ] as const
    ) total[k] += f[k];
    total.finished &&= f.finished;
    total.historyChecked &&= f.historyChecked;
    sumInto(total.statusCounts, f.statusCounts);
    sumInto(total.statusByType, f.statusByType);
    sumInto(total.duplicatesExplained, f.duplicatesExplained);
    sumInto(total.workerErrors, f.workerErrors);
    sumInto(total.proxy.faults, f.proxy.faults);
    total.proxy.requests += f.proxy.requests;
    total.proxy.forwarded += f.proxy.forwarded;
    total.leftover.ready += f.leftover.ready;
    total.leftover.deadlines += f.leftover.deadlines;
    total.leftAfterMonitor += f.leftAfterMonitor;
    if (f.limitOverlap !== null) {
      total.limitOverlap = Math.max(total.limitOverlap ?? 0, f.limitOverlap);
    }
    if (f.rateMax !== null) total.rateMax = Math.max(total.rateMax ?? 0, f.rateMax);
    for (const [k, v] of Object.entries(f.leftoverPointsTo)) {
      total.leftoverPointsTo[k] = (total.leftoverPointsTo[k] ?? 0) + v;
    }
    addCounts(counts, r.counts);
    addCounts(producerCounts, r.producerCounts);
    addCalls(calls, r.calls);
  }
  const ok = total.finished && total.lost === 0 && total.completedTwice === 0 &&
    total.changedAfterCompleted === 0 && total.attemptRanTwice === 0 &&
    total.duplicatesUnexplained === 0 && (total.statusCounts.completed ?? 0) === total.tasks &&
    total.leftAfterMonitor === 0 && (total.limitOverlap ?? 0) <= limitConcurrency &&
    (total.rateMax ?? 0) <= limitRate;
  const md = chaosMarkdown({
    command: `npm run chaos -- ${cliArgs().join(" ")}`,
    startedAt: new Date(started).toISOString(),
    durationSecs: (Date.now() - started) / 1000,
    machine,
    backend: backend.version,
    settings: {
      tasks,
      rounds,
      workers,
      concurrency,
      faultRate,
      killEveryMs,
      restartAfterMs,
      taskMs: `${taskMs} + up to ${taskMs} jitter`,
      timeoutS,
      leaseGraceS,
      monitorIntervalS,
      seed,
      runtime,
      poll: "pollIntervalMs 200, maxPollIntervalMs 1000, wakeCheckIntervalMs 500",
      limits: limits
        ? `chaos_lim concurrency ${limitConcurrency}, chaos_rated ${limitRate}/s, a quarter of the tasks each`
        : "none",
    },
    interference: [...interference],
    figures: total,
    rounds: results.map((r, i) => ({ ...r.figures, serverPeakRssKb: serverPeaks[i] ?? 0 })),
    ok,
    kills: results.flatMap((r) => r.kills),
    counts,
    producerCounts,
    calls,
    lostIds: results.flatMap((r) => r.lostIds),
    unexplained: results.flatMap((r) => r.unexplained),
    submitErrors: results.flatMap((r) => r.submitErrors).slice(0, 20),
  });
  await makeDir(outDir);
  const file = `${outDir}/${
    new Date(started).toISOString().replace(/[:]/g, "").replace(/\..*$/, "")
  }-chaos-${backend.name}${quick ? "-quick" : ""}.md`;
  await writeFileAtomic(file, md);
  log("");
  log(
    `Chaos ${ok ? "PASSED" : "FAILED"}: ${total.tasks} tasks, ${
      total.statusCounts.completed ?? 0
    } completed, ${total.lost} lost, ${total.completedTwice} completed twice, ` +
      `${total.attemptRanTwice} attempts run twice`,
  );
  log(
    `- ${total.kills} SIGKILLs, ${total.workerProcesses} worker processes; proxy: ` +
      `${total.proxy.requests} requests, faults ${JSON.stringify(total.proxy.faults)}`,
  );
  log(
    `- ${total.executions} executions, ${total.duplicateExecutions} duplicates: explained ${
      JSON.stringify(total.duplicatesExplained)
    }, unexplained ${total.duplicatesUnexplained}`,
  );
  log(
    `- ${fmt(total.runSecs, 1)} s running, ${fmt(total.tasks / total.runSecs, 1)} tasks/s; ` +
      `leftover index entries ${JSON.stringify(total.leftover)} ${
        JSON.stringify(total.leftoverPointsTo)
      }, ${total.leftAfterMonitor} after a monitor cycle; interference: ${interference.size} ` +
      `busy process(es)`,
  );
  if (limits) {
    log(
      `- limits: at most ${total.limitOverlap} chaos_lim handlers at once (limit ${limitConcurrency}), ` +
        `at most ${total.rateMax} chaos_rated starts in a second (limit ${limitRate}); ` +
        JSON.stringify(total.statusByType),
    );
  }
  log(`results: ${file.replace(ROOT, "")}`);
  currentBackend = undefined;
  await backend.stop();
  return ok ? 0 : 1;
}

function chaosMarkdown(
  r: RoundResult & {
    command: string;
    startedAt: string;
    durationSecs: number;
    machine: Record<string, string>;
    backend: string;
    settings: Record<string, unknown>;
    interference: string[];
    rounds: Array<Figures & { serverPeakRssKb: number }>;
    ok: boolean;
  },
): string {
  const f = r.figures;
  const n = Math.max(1, f.tasks);
  const lines = [
    `# oq chaos run: ${r.ok ? "PASSED" : "FAILED"}, ${r.startedAt}`,
    "",
    `Command: \`${r.command}\` (${fmt(r.durationSecs, 0)} s)`,
    "",
    "## Machine and versions",
    "",
    table(["", ""], [...Object.entries(r.machine), ["backend", r.backend]]),
    "",
    "Settings: `" + JSON.stringify(r.settings) + "`",
    "",
    "## Interference",
    "",
    r.interference.length
      ? "Processes not started by this run that used more than 10% of a core during a 1 s sample " +
        `(every 20 s; the machine has ${r.machine.nproc} cores):\n\n` +
        r.interference.map((l) => `- ${l}`).join("\n")
      : "No other busy process seen during the run.",
    "",
    "## Results",
    "",
    table(["figure", "value"], [
      ["tasks submitted", String(f.tasks)],
      ["final states", JSON.stringify(f.statusCounts)],
      ["lost (not completed)", String(f.lost)],
      [
        "completed twice in the record (versions with status completed > 1)",
        String(f.completedTwice),
      ],
      ["changed after completed (history)", String(f.changedAfterCompleted)],
      ["history checked (versioned bucket)", String(f.historyChecked)],
      ["(task, attempt) executed twice", String(f.attemptRanTwice)],
      ["executions (handler starts)", String(f.executions)],
      ["duplicate executions", String(f.duplicateExecutions)],
      [
        "duplicates explained, by how the earlier attempt ended",
        JSON.stringify(f.duplicatesExplained),
      ],
      ["duplicates unexplained", String(f.duplicatesUnexplained)],
      ["tasks with more than one attempt", String(f.tasksWithMoreThanOneAttempt)],
      [
        "claims without an execution record (killed between claim and handler start)",
        String(f.claimsWithoutExecRecord),
      ],
      ["SIGKILLs", String(f.kills)],
      ["worker processes started", String(f.workerProcesses)],
      ["run time s (first submit to last completion, summed over rounds)", fmt(f.runSecs, 1)],
      ["throughput tasks/s", fmt(f.tasks / f.runSecs, 1)],
      ["proxy requests / forwarded", `${f.proxy.requests} / ${f.proxy.forwarded}`],
      ["faults injected", JSON.stringify(f.proxy.faults)],
      [
        "submits that failed and were retried (same idempotency key)",
        String(f.submitErrorsRetried),
      ],
      ["task:lost events (outcome not recorded: lease lost first)", String(f.taskLostEvents)],
      ["worker errors by context", JSON.stringify(f.workerErrors)],
      ["index entries left (ready, deadlines)", JSON.stringify(f.leftover)],
      ["what they point to", JSON.stringify(f.leftoverPointsTo)],
      ["left after one monitor cycle past their deadlines", String(f.leftAfterMonitor)],
      ...(f.limitOverlap === null ? [] : [
        [
          "most chaos_lim handlers at once (wall time; a killed run counted until the kill)",
          `${f.limitOverlap} (limit ${limitConcurrency})`,
        ],
        ["most chaos_rated handler starts in any 1 s window", `${f.rateMax} (limit ${limitRate})`],
        ["final states by type", JSON.stringify(f.statusByType)],
      ]),
    ]),
    "",
    "## Rounds",
    "",
    r.rounds.length > 1
      ? "Each round ran on a fresh server and bucket (see the settings: moto's ListObjectVersions " +
        "copies every version of the bucket on each call, so its time and memory grow with the " +
        "bucket; rounds keep both bounded)."
      : "One round.",
    "",
    table(
      [
        "round",
        "tasks",
        "completed",
        "lost",
        "completed twice",
        "duplicates (unexplained)",
        "kills",
        "run s",
        "tasks/s",
        "faults",
        "server peak RSS MiB",
      ],
      r.rounds.map((x, i) => [
        i + 1,
        x.tasks,
        x.statusCounts.completed ?? 0,
        x.lost,
        x.completedTwice,
        `${x.duplicateExecutions} (${x.duplicatesUnexplained})`,
        x.kills,
        fmt(x.runSecs, 1),
        fmt(x.tasks / x.runSecs, 1),
        Object.values(x.proxy.faults).reduce((a, b) => a + b, 0),
        fmt(x.serverPeakRssKb / 1024, 0),
      ]),
    ),
    "",
    "## Requests",
    "",
    "HTTP attempts (retries included) from the workers' last stats lines (a killed worker's last line is " +
    "up to 2 s old) and the producer; per task in parentheses.",
    "",
    table(
      ["", ...REQUEST_KINDS],
      [
        ["workers", ...REQUEST_KINDS.map((k) => `${r.counts[k]} (${fmt(r.counts[k] / n)})`)],
        [
          "producer",
          ...REQUEST_KINDS.map((k) => `${r.producerCounts[k]} (${fmt(r.producerCounts[k] / n)})`),
        ],
      ],
    ),
    "",
    "Worker calls by operation and key: `" + JSON.stringify(r.calls) + "`",
    "",
    "## Kills",
    "",
    table(
      ["at s", "worker", "pid", "tasks in flight (exec without done)"],
      r.kills.map((k) => [fmt(k.at / 1000, 1), k.worker, k.pid, k.inFlight.length]),
    ),
    "",
  ];
  if (r.lostIds.length) lines.push("Lost tasks: " + r.lostIds.join(", "), "");
  if (r.unexplained.length) lines.push("Unexplained duplicates: " + r.unexplained.join("; "), "");
  if (r.submitErrors.length) {
    lines.push("Submit errors (first 20): " + r.submitErrors.join("; "), "");
  }
  lines.push(
    "## Raw figures",
    "",
    "```json",
    JSON.stringify({ total: r.figures, rounds: r.rounds }, null, 1),
    "```",
    "",
  );
  return lines.join("\n");
}

await exitProcess(
  await main().catch(async (e) => {
    log(`chaos failed: ${(e as Error).stack ?? e}`);
    for (const p of allProcs.flat()) p.kill("SIGKILL");
    await proxy?.close().catch(() => undefined);
    await currentBackend?.stop().catch(() => undefined);
    return 2;
  }),
);
