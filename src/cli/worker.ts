/**
 * `oq worker`: run handlers from `--exec TYPE=COMMAND` and/or `--handlers FILE` until
 * SIGINT/SIGTERM, logging one line per task event on stderr.
 *
 * @module
 */

import type { Handler } from "../worker/handler.ts";
import { hostName, type HttpServer, processId, serveHttp } from "../runtime/mod.ts";
import { openQueue } from "./config.ts";
import { runDaemon } from "./daemon.ts";
import { usageError } from "./errors.ts";
import { ExecRunner, type ExecTaskRef, parseExecSpec } from "./exec.ts";
import { STDERR_LOG_MAX_BYTES, STDERR_LOG_MAX_LINES } from "./stderr_log.ts";
import { loadHandlersFile } from "./handlers_file.ts";
import { EventLog, parseLogFormat } from "./log.ts";
import { collect, parseDuration, parseIntFlag, parseList } from "./parse.ts";
import { examples, globals, type Program } from "./program.ts";

/** The default worker id: `hostname-pid`, with characters a worker id cannot hold replaced. */
export async function defaultWorkerId(): Promise<string> {
  const host = (await hostName()).replace(/[^A-Za-z0-9_.:=@+-]/g, "_").replace(/\.\.+/g, ".");
  return `${host.replace(/^[^A-Za-z0-9_]/, "_").slice(0, 100)}-${processId()}`;
}

