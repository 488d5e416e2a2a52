/**
 * `npm run demo`: oq end to end on a fresh machine, with nothing but this repository.
 *
 * Starts an `oq dev` server (S3-compatible, in memory, on a free loopback port), connects
 * to it through the S3 client like any real deployment, submits tasks that exercise every
 * outcome (completed, delayed, retried, dead-lettered, cancelled, expired), runs two
 * workers with embedded monitors, prints each event as it happens and a summary table,
 * and exits 0 only if every task ended in the expected state.
 */
import { connect, PermanentError, RetryableError, type Task, Worker } from "../mod.ts";
import { startDevServer } from "../src/dev/main.ts";
import { RequestCounters } from "../src/s3/counters.ts";

const t0 = Date.now();
const log = (line: string) =>
  console.log(`[${((Date.now() - t0) / 1000).toFixed(1).padStart(5)}s] ${line}`);

const server = await startDevServer({ port: 0, bucket: "oq-demo" });
log(`oq dev listening on ${server.url} (in memory, bucket oq-demo)`);

try {
  const queue = await connect({
    endpoint: server.url,
    bucket: "oq-demo",
    region: "us-east-1",
    accessKeyId: "oqdev",
    secretAccessKey: "oqdevsecret",
    shardCount: 2,
  });
  const fast = { initialIntervalMs: 300, maxIntervalMs: 1000, jitterPercent: 0 };
  const expected = new Map<string, { label: string; status: string }>();
  const add = (t: Task, label: string, status: string) => expected.set(t.id, { label, status });

  for (let i = 1; i <= 4; i++) {
    add(
      await queue.submit("resize_image", { image: `photo-${i}.jpg` }),
      `resize photo-${i}`,
      "completed",
    );
  }
  add(
    await queue.submit("send_email", { to: "ada@example.com" }, { delaySeconds: 2 }),
    "email, delayed 2 s",
    "completed",
  );
  add(
    await queue.submit("flaky_api", { attemptsToFail: 2 }, { retryPolicy: fast }),
    "flaky: fails twice",
    "completed",
  );
  add(
    await queue.submit("flaky_api", { attemptsToFail: 9 }, { maxRetries: 2, retryPolicy: fast }),
    "flaky: out of retries",
    "failed",
  );
  add(
    await queue.submit("send_email", { to: "not-an-address" }),
    "email, invalid address",
    "failed",
  );
  const doomed = await queue.submit("resize_image", { image: "cancel-me.jpg" }, {
    delaySeconds: 30,
  });
  add(doomed, "resize, cancelled", "cancelled");
  add(
    await queue.submit("nightly_report", { day: "yesterday" }, { ttlSeconds: 1 }),
    "report, TTL 1 s, no worker for it",
    "expired",
  );
  log(`submitted ${expected.size} tasks over ${queue.shards.length} shards`);
  const cancelled = await queue.cancel(doomed.id, { reason: "user changed their mind" });
  log(`cancel ${doomed.id}: ${cancelled.outcome}`);

  const failures = new Map<string, number>();
  const workers = ["worker-a", "worker-b"].map((id) => {
    const w = new Worker(queue, id)
      .task("resize_image", async (input: { image: string }, ctx) => {
        await new Promise((r) => setTimeout(r, 150));
        return { thumbnail: input.image.replace(".jpg", "-thumb.jpg"), attempt: ctx.attempt };
      })
      .task("send_email", (input: { to: string }) => {
        if (!input.to.includes("@")) {
          throw new PermanentError(`invalid address ${JSON.stringify(input.to)}`);
        }
        return { sent: true };
      })
      .task("flaky_api", (input: { attemptsToFail: number }, ctx) => {
        const n = (failures.get(ctx.task.id) ?? 0) + 1;
        failures.set(ctx.task.id, n);
        if (n <= input.attemptsToFail) {
          throw new RetryableError(`upstream answered 503 (attempt ${ctx.attempt})`);
        }
        return { ok: true };
      });
    w.on(
      "task:claimed",
      ({ task }) => log(`${id}  claimed   ${task.id} ${task.taskType} (attempt ${task.attempt})`),
    );
    w.on(
      "task:completed",
      ({ task }) => log(`${id}  completed ${task.id} -> ${JSON.stringify(task.output)}`),
    );
    w.on(
      "task:retried",
      ({ task, error }) =>
        log(
          `${id}  retry     ${task.id} at +${
            task.availableAt.getTime() - Date.now()
          }ms: ${error.message}`,
        ),
    );
    w.on(
      "task:failed",
      ({ task }) => log(`${id}  FAILED    ${task.id}: ${task.lastError} (dead letter)`),
    );
    w.on(
      "worker:error",
      ({ error, context }) => log(`${id}  error in ${context}: ${error.message}`),
    );
    return w;
  });
  const runs = workers.map((w) =>
    w.run({ concurrency: 2, pollIntervalMs: 100, maxPollIntervalMs: 500, wakeCheckIntervalMs: 250 })
  );
  log("2 workers running (concurrency 2 each, embedded monitors)");

  const deadline = Date.now() + 45_000;
  let final: Task[] = [];
  while (Date.now() < deadline) {
    final = (await Promise.all([...expected.keys()].map((id) => queue.get(id)))).filter((
      t,
    ): t is Task => t !== null);
    if (final.every((t) => t.isTerminal)) break;
    await new Promise((r) => setTimeout(r, 200));
  }
  await Promise.all(workers.map((w) => w.stop()));
  await Promise.all(runs);

  console.log("\nSummary");
  const rows = final.map((t) => {
    const e = expected.get(t.id)!;
    const took = t.completedAt
      ? `${((t.completedAt.getTime() - t.createdAt.getTime()) / 1000).toFixed(1)}s`
      : "-";
    return [
      e.label,
      t.id,
      t.status,
      String(t.attempt),
      took,
      t.status === e.status ? "ok" : `EXPECTED ${e.status}`,
    ];
  });
  const head = ["task", "id", "status", "attempts", "submit->end", "check"];
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  for (const r of [head, ...rows]) console.log(r.map((c, i) => c.padEnd(widths[i]!)).join("  "));
  const c = queue.store.counters.snapshot();
  console.log(
    `\nS3 requests (producer + workers + monitors in this process): ${
      Object.entries(c).filter(([, n]) => n > 0).map(([k, n]) => `${k} ${n}`).join(", ")
    }; cost at AWS list prices $${RequestCounters.cost(c).toFixed(6)}`,
  );
  const history = await queue.getHistory(
    [...expected.entries()].find(([, e]) => e.label.startsWith("flaky: fails"))![0],
  );
  console.log(
    `History of the flaky task (bucket versioning): ${history.map((h) => h.status).join(" -> ")}`,
  );
  const bad = rows.filter((r) => r[5] !== "ok");
  if (bad.length || final.length !== expected.size) {
    console.error(
      `\ndemo: ${bad.length || expected.size - final.length} task(s) did not end as expected`,
    );
    Deno_exit(1);
  }
  console.log(
    `\ndemo: all ${expected.size} tasks ended as expected in ${
      ((Date.now() - t0) / 1000).toFixed(1)
    } s`,
  );
} finally {
  await server.stop();
}

function Deno_exit(code: number): never {
  // The demo runs under Node via tsx (`npm run demo`); keep it runtime-neutral.
  (globalThis as { process?: { exit(c: number): never } }).process?.exit(code);
  throw new Error(`exit ${code}`);
}
