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

/** Handler intervals [start, end] from the processes' events; a killed one's open run ends at the kill. */
function intervals(
  procs: FixtureProcess[],
  type: Set<string>,
  killedAt: Map<number, number>,
): Array<[number, number]> {
  const out: Array<[number, number]> = [];
  for (const p of procs) {
    const ends = new Map<string, number>();
    for (const e of p.events) {
      if (e.ev === "end") ends.set(`${e.task}/${e.attempt}`, e.at as number);
    }
    for (const e of p.events) {
      if (e.ev !== "exec" || !type.has(e.task as string)) continue;
      const end = ends.get(`${e.task}/${e.attempt}`) ?? killedAt.get(p.pid) ?? Infinity;
      out.push([e.at as number, end]);
    }
  }
  return out;
}

/** Most intervals open at one instant (an end at t closes before a start at t). */
function maxOverlap(iv: Array<[number, number]>): number {
  const points = iv.flatMap(([s, e]) => [[s, 1], [e, -1]] as Array<[number, number]>)
    .sort((a, b) => a[0] - b[0] || a[1] - b[1]);
  let cur = 0;
  let max = 0;
  for (const [, d] of points) max = Math.max(max, cur += d);
  return max;
}

/** Most starts in any window of `ms` (half-open, as the limit counts them). */
function maxInWindow(starts: number[], ms: number): number {
  const s = [...starts].sort((a, b) => a - b);
  let max = 0;
  let j = 0;
  for (let i = 0; i < s.length; i++) {
    while (s[i]! - s[j]! >= ms) j++;
    max = Math.max(max, i - j + 1);
  }
  return max;
}

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
  const overlap = maxOverlap(intervals(procs, limIds, killedAt));

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
  const starts = procs.flatMap((p) =>
    p.events.filter((e) => e.ev === "exec" && ratedIds.has(e.task as string)).map((e) =>
      e.at as number
    )
  );
  const maxRate = maxInWindow(starts, 1000);
  const attempts = await Promise.all(rated.map(async (t) => (await queue.get(t.id))!.attempt));

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
      `the killed worker's run counted until the kill.`,
    "",
    `Rate: ${TR} tasks of \`rated\` (limit ${R}/s, each sleeps 50 ms) beside 20 unlimited ones. ` +
      `Completed ${ratedDone}/${TR} in ${phase2Ms} ms. **Most handler starts in any 1 s window: ` +
      `${maxRate} (limit ${R})**. Attempts per task: max ${
        Math.max(...attempts)
      } (a task the limit ` +
      `held back spent no attempt).`,
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
const file = `${values.out}/limits-${values.backend}-${new Date().toISOString().slice(0, 10)}.md`;
await writeFile(file, report);
console.log(`wrote ${file}`);
