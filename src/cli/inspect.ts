/**
 * Read commands: `oq get`, `list`, `history`, `now`, `stats`, `workers`. Each has `--json`.
 *
 * @module
 */

import type { Queue } from "../queue/queue.ts";
import type { TaskStatus } from "../task/task.ts";
import type { Task } from "../task/task.ts";
import { limitsInUse } from "../protocol/type_limits.ts";
import { openQueue } from "./config.ts";
import { usageJson, usageTable } from "./limits.ts";
import { notFoundError, printable, usageError } from "./errors.ts";
import { relativeTime, table, TASK_HEADERS, taskDetails, taskRows, truncate } from "./format.ts";
import { err, out, outJson, styles } from "./io.ts";
import { collect, parseIntFlag, parseList } from "./parse.ts";
import { examples, globals, type Program } from "./program.ts";

/** Every task status (as TASK_STATUSES of src/task/task.ts, which would load zod at start-up). */
export const STATUSES: readonly TaskStatus[] = [
  "pending",
  "running",
  "completed",
  "failed",
  "cancelled",
  "expired",
  "archived",
];

/**
 * Shards from `--shard` (comma-separated, repeatable), or all of the bucket's: every shard
 * that holds task objects, including those a reshard retired.
 */
export function pickShards(queue: Queue, given: string[] | undefined): string[] {
  const shards = (given ?? []).flatMap(parseList);
  if (shards.length === 0) return [...queue.homeShards];
  for (const s of shards) {
    if (!queue.homeShards.includes(s)) {
      throw usageError(
        `Unknown shard ${JSON.stringify(s)}: the bucket has shards ${queue.homeShards.join(", ")}`,
      );
    }
  }
  return shards;
}

