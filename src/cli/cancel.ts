/**
 * State changes by operators: `oq cancel ID...`, `oq cancel --task-type T`, `oq retry ID...`.
 *
 * @module
 */

import type { BulkCancelResult } from "../queue/bulk.ts";
import type { Task } from "../task/task.ts";
import { openQueue } from "./config.ts";
import { CliError, EXIT, printable, usageError } from "./errors.ts";
import { clearProgress, err, out, outJson, progress, styles } from "./io.ts";
import { examples, globals, type Program } from "./program.ts";

function report(r: BulkCancelResult, json: boolean): void {
  if (json) return outJson(r);
  const s = styles.out;
  const lines = [
    ...r.cancelled.map((id) => `${printable(id)}  ${s.status("cancelled")}`),
    ...r.requested.map((id) =>
      `${printable(id)}  ${s.paint("blue", "requested")} (running: its handler is told)`
    ),
    ...r.skipped.map((x) =>
      `${printable(x.taskId)}  ${s.paint("dim", "skipped")}: ${printable(x.reason)}`
    ),
  ];
  if (lines.length > 0) out(lines.join("\n"));
}

/** Register `oq cancel` and `oq retry`. */
export function registerCancel(program: Program): void {
  program.command("cancel")
    .description("Cancel tasks by id, or every pending task of a type")
    .argument("[ids...]", "task ids")
    .option("--task-type <type>", "cancel every pending task of this type instead")
    .option("--include-running", "with --task-type: also request cancellation of running ones")
    .option("--reason <text>", "reason stored on the task")
    .option("--json", "print {cancelled, requested, skipped} as JSON")
    .addHelpText(
      "after",
      examples(
        "oq cancel 2-01JD3XW1Q8 --reason 'user asked'",
        "oq cancel 0-01JD3X 1-01JD3Y 3-01JD3Z",
        "oq cancel --task-type send_email --include-running",
      ) +
        "\n\nA pending task becomes cancelled at once; a running one gets a cancellation request" +
        "\n(its handler's signal aborts; it ends cancelled). Exit 3 when an id does not exist.",
    )
    .action(async (ids, flags, cmd) => {
      if (flags.taskType !== undefined && ids.length > 0) {
        throw usageError("Give task ids or --task-type, not both");
      }
      if (flags.taskType === undefined && ids.length === 0) {
        throw usageError("Give task ids to cancel, or --task-type TYPE");
      }
      if (flags.includeRunning && flags.taskType === undefined) {
        throw usageError("--include-running goes with --task-type");
      }
      const queue = await openQueue(globals(cmd));
      const onProgress = (p: { done: number; cancelled: number; skipped: number }) =>
        progress(`cancel: ${p.done} done, ${p.cancelled} cancelled, ${p.skipped} skipped`);
      const r = flags.taskType !== undefined
        ? await queue.cancelByType(flags.taskType, {
          reason: flags.reason,
          includeRunning: flags.includeRunning ?? false,
          onProgress,
        })
        : await queue.cancelMany(ids, { reason: flags.reason, onProgress });
      clearProgress();
      report(r, flags.json ?? false);
      if (flags.taskType !== undefined && !flags.json) {
        err(
          `cancelled ${r.cancelled.length}, requested ${r.requested.length}, skipped ${r.skipped.length}`,
        );
      }
      const missing = r.skipped.filter((x) => /not found/.test(x.reason));
      if (missing.length > 0) {
        throw new CliError(`Not found: ${missing.map((x) => x.taskId).join(", ")}`, EXIT.notFound);
      }
      const invalid = r.skipped.filter((x) => /^Invalid task id/.test(x.reason));
      if (invalid.length > 0) throw usageError(invalid.map((x) => x.reason).join("\n"));
    });

  program.command("retry")
    .description("Move failed, cancelled or expired tasks back to pending (available now)")
    .argument("<ids...>", "task ids")
    .option("--json", "print the tasks as a JSON array")
    .addHelpText(
      "after",
      examples(
        "oq retry 2-01JD3XW1Q8",
        "oq list --status failed --all --json | jq -r '.[].id' | xargs -r oq retry",
      ) + "\n\nThe retry count starts again from 0; the history keeps every earlier version.",
    )
    .action(async (ids, flags, cmd) => {
      const queue = await openQueue(globals(cmd));
      const done: Task[] = [];
      let code: number | undefined;
      for (const id of ids) {
        try {
          const t = await queue.retry(id);
          done.push(t);
          if (!flags.json) out(`${t.id}  ${styles.out.status(t.status)}`);
        } catch (e) {
          if (!(e instanceof RangeError || e instanceof TypeError)) throw e;
          code ??= /not found/.test(e.message)
            ? EXIT.notFound
            : e instanceof TypeError
            ? EXIT.usage
            : EXIT.failure;
          err(`oq retry: ${printable(e.message)}`);
        }
      }
      if (flags.json) outJson(done);
      if (code !== undefined) {
        throw new CliError(`${ids.length - done.length} of ${ids.length} not retried`, code);
      }
    });
}