/** Register `oq worker`. */
export function registerWorker(program: Program): void {
  program.command("worker")
    .description("Run a worker: claim tasks and run their handlers until SIGINT/SIGTERM")
    .option(
      "--exec <TYPE=COMMAND>",
      "run COMMAND (via /bin/sh -c) per task of TYPE; repeatable",
      collect,
    )
    .option("--handlers <file>", "a .ts/.js module exporting handlers by task type")
    .option("--id <id>", "worker id (default: hostname-pid)")
    .option("--shards <list>", "shards to poll, comma-separated (default: all)")
    .option("--concurrency <n>", "tasks run at once", "1")
    .option(
      "--poll-interval <duration>",
      "poll interval of an active lane (bare number: ms)",
      "500ms",
    )
    .option(
      "--peer-check-interval <duration>",
      "while busy, how often to count the live workers of the same types (one LIST of the " +
        "heartbeats); N of them each poll every N x --poll-interval while work is thin, at most " +
        "5s (0: poll alone)",
      "60s",
    )
    .option(
      "--lease-entry-after <duration>",
      "a task still running after this long gets its own lease entry; shorter ones use " +
        "their ready entry (0: every claim writes one)",
      "10s",
    )
    .option("--no-monitor", "do not embed a monitor (run `oq monitor` somewhere instead)")
    .option("--monitor-check-interval <duration>", "embedded monitor's check interval", "15s")
    .option(
      "--shutdown-timeout <duration>",
      "on SIGINT/SIGTERM, wait this long for running tasks before giving them back",
      "5s",
    )
    .option(
      "--cancel-check-interval <duration>",
      "how often a running task checks for a cancel request (one conditional GET)",
      "5s",
    )
    .option(
      "--kill-grace <duration>",
      "time between SIGTERM and SIGKILL of an --exec command",
      "3s",
    )
    .option("--log-format <format>", "human or json (one JSON object per line)", "human")
    .option(
      "--metrics-port <n>",
      "serve this worker's Prometheus metrics at http://HOST:PORT/metrics (0: any free port)",
    )
    .option("--metrics-host <address>", "address of the metrics server", "127.0.0.1")
    .option(
      "--until-idle",
      "drain mode (cron, serverless): run due tasks until none is due, then exit 0",
    )
    .option(
      "--max-time <duration>",
      "with --until-idle: the time budget; claiming stops at 4/5 of it, tasks still " +
        "running near its end are given back",
    )
    .addHelpText(
      "after",
      examples(
        "oq worker --exec 'resize=./resize.sh' --exec 'email=python3 send.py' --concurrency 4",
        "oq worker --handlers ./handlers.ts --shards 0,1 --log-format json",
        "oq worker --handlers ./handlers.ts --until-idle --max-time 50s   # from cron",
      ) + `

--exec protocol: the task input is JSON on stdin; env OQ_TASK_ID, OQ_TASK_TYPE,
OQ_ATTEMPT, OQ_RETRY_COUNT, OQ_MAX_RETRIES, OQ_TIMEOUT_SECONDS, OQ_WORKER_ID.
stdout is the output (JSON if it parses, else text). Exit 0: completed. Exit 75: retry.
Other exit codes: failed for good, with the end of stderr as the error. Exit 127/126 (the
shell cannot find or run the command) stops the worker (exit 2) and gives the task back;
a command whose first word does not resolve is refused at start-up. stderr lines are
logged, at most 1000 lines or 64 KiB per attempt. On timeout, cancellation or shutdown
the command gets SIGTERM, then SIGKILL after --kill-grace.

The first SIGINT/SIGTERM stops claiming, waits up to --shutdown-timeout for running
tasks, gives the others back (pending, retry count unchanged) and exits 0; a second
one exits 130 at once.

--until-idle (drain mode) writes no heartbeat; it runs one monitor cycle first (unless
--no-monitor), then claims until no task is due or 4/5 of --max-time passed, waits for the
running tasks, gives back (pending, retry count unchanged) those still running 1 s plus
the abort grace before the end, logs a worker:drained event with the counts and exits 0.`,
    )
    .action(async (flags, cmd) => {
      const format = parseLogFormat(flags.logFormat);
      const metricsPort = flags.metricsPort === undefined
        ? undefined
        : parseIntFlag(flags.metricsPort, "--metrics-port", 0, 65_535);
      const concurrency = parseIntFlag(flags.concurrency, "--concurrency", 1, 10_000);
      const pollIntervalMs = parseDuration(flags.pollInterval, "--poll-interval", "ms");
      const peerCheckIntervalMs = parseDuration(flags.peerCheckInterval, "--peer-check-interval");
      const leaseEntryAfterMs = parseDuration(flags.leaseEntryAfter, "--lease-entry-after");
      const checkS = parseDuration(flags.monitorCheckInterval, "--monitor-check-interval") / 1000;
      const shutdownMs = parseDuration(flags.shutdownTimeout, "--shutdown-timeout");
      const killGraceMs = parseDuration(flags.killGrace, "--kill-grace");
      const cancelCheckIntervalMs = parseDuration(
        flags.cancelCheckInterval,
        "--cancel-check-interval",
      );
      if (!(cancelCheckIntervalMs > 0)) {
        throw usageError("Invalid --cancel-check-interval: must be more than 0");
      }
      if (!(pollIntervalMs > 0)) throw usageError("Invalid --poll-interval: must be more than 0");
      if (!(checkS > 0)) throw usageError("Invalid --monitor-check-interval: must be more than 0");
      if (flags.maxTime !== undefined && !flags.untilIdle) {
        throw usageError("--max-time needs --until-idle");
      }
      const maxTimeMs = flags.maxTime === undefined
        ? undefined
        : parseDuration(flags.maxTime, "--max-time");
      if (maxTimeMs !== undefined && !(maxTimeMs >= 10)) {
        throw usageError("Invalid --max-time: must be at least 10ms");
      }
      const log = new EventLog(format, { worker_id: flags.id });
      // Set when an --exec command cannot run here: the worker stops and exits 2.
      let commandError: string | undefined;
      const ref = (t: ExecTaskRef) => ({
        task_id: t.id,
        task_type: t.taskType,
        attempt: t.attempt,
      });
      const runner = new ExecRunner({
        killGraceMs,
        onStderrLine: (t, line) => log.event("task:stderr", { ...ref(t), line }),
        onStderrDropped: (t, d) =>
          log.event("task:stderr", {
            ...ref(t),
            dropped_lines: d.lines,
            dropped_bytes: d.bytes,
            line: `[oq: ${d.lines} more lines (${d.bytes} bytes) of stderr not logged: at most ` +
              `${STDERR_LOG_MAX_LINES} lines or ${STDERR_LOG_MAX_BYTES} bytes per attempt]`,
          }),
        onCommandError: (t, message) => {
          if (commandError !== undefined) return;
          commandError = `${message} (task type ${t.taskType})`;
          log.event("error", {
            ...ref(t),
            context: "exec",
            error: `${commandError}: a configuration error of this worker, stopping; ` +
              "the task is given back (pending, retry count unchanged)",
          }, "error");
          void stop();
        },
      });
      const handlers = new Map<string, Handler>();
      for (const spec of flags.exec ?? []) {
        const { taskType, command } = parseExecSpec(spec);
        if (handlers.has(taskType)) {
          throw usageError(`Task type "${taskType}" has two --exec handlers`);
        }
        const problem = await runner.checkCommand(command);
        if (problem !== null) {
          throw usageError(`Invalid --exec ${JSON.stringify(spec)}: ${problem}`);
        }
        handlers.set(taskType, runner.handler(command));
      }
      if (flags.handlers !== undefined) {
        for (const [type, handler] of await loadHandlersFile(flags.handlers)) {
          if (handlers.has(type)) {
            throw usageError(
              `Task type "${type}" has a handler in ${flags.handlers} and an --exec`,
            );
          }
          handlers.set(type, handler);
        }
      }
      if (handlers.size === 0) {
        throw usageError("No handlers: give --exec TYPE=COMMAND (repeatable) or --handlers FILE");
      }
      const id = flags.id ?? await defaultWorkerId();
      const queue = await openQueue(globals(cmd));
      const shards = flags.shards === undefined ? undefined : parseList(flags.shards);
      const { Worker } = await import("../worker/worker.ts");
      const worker = new Worker(queue, id, shards);
      for (const [type, h] of handlers) worker.task(type, h);
      log.setBase({ worker_id: id });
      attachLog(worker, log);
      log.event("worker:started", {
        worker_id: id,
        task_types: [...handlers.keys()].join(","),
        shards: worker.shards.join(","),
        concurrency,
        monitor: flags.monitor,
      });
      const metricsServer = metricsPort === undefined
        ? undefined
        : await serveMetrics(worker, queue.store, flags.metricsHost, metricsPort);
      if (metricsServer) {
        const host = flags.metricsHost.includes(":") ? `[${flags.metricsHost}]` : flags.metricsHost;
        log.event("worker:metrics", { url: `http://${host}:${metricsServer.port}/metrics` });
      }
      let stopping: Promise<void> | undefined;
      const stop = () =>
        stopping ??= (async () => {
          await worker.stop({ timeoutMs: shutdownMs });
          await runner.stopAll();
        })();
      try {
        await runDaemon({
          name: `oq worker ${id}`,
          log: (m) => log.info(m),
          run: async () => {
            const options = {
              concurrency,
              pollIntervalMs,
              peerCheckIntervalMs,
              leaseEntryAfterMs,
              withMonitor: flags.monitor,
              monitorCheckIntervalS: checkS,
              cancelCheckIntervalMs,
            };
            if (flags.untilIdle) {
              const { elapsedMs, stoppedBecause, ...counts } = await worker.runUntilIdle({
                ...options,
                maxTimeMs,
              });
              log.event("worker:drained", {
                worker_id: id,
                ...counts,
                elapsed_ms: elapsedMs,
                stopped_because: stoppedBecause,
              });
            } else {
              await worker.run({ ...options, shutdownTimeoutMs: shutdownMs });
            }
            await stopping;
          },
          stop,
          force: () => runner.stopAll(true),
        });
      } finally {
        await metricsServer?.close();
      }
      log.event("worker:stopped", { worker_id: id });
      if (commandError !== undefined) {
        throw usageError(`Worker stopped: an --exec command cannot run: ${commandError}`);
      }
    });
}

