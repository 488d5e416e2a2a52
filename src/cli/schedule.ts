/**
 * `oq schedule create|list|show|enable|disable|delete|trigger|run`: cron schedules and the
 * scheduler daemon.
 *
 * @module
 */

import type { Schedule } from "../schedule/schedule.ts";
import { openQueue } from "./config.ts";
import { runDaemon } from "./daemon.ts";
import { CliError, EXIT, notFoundError, printable, usageError } from "./errors.ts";
import { relativeTime, table, truncate } from "./format.ts";
import { err, out, outJson, styles } from "./io.ts";
import { EventLog, parseLogFormat } from "./log.ts";
import { parseDuration, parseIntFlag, parseTimeout, readJsonInput } from "./parse.ts";
import { examples, globals, type Program } from "./program.ts";

function scheduleRows(list: Schedule[], now: number): string[][] {
  const s = styles.out;
  return list.map((x) => [
    truncate(x.id),
    truncate(x.taskType),
    truncate(x.cron),
    truncate(x.timezone),
    x.enabled ? s.paint("green", "enabled") : s.paint("yellow", "disabled"),
    x.enabled ? relativeTime(nextRun(x, now), now) : "-",
    truncate(JSON.stringify(x.input), 40),
  ]);
}

/** The next run after `time`; `null` (reported on stderr) when the cron or timezone is bad. */
function nextRun(x: Schedule, time: number): Date | null {
  try {
    return x.nextRunAfter(new Date(time));
  } catch (e) {
    err(`oq: schedule ${JSON.stringify(x.id)} cannot run: ${printable((e as Error).message)}`);
    return null;
  }
}

const HEADERS = ["ID", "TYPE", "CRON", "TIMEZONE", "STATE", "NEXT RUN", "INPUT"];

