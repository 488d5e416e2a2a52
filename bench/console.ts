/**
 * What the console costs: its requests per refresh and per 30-day month at the defaults
 * (refresh every 30 s, at most 10,000 task reads per refresh), with 0, 10,000 and 100,000
 * tasks in the bucket, measured with the console's own request meter on the memory store.
 *
 *   node --import tsx bench/console.ts [--sizes 0,10000,100000] [--out bench/results]
 *
 * Each bucket holds real tasks made through the library (submit, a worker, 4 shards): 90%
 * completed, 5% failed (dead letters), 5% ready, plus 2 schedules and 1 worker heartbeat.
 * Then the console is asked for its overview as a viewer would: the first refreshes read
 * every task once (at most 10,000 a refresh), the following ones only list. "Steady" is a
 * refresh with nothing changed; each task that changes state between two refreshes adds one
 * GET to the next. Writes a markdown report and prints it.
 */
import { parseArgs } from "node:util";
import { mkdir, writeFile } from "node:fs/promises";
import { createConsole } from "../console.ts";
import { MemoryStore, PermanentError, Queue, Worker } from "../mod.ts";
import { RequestCounters } from "../src/s3/counters.ts";
import type { RequestCounts } from "../src/s3/counters.ts";
import { REQUEST_KINDS } from "../src/s3/counters.ts";
import { MONTH_SECONDS } from "../src/console/metered_store.ts";

const { values } = parseArgs({
  options: {
    sizes: { type: "string", default: "0,10000,100000" },
    out: { type: "string", default: "bench/results" },
  },
});
const sizes = values.sizes!.split(",").map(Number);
const REFRESH_S = 30;
const FULL_S = 300;
const refreshesPerMonth = MONTH_SECONDS / REFRESH_S;

interface Point {
  size: number;
  seedSecs: number;
  cold: Array<{ counts: RequestCounts; ms: number; unread: number }>;
  light: { counts: RequestCounts; ms: number };
  full: { counts: RequestCounts; ms: number };
  /** Average of a refresh over one full-listing interval (9 light, 1 full at the defaults). */
  average: RequestCounts;
  changed: { tasks: number; counts: RequestCounts };
  taskPage: RequestCounts;
}

function fmt(c: RequestCounts): string {
  return REQUEST_KINDS.filter((k) => c[k] > 0).map((k) => `${c[k]} ${k}`).join(" + ") || "0";
}
function total(c: RequestCounts): number {
  return REQUEST_KINDS.reduce((n, k) => n + c[k], 0);
}

async function seed(
  size: number,
): Promise<{ queue: Queue; advance(ms: number): void; ids: string[] }> {
  let now = Date.UTC(2026, 11, 1);
  const store = new MemoryStore({ clock: () => now });
  const queue = new Queue(store, { warn: () => {}, shardCount: 4 });
  const ids: string[] = [];
  const batch = 500;
  for (let i = 0; i < size; i += batch) {
    const entries = Array.from({ length: Math.min(batch, size - i) }, (_, j) => {
      const n = i + j;
      const type = n % 20 === 0 ? "ready_later" : n % 20 === 1 ? "fragile" : "email";
      return [type, { n }] as const;
    });
    ids.push(...(await queue.submitMany(entries, { maxRetries: 0 })).map((t) => t.id));
  }
  const worker = new Worker(queue, "bench-worker")
    .task("email", () => ({ ok: true }))
    .task("fragile", () => {
      throw new PermanentError("bad input");
    });
  worker.configure({ concurrency: 512, listLimit: 1000, withMonitor: false });
  for (let left = size; left > 0;) {
    now += 5000; // past the candidate cache
    const r = await worker.pollOnce();
    await worker.drain();
    if (r.claimed === 0) break;
    left -= r.claimed;
  }
  await queue.createSchedule("nightly-report", "report", {}, "0 2 * * *");
  await queue.createSchedule("hourly-sync", "email", {}, "0 * * * *");
  // One live worker's heartbeat (as written by src/worker/heartbeat.ts).
  await queue.store.put(
    queue.keys.worker("idle-1"),
    JSON.stringify({
      schema_version: 1,
      worker_id: "idle-1",
      shards: ["0", "1", "2", "3"],
      task_types: ["thumbnail"],
      started_at: new Date(now).toISOString(),
      last_seen_at: new Date(now).toISOString(),
      in_flight: 0,
      in_flight_tasks: [],
      concurrency: 1,
      runtime: "node",
    }),
  );
  return { queue, advance: (ms) => (now += ms), ids };
}

