/**
 * The bucket's layout: `oq layout` (show it) and `oq reshard N` (change the shard count and
 * move the work). docs/operations.md explains when and how to reshard.
 *
 * @module
 */

import { openQueue } from "./config.ts";
import { err, out, outJson } from "./io.ts";
import { parseIntFlag } from "./parse.ts";
import { examples, globals, type Program } from "./program.ts";

/** Register `oq layout` and `oq reshard`. */
export function registerLayout(program: Program): void {
  program.command("layout")
    .description("Show the bucket's layout: storage format, shard count, and its changes")
    .option("--json", "print the layout as JSON")
    .addHelpText("after", examples("oq layout", "oq layout --json | jq .shardCount"))
    .action(async (flags, cmd) => {
      const queue = await openQueue(globals(cmd));
      const { describeLayout } = await import("../queue/reshard.ts");
      const d = describeLayout(await queue.syncLayout());
      if (flags.json) return outJson(d);
      const lines = [
        `format          ${d.format}`,
        `shards          ${d.shardCount} (0-${d.shardCount - 1})`,
        `key shards      ${d.keyShardCount} (ids derived from idempotency keys and schedule runs)`,
        `home shards     ${d.homeShardCount} (tasks/{shard}/ prefixes that hold task objects)`,
      ];
      if (d.retiredShards.length > 0) {
        lines.push(`retired shards  ${d.retiredShards.join(", ")} (no longer polled)`);
      }
      lines.push("changes");
      for (const c of d.changes) {
        lines.push(
          `  ${c.at}  ${c.from === null ? "created with" : `${c.from} ->`} ${c.to}  by ${c.by}`,
        );
      }
      out(lines.join("\n"));
    });

  program.command("reshard")
    .description("Change the bucket's shard count and move pending, delayed and running work")
    .argument("<count>", "the new number of shards (1-256)")
    .option(
      "--no-wait",
      "move once and return, without waiting for other processes to adopt the new layout",
    )
    .option("--json", "print the result as JSON")
    .addHelpText(
      "after",
      examples("oq reshard 8", "oq reshard 2 --no-wait") +
        "\n\nSafe while producers, workers and monitors run: each re-reads the layout within a" +
        "\nminute. Shrinking moves the work of the removed shards to the remaining ones (task ids" +
        "\nand objects do not change); growing moves nothing. By default the command moves once," +
        "\nwaits that minute, and moves what processes with the old layout added meanwhile." +
        "\nRunning it again is safe. See docs/operations.md.",
    )
    .action(async (countText, flags, cmd) => {
      const count = parseIntFlag(countText, "<count>", 1, 256);
      const queue = await openQueue(globals(cmd), { ignoreShardCount: true });
      const { reshard } = await import("../queue/reshard.ts");
      const r = await reshard(queue, count, {
        wait: flags.wait,
        onProgress: (shard, d) => {
          if (flags.json) return;
          err(
            `shard ${shard}: moved ${d.movedPending} pending, ${d.movedRunning} running; ` +
              `removed ${d.removed} stale entries` + (d.kept ? `; ${d.kept} left for later` : ""),
          );
        },
        onInvalid: (e) => err(`oq: skipped ${e.message}`),
      });
      if (flags.json) return outJson(r);
      if (!r.changed) return out(`the bucket already has ${r.to} shards; nothing to do`);
      const d = r.drained;
      out(
        [
          `shards      ${r.from} -> ${r.to}`,
          `retired     ${r.retired.length ? r.retired.join(", ") : "none"}`,
          `moved       ${d.movedPending} pending/delayed, ${d.movedRunning} running (${r.passes} passes)`,
          `removed     ${d.removed} stale entries`,
          ...(d.kept
            ? [`left        ${d.kept} entries of submits in progress (the monitors finish them)`]
            : []),
          ...(d.invalid
            ? [`invalid     ${d.invalid} task objects could not be read (left alone)`]
            : []),
        ].join("\n"),
      );
    });
}
