/**
 * Reproduction of a monitor bug (reported, not fixed here): workers started on an empty
 * queue, with `monitorCheckIntervalS: 1`; tasks submitted 2 s later; one worker SIGKILLed
 * in the middle of its tasks. The survivors are busy, yet their embedded monitors keep the
 * idle interval (300 s) their first cycle chose, so the killed worker's tasks stay `running`
 * with expired leases for minutes instead of being recovered within lease + 1 s.
 *
 *   node --import tsx bench/repro_monitor_idle.ts          # starts moto itself
 *
 * Prints, every 5 s for 40 s, the tasks still running and how long ago their lease ended.
 */
import { Queue } from "../src/queue/queue.ts";
import { startWorker } from "../tests/fixtures/procs.ts";
import { startBackend } from "./backends.ts";
import { sleep } from "./util.ts";

const backend = await startBackend("moto");
const procs = [];
try {
  const bucket = await backend.newBucket();
  const queue = new Queue(backend.store(bucket), { warn: () => {} });
  const args = (id: string) => [
    ...backend.workerArgs(bucket),
    ...["--id", id, "--types", "sleep", "--concurrency", "2", "--lease-grace-s", "2"],
    ...[
      "--monitor-interval-s",
      "1",
      "--poll-ms",
      "200",
      "--max-poll-ms",
      "1000",
      "--wake-ms",
      "500",
    ],
  ];
  procs.push(
    ...await Promise.all(["victim", "s1", "s2"].map((id) => startWorker("node", args(id)))),
  );
  await sleep(2000); // the monitors' first cycles find nothing to watch
  const tasks = await queue.submitMany(
    Array.from({ length: 12 }, (_, i) => ["sleep", { i, sleepMs: 1500 }] as const),
    { timeoutSeconds: 3 },
  );
  await sleep(2500);
  procs[0]!.kill("SIGKILL");
  const killedAt = Date.now();
  for (let i = 0; i < 8; i++) {
    await sleep(5000);
    const running = [];
    for (const t of tasks) {
      const cur = await queue.get(t.id);
      if (cur?.status === "running") {
        running.push(
          `${cur.id} (lease ended ${
            Math.round((Date.now() - cur.leaseExpiresAt!.getTime()) / 1000)
          } s ago)`,
        );
      }
    }
    console.log(
      `${Math.round((Date.now() - killedAt) / 1000)} s after the kill: ${running.length} running ${
        running.join(", ")
      }`,
    );
    if (running.length === 0) break;
  }
} finally {
  for (const p of procs) p.kill("SIGKILL");
  await backend.stop();
}
