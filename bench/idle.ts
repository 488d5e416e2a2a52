/**
 * Idle cost and wake-up latency, in real time, on a real server.
 *
 *   node --import tsx bench/idle.ts --endpoint http://127.0.0.1:PORT [--minutes 3] [--samples 3]
 *
 * Runs one worker with default settings (embedded monitor on, 4 shards, 1 task type) for
 * `--minutes` with nothing to do and counts every request it sends, then converts the rate
 * to dollars per 30-day month at AWS list prices. Then, `--samples` times: wait until the
 * worker has been idle for longer than idleAfterMs (70 s), submit one task, and measure by
 * the store's clock how long it waited before a handler started. Writes a markdown report to
 * bench/results/ and prints it.
 */
import { parseArgs } from "node:util";
import { mkdir, writeFile } from "node:fs/promises";
import { cpus, totalmem } from "node:os";
import { Queue, S3Store, Worker } from "../mod.ts";
import { RequestCounters } from "../src/s3/counters.ts";
import { VERSION } from "../src/base/version.ts";
import { runtimeName } from "../src/runtime/mod.ts";

const { values } = parseArgs({
  options: {
    endpoint: { type: "string" },
    backend: { type: "string", default: "moto" },
    minutes: { type: "string", default: "3" },
    samples: { type: "string", default: "3" },
    access: { type: "string", default: "testing" },
    secret: { type: "string", default: "testing" },
  },
});
if (!values.endpoint) throw new Error("--endpoint is required");
const minutes = Number(values.minutes);
const samples = Number(values.samples);
const bucket = `oq-idle-${Date.now()}`;
const s3Options = {
  endpoint: values.endpoint,
  bucket,
  region: "us-east-1",
  accessKeyId: values.access!,
  secretAccessKey: values.secret!,
};
const store = new S3Store(s3Options);
await store.createBucket();
await store.putVersioning(true);
// The worker gets its own store (its own counters); the producer uses another.
const workerStore = new S3Store(s3Options);
const producer = new Queue(store, { warn: () => {} });
const queue = new Queue(workerStore, { warn: () => {} });

const started: Array<{ id: string; at: number }> = [];
const worker = new Worker(queue, "idle-bench").task("email", (_i, ctx) => {
  started.push({ id: ctx.task.id, at: queue.store.now() });
});
const run = worker.run(); // all defaults
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

// Let start-up pass before counting: every lane is listed at start and stays active, backing
// off to maxPollIntervalMs, for idleAfterMs (60 s); the steady idle state comes after.
console.error("start-up: 75 s ...");
await sleep(75_000);
const c0 = workerStore.counters.snapshot();
const t0 = Date.now();
console.error(`idle for ${minutes} min ...`);
await sleep(minutes * 60_000);
const elapsedS = (Date.now() - t0) / 1000;
const idle = RequestCounters.diff(workerStore.counters.snapshot(), c0);
const perMonth = RequestCounters.cost(idle) * (30 * 86_400) / elapsedS;

const lateness: number[] = [];
for (let i = 0; i < samples; i++) {
  console.error(`sample ${i + 1}/${samples}: idle 70 s, then submit ...`);
  await sleep(70_000 + Math.random() * 3000);
  const t = await producer.submit("email", { i });
  const submittedAt = t.createdAt.getTime();
  const deadline = Date.now() + 60_000;
  while (!started.some((s) => s.id === t.id) && Date.now() < deadline) await sleep(20);
  const s = started.find((x) => x.id === t.id);
  lateness.push(s ? s.at - submittedAt : Number.NaN);
}
await worker.stop();
await run;

const fmt = (c: Record<string, number>) =>
  Object.entries(c).filter(([, n]) => n > 0).map(([k, n]) => `${k} ${n}`).join(", ");
const report = `# Idle worker cost and wake-up latency (${values.backend})

- date: ${new Date().toISOString()}
- oq ${VERSION}, runtime ${runtimeName()} ${
  globalThis.process?.version ?? ""
}, machine: ${cpus().length} cores, ${Math.round(totalmem() / 2 ** 30)} GiB
- backend: ${values.backend} at ${values.endpoint}
- command: \`node --import tsx bench/idle.ts --endpoint ${values.endpoint} --backend ${values.backend} --minutes ${minutes} --samples ${samples}\`
- worker: default settings (embedded monitor, 4 shards, 1 task type)

## Idle cost

Requests in ${elapsedS.toFixed(0)} s of idleness (counted after a 75 s start-up, longer than
idleAfterMs): ${fmt(idle)}.

Cost at AWS list prices, scaled to a 30-day month: **$${perMonth.toFixed(3)} per month**.

## Submit-to-start after more than idleAfterMs (60 s) of idleness

By the store's clock, per sample (ms): ${lateness.map((x) => x.toFixed(0)).join(", ")}; max ${
  Math.max(...lateness).toFixed(0)
} ms.
`;
await mkdir(new URL("./results/", import.meta.url), { recursive: true });
const file = new URL(
  `./results/idle-${values.backend}-${new Date().toISOString().slice(0, 10)}.md`,
  import.meta.url,
);
await writeFile(file, report);
console.log(report);