async function measure(size: number): Promise<Point> {
  const t0 = performance.now();
  const { queue, advance, ids } = await seed(size);
  const seedSecs = (performance.now() - t0) / 1000;
  const handler = createConsole(queue); // the defaults
  const ask = async (path: string) => {
    const res = await handler(new Request(`http://127.0.0.1${path}`));
    if (res.status !== 200) throw new Error(`${path}: ${res.status} ${await res.text()}`);
    return await res.json();
  };
  const cold: Point["cold"] = [];
  for (;;) {
    const s = performance.now();
    const o = await ask("/api/overview");
    cold.push({ counts: o.spend.perRefresh, ms: performance.now() - s, unread: o.census.unread });
    advance(REFRESH_S * 1000);
    if (o.census.unread === 0) break;
  }
  const timed = async () => {
    const s = performance.now();
    const o = await ask("/api/overview");
    return { o, counts: o.spend.perRefresh as RequestCounts, ms: performance.now() - s };
  };
  // The cold refreshes were full; the next ones are light until 5 minutes have passed.
  const l = await timed();
  if (l.o.census.full) throw new Error("expected a light refresh");
  for (let t = REFRESH_S; t < FULL_S; t += REFRESH_S) advance(REFRESH_S * 1000);
  const f = await timed();
  if (!f.o.census.full) throw new Error("expected a full refresh");
  const light = { counts: l.counts, ms: l.ms };
  const full = { counts: f.counts, ms: f.ms };
  const per = FULL_S / REFRESH_S;
  const average = Object.fromEntries(
    REQUEST_KINDS.map((k) => [k, (light.counts[k] * (per - 1) + full.counts[k]) / per]),
  ) as RequestCounts;
  const counted = Object.values(f.o.totals as Record<string, number>).reduce((a, b) => a + b, 0);
  if (counted !== size) throw new Error(`counted ${JSON.stringify(f.o.totals)} of ${size}`);
  // Activity between two refreshes: 100 ready tasks cancelled (or all, when fewer).
  const ready = (await ask("/api/tasks?state=ready&limit=100")).tasks as Array<{ id: string }>;
  for (const t of ready) await queue.cancel(t.id);
  advance(REFRESH_S * 1000);
  const after = await ask("/api/overview"); // light
  const changed = { tasks: ready.length, counts: after.spend.perRefresh as RequestCounts };
  // One task page: the task, its history (and the versioning state, once an hour).
  const before = (await ask("/api/spend")).sinceStart as RequestCounts;
  if (ids.length > 0) {
    await handler(new Request(`http://127.0.0.1/tasks/${ids[ids.length - 1]}`));
  }
  const taskPage = RequestCounters.diff((await ask("/api/spend")).sinceStart, before);
  return { size, seedSecs, cold, light, full, average, changed, taskPage };
}

const points: Point[] = [];
for (const size of sizes) {
  console.error(`bucket with ${size} tasks ...`);
  points.push(await measure(size));
}

const usd = (c: RequestCounts) => RequestCounters.cost(c);
const avgText = (c: RequestCounts) =>
  REQUEST_KINDS.filter((k) => c[k] > 0).map((k) => `${+c[k].toFixed(1)} ${k}`).join(" + ") || "0";
const lines = [
  `# Console cost (${new Date().toISOString().slice(0, 10)})`,
  "",
  `Memory store, 4 shards, console defaults: a refresh every ${REFRESH_S} s (${
    refreshesPerMonth.toLocaleString("en-US")
  } refreshes in a 30-day month if someone always watches), every task object listed once every ${FULL_S} s (a full refresh; the others list the ready and deadline indexes), at most 10,000 task reads per refresh. Each bucket: 90% completed, 5% failed, 5% ready, 2 schedules, 1 worker heartbeat. Prices: AWS S3 Standard list prices. Script: \`bench/console.ts\`.`,
  "",
  "| tasks | first refreshes (read every task once) | light refresh | full refresh | average refresh | per month | USD per month |",
  "| ---: | --- | --- | --- | --- | ---: | ---: |",
  ...points.map((p) => {
    const monthly = total(p.average) * refreshesPerMonth;
    return `| ${p.size.toLocaleString("en-US")} | ${p.cold.length} × (${
      p.cold.map((c) => fmt(c.counts)).join("; ")
    }) | ${fmt(p.light.counts)} | ${fmt(p.full.counts)} | ${avgText(p.average)} | ${
      Math.round(monthly).toLocaleString("en-US")
    } | $${(usd(p.average) * refreshesPerMonth).toFixed(2)} |`;
  }),
  "",
  "Activity and page views (on top of the refreshes):",
  "",
  ...points.map((p) =>
    `- ${
      p.size.toLocaleString("en-US")
    } tasks: a light refresh after ${p.changed.tasks} tasks changed: ${
      fmt(p.changed.counts)
    }; one task page (task, history, versioning state): ${fmt(p.taskPage)}`
  ),
  "",
  "Time of a refresh in this process (memory store; on S3 each request adds its latency):",
  "",
  ...points.map((p) =>
    `- ${p.size.toLocaleString("en-US")} tasks: first ${
      p.cold.map((c) => `${c.ms.toFixed(0)} ms`).join(", ")
    }; light ${p.light.ms.toFixed(0)} ms; full ${p.full.ms.toFixed(0)} ms (seeding took ${
      p.seedSecs.toFixed(0)
    } s)`
  ),
  "",
  "```json",
  JSON.stringify(points, null, 1),
  "```",
];
const report = lines.join("\n") + "\n";
await mkdir(values.out!, { recursive: true });
const file = `${values.out}/console-memory-${new Date().toISOString().slice(0, 10)}.md`;
await writeFile(file, report);
console.log(report.split("```json")[0]);
console.error(`wrote ${file}`);
