/**
 * Flow control by operators: `oq pause TYPE...`, `oq resume TYPE...`, `oq paused`.
 *
 * @module
 */

import type { SetPausedResult, TypeControl } from "../protocol/flow.ts";
import { openQueue } from "./config.ts";
import { printable, usageError } from "./errors.ts";
import { relativeTime, table, truncate } from "./format.ts";
import { err, out, outJson, styles } from "./io.ts";
import { examples, globals, type Program } from "./program.ts";

function controlJson(c: TypeControl) {
  return {
    task_type: c.taskType,
    paused: c.paused,
    reason: c.reason,
    updated_at: c.updatedAt.toISOString(),
  };
}

function report(verb: string, results: SetPausedResult[], json: boolean): void {
  if (json) {
    return outJson(results.map((r) => ({
      ...controlJson(r.control),
      changed: r.changed,
      signalled: r.signalled,
    })));
  }
  for (const r of results) {
    const t = printable(r.control.taskType);
    out(r.changed ? `${t}  ${verb}` : `${t}  already ${verb}`);
    if (!r.signalled) {
      err(
        `oq: the wake-up signal of ${t} could not be written: workers notice within their ` +
          `safety interval (15 min by default); run the command again to retry it`,
      );
    }
  }
}

/** Register `oq pause`, `oq resume` and `oq paused`. */
export function registerFlow(program: Program): void {
  program.command("pause")
    .description("Pause task types for every worker (submitting still works)")
    .argument("<types...>", "task types")
    .option("--reason <text>", "why (shown by oq paused and the console)")
    .option("--json", "print the controls as JSON")
    .addHelpText(
      "after",
      examples("oq pause send_email --reason 'provider outage'") +
        "\n\nNo worker claims tasks of a paused type from its next wake-up check on (2.5 s by" +
        "\ndefault); running tasks finish normally. `oq resume` undoes it.",
    )
    .action(async (types, flags, cmd) => {
      const queue = await openQueue(globals(cmd));
      const results: SetPausedResult[] = [];
      for (const t of types) results.push(await queue.pause(t, { reason: flags.reason }));
      report("paused", results, flags.json ?? false);
    });

  program.command("resume")
    .description("Resume paused task types (idle workers are woken at once)")
    .argument("<types...>", "task types")
    .option("--json", "print the controls as JSON")
    .addHelpText("after", examples("oq resume send_email"))
    .action(async (types, flags, cmd) => {
      const queue = await openQueue(globals(cmd));
      const results: SetPausedResult[] = [];
      for (const t of types) results.push(await queue.resume(t));
      report("resumed", results, flags.json ?? false);
    });

  program.command("paused")
    .description("List the paused task types")
    .option("--json", "print them as JSON")
    .addHelpText("after", examples("oq paused", "oq paused --json | jq -r '.[].task_type'"))
    .action(async (flags, cmd) => {
      if (cmd.args.length > 0) throw usageError("oq paused takes no arguments");
      const queue = await openQueue(globals(cmd));
      const list = await queue.pausedTypes();
      if (flags.json) return outJson(list.map(controlJson));
      if (list.length === 0) return err("no task type is paused");
      const now = await queue.context.now();
      out(table(
        ["TASK TYPE", "SINCE", "REASON"],
        list.map((c) => [
          truncate(c.taskType),
          relativeTime(c.updatedAt, now),
          truncate(c.reason ?? "-", 60),
        ]),
        styles.out,
      ));
    });
}
