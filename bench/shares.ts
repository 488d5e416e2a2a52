/**
 * How many task reads and lost writes workers that share batch entries spend
 * (src/worker/batch_shares.ts): workers in one process, on one memory store that answers
 * each request after a random 0.5-1.5 x `--latency-ms`, drain `--tasks` tasks submitted by
 * `submitMany`, then run on until the ready index is empty. Request counts, not speed: run
 * it with and without a change to compare.
 *
 *   node --import tsx bench/shares.ts [--workers 2,4,8] [--tasks 8000] [--stagger-ms 0]
 *     [--latency-ms 3] [--rounds 1]
 *
 * `--stagger-ms` starts the workers that far apart (the first counts of peers then disagree).
 */
import { MemoryStore, Queue, Worker } from "../mod.ts";
import { ClassifyingStore } from "../harness/classifying_store.ts";
import type { ObjectStore } from "../src/store/types.ts";
import { cliArgs, writeStd } from "../src/runtime/mod.ts";
import { listArg, numberArg, parseArgs, sleep, waitUntil } from "./util.ts";

const args = parseArgs(cliArgs());
const workerCounts = listArg(args, "workers", [2, 4, 8]);
const tasks = numberArg(args, "tasks", 8000);
const staggerMs = numberArg(args, "stagger-ms", 0);
const latencyMs = numberArg(args, "latency-ms", 3);
const rounds = numberArg(args, "rounds", 1);
const REQUESTS = new Set(["get", "getStream", "head", "put", "list", "listVersions", "delete"]);

// `inner`, each request answered after 0.5-1.5 x latencyMs.
function slow(inner: ObjectStore): ObjectStore {
  return new Proxy(inner, {
    get(target, p, receiver) {
      const v = Reflect.get(target, p, receiver);
      if (typeof v !== "function") return v;
      if (!REQUESTS.has(String(p))) return v.bind(target);
      return async (...a: unknown[]) => {
        await sleep(latencyMs * (0.5 + Math.random()));
        return v.apply(target, a);
      };
    },
  });
}

async function run(n: number): Promise<string> {
  const base = new MemoryStore();
  const producer = new Queue(base, { warn: () => {} });
  for (let i = 0; i < tasks; i += 1000) {
    const k = Math.min(1000, tasks - i);
    await producer.submitMany(Array.from({ length: k }, (_, j) => ["noop", { j }] as const));
  }
  const stores = Array.from({ length: n }, () => new ClassifyingStore(slow(base)));
  let done = 0;
  const workers = stores.map((s, i) =>
    new Worker(new Queue(s, { warn: () => {} }), `w${i}`).task("noop", async () => {
      await sleep(2);
      done++;
      return {};
    })
  );
  const t0 = Date.now();
  const runs: Promise<void>[] = [];
  try {
    for (const w of workers) {
      runs.push(w.run({ concurrency: 4 }));
      if (staggerMs > 0) await sleep(staggerMs);
    }
    await waitUntil(() => done >= tasks, 600_000, 50);
    const secs = (Date.now() - t0) / 1000;
    const empty = async () =>
      (await base.list({ prefix: "ready/", maxKeys: 1 })).objects.length === 0;
    await waitUntil(empty, 15_000, 100);
    const calls: Record<string, number> = {};
    let lost = 0;
    for (const s of stores) {
      for (const [k, v] of Object.entries(s.calls())) calls[k] = (calls[k] ?? 0) + v;
      lost += s.failures()["PUT tasks"] ?? 0;
    }
    const left = (await base.list({ prefix: "ready/" })).objects.length;
    const per = (x: number | undefined) => ((x ?? 0) / tasks).toFixed(2);
    return `| ${n} | ${staggerMs} | ${done} | ${secs.toFixed(1)} | ${per(calls["GET tasks"])} | ${
      per(lost)
    } | ${per(calls["PUT tasks"])} | ${per(calls["GET ready"])} | ${left} |`;
  } finally {
    await Promise.all(workers.map((w) => w.stop()));
    await Promise.all(runs);
  }
}

writeStd(
  "stdout",
  `${tasks} tasks, latency ${latencyMs} ms, concurrency 4\n\n` +
    "| workers | stagger ms | completed | s | GET tasks/task | lost task PUTs/task | PUT tasks/task | GET ready/task | entries left |\n" +
    "| --- | --- | --- | --- | --- | --- | --- | --- | --- |\n",
);
for (let r = 0; r < rounds; r++) {
  for (const n of workerCounts) writeStd("stdout", (await run(n)) + "\n");
}
