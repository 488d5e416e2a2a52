/**
 * Limits by operators: `oq limit TYPE --concurrency N --rate N/s`, `oq limit TYPE --clear`,
 * `oq limits`.
 *
 * @module
 */

import type { RateLimit, TypeControl } from "../protocol/flow.ts";
import type { LimitOptions, LimitUsage } from "../protocol/type_limits.ts";
import type { Style } from "./io.ts";
import { openQueue } from "./config.ts";
import { printable, usageError } from "./errors.ts";
import { relativeTime, table, truncate } from "./format.ts";
import { err, out, outJson, styles } from "./io.ts";
import { examples, globals, type Program } from "./program.ts";

function limitsJson(c: TypeControl) {
  return {
    task_type: c.taskType,
    concurrency: c.concurrency,
    rate_limit: c.rateLimit ? { limit: c.rateLimit.limit, window_ms: c.rateLimit.windowMs } : null,
    updated_at: c.updatedAt.toISOString(),
  };
}

/** A type's limits and their use, as `oq stats --json` and `oq limits --json` print them. */
export function usageJson(u: LimitUsage) {
  return {
    task_type: u.taskType,
    paused: u.paused,
    concurrency: u.concurrency,
    slots_in_use: u.slotsInUse,
    rate_limit: u.rateLimit ? { limit: u.rateLimit.limit, window_ms: u.rateLimit.windowMs } : null,
    recent_starts: u.recentStarts,
  };
}

function per(r: RateLimit): string {
  return r.windowMs === 1000 ? "s" : r.windowMs === 60_000 ? "min" : `${r.windowMs} ms`;
}

/**
 * The limited types with their use: `2/5 running` (slots held of the limit), `3/10 per s`
 * (starts recorded in the last window of the limit).
 */
export function usageTable(list: readonly LimitUsage[], style: Style): string {
  return table(
    ["TASK TYPE", "CONCURRENCY", "RATE"],
    list.map((u) => [
      truncate(u.taskType) + (u.paused ? " (paused)" : ""),
      u.concurrency === null ? "-" : `${u.slotsInUse}/${u.concurrency} running`,
      u.rateLimit === null ? "-" : `${u.recentStarts}/${u.rateLimit.limit} per ${per(u.rateLimit)}`,
    ]),
    style,
  );
}

/** `N/s` or `N/m` (also `N/sec`, `N/min`). */
export function parseRate(text: string): Pick<LimitOptions, "ratePerSecond" | "ratePerMinute"> {
  const m = /^\s*(\d+)\s*\/\s*(s|sec|second|m|min|minute)\s*$/.exec(text);
  if (!m) {
    throw usageError(`--rate takes N/s or N/min (for example 10/s); got ${JSON.stringify(text)}`);
  }
  const n = Number(m[1]);
  return m[2]!.startsWith("s") ? { ratePerSecond: n } : { ratePerMinute: n };
}

function count(flag: string, text: string): number {
  if (!/^\d+$/.test(text.trim())) {
    throw usageError(`${flag} takes a positive integer; got ${JSON.stringify(text)}`);
  }
  return Number(text);
}

/** How a type's limits read in a table. */
export function describeLimits(c: TypeControl): string {
  const parts: string[] = [];
  if (c.concurrency !== null) parts.push(`concurrency ${c.concurrency}`);
  if (c.rateLimit !== null) parts.push(`rate ${c.rateLimit.limit}/${per(c.rateLimit)}`);
  return parts.length ? parts.join(", ") : "none";
}

/** Register `oq limit` and `oq limits`. */
export function registerLimits(program: Program): void {
  program.command("limit")
    .description("Limit a task type across every worker (concurrency, rate)")
    .argument("<type>", "task type")
    .option("--concurrency <n>", "at most N tasks of the type running at once")
    .option("--rate <n/unit>", "at most N starts per second (N/s) or per minute (N/min)")
    .option("--no-concurrency", "remove the concurrency limit")
    .option("--no-rate", "remove the rate limit")
    .option("--clear", "remove every limit of the type")
    .option("--json", "print the limits as JSON")
    .addHelpText(
      "after",
      examples(
        "oq limit call_api --concurrency 5",
        "oq limit call_api --rate 10/s",
        "oq limit call_api --clear",
      ) +
        "\n\nWorkers apply a change at their next wake-up check (2.5 s by default). A crashed" +
        "\nworker's share frees when its lease ends. `oq limits` lists the limited types.",
    )
    .action(async (type, flags, cmd) => {
      const options: LimitOptions = {};
      if (flags.clear) {
        if (typeof flags.concurrency === "string" || typeof flags.rate === "string") {
          throw usageError("--clear cannot be combined with --concurrency or --rate");
        }
        options.concurrency = null;
        options.ratePerSecond = null;
      } else {
        if (typeof flags.concurrency === "string") {
          options.concurrency = count("--concurrency", flags.concurrency);
        } else if (flags.concurrency === false) options.concurrency = null;
        if (typeof flags.rate === "string") Object.assign(options, parseRate(flags.rate));
        else if (flags.rate === false) options.ratePerSecond = null;
      }
      if (Object.keys(options).length === 0) {
        throw usageError("oq limit needs --concurrency N, --rate N/s, a --no- form or --clear");
      }
      const queue = await openQueue(globals(cmd));
      let r;
      try {
        r = await queue.setLimit(type, options);
      } catch (e) {
        if (e instanceof RangeError || e instanceof TypeError) throw usageError(e.message);
        throw e;
      }
      if (flags.json) {
        return outJson({ ...limitsJson(r.control), changed: r.changed, signalled: r.signalled });
      }
      const t = printable(r.control.taskType);
      out(`${t}  ${r.changed ? "" : "already "}${describeLimits(r.control)}`);
      if (!r.signalled) {
        err(
          `oq: the wake-up signal of ${t} could not be written: workers notice within their ` +
            `safety interval (15 min by default); run the command again to retry it`,
        );
      }
    });

  program.command("limits")
    .description("List the task types with a concurrency or rate limit")
    .option("--json", "print them as JSON")
    .addHelpText("after", examples("oq limits", "oq limits --json"))
    .action(async (flags, cmd) => {
      if (cmd.args.length > 0) throw usageError("oq limits takes no arguments");
      const queue = await openQueue(globals(cmd));
      const list = await queue.limits();
      if (flags.json) return outJson(list.map(limitsJson));
      if (list.length === 0) return err("no task type has a limit");
      const now = await queue.context.now();
      out(table(
        ["TASK TYPE", "LIMITS", "SINCE"],
        list.map((c) => [truncate(c.taskType), describeLimits(c), relativeTime(c.updatedAt, now)]),
        styles.out,
      ));
    });
}