/** Serve a worker's metrics (src/console/worker_metrics.ts) at `/metrics`. */
async function serveMetrics(
  worker: import("../worker/worker.ts").Worker,
  store: import("../store/types.ts").ObjectStore,
  hostname: string,
  port: number,
): Promise<HttpServer> {
  const { WorkerMetrics } = await import("../console/worker_metrics.ts");
  const metrics = new WorkerMetrics();
  metrics.attach(worker, store);
  const handler = metrics.handler();
  return await serveHttp({ hostname, port, handler: (req) => handler(req) });
}

function attachLog(worker: import("../worker/worker.ts").Worker, log: EventLog): void {
  const base = (t: { id: string; taskType: string; attempt: number }) => ({
    task_id: t.id,
    task_type: t.taskType,
    attempt: t.attempt,
  });
  worker.on("task:claimed", ({ task }) => log.event("task:claimed", base(task)));
  worker.on(
    "task:completed",
    ({ task, durationMs }) =>
      log.event("task:completed", { ...base(task), duration_ms: durationMs }),
  );
  worker.on("task:retried", ({ task, error, retryAt }) =>
    log.event("task:retried", {
      ...base(task),
      retry_at: retryAt.toISOString(),
      error: error.message,
    }));
  worker.on(
    "task:failed",
    ({ task, error }) => log.event("task:failed", { ...base(task), error: error.message }, "error"),
  );
  worker.on("task:cancelled", ({ task }) => log.event("task:cancelled", base(task)));
  worker.on("task:released", ({ task }) => log.event("task:released", base(task)));
  worker.on(
    "task:lost",
    ({ taskId, reason }) => log.event("task:lost", { task_id: taskId, reason }, "error"),
  );
  worker.on("worker:error", ({ error, context }) => log.error(context, error));
}