/** Register the read commands. */
export function registerInspect(program: Program): void {
  program.command("get")
    .description("Show a task (one GET); exit 3 when it does not exist")
    .argument("<id>", "task id")
    .option("--json", "print the task as JSON")
    .option(
      "--payload",
      "also read an input or output stored beside the task (one GET each, hash checked)",
    )
    .addHelpText(
      "after",
      examples(
        "oq get 2-01JD3XW1Q8",
        "oq get 2-01JD3XW1Q8 --json | jq .output",
        "oq get 2-01JD3XW1Q8 --payload --json | jq .input",
      ) +
        "\n\nAn input or output over the queue's inlinePayloadBytes is stored as its own object;" +
        "\nwithout --payload it shows as its reference (size, SHA-256, key), JSON inputRef/outputRef.",
    )
    .action(async (id, flags, cmd) => {
      const queue = await openQueue(globals(cmd));
      const task = await queue.get(id, { payloads: flags.payload === true });
      if (task === null) throw notFoundError(`Task ${JSON.stringify(id)} not found`);
      if (flags.json) outJson(task);
      else out(taskDetails(task, queue.store.now(), styles.out, queue.keys));
    });

  program.command("list")
    .description("List tasks, oldest first (all shards unless --shard is given)")
    .option("--shard <shards>", "only these shards (comma-separated, repeatable)", collect)
    .option("--status <status>", `only this status: ${STATUSES.join(", ")}`)
    .option("--type <type>", "only this task type")
    .option("--limit <n>", "at most this many tasks", "100")
    .option("--all", "every matching task (no --limit)")
    .option("--json", "print a JSON array")
    .addHelpText(
      "after",
      examples(
        "oq list",
        "oq list --status failed --type send_email --limit 20",
        "oq list --status failed --all --json | jq -r '.[].id' | xargs -r oq retry",
      ) +
        "\n\nWhen more tasks match than --limit, a note on stderr says so (stdout stays data)." +
        "\nCost: one LIST per 1000 task objects scanned plus one GET per task scanned; with a" +
        "\nfilter it scans until --limit tasks match (finished tasks included).",
    )
    .action(async (flags, cmd) => {
      if (flags.all && cmd.getOptionValueSource("limit") === "cli") {
        throw usageError("Give --limit or --all, not both");
      }
      const limit = flags.all ? Infinity : parseIntFlag(flags.limit, "--limit", 1);
      if (flags.status !== undefined && !STATUSES.includes(flags.status as TaskStatus)) {
        throw usageError(
          `Invalid --status ${JSON.stringify(flags.status)}: one of ${STATUSES.join(", ")}`,
        );
      }
      const queue = await openQueue(globals(cmd));
      const shards = pickShards(queue, flags.shard);
      // One more than asked per shard: finding it tells that more tasks match.
      const per = await Promise.all(shards.map((s) =>
        queue.list(s, {
          status: flags.status as TaskStatus | undefined,
          taskType: flags.type,
          limit: Number.isFinite(limit) ? limit + 1 : Number.MAX_SAFE_INTEGER,
        })
      ));
      const matched = per.flat().sort((a, b) =>
        a.createdAt.getTime() - b.createdAt.getTime() || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0)
      );
      const tasks = matched.slice(0, limit);
      if (flags.json) outJson(tasks);
      else if (tasks.length > 0) {
        out(table(TASK_HEADERS, taskRows(tasks, queue.store.now(), styles.out), styles.out));
      } else err(`oq list: no tasks${describeFilter(flags)}`);
      if (matched.length > tasks.length) {
        const shown = `oq list: showing the oldest ${tasks.length} tasks${describeFilter(flags)}`;
        err(
          `${shown}; more match: add --all for every one, or a larger --limit ` +
            `(e.g. --limit ${limit * 10})`,
        );
      }
    });

  program.command("history")
    .description("Every version of a task, oldest first (needs bucket versioning)")
    .argument("<id>", "task id")
    .option("--json", "print a JSON array of the versions")
    .addHelpText("after", examples("oq history 2-01JD3XW1Q8", "oq history 2-01JD3XW1Q8 --json"))
    .action(async (id, flags, cmd) => {
      const queue = await openQueue(globals(cmd));
      const versions = await queue.getHistory(id);
      if (versions.length === 0) throw notFoundError(`Task ${JSON.stringify(id)} not found`);
      if (flags.json) return outJson(versions);
      const now = queue.store.now();
      const s = styles.out;
      out(table(
        ["REV", "STATUS", "ATTEMPT", "RETRIES", "WORKER", "UPDATED", "NOTE"],
        versions.map((t: Task) => [
          String(t.revision),
          s.status(t.status) + (t.cancelRequested ? "*" : ""),
          String(t.attempt),
          String(t.retryCount),
          printable(t.workerId ?? "-"),
          `${t.updatedAt.toISOString()} (${relativeTime(t.updatedAt, now)})`,
          t.lastError !== null
            ? truncate(t.lastError)
            : (t.cancelRequested ? "cancel requested" : ""),
        ]),
        s,
      ));
    });

  program.command("now")
    .description("The object store's time (what oq schedules by) and the local clock's offset")
    .option("--json", "print JSON")
    .addHelpText("after", examples("oq now", "oq now --json"))
    .action(async (flags, cmd) => {
      const queue = await openQueue(globals(cmd));
      const now = await queue.now();
      const local = Date.now();
      const offsetMs = Math.round(local - now.getTime());
      if (flags.json) {
        return outJson({
          now: now.toISOString(),
          local: new Date(local).toISOString(),
          localOffsetMs: offsetMs,
          uncertaintyMs: Math.round(queue.store.clockUncertaintyMs()),
        });
      }
      out(now.toISOString());
    });

  program.command("stats")
    .description(
      "Counts per shard from the indexes (LISTs only, no task reads), and limits in use",
    )
    .option("--json", "print JSON")
    .addHelpText("after", examples("oq stats", "oq stats --json | jq .total"))
    .action(async (flags, cmd) => {
      const queue = await openQueue(globals(cmd));
      const [st, limits] = await Promise.all([queue.stats(), limitsInUse(queue.context)]);
      if (flags.json) return outJson({ ...st, limits: limits.map(usageJson) });
      const row = (
        name: string,
        s: { ready: number; scheduled: number; running: number; tasks: number },
      ) => [name, String(s.ready), String(s.scheduled), String(s.running), String(s.tasks)];
      const rows = Object.keys(st.shards).sort((a, b) => Number(a) - Number(b)).map((k) =>
        row(k, st.shards[k]!)
      );
      rows.push(row(styles.out.paint("bold", "total"), st.total));
      out(table(["SHARD", "READY", "SCHEDULED", "RUNNING", "TASKS"], rows, styles.out));
      out(`workers: ${st.workers}`);
      if (limits.length > 0) out(`\n${usageTable(limits, styles.out)}`);
    });

  program.command("workers")
    .description("Workers from their heartbeats (one LIST plus one GET per worker)")
    .option("--json", "print JSON")
    .addHelpText("after", examples("oq workers", "oq workers --json"))
    .action(async (flags, cmd) => {
      const queue = await openQueue(globals(cmd));
      const { isHeartbeatStale: isStale, listHeartbeats } = await import(
        "../protocol/heartbeats.ts"
      );
      const beats = await listHeartbeats(queue.context);
      const now = queue.store.now();
      if (flags.json) return outJson(beats.map((b) => ({ ...b, stale: isStale(b, now) })));
      if (beats.length === 0) return err("oq workers: no worker heartbeats");
      const s = styles.out;
      out(table(
        ["WORKER", "RUNTIME", "IN FLIGHT", "TYPES", "SHARDS", "STARTED", "LAST SEEN"],
        beats.map((b) => [
          truncate(b.worker_id),
          truncate(b.runtime),
          `${b.in_flight}/${b.concurrency}`,
          truncate(b.task_types.join(",")),
          truncate(b.shards.join(",")),
          relativeTime(new Date(b.started_at), now),
          isStale(b, now)
            ? s.paint("yellow", `${relativeTime(new Date(b.last_seen_at), now)} (stale)`)
            : relativeTime(new Date(b.last_seen_at), now),
        ]),
        s,
      ));
    });
}

/** ` (status failed, type x)` for the notes of `oq list`; empty without filters. */
function describeFilter(f: { status?: string; type?: string; shard?: string[] }): string {
  const parts = [
    f.status !== undefined ? `status ${f.status}` : "",
    f.type !== undefined ? `type ${printable(f.type)}` : "",
    f.shard !== undefined ? `shard ${printable(f.shard.join(","))}` : "",
  ].filter((p) => p !== "");
  return parts.length > 0 ? ` (${parts.join(", ")})` : "";
}
