/**
 * Signal handling of the long-running commands (worker, monitor, schedule run, tail, dev):
 * the first SIGINT or SIGTERM starts a graceful stop and the command then exits 0; a
 * second one exits at once with status 130.
 *
 * @module
 */

import { exitProcess, onTermSignals, type TermSignal } from "../runtime/mod.ts";
import { EXIT } from "./errors.ts";
import { err } from "./io.ts";

/** A second signal this soon after the first counts as the same one. */
export const DUPLICATE_WINDOW_MS = 250;

/** What {@link runDaemon} runs. */
export interface DaemonSpec {
  /** Command name, for the log line (`oq worker`). */
  name: string;
  /** Starts the work; resolves when it has stopped (after `stop`). */
  run(): Promise<void>;
  /** Graceful stop; `run()` resolves after it. */
  stop(): Promise<void>;
  /** Called on the second signal, before the immediate exit (kill subprocesses, ...). */
  force?(): void | Promise<void>;
  /** Log the stop request (default: a line on stderr). */
  log?(message: string): void;
}

/**
 * Run until SIGINT/SIGTERM, then stop gracefully. Resolves once stopped (the caller exits
 * 0); a second signal calls `force` and exits 130 at once.
 */
export async function runDaemon(spec: DaemonSpec): Promise<void> {
  const log = spec.log ?? ((m: string) => err(m));
  let stopping: Promise<void> | undefined;
  let firstAt = 0;
  const remove = onTermSignals((signal: TermSignal) => {
    if (stopping === undefined) {
      log(`${spec.name}: ${signal} received, stopping gracefully (send it again to exit at once)`);
      firstAt = Date.now();
      stopping = spec.stop();
      return;
    }
    // One event often arrives twice: Ctrl-C reaches the whole process group, and wrappers
    // (npm, timeout) forward it again. Only a signal sent later means "now".
    if (Date.now() - firstAt < DUPLICATE_WINDOW_MS) return;
    log(`${spec.name}: second ${signal}, exiting at once`);
    void (async () => {
      try {
        await spec.force?.();
      } finally {
        await exitProcess(EXIT.interrupted);
      }
    })();
  });
  try {
    await spec.run();
    await stopping;
  } finally {
    remove();
  }
}
