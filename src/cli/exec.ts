/**
 * `oq worker --exec TYPE=COMMAND`: a handler that runs a shell command per task.
 *
 * The protocol (docs/cli.md): `/bin/sh -c COMMAND` with the task input as JSON on stdin and
 * `OQ_TASK_ID`, `OQ_TASK_TYPE`, `OQ_ATTEMPT`, `OQ_RETRY_COUNT`, `OQ_MAX_RETRIES`,
 * `OQ_TIMEOUT_SECONDS`, `OQ_WORKER_ID` in its environment. Exit 0 completes the task with
 * stdout as output (parsed as JSON, else the text; empty: null). Exit 75 (EX_TEMPFAIL)
 * retries it. Any other exit code fails it for good, with the tail of stderr as the error.
 * On timeout, cancellation or shutdown the command's process group gets SIGTERM, then
 * SIGKILL after a grace period.
 *
 * @module
 */

import { PermanentError, RetryableError, type TaskContext } from "../handler.ts";
import type { Handler } from "../handler.ts";
import { concatBytes, spawnProcess, type Subprocess, unrefTimer } from "../runtime.ts";
import { usageError } from "./errors.ts";

/** The exit code that asks for a retry (EX_TEMPFAIL from sysexits.h). */
export const EXIT_RETRY = 75;
/** Bytes of stderr kept for `last_error`. */
export const STDERR_TAIL_BYTES = 2048;
/** Largest stdout accepted as output; more fails the attempt (retryable). */
export const MAX_STDOUT_BYTES = 8 * 1024 * 1024;

/** Parse `TYPE=COMMAND` (the first `=` separates them). */
export function parseExecSpec(spec: string): { taskType: string; command: string } {
  const i = spec.indexOf("=");
  const taskType = i > 0 ? spec.slice(0, i).trim() : "";
  const command = i > 0 ? spec.slice(i + 1).trim() : "";
  if (taskType === "" || command === "") {
    throw usageError(
      `Invalid --exec ${
        JSON.stringify(spec)
      }: expected TYPE=COMMAND, e.g. --exec 'resize=./resize.sh'`,
    );
  }
  return { taskType, command };
}

/** Options of {@link ExecRunner}. */
export interface ExecOptions {
  /** Time between SIGTERM and SIGKILL when a command is stopped. @default 3000 */
  killGraceMs?: number;
  /**
   * Receives each line a command writes to stderr, as it comes (the worker logs them).
   * @default the lines are only kept for `last_error`
   */
  onStderrLine?: (task: { id: string; taskType: string; attempt: number }, line: string) => void;
}

/** Keeps track of the running commands, so that a shutdown can stop every one. */
export class ExecRunner {
  readonly #running = new Set<Subprocess>();
  readonly #terminating = new WeakSet<Subprocess>();
  readonly #killGraceMs: number;
  readonly #onLine: ExecOptions["onStderrLine"];

  /** Create a runner. */
  constructor(options: ExecOptions = {}) {
    this.#killGraceMs = options.killGraceMs ?? 3000;
    this.#onLine = options.onStderrLine;
  }

  /** Commands running now. */
  get running(): number {
    return this.#running.size;
  }

  /** A task handler that runs `command` through `/bin/sh -c`. */
  handler(command: string): Handler {
    return (input, ctx) => this.#run(command, input, ctx);
  }

