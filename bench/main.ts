/**
 * The benchmark harness: `npm run bench -- --backend moto|ceph|dev|memory|endpoint=URL
 * [--tasks N] [--workers 1,2,4,8] [--concurrency C] [--rate R --duration T] [--quick]`.
 *
 * 1. Starts the backend itself (scripts/moto.sh, scripts/ceph.sh, `oq dev` in a child
 *    process, the memory store, or an external endpoint).
 * 2. Measures the server's raw capacity (PUT/GET/LIST/DELETE per second) at each
 *    concurrency the workloads use.
 * 3. Burn-down with 1, 2, 4, 8 worker processes; then a steady-rate run.
 * 4. Backlog scaling of a poll + claim and of a monitor cycle (memory: 0, 10,000, 100,000
 *    tasks; the S3 backend: 0 and 10,000 index entries).
 * 5. Writes bench/results/{date}-bench-{backend}.md and prints a summary.
 *
 * Other flags: --runtime node|bun|deno (worker processes), --steady-workers N,
 * --backlog 0,10000,100000 (memory sizes), --backlog-s3 0,10000, --raw-ms MS,
 * --skip raw,burn,steady,backlog, --timeout S (per workload), --out DIR, --note TEXT,
 * --submit many|single|single-alone (how the burn-down's producer submits: `submitMany` in
 * calls of 1,000, the default; `submit()` with 64 calls in flight, coalesced as the library
 * does by default; or the same with `submitCoalescing: false`), --linger-ms MS (the
 * producer's `submitCoalescing.lingerMs`, burn-down and steady).
 */
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
import { backlogOnMemory, backlogOnS3, type BacklogPoint } from "./backlog.ts";
import { type BenchBackend, startBackend } from "./backends.ts";
import { fillBucket, lastReplayErrors, measureRaw, type RawCapacity, replayMix } from "./raw.ts";
import { type BenchRun, classes, efficiency, markdown, perTask, targets } from "./report.ts";
import {
  busyProcesses,
  fmt,
  listArg,
  machineInfo,
  numberArg,
  parseArgs,
  ROOT,
  RssSampler,
  shortId,
} from "./util.ts";
import { runWorkload, type WorkloadOptions, type WorkloadResult } from "./workload.ts";

const args = parseArgs(cliArgs());
const quick = args.has("quick");
const backendSpec = args.get("backend") ?? "moto";
const tasks = numberArg(args, "tasks", quick ? 100 : 2000);
const workerCounts = listArg(args, "workers", quick ? [1, 2] : [1, 2, 4, 8]);
const concurrency = numberArg(args, "concurrency", 4);
const rate = numberArg(args, "rate", quick ? 4 : 5);
const durationS = numberArg(args, "duration", quick ? 5 : 30);
const steadyWorkers = numberArg(args, "steady-workers", Math.min(2, Math.max(...workerCounts)));
const runtime = (args.get("runtime") ?? "node") as RuntimeName;
const submitMode = args.get("submit") ?? "many";
if (!["many", "single", "single-alone"].includes(submitMode)) {
  throw new Error(`--submit: many, single or single-alone, not ${submitMode}`);
}
const lingerMs = args.has("linger-ms") ? Number(args.get("linger-ms")) : undefined;
const rawMs = numberArg(args, "raw-ms", quick ? 700 : 3000);
const memorySizes = listArg(args, "backlog", quick ? [0, 10_000] : [0, 10_000, 100_000]);
const s3Sizes = listArg(args, "backlog-s3", [0, 10_000]);
const skip = new Set((args.get("skip") ?? "").split(",").filter(Boolean));
const timeoutMs = numberArg(args, "timeout", quick ? 60 : 600) * 1000;
const outDir = args.get("out") ?? `${ROOT}bench/results`;
// A fresh moto per workload in full runs (--restart / --no-restart to choose).
const freshServer = args.has("restart") || (!quick && !args.has("no-restart"));
const maxServerRssKb = numberArg(args, "max-server-rss-gb", 6) * 1024 * 1024;
// Extra flags for every worker process, e.g. "--poll-ms 2000" (harness/worker_process.ts).
const workerArgs = (args.get("worker-args") ?? "").split(/\s+/).filter(Boolean);
if (!["node", "bun", "deno"].includes(runtime)) throw new RangeError(`Unknown runtime ${runtime}`);

