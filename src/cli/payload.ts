/**
 * `oq payload ID input|output`: write a task's input or output to stdout as stored: raw
 * bytes as they are, a JSON value as its JSON text. A payload stored beside the task is
 * streamed (one GET, never held whole) and checked against the task's SHA-256 and size as
 * it goes; a mismatch fails the command (exit 1) after what was read, so a script must
 * trust the output only on exit 0.
 *
 * @module
 */

import { iterate } from "../task/bytes.ts";
import { writeStd } from "../runtime/mod.ts";
import { openQueue } from "./config.ts";
import { notFoundError, usageError } from "./errors.ts";
import { examples, globals, type Program } from "./program.ts";

/** Register `oq payload`. */
export function registerPayload(program: Program): void {
  program.command("payload")
    .description("Write a task's input or output to stdout as stored (raw bytes, or JSON)")
    .argument("<id>", "task id")
    .argument("<which>", "input or output")
    .addHelpText(
      "after",
      examples(
        "oq payload 2-01JD3XW1Q8 output > result.mp4",
        "oq payload 2-01JD3XW1Q8 input | jq .",
      ) +
        "\n\nA payload stored beside the task is streamed (one GET) and checked against the" +
        "\nSHA-256 and size the task records; a mismatch exits 1 after what was read. An" +
        "\ninline value is written as its JSON text (null for a task without an output yet).",
    )
    .action(async (id: string, which: string, _flags, cmd) => {
      if (which !== "input" && which !== "output") {
        throw usageError(`Expected input or output, got ${JSON.stringify(which)}`);
      }
      const queue = await openQueue(globals(cmd));
      const task = await queue.get(id, { payloads: false });
      if (task === null) throw notFoundError(`Task ${JSON.stringify(id)} not found`);
      const ref = which === "input" ? task.inputRef : task.outputRef;
      if (ref === null) {
        writeStd("stdout", JSON.stringify(which === "input" ? task.input : task.output) ?? "null");
        return;
      }
      const stored = queue.context.payloads.open(id, which, ref);
      for await (const chunk of iterate(stored.stream())) writeStd("stdout", chunk);
    });
}