/** Register `oq schedule ...`. */
export function registerSchedule(program: Program): void {
  const schedule = program.command("schedule")
    .description("Cron schedules: create, list, show, enable, disable, delete, trigger, run")
    .addHelpText(
      "after",
      examples(
        `oq schedule create nightly-report -t report -i '{"kind":"daily"}' -c '0 2 * * *' --timezone Europe/Berlin`,
        "oq schedule list",
        "oq schedule run --interval 60      # the scheduler daemon (run one or more)",
      ),
    );

  schedule.command("create")
    .description("Create a schedule (exit 1 if the id exists, unless --upsert)")
    .argument("<id>", "schedule id")
    .requiredOption("-t, --type <type>", "task type")
    .requiredOption("-c, --cron <expr>", "5-field cron expression, e.g. '*/5 * * * *' or @daily")
    .option("-i, --input <json>", "input: JSON, @file.json or - (default: null)")
    .option("--timezone <tz>", "IANA timezone the cron is read in", "UTC")
    .option("--timeout <duration>", "per-attempt timeout of its tasks (bare number: s)")
    .option("--max-retries <n>", "retries of its tasks")
    .option("--disabled", "create it disabled")
    .option("--upsert", "replace the schedule if it exists (a no-op when nothing changed)")
    .option("--json", "print the schedule as JSON")
    .addHelpText(
      "after",
      examples(
        `oq schedule create cleanup -t cleanup -c '@hourly'`,
        `oq schedule create nightly-report -t report -i @params.json -c '0 2 * * *' --timezone Europe/Berlin --upsert`,
      ),
    )
    .action(async (id, flags, cmd) => {
      const input = flags.input === undefined ? null : await readJsonInput(flags.input, "--input");
      const timeoutSeconds = flags.timeout === undefined ? undefined : parseTimeout(flags.timeout);
      const maxRetries = flags.maxRetries === undefined
        ? undefined
        : parseIntFlag(flags.maxRetries, "--max-retries", 0);
      const queue = await openQueue(globals(cmd));
      const { ScheduleExistsError } = await import("../schedule/operations.ts");
      try {
        const s = await queue.createSchedule(id, flags.type, input, flags.cron, {
          timezone: flags.timezone,
          timeoutSeconds,
          maxRetries,
          enabled: flags.disabled ? false : undefined,
          upsert: flags.upsert ?? false,
        });
        if (flags.json) outJson(s);
        else out(s.id);
      } catch (e) {
        if (e instanceof ScheduleExistsError) {
          throw new CliError(
            `Schedule "${id}" already exists (use --upsert to replace it)`,
            EXIT.failure,
          );
        }
        throw e;
      }
    });

  schedule.command("list")
    .description("List schedules with their next run")
    .option("--json", "print a JSON array")
    .addHelpText("after", examples("oq schedule list", "oq schedule list --json"))
    .action(async (flags, cmd) => {
      const queue = await openQueue(globals(cmd));
      const list = await queue.listSchedules();
      if (flags.json) return outJson(list);
      if (list.length === 0) return err("oq schedule list: no schedules");
      const now = (await queue.now()).getTime();
      out(table(HEADERS, scheduleRows(list, now), styles.out));
    });

  schedule.command("show")
    .description("Show a schedule, its last run and its next run")
    .argument("<id>", "schedule id")
    .option("--json", "print {schedule, lastRun, nextRunAt} as JSON")
    .addHelpText("after", examples("oq schedule show nightly-report"))
    .action(async (id, flags, cmd) => {
      const queue = await openQueue(globals(cmd));
      const s = await queue.getSchedule(id);
      if (s === null) throw notFoundError(`Schedule ${JSON.stringify(id)} not found`);
      const { SchemaError } = await import("../base/errors.ts");
      // A bad last-run record (or cron) is reported; the schedule is still shown.
      const last = await queue.getScheduleLastRun(id).catch((e) => {
        if (!(e instanceof SchemaError)) throw e;
        err(`oq: skipped ${printable(e.message)}`);
        return null;
      });
      const now = (await queue.now()).getTime();
      const next = s.enabled ? nextRun(s, Math.max(now, last?.lastRunAt.getTime() ?? 0)) : null;
      if (flags.json) return outJson({ schedule: s, lastRun: last, nextRunAt: next });
      const b = (k: string) => styles.out.paint("bold", k.padEnd(10));
      const time = (d: Date | null | undefined) =>
        d ? `${d.toISOString()} (${relativeTime(d, now)})` : "-";
      out([
        `${b("id")}  ${printable(s.id)}`,
        `${b("type")}  ${printable(s.taskType)}`,
        `${b("cron")}  ${printable(s.cron)} (${printable(s.timezone)})`,
        `${b("state")}  ${s.enabled ? "enabled" : "disabled"}`,
        `${b("input")}  ${printable(JSON.stringify(s.input))}`,
        `${b("timeout")}  ${s.timeoutSeconds === null ? "default" : `${s.timeoutSeconds}s`}`,
        `${b("retries")}  ${s.maxRetries === null ? "default" : s.maxRetries}`,
        `${b("last run")}  ${
          last ? `${time(last.lastRunAt)} task ${printable(last.lastTaskId)}` : "-"
        }`,
        `${b("next run")}  ${time(next)}`,
        `${b("created")}  ${time(s.createdAt)}`,
      ].join("\n"));
    });

  for (const [name, verb] of [["enable", "Enable"], ["disable", "Disable"]] as const) {
    schedule.command(name)
      .description(
        `${verb} a schedule${
          name === "enable" ? " (from now on; missed runs are not replayed)" : ""
        }`,
      )
      .argument("<id>", "schedule id")
      .option("--json", "print the schedule as JSON")
      .addHelpText("after", examples(`oq schedule ${name} nightly-report`))
      .action(async (id, flags, cmd) => {
        const queue = await openQueue(globals(cmd));
        const s = name === "enable"
          ? await queue.enableSchedule(id)
          : await queue.disableSchedule(id);
        if (flags.json) outJson(s);
        else out(`${s.id}  ${s.enabled ? "enabled" : "disabled"}`);
      });
  }

  schedule.command("delete")
    .description("Delete a schedule (exit 3 if it does not exist)")
    .argument("<id>", "schedule id")
    .addHelpText("after", examples("oq schedule delete nightly-report"))
    .action(async (id, _flags, cmd) => {
      const queue = await openQueue(globals(cmd));
      if (!(await queue.deleteSchedule(id))) {
        throw notFoundError(`Schedule ${JSON.stringify(id)} not found`);
      }
      out(`${id}  deleted`);
    });

  schedule.command("trigger")
    .description("Submit an extra run now; prints the task id")
    .argument("<id>", "schedule id")
    .option("--json", "print the task as JSON")
    .addHelpText("after", examples("oq schedule trigger nightly-report"))
    .action(async (id, flags, cmd) => {
      const queue = await openQueue(globals(cmd));
      const task = await queue.triggerSchedule(id);
      if (flags.json) outJson(task);
      else out(task.id);
    });

  schedule.command("run")
    .description("Run a scheduler: submit due runs until SIGINT/SIGTERM (any number may run)")
    .option(
      "--interval <duration>",
      "how often to look for new or changed schedules (bare number: s)",
      "60",
    )
    .option("--once", "run one cycle, print what it submitted, exit")
    .option("--json", "with --once: print the result as JSON")
    .option("--log-format <format>", "human or json", "human")
    .addHelpText(
      "after",
      examples(
        "oq schedule run",
        "oq schedule run --interval 30 --log-format json",
        "oq schedule run --once",
      ),
    )
    .action(async (flags, cmd) => {
      const log = new EventLog(parseLogFormat(flags.logFormat));
      const intervalS = parseDuration(flags.interval, "--interval") / 1000;
      if (!(intervalS > 0)) throw usageError("Invalid --interval: must be more than 0");
      const queue = await openQueue(globals(cmd));
      const { Scheduler } = await import("../schedule/scheduler.ts");
      const scheduler = new Scheduler(queue);
      if (flags.once) {
        const r = await scheduler.runOnce();
        if (flags.json) return outJson(r);
        for (const x of r.submitted) {
          out(`${printable(x.scheduleId)}  ${x.dueAt.toISOString()}  ${printable(x.task.id)}`);
        }
        for (const e of r.errors) log.error(`schedule ${e.scheduleId ?? e.key}`, e.error);
        return;
      }
      scheduler.events.on("schedule:submitted", (x) =>
        log.event("schedule:submitted", {
          schedule_id: x.scheduleId,
          due_at: x.dueAt.toISOString(),
          task_id: x.task.id,
        }));
      scheduler.events.on(
        "schedule:error",
        (e) => log.error(`schedule ${e.scheduleId ?? e.key}`, e.error),
      );
      scheduler.events.on("scheduler:error", ({ error }) => log.error("scheduler", error));
      log.event("scheduler:started", { interval_s: intervalS });
      await runDaemon({
        name: "oq schedule run",
        log: (m) => log.info(m),
        run: () => scheduler.run({ intervalS }),
        stop: () => scheduler.stop(),
      });
      log.event("scheduler:stopped");
    });
}
