/**
 * `oq tail`: follow task state changes. S3 has no change feed, so this polls: every
 * interval it LISTs the tasks prefix of each shard (one LIST per 1000 task objects),
 * compares each object's ETag with the previous listing (every task write changes the
 * ETag), and GETs only the tasks that changed. docs/cli.md gives the cost.
 *
 * @module
 */

import type { TailEvent } from "./tail_scan.ts";
import { openQueue } from "./config.ts";
import { runDaemon } from "./daemon.ts";
import { printable, usageError } from "./errors.ts";
import { err, out, outJsonLine, styles } from "./io.ts";
import { pickShards } from "./inspect.ts";
import { collect, parseDuration } from "./parse.ts";
import { examples, globals, type Program } from "./program.ts";
import { setLongTimeout } from "../base/timer.ts";

function print(e: TailEvent, json: boolean): void {
  if (json) {
    return outJsonLine({
      time: e.time,
      event: e.event,
      taskId: e.taskId,
      taskType: e.taskType,
      previousStatus: e.previousStatus,
      task: e.task ?? null,
    });
  }
  const s = styles.out;
  const t = e.task;
  const status = t ? s.status(t.status) : s.paint("dim", "deleted");
  const from = e.previousStatus && t && e.previousStatus !== t.status
    ? `${s.status(e.previousStatus)} → `
    : "";
  const extra = t
    ? [
      t.status === "running" || t.attempt > 0 ? `attempt=${t.attempt}` : "",
      t.workerId && t.status === "running" ? `worker=${printable(t.workerId)}` : "",
      t.status === "failed" || (t.status === "pending" && t.retryCount > 0)
        ? truncateError(t.lastError)
        : "",
      t.cancelRequested && t.status === "running" ? "cancel requested" : "",
      t.progressAt ? `progress=${printable(truncateJson(t.progress))}` : "",
    ].filter((x) => x !== "").join(" ")
    : "";
  out(
    `${s.paint("dim", e.time)} ${e.event.padEnd(7)} ${printable(e.taskId)}  ${
      printable(e.taskType ?? "")
    }  ${from}${status}${extra ? `  ${extra}` : ""}`,
  );
}

function truncateJson(v: unknown): string {
  const s = JSON.stringify(v) ?? "null";
  return s.length > 60 ? `${s.slice(0, 59)}…` : s;
}

function truncateError(e: string | null): string {
  if (!e) return "";
  const one = e.replace(/\s+/g, " ");
  return `error=${printable(JSON.stringify(one.length > 80 ? `${one.slice(0, 79)}…` : one))}`;
}

/** Register `oq tail`. */
export function registerTail(program: Program): void {
  program.command("tail")
    .description("Follow task state changes (polls; see the cost below) until SIGINT")
    .option("--shard <shards>", "only these shards (comma-separated, repeatable)", collect)
    .option("--type <type>", "only tasks of this type")
    .option("--interval <duration>", "time between scans (bare number: s)", "2s")
    .option("--initial", "first print every existing task (one GET each)")
    .option("--json", "one JSON object per line: {time, event, taskId, previousStatus, task}")
    .addHelpText(
      "after",
      examples(
        "oq tail",
        "oq tail --type send_email --json | jq -c '{id: .taskId, s: .task.status}'",
      ) +
        "\n\nCost: every --interval, one LIST per shard per 1000 task objects (finished tasks" +
        "\nincluded), plus one GET per changed task. 4 shards every 2 s is about 173,000 LISTs" +
        "\na day (~$0.86/day on AWS S3 list prices): raise --interval on big or costly buckets.",
    )
    .action(async (flags, cmd) => {
      const intervalMs = parseDuration(flags.interval, "--interval");
      if (!(intervalMs >= 100)) throw usageError("Invalid --interval: at least 100ms");
      const queue = await openQueue(globals(cmd));
      const { TaskTail } = await import("./tail_scan.ts");
      const tail = new TaskTail(queue.context, pickShards(queue, flags.shard));
      let stopping = false;
      let wake: (() => void) | undefined;
      const emit = (events: TailEvent[]) => {
        for (const e of events) {
          if (flags.type !== undefined && e.taskType !== flags.type) continue;
          print(e, flags.json ?? false);
        }
      };
      await runDaemon({
        name: "oq tail",
        run: async () => {
          emit(await tail.scan(flags.initial ?? false));
          while (!stopping) {
            await new Promise<void>((resolve) => {
              const t = setLongTimeout(resolve, intervalMs);
              wake = () => (t.cancel(), resolve());
            });
            if (stopping) break;
            try {
              emit(await tail.scan());
            } catch (e) {
              err(`oq tail: scan failed: ${printable((e as Error).message)}`);
            }
          }
        },
        stop: () => {
          stopping = true;
          wake?.();
          return Promise.resolve();
        },
        log: () => {},
      });
    });
}