const log = (line: string) => writeStd("stdout", line + "\n");
const started = Date.now();
const notes: string[] = [];
if (args.has("note")) notes.push(args.get("note")!);
const interference = new Set<string>();
let backend: BenchBackend | undefined;

async function sampleInterference(): Promise<void> {
  const own = () => [processId(), ...(backend?.pids ?? [])];
  for (const l of await busyProcesses(own)) {
    // Our own harness and worker processes are expected; everything else is interference.
    if (/worker_process\.ts|bench\/(main|dev_server|chaos)\.ts/.test(l)) continue;
    interference.add(`${new Date().toISOString().slice(11, 19)} ${l}`);
  }
}

onTermSignals(async () => {
  log("interrupted: stopping the backend");
  await backend?.stop().catch(() => undefined);
  await exitProcess(130);
});

async function main(): Promise<number> {
  const machine = await machineInfo();
  log(
    `oq bench on ${backendSpec}${
      quick ? " (quick)" : ""
    }: ${machine.nproc} cores, ${machine.memory}`,
  );
  backend = await startBackend(backendSpec);
  log(`backend: ${backend.version}${backend.url ? ` at ${backend.url}` : ""}`);
  const sampler = setInterval(() => void sampleInterference(), 20_000);
  const serverRss = new RssSampler(() => backend?.pids ?? []);
  // moto: a fresh server per workload (its ListObjectVersions leaks memory and slows down
  // with the size of the bucket; see the notes in the result file).
  const fresh = async () => {
    if (freshServer && backend?.restart) {
      await backend.restart();
      serverRss.reset();
    }
  };
  const abort = () =>
    serverRss.lastKb > maxServerRssKb
      ? `server RSS ${fmt(serverRss.lastKb / 1024 / 1024, 1)} GiB over --max-server-rss-gb`
      : null;
  // What every workload shares; each adds its kind and worker count.
  const workload = {
    tasks,
    rate,
    durationS,
    concurrency,
    runtime,
    timeoutMs,
    workerArgs,
    abort,
    submitMode: submitMode as WorkloadOptions["submitMode"],
    lingerMs,
  };
  if (backend.restart && freshServer) {
    notes.push(
      "moto was restarted before the raw measurement and before each workload: moto 5.2.1's " +
        "ListObjectVersions scans the whole bucket and leaks memory on every call (measured here: " +
        "~4 MB and 140-200 ms per call with 2,000 objects in the bucket, 17 ms and ~0 MB with 10; " +
        "ListObjectsV2 neither leaks nor slows down), and oq lists its indexes with ListObjectVersions.",
    );
  }
  await sampleInterference();
  const raw: RawCapacity[] = [];
  const workloads: WorkloadResult[] = [];
  const backlog: Array<{ where: string; points: BacklogPoint[] }> = [];
  // A lane page during a burn-down: each of 4 shards' lanes starts with tasks/4 entries and
  // empties; a LIST returns at most 100.
  const listKeys = Math.max(1, Math.min(100, Math.ceil(tasks / 8)));
  if (!skip.has("raw")) await fresh();
  const rawBucket = skip.has("raw") ? undefined : await backend.newBucket();
  try {
    if (rawBucket) {
      const levels = [...new Set(workerCounts.map((w) => Math.min(64, w * concurrency)))];
      const store = backend.store(rawBucket);
      // A burn-down bucket holds about 2 versions per task at the start and 3 at the end.
      const fill = Math.round(2.5 * tasks);
      log(`raw capacity: filling a bucket with ${fill} objects first`);
      await fillBucket(store, "raw/", fill);
      for (const c of levels) {
        const r = await measureRaw(store, `raw-${shortId()}/`, c, rawMs, listKeys);
        raw.push(r);
        log(
          `raw capacity at concurrency ${c}: PUT ${fmt(r.PUT.perSec, 0)}/s, GET ${
            fmt(r.GET.perSec, 0)
          }/s, LIST ${fmt(r.LIST.perSec, 0)}/s, DELETE ${fmt(r.DELETE.perSec, 0)}/s`,
        );
      }
    }
    const run = (): BenchRun => ({
      command: `npm run bench -- ${cliArgs().join(" ")}`,
      startedAt: new Date(started).toISOString(),
      durationSecs: (Date.now() - started) / 1000,
      machine,
      backend: { name: backend!.name, version: backend!.version },
      settings: {
        tasks,
        workers: workerCounts,
        concurrency,
        rate,
        durationS,
        steadyWorkers,
        runtime,
        submitMode,
        lingerMs,
        rawMs,
        listKeys,
        memorySizes,
        s3Sizes,
        pollSettings: workerArgs.length
          ? `worker flags: ${workerArgs.join(" ")}`
          : "library defaults",
      },
      interference: [...interference],
      raw,
      workloads,
      backlog,
      notes,
    });
    if (!skip.has("burn")) {
      for (const w of workerCounts) {
        log(`burn-down: ${tasks} tasks, ${w} worker(s) x ${concurrency}`);
        await fresh();
        const r = await runWorkload(backend, { ...workload, kind: "burn-down", workers: w }, log);
        r.serverPeakRssKb = serverRss.peakKb;
        if (rawBucket && r.completed > 0 && !r.aborted) {
          // The server's capacity for exactly this mix, replayed as plain requests in the
          // workload's own bucket (same server state) right after it.
          try {
            r.replayCapacity = await replayMix(
              backend.store(r.bucket),
              "replay/",
              Math.min(64, w * concurrency),
              perTask(r, "workers"),
              rawMs * 2,
              listKeys,
            );
            if (lastReplayErrors) {
              notes.push(`replay after ${w} worker(s): ${lastReplayErrors} requests failed`);
            }
          } catch (e) {
            notes.push(`replay after ${w} worker(s) failed: ${(e as Error).message}`);
          }
        }
        workloads.push(r);
        const { putClass, getClass } = classes(perTask(r));
        const eff = efficiency(run(), r);
        log(
          `  ${r.completed}/${r.submitted} in ${fmt(r.windowSecs, 1)} s: ${
            fmt(r.throughput, 1)
          } tasks/s ` +
            `(${fmt(eff.fraction * 100, 0)}% of ${fmt(eff.capacity, 1)} replayed raw, model ${
              fmt(eff.model, 1)
            }); ${fmt(putClass)} PUT-class + ` +
            `${fmt(getClass)} GET-class per task; conflicts ${r.conflicts}`,
        );
      }
    }
    if (!skip.has("steady")) {
      log(`steady: ${rate}/s for ${durationS} s, ${steadyWorkers} worker(s) x ${concurrency}`);
      await fresh();
      const r = await runWorkload(
        backend,
        { ...workload, kind: "steady", workers: steadyWorkers },
        log,
      );
      r.serverPeakRssKb = serverRss.peakKb;
      workloads.push(r);
      log(
        `  ${r.completed}/${r.submitted}; submit→start p50 ${
          fmt(r.startLatency.p50 / 1000)
        } s, p95 ${fmt(r.startLatency.p95 / 1000)} s; submit→complete p50 ${
          fmt(r.completeLatency.p50 / 1000)
        } s, p99 ${fmt(r.completeLatency.p99 / 1000)} s`,
      );
    }
    if (!skip.has("backlog")) {
      const points: BacklogPoint[] = [];
      for (const n of memorySizes) {
        log(`backlog on memory: ${n} tasks`);
        points.push(await backlogOnMemory(n));
      }
      backlog.push({ where: "memory store, real tasks", points });
      if (!backend.inProcess) {
        const s3Points: BacklogPoint[] = [];
        for (const n of s3Sizes) {
          log(`backlog on ${backend.name}: ${n} index entries`);
          await fresh();
          const bucket = await backend.newBucket();
          s3Points.push(await backlogOnS3(backend.store(bucket), n, `bl-${shortId()}/`));
        }
        backlog.push({ where: `${backend.name}, index entries`, points: s3Points });
      }
    }
    await sampleInterference();
    const result = run();
    const file = `${outDir}/${
      result.startedAt.replace(/[:]/g, "").replace(/\..*$/, "")
    }-bench-${backend.name}${quick ? "-quick" : ""}.md`;
    await makeDir(outDir);
    await writeFileAtomic(file, markdown(result));
    log("");
    log("Summary");
    for (const t of targets(result)) log(`- ${t}`);
    if (interference.size) {
      log(`- interference: ${interference.size} other busy process(es), see the file`);
    }
    log(`results: ${file.replace(ROOT, "")} (${fmt(result.durationSecs, 0)} s)`);
    const incomplete = workloads.filter((w) => !w.finished);
    return incomplete.length ? 1 : 0;
  } finally {
    clearInterval(sampler);
    serverRss.stop();
    await backend.stop();
  }
}

await exitProcess(
  await main().catch((e) => {
    log(`bench failed: ${(e as Error).stack ?? e}`);
    return 2;
  }),
);
