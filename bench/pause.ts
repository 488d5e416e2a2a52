/**
 * How fast pause and resume take effect across workers: tasks of one type arrive steadily
 * (one every 100 ms) while W workers (each with its own client and poll schedule) run them;
 * the type is paused and resumed several times. For each round: the pause latency (the last
 * claim after `pause()` returned, by the claiming worker's store clock) and the resume
 * latency (the first claim after `resume()` returned). The last round pauses for longer than
 * `idleAfterMs`, so the workers' lanes of the type have gone idle and only the wake-up
 * signal brings them back.
 *
 *   node --import tsx bench/pause.ts [--backend dev|moto|ceph] [--workers 3] [--rounds 4]
 *     [--out bench/results]
 */
import { parseArgs } from "node:util";
import { mkdir, writeFile } from "node:fs/promises";
import { Queue, Worker } from "../mod.ts";
import { DEFAULT_POLL_SETTINGS } from "../src/worker/poll_schedule.ts";
import { startBackend } from "./backends.ts";

const { values } = parseArgs({
  options: {
    backend: { type: "string", default: "dev" },
    workers: { type: "string", default: "3" },
    rounds: { type: "string", default: "4" },
    out: { type: "string", default: "bench/results" },
  },
});
const W = Number(values.workers);
const ROUNDS = Number(values.rounds);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const backend = await startBackend(values.backend!);
const starts: number[] = [];
const workers: Worker[] = [];
const runs: Promise<void>[] = [];
let producing = true;
const lines: string[] = [];
try {
  const bucket = await backend.newBucket();
  const opts = { prefix: "pause-bench/", warn: () => {} };
  const producer = new Queue(backend.store(bucket), opts);
  for (let i = 0; i < W; i++) {
    const q = new Queue(backend.store(bucket), opts);
    const w = new Worker(q, `w${i}`).task("a", async () => {
      starts.push(q.context.clock.now());
      await sleep(50);
    });
    workers.push(w);
    runs.push(w.run({ concurrency: 4, withMonitor: false }));
  }
  const production = (async () => {
    while (producing) {
      await producer.submit("a", {});
      await sleep(100);
    }
  })();
  const pauseMs: number[] = [];
  const resumeMs: number[] = [];
  const pausedFor: number[] = [];
  await sleep(3000);
  for (let round = 0; round <= ROUNDS; round++) {
    const long = round === ROUNDS;
    const hold = long ? DEFAULT_POLL_SETTINGS.idleAfterMs + 10_000 : 8000;
    await producer.pause("a");
    const pausedAt = producer.context.clock.now();
    await sleep(hold);
    const after = starts.filter((t) => t > pausedAt);
    pauseMs.push(after.length ? Math.max(...after) - pausedAt : 0);
    await producer.resume("a");
    const resumedAt = producer.context.clock.now();
    const seen = Date.now();
    while (!starts.some((t) => t > resumedAt) && Date.now() - seen < 60_000) await sleep(20);
    const first = starts.filter((t) => t > resumedAt);
    resumeMs.push(first.length ? Math.min(...first) - resumedAt : NaN);
    pausedFor.push(hold);
    await sleep(2000);
  }
  producing = false;
  await production;
  const rows = pauseMs.map((p, i) =>
    `| ${i + 1} | ${pausedFor[i]! / 1000} s | ${p} ms | ${resumeMs[i]} ms |`
  );
  lines.push(
    `# Pause and resume latency (${backend.name}, ${backend.version})`,
    "",
    `${W} workers (one process, a client and poll schedule each), concurrency 4, one task of ` +
      `the type submitted every 100 ms, wakeCheckIntervalMs ${DEFAULT_POLL_SETTINGS.wakeCheckIntervalMs}. ` +
      `Pause latency: the last claim after pause() returned (0: none); resume latency: the ` +
      `first claim after resume() returned; both by the store clock. The last round holds ` +
      `the pause past idleAfterMs (${DEFAULT_POLL_SETTINGS.idleAfterMs} ms).`,
    "",
    "| round | paused for | last claim after pause | first claim after resume |",
    "| ----- | ---------- | ---------------------- | ------------------------ |",
    ...rows,
    "",
    `Max pause latency ${Math.max(...pauseMs)} ms; resume latency max ${
      Math.max(...resumeMs)
    } ms, min ${Math.min(...resumeMs)} ms; ${starts.length} tasks run.`,
  );
} finally {
  producing = false;
  await Promise.all(workers.map((w) => w.stop()));
  await Promise.allSettled(runs);
  await backend.stop();
}
const report = lines.join("\n") + "\n";
console.log(report);
await mkdir(values.out!, { recursive: true });
const file = `${values.out}/pause-${values.backend}-${new Date().toISOString().slice(0, 10)}.md`;
await writeFile(file, report);
console.log(`wrote ${file}`);
