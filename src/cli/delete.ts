/**
 * `oq delete ID... [--pending] [--json]`: remove finished tasks (or, with `--pending`,
 * pending ones) with their index entries, payloads and history (`queue.delete`).
 *
 * @module
 */

import type { DeleteTaskResult } from "../protocol/delete.ts";
import { openQueue } from "./config.ts";
import { CliError, EXIT, printable } from "./errors.ts";
import { err, out, outJson, styles } from "./io.ts";
import { examples, globals, type Program } from "./program.ts";

/** Register `oq delete`. */
export function registerDelete(program: Program): void {
  program.command("delete")
    .description("Delete finished tasks with their history and payloads (--pending: pending too)")
    .argument("<ids...>", "task ids")
    .option(
      "--pending",
      "also delete pending tasks (each is cancelled first, so no worker runs it)",
    )
    .option("--json", "print a JSON array: {taskId, deleted, status, versions, payloads} per id")
    .addHelpText(
      "after",
      examples(
        "oq delete 2-01JD3XW1Q8",
        "oq delete 0-01JD3X 1-01JD3Y --pending",
        "oq list --status failed --type report --all --json | jq -r '.[].id' | xargs -r oq delete",
      ) +
        "\n\nA running task is refused (cancel it, then delete it once it has finished). The" +
        "\ntask is marked first, so a worker claiming it at that moment either wins (and delete" +
        "\nrefuses) or finds nothing to run; an interrupted delete is finished by running it" +
        "\nagain, or by the monitor's sweep. Exit codes: 0 every task deleted; 3 an id does not" +
        "\nexist (the others are deleted); 1 a task could not be deleted (running, or pending" +
        "\nwithout --pending); 2 an invalid id.",
    )
    .action(async (ids, flags, cmd) => {
      const queue = await openQueue(globals(cmd));
      const done: DeleteTaskResult[] = [];
      let code: number | undefined;
      const s = styles.out;
      for (const id of ids) {
        try {
          const r = await queue.delete(id, { pending: flags.pending === true });
          done.push(r);
          if (!r.deleted) {
            code ??= EXIT.notFound;
            err(`oq delete: task ${printable(JSON.stringify(id))} not found`);
          } else if (!flags.json) {
            out(
              `${printable(id)}  ${s.paint("red", "deleted")} (was ${s.status(r.status ?? "?")}; ` +
                `${r.versions} version(s), ${r.payloads} payload(s))`,
            );
          }
        } catch (e) {
          if (!(e instanceof RangeError || e instanceof TypeError)) throw e;
          code = e instanceof TypeError ? EXIT.usage : code === EXIT.usage ? code : EXIT.failure;
          err(`oq delete: ${printable(e.message)}`);
        }
      }
      if (flags.json) outJson(done);
      const deleted = done.filter((r) => r.deleted).length;
      if (code !== undefined) {
        throw new CliError(`${ids.length - deleted} of ${ids.length} not deleted`, code);
      }
    });
}