  async #run(command: string, input: unknown, ctx: TaskContext): Promise<unknown> {
    ctx.signal.throwIfAborted();
    const t = ctx.task;
    const stdout: Uint8Array[] = [];
    let stdoutBytes = 0;
    let tail: Uint8Array = new Uint8Array(0);
    const decoder = new TextDecoder();
    let partial = "";
    const lines = (text: string, flush: boolean) => {
      if (!this.#onLine) return;
      partial += text;
      const parts = partial.split("\n");
      partial = flush ? "" : parts.pop()!;
      if (partial.length > 4096) {
        parts.push(partial);
        partial = "";
      }
      for (const l of parts) {
        if (l !== "" || !flush) {
          this.#onLine({ id: t.id, taskType: t.taskType, attempt: ctx.attempt }, l);
        }
      }
    };
    const child = await spawnProcess({
      command: "/bin/sh",
      args: ["-c", command],
      env: {
        OQ_TASK_ID: t.id,
        OQ_TASK_TYPE: t.taskType,
        OQ_ATTEMPT: String(ctx.attempt),
        OQ_RETRY_COUNT: String(t.retryCount),
        OQ_MAX_RETRIES: String(t.maxRetries),
        OQ_TIMEOUT_SECONDS: String(t.timeoutSeconds),
        OQ_WORKER_ID: ctx.workerId,
      },
      stdin: `${JSON.stringify(input)}\n`,
      newProcessGroup: true,
      onStdout: (c) => {
        stdoutBytes += c.length;
        if (stdoutBytes <= MAX_STDOUT_BYTES) stdout.push(c);
      },
      onStderr: (c) => {
        lines(decoder.decode(c, { stream: true }), false);
        tail = keepTail(tail, c, STDERR_TAIL_BYTES);
      },
    });
    this.#running.add(child);
    const onAbort = () => this.#terminate(child);
    ctx.signal.addEventListener("abort", onAbort, { once: true });
    if (ctx.signal.aborted) onAbort(); // aborted while the process was being started
    let status;
    try {
      status = await child.exited;
      lines(decoder.decode(), true);
    } finally {
      ctx.signal.removeEventListener("abort", onAbort);
      this.#running.delete(child);
    }
    if (ctx.signal.aborted) throw ctx.signal.reason;
    const errText = new TextDecoder().decode(tail).trim();
    if (status.code === 0) {
      if (stdoutBytes > MAX_STDOUT_BYTES) {
        throw new RetryableError(
          `command output is ${stdoutBytes} bytes, over the limit of ${MAX_STDOUT_BYTES}`,
        );
      }
      return parseOutput(new TextDecoder().decode(concatBytes(stdout)));
    }
    if (status.code === EXIT_RETRY) {
      throw new RetryableError(errText || `command exited with ${EXIT_RETRY} (retry)`);
    }
    if (status.code === null) {
      // Killed by someone else (the OOM killer, an operator): worth another attempt.
      throw new RetryableError(
        `command killed by ${status.signal}${errText ? `: ${errText}` : ""}`,
      );
    }
    throw new PermanentError(
      `command exited with ${status.code}${errText ? `: ${errText}` : ""}`,
    );
  }

  // SIGTERM now, SIGKILL after the grace period if it is still running.
  #terminate(child: Subprocess): void {
    if (this.#terminating.has(child)) return;
    this.#terminating.add(child);
    child.kill("SIGTERM");
    const t = setTimeout(() => child.kill("SIGKILL"), this.#killGraceMs);
    unrefTimer(t);
    void child.exited.finally(() => clearTimeout(t)).catch(() => undefined);
  }

  /**
   * Stop every command still running: SIGTERM, then SIGKILL after the grace period (at
   * once with `immediate`). Resolves when they are gone.
   */
  async stopAll(immediate = false): Promise<void> {
    const children = [...this.#running];
    for (const c of children) {
      if (immediate) c.kill("SIGKILL");
      else this.#terminate(c);
    }
    await Promise.all(children.map((c) => c.exited.catch(() => undefined)));
  }
}

/** stdout → output: JSON when it parses, else the text without its final newline; empty: null. */
export function parseOutput(text: string): unknown {
  const trimmed = text.trim();
  if (trimmed === "") return null;
  try {
    return JSON.parse(trimmed);
  } catch {
    return text.replace(/\r?\n$/, "");
  }
}

function keepTail(tail: Uint8Array, chunk: Uint8Array, max: number): Uint8Array {
  const joined = concatBytes([tail, chunk]);
  return joined.length <= max ? joined : joined.slice(joined.length - max);
}
