/**
 * Concurrency and rate limits across worker processes (issue 19). W worker processes
 * (harness/worker_process.ts, each its own client, poll schedule and monitor) handle two
 * limited types:
 *
 * - `lim`, limited to `--concurrency` running at once: T tasks that each sleep; one worker
 *   is SIGKILLed while it runs one. Every handler's start and end (wall time, one machine)
 *   is recorded; the maximum overlap must not exceed the limit, and every task completes.
 *   A killed worker's handler counts as running until the kill.
 * - `rated`, limited to `--rate` starts per second: the maximum number of handler starts in
 *   any one-second window must not exceed it.
 *
 * Also reports the limit objects' requests per task (from the surviving workers' counters).
 *
 *   node --import tsx bench/limits.ts [--backend moto|ceph|dev] [--workers 4]
 *     [--concurrency 3] [--tasks 60] [--rate 5] [--rated-tasks 40] [--out bench/results]
 */
import { parseArgs } from "node:util";
import { mkdir, writeFile } from "node:fs/promises";
import { Queue } from "../mod.ts";
import { type FixtureEvent, type FixtureProcess, startWorker } from "../harness/procs.ts";
import { startBackend } from "./backends.ts";
import { intervals, maxInWindow, maxOverlap, slotUse, startTimes } from "./limit_checks.ts";

