/**
 * `oq monitor`: recover expired leases, expire tasks past their TTL and repair indexes,
 * as a daemon (until SIGINT/SIGTERM) or one cycle (`--once`).
 *
 * @module
 */

import { MAX_DELAY_SECONDS } from "../base/limits.ts";
import type { MonitorOptions } from "../monitor/monitor.ts";
import { openQueue } from "./config.ts";
import { runDaemon } from "./daemon.ts";
import { usageError } from "./errors.ts";
import { out, outJson } from "./io.ts";
import { EventLog, parseLogFormat } from "./log.ts";
import { parseDuration } from "./parse.ts";
import { examples, globals, type Program } from "./program.ts";

/** Register `oq monitor`. */
export function registerMonitor(program: Program): void {
  program.command("monitor")
    .description("Run a monitor: recover expired leases, expire TTLs, repair indexes")
    .option("--check-interval <duration>", "check interval while work runs (bare number: s)", "15s")
    .option("--idle-check-interval <duration>", "check interval while nothing runs", "5m")
    .option("--archive-after <duration>", "archive finished tasks this long after they finished")
    .option("--purge-after <duration>", "delete finished tasks (and history) this long after")
    .option("--once", "run one cycle (with a sweep step), print what it did, exit")
    .option("--json", "with --once: print the result as JSON")
    .option("--log-format <format>", "human or json", "human")
    .addHelpText(
      "after",
      examples(
        "oq monitor",
        "oq monitor --check-interval 30 --purge-after 30d",
        "oq monitor --once --json",
      ) +
        "\n\nEvery worker embeds a monitor unless started with --no-monitor; any number may run.",
    )
    .action(async (flags, cmd) => {
      const log = new EventLog(parseLogFormat(flags.logFormat));
      const checkS = parseDuration(flags.checkInterval, "--check-interval") / 1000;
      const idleS = parseDuration(flags.idleCheckInterval, "--idle-check-interval") / 1000;
      if (!(checkS > 0 && idleS > 0)) throw usageError("Check intervals must be more than 0");
      const options: MonitorOptions = { checkIntervalS: checkS, idleCheckIntervalS: idleS };
      const retention: NonNullable<MonitorOptions["retention"]> = {};
      if (flags.archiveAfter !== undefined) {
        retention.archiveAfterSeconds = parseDuration(
          flags.archiveAfter,
          "--archive-after",
          "s",
          MAX_DELAY_SECONDS * 1000,
        ) / 1000;
      }
      if (flags.purgeAfter !== undefined) {
        retention.purgeAfterSeconds = parseDuration(
          flags.purgeAfter,
          "--purge-after",
          "s",
          MAX_DELAY_SECONDS * 1000,
        ) / 1000;
      }
      if (Object.keys(retention).length > 0) options.retention = retention;
      const queue = await openQueue(globals(cmd));
      const { Monitor } = await import("../monitor/monitor.ts");
      const monitor = new Monitor(queue, options);
      if (flags.once) {
        const r = await monitor.runOnce({ sweep: true });
        if (flags.json) return outJson(r);
        const sw = r.sweep;
        out(
          [
            `shards ${r.shards}, lease entries ${r.leaseEntries}, expired leases checked ${r.expiredChecked}`,
            `recovered ${r.recovered}, dead-lettered ${r.deadLettered}, cancelled ${r.cancelled}, ` +
            `expired ${r.expired}, stale entries removed ${r.staleEntries}`,
            sw
              ? `sweep: scanned ${sw.scanned}, repaired ${sw.readyRepaired + sw.leaseRepaired}, ` +
                `archived ${sw.archived}, purged ${sw.purged}, invalid ${sw.invalid}`
              : "sweep: not run",
            `requests ${r.requests}`,
          ].join("\n"),
        );
        return;
      }
      monitor.events.on(
        "monitor:recovered",
        ({ taskId, status }) => log.event("monitor:recovered", { task_id: taskId, status }),
      );
      monitor.events.on("monitor:error", ({ error }) => log.error("monitor", error));
      log.event("monitor:started", { check_interval_s: checkS });
      await runDaemon({
        name: "oq monitor",
        log: (m) => log.info(m),
        run: () => monitor.run(),
        stop: () => monitor.stop(),
      });
      log.event("monitor:stopped");
    });
}
