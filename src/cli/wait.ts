/**
 * `oq wait ID... [--timeout D] [--json]`: wait until tasks finish (`queue.waitFor`, all ids
 * at once) and print each one's output; the exit code says how they ended.
 *
 * @module
 */

import { WaitTimeoutError } from "../queue/wait.ts";
import type { Queue } from "../queue/queue.ts";
import { shardOfTaskId } from "../task/names.ts";
import type { Task } from "../task/task.ts";
import { onTermSignals } from "../runtime/mod.ts";
import { openQueue } from "./config.ts";
import { CliError, EXIT, printable, usageError } from "./errors.ts";
import { err, out, outJson, styles } from "./io.ts";
import { parseDuration } from "./parse.ts";
import { examples, globals, type Program } from "./program.ts";

/** Exit code of `oq wait` when a task had not finished within `--timeout`. */
export const EXIT_WAIT_TIMEOUT = 4;

/** How the wait for one id ended. */
type Outcome = Task["status"] | "timeout" | "not_found" | "interrupted";

interface Waited {
  id: string;
  outcome: Outcome;
  /** The task as finished (or as last seen, on a timeout); null when not found. */
  task: Task | null;
}

/** The exit code for a set of outcomes: the most specific trouble wins. */
function exitCode(results: Waited[]): number {
  const has = (o: Outcome) => results.some((r) => r.outcome === o);
  if (has("interrupted")) return EXIT.interrupted;
  if (has("not_found")) return EXIT.notFound;
  if (has("timeout")) return EXIT_WAIT_TIMEOUT;
  return results.every((r) => r.outcome === "completed") ? EXIT.ok : EXIT.failure;
}

async function waitOne(
  queue: Queue,
  id: string,
  timeoutMs: number | undefined,
  signal: AbortSignal,
): Promise<Waited> {
  try {
    const done = await queue.waitFor(id, { timeoutMs, signal });
    // An output stored beside the task is read now (one GET; the wait read none).
    const full = done.outputRef !== null ? (await queue.get(id)) ?? done : done;
    return { id, outcome: full.status, task: full };
  } catch (e) {
    if (e instanceof WaitTimeoutError) return { id, outcome: "timeout", task: e.task };
    if (signal.aborted) return { id, outcome: "interrupted", task: null };
    if (e instanceof RangeError && /not found/.test(e.message)) {
      return { id, outcome: "not_found", task: null };
    }
    throw e;
  }
}

function line(r: Waited): string {
  const s = styles.out;
  const id = printable(r.id);
  if (r.task === null) return `${id}  ${s.paint("dim", r.outcome.replace("_", " "))}`;
  if (r.outcome === "timeout") {
    return `${id}  ${s.paint("yellow", "timeout")} (still ${s.status(r.task.status)})`;
  }
  if (r.outcome === "completed") {
    return `${id}  ${s.status("completed")}  ${printable(JSON.stringify(r.task.output) ?? "null")}`;
  }
  const why = r.task.lastError ?? r.task.cancelReason;
  return `${id}  ${s.status(r.task.status)}${why ? `  ${printable(why)}` : ""}`;
}

/** Register `oq wait`. */
export function registerWait(program: Program): void {
  program.command("wait")
    .description("Wait until tasks finish and print their output; exit 0 when all completed")
    .argument("<ids...>", "task ids (waited for at the same time)")
    .option("--timeout <duration>", "give up after this long, e.g. 30s, 5m (default: no limit)")
    .option("--json", "print a JSON array: {id, outcome, task} per id, in the order given")
    .addHelpText(
      "after",
      examples(
        "oq wait 2-01JD3XW1Q8",
        "oq wait 0-01JD3X 1-01JD3Y --timeout 5m",
        "oq wait 2-01JD3XW1Q8 --json | jq '.[0].task.output'",
      ) +
        "\n\nPrints one line per task as it finishes: the output JSON of a completed task, the" +
        "\nlast error of a failed one. Exit codes: 0 every task completed; 1 a task ended" +
        `\nfailed, cancelled, expired or archived; 3 an id does not exist; ${EXIT_WAIT_TIMEOUT} --timeout passed` +
        "\nbefore a task finished; 2 usage error (e.g. an invalid id); 130 interrupted (SIGINT or" +
        "\nSIGTERM stops waiting; the tasks go on). When several apply: 130, then 3, 4, 1." +
        "\nCost: per task one GET, then conditional GETs backing off to one per 5 s (about 12 a minute).",
    )
    .action(async (ids, flags, cmd) => {
      for (const id of ids) {
        try {
          shardOfTaskId(id);
        } catch (e) {
          throw usageError((e as Error).message);
        }
      }
      const timeoutMs = flags.timeout === undefined
        ? undefined
        : parseDuration(flags.timeout, "--timeout");
      const queue = await openQueue(globals(cmd));
      const abort = new AbortController();
      const remove = onTermSignals((signal) => {
        if (!abort.signal.aborted) err(`oq wait: ${signal} received, stopped waiting`);
        abort.abort(new Error(`${signal} received`));
      });
      const limit = flags.timeout === undefined ? "" : ` (at most ${flags.timeout})`;
      err(`oq wait: waiting for ${ids.length} task(s)${limit}`);
      let results: Waited[];
      try {
        results = await Promise.all(ids.map(async (id) => {
          const r = await waitOne(queue, id, timeoutMs, abort.signal);
          if (!flags.json && r.outcome !== "interrupted") out(line(r));
          return r;
        }));
      } finally {
        remove();
      }
      if (flags.json) outJson(results);
      const code = exitCode(results);
      if (code !== EXIT.ok) {
        const n = results.filter((r) => r.outcome !== "completed").length;
        const what = code === EXIT_WAIT_TIMEOUT ? "finished in time" : "completed";
        throw new CliError(`${n} of ${ids.length} task(s) not ${what}`, code);
      }
    });
}