const { values } = parseArgs({
  options: {
    backend: { type: "string", default: "moto" },
    workers: { type: "string", default: "4" },
    concurrency: { type: "string", default: "3" },
    tasks: { type: "string", default: "60" },
    rate: { type: "string", default: "5" },
    "rated-tasks": { type: "string", default: "40" },
    out: { type: "string", default: "bench/results" },
  },
});
const W = Number(values.workers);
const N = Number(values.concurrency);
const T = Number(values.tasks);
const R = Number(values.rate);
const TR = Number(values["rated-tasks"]);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const backend = await startBackend(values.backend!);
const procs: FixtureProcess[] = [];
const lines: string[] = [];
try {
  const bucket = await backend.newBucket();
  const prefix = "limits-bench/";
  const queue = new Queue(backend.store(bucket), { prefix, warn: () => {} });
  await queue.setLimit("lim", { concurrency: N });
  await queue.setLimit("rated", { ratePerSecond: R });
  for (let i = 0; i < W; i++) {
    procs.push(
      await startWorker("node", [
        ...backend.workerArgs(bucket),
        ...["--prefix", prefix, "--id", `w${i}`, "--types", "lim,rated,free"],
        ...["--concurrency", "4", "--lease-grace-s", "2", "--monitor-interval-s", "2"],
        ...["--stats-ms", "1000"],
      ]),
    );
  }
  // Phase 1: the concurrency limit, with a worker killed mid-task.
  const t0 = Date.now();
  const lim = await queue.submitMany(
    Array.from({ length: T }, () => ["lim", { sleepMs: 400 }, { timeoutSeconds: 10 }] as const),
  );
  const limIds = new Set(lim.map((t) => t.id));
  const victim = procs[0]!;
  const killedAt = new Map<number, number>();
  const running = () => {
    const ended = new Set(victim.events.filter((e) => e.ev === "end").map((e) => e.task));
    return victim.events.some((e) =>
      e.ev === "exec" && limIds.has(e.task as string) && !ended.has(e.task)
    );
  };
  const seenAt = Date.now();
  while (!running() && Date.now() - seenAt < 60_000) await sleep(5);
  if (!running()) throw new Error("the victim never ran a limited task");
  await sleep(100);
  victim.kill("SIGKILL");
  killedAt.set(victim.pid, Date.now());
  const done = async (ids: Set<string>) => {
    let n = 0;
    for (const id of ids) if ((await queue.get(id))?.status === "completed") n++;
    return n;
  };
  const waitAll = async (ids: Set<string>, ms: number) => {
    const end = Date.now() + ms;
    while (Date.now() < end) {
      const n = await done(ids);
      if (n === ids.size) return n;
      await sleep(1000);
    }
    return await done(ids);
  };
  const limDone = await waitAll(limIds, 240_000);
  const phase1Ms = Date.now() - t0;
  const limRuns = intervals(procs, limIds, killedAt);
  const overlap = maxOverlap(limRuns);
  const use = slotUse(limRuns, N);

  // Phase 2: the rate limit (and an unlimited type beside it).
  const t1 = Date.now();
  const rated = await queue.submitMany(
    Array.from({ length: TR }, () => ["rated", { sleepMs: 50 }] as const),
  );
  const free = await queue.submitMany(
    Array.from({ length: 20 }, () => ["free", { sleepMs: 50 }] as const),
  );
  const ratedIds = new Set(rated.map((t) => t.id));
  const ratedDone = await waitAll(ratedIds, 240_000);
  await waitAll(new Set(free.map((t) => t.id)), 60_000);
  const phase2Ms = Date.now() - t1;
  const starts = startTimes(procs, ratedIds);
  const maxRate = maxInWindow(starts, 1000);
  const attempts = await Promise.all(rated.map(async (t) => (await queue.get(t.id))!.attempt));
  // Claims given back unstarted: their handler would have started too late after the recorded
  // start (src/worker/limiter.ts).
  const givenBack = procs.reduce(
    (n, p) =>
      n + p.events.filter((e) => e.ev === "released" && ratedIds.has(e.task as string)).length,
    0,
  );

  // Requests on the limit objects, from the survivors' final counters.
  const survivors = procs.slice(1);
  await Promise.all(survivors.map((p) => p.stop()));
  const calls: Record<string, number> = {};
  for (const p of survivors) {
    const exit = p.events.findLast((e: FixtureEvent) => e.ev === "exit" || e.ev === "stats");
    for (const [k, v] of Object.entries((exit?.calls ?? {}) as Record<string, number>)) {
      if (k.includes("control/")) calls[k] = (calls[k] ?? 0) + v;
    }
  }
  const ran = survivors.reduce(
    (n, p) => n + p.events.filter((e) => e.ev === "done").length,
    0,
  );
  lines.push(
    `# Limits across worker processes (${backend.name}, ${backend.version})`,
    "",
    `${W} worker processes (node; concurrency 4 each, monitor every 2 s, lease grace 2 s).`,
    "",
    `Concurrency: ${T} tasks of \`lim\` (limit ${N}, each sleeps 400 ms, timeout 10 s); ` +
      `worker w0 SIGKILLed while running one. Completed ${limDone}/${T} in ${phase1Ms} ms. ` +
      `**Maximum overlap of handler runs: ${overlap} (limit ${N})**, by wall time on this machine, ` +
      `the killed worker's run counted until the kill. Slots in use ${
        (use.share * 100).toFixed(0)
      }% of ${N} x (first start to last end); a slot stood free while work waited for ${
        (use.freeSlotMs / 1000).toFixed(1)
      } slot-s (the killed worker's slot until its lease ended included).`,
    "",
    `Rate: ${TR} tasks of \`rated\` (limit ${R}/s, each sleeps 50 ms) beside 20 unlimited ones. ` +
      `Completed ${ratedDone}/${TR} in ${phase2Ms} ms. **Most handler starts in any 1 s window: ` +
      `${maxRate} (limit ${R})**. Attempts per task: max ${
        Math.max(...attempts)
      } (a task the limit ` +
      `held back spent no attempt). Claims given back unstarted (too late after their ` +
      `recorded start): ${givenBack}.`,
    "",
    `Requests on control objects by the ${survivors.length} surviving workers (${ran} tasks run ` +
      `by them, all types): ${JSON.stringify(calls)}.`,
  );
  if (overlap > N) lines.push("", `FAIL: overlap ${overlap} > ${N}`);
  if (maxRate > R) lines.push("", `FAIL: ${maxRate} starts in a second > ${R}`);
  if (limDone !== T || ratedDone !== TR) lines.push("", "FAIL: not every task completed");
} finally {
  await Promise.all(procs.map((p) => p.stop(5000).catch(() => {})));
  await backend.stop();
}
const report = lines.join("\n") + "\n";
console.log(report);
await mkdir(values.out!, { recursive: true });
const stamp = new Date().toISOString().slice(0, 19).replace(/:/g, "");
const file = `${values.out}/limits-${values.backend}-${stamp}.md`;
await writeFile(file, report);
console.log(`wrote ${file}`);
