/**
 * `oq worker --exec TYPE=COMMAND`: a handler that runs a shell command per task.
 *
 * The protocol (docs/cli.md): `/bin/sh -c COMMAND` with the task input as JSON on stdin and
 * `OQ_TASK_ID`, `OQ_TASK_TYPE`, `OQ_ATTEMPT`, `OQ_RETRY_COUNT`, `OQ_MAX_RETRIES`,
 * `OQ_TIMEOUT_SECONDS`, `OQ_WORKER_ID` in its environment. Exit 0 completes the task with
 * stdout as output (parsed as JSON, else the text; empty: null). Exit 75 (EX_TEMPFAIL)
 * retries it. Exit 79 snoozes it (pending again without a failed attempt) for the number of
 * seconds the command printed on stdout. Exit 126 or 127 (the shell could not find or run the command) is a
 * configuration error of the worker, not of the task: with `onCommandError` the task is
 * given back and the worker stops. Any other exit code fails it for good, with the tail of
 * stderr as the error. On timeout, cancellation or shutdown the command's process group
 * gets SIGTERM, then SIGKILL after a grace period.
 *
 * @module
 */

import { Bytes } from "../task/bytes.ts";
import { PayloadError } from "../task/payload_ref.ts";
import {
  PermanentError,
  RetryableError,
  SnoozeError,
  type TaskContext,
} from "../worker/handler.ts";
import type { Handler } from "../worker/handler.ts";
import { concatBytes, spawnProcess, type Subprocess } from "../runtime/mod.ts";
import { setLongTimeout } from "../base/timer.ts";
import { usageError } from "./errors.ts";
import { type Dropped, StderrLines } from "./stderr_log.ts";

/** The exit code that asks for a retry (EX_TEMPFAIL from sysexits.h). */
export const EXIT_RETRY = 75;
/**
 * The exit code that snoozes the task for the seconds printed on stdout (`echo 60; exit 79`):
 * the first code above the sysexits.h range, so no tool means something else by it.
 */
export const EXIT_SNOOZE = 79;
/** Bytes of stderr kept for `last_error`. */
export const STDERR_TAIL_BYTES = 2048;
/** Largest stdout read as output; more fails the task without a retry (as an output over `maxOutputBytes` does). */
export const MAX_STDOUT_BYTES = 8 * 1024 * 1024;
/** Exit codes of `/bin/sh` for a command it could not find (127) or not run (126). */
export const EXIT_NOT_FOUND = [126, 127] as const;

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
   * Receives each line a command writes to stderr, as it comes (the worker logs them), up
   * to `stderrLogMaxLines` lines and `stderrLogMaxBytes` bytes per attempt.
   * @default the lines are only kept for `last_error`
   */
  onStderrLine?: (task: ExecTaskRef, line: string) => void;
  /** Receives, once at the end of an attempt, what `onStderrLine` was not given (past the caps). */
  onStderrDropped?: (task: ExecTaskRef, dropped: Dropped) => void;
  /** Lines of one attempt's stderr given to `onStderrLine`, at most. @default 1000 */
  stderrLogMaxLines?: number;
  /** Bytes of one attempt's stderr given to `onStderrLine`, at most. @default 65536 */
  stderrLogMaxBytes?: number;
  /**
   * Called when a command cannot be run at all (the shell exits 126 or 127, or the shell
   * cannot be started): a configuration error that would fail every task the same way.
   * The handler then waits for its signal (the caller is expected to stop the worker, which
   * gives the task back, pending with its retry count unchanged). @default none: such an
   * exit fails the task like any other exit code
   */
  onCommandError?: (task: ExecTaskRef, message: string) => void;
}

/** The task an `--exec` command runs for. */
export interface ExecTaskRef {
  /** Task id. */
  id: string;
  /** Task type. */
  taskType: string;
  /** Attempt number. */
  attempt: number;
}

/** Keeps track of the running commands, so that a shutdown can stop every one. */
export class ExecRunner {
  readonly #running = new Set<Subprocess>();
  readonly #terminating = new WeakSet<Subprocess>();
  readonly #killGraceMs: number;
  readonly #o: ExecOptions;

  /** Create a runner. */
  constructor(options: ExecOptions = {}) {
    this.#killGraceMs = options.killGraceMs ?? 3000;
    this.#o = options;
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
    const ref: ExecTaskRef = { id: t.id, taskType: t.taskType, attempt: ctx.attempt };
    const stdout: Uint8Array[] = [];
    let stdoutBytes = 0;
    let tail: Uint8Array = new Uint8Array(0);
    const onLine = this.#o.onStderrLine;
    const lines = onLine
      ? new StderrLines(
        (l) => onLine(ref, l),
        this.#o.stderrLogMaxLines,
        this.#o.stderrLogMaxBytes,
      )
      : undefined;
    let inputError: unknown;
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
        OQ_SNOOZES: String(t.snoozes),
        OQ_INPUT_FORMAT: input instanceof Bytes ? "bytes" : "json",
      },
      // Raw bytes (`bytes(...)` at submit) stream to the command as they are, not as JSON.
      stdin: input instanceof Bytes
        ? watched(input.stream(), (e) => (inputError ??= e))
        : `${JSON.stringify(input)}\n`,
      newProcessGroup: true,
      onStdout: (c) => {
        stdoutBytes += c.length;
        if (stdoutBytes <= MAX_STDOUT_BYTES) stdout.push(c);
      },
      onStderr: (c) => {
        lines?.push(c);
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
    } catch (e) {
      // The shell itself could not be started (spawn ENOENT, EACCES): no task can run here.
      return await this.#commandError(ref, ctx, `cannot start /bin/sh: ${(e as Error).message}`);
    } finally {
      ctx.signal.removeEventListener("abort", onAbort);
      this.#running.delete(child);
      const dropped = lines?.end();
      if (dropped && dropped.lines > 0) this.#o.onStderrDropped?.(ref, dropped);
    }
    if (ctx.signal.aborted) throw ctx.signal.reason;
    if (inputError !== undefined) {
      // The command read a truncated input: whatever it did with it is not the task's result.
      const e = inputError as Error;
      throw e instanceof PayloadError ? new PermanentError(e.message) : e;
    }
    const errText = new TextDecoder().decode(tail).trim();
    if ((EXIT_NOT_FOUND as readonly (number | null)[]).includes(status.code)) {
      const what = status.code === 127 ? "command not found" : "command not executable";
      const message = `command exited with ${status.code} (${what})${
        errText ? `: ${errText}` : ""
      }`;
      if (this.#o.onCommandError) return await this.#commandError(ref, ctx, message);
    }
    if (status.code === 0) {
      if (stdoutBytes > MAX_STDOUT_BYTES) {
        // Like an output over maxOutputBytes: the command would print it again, no retry.
        throw new PermanentError(
          `command output is ${stdoutBytes} bytes, over the limit of ${MAX_STDOUT_BYTES} (stdout read)`,
        );
      }
      return parseOutput(new TextDecoder().decode(concatBytes(stdout)));
    }
    if (status.code === EXIT_RETRY) {
      throw new RetryableError(errText || `command exited with ${EXIT_RETRY} (retry)`);
    }
    if (status.code === EXIT_SNOOZE) throw snoozeFrom(concatBytes(stdout));
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
    const t = setLongTimeout(() => child.kill("SIGKILL"), this.#killGraceMs, { unref: true });
    void child.exited.finally(() => t.cancel()).catch(() => undefined);
  }

  // The command cannot run on this worker: report it, then hold the task until the worker
  // stops (its shutdown gives the task back, uncounted) instead of failing it.
  async #commandError(ref: ExecTaskRef, ctx: TaskContext, message: string): Promise<never> {
    if (!this.#o.onCommandError) throw new RetryableError(message);
    this.#o.onCommandError(ref, message);
    await new Promise((resolve) => {
      if (ctx.signal.aborted) resolve(undefined);
      else ctx.signal.addEventListener("abort", resolve, { once: true });
    });
    throw ctx.signal.reason;
  }

  /**
   * Check before any task that `command` can start: its first word (after `NAME=value`
   * assignments) must be a shell builtin or keyword, or an executable file (a path, or a
   * name found in PATH). Returns why not, or `null` when it can (also when the first word
   * is not a plain word, e.g. quoted or `$VAR`: the shell decides then). One `/bin/sh` run.
   */
  async checkCommand(command: string): Promise<string | null> {
    const word = commandWord(command);
    if (word === null) return null;
    // The word holds no shell syntax (see commandWord), so it is safe to put in the script.
    const test = word.includes("/") ? `test -f ${word} && test -x ${word}` : `command -v ${word}`;
    let status;
    try {
      const child = await spawnProcess({
        command: "/bin/sh",
        args: ["-c", `${test} >/dev/null 2>&1`],
      });
      status = await child.exited;
    } catch (e) {
      return `cannot start /bin/sh: ${(e as Error).message}`;
    }
    if (status.code === 0) return null;
    return word.includes("/")
      ? `${word} is not an executable file (from ${JSON.stringify(command)})`
      : `${word} is not a command the shell can find (not in PATH: ${JSON.stringify(command)})`;
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

/** Exit 79: stdout must be the delay in seconds; anything else fails the task with the reason. */
function snoozeFrom(stdout: Uint8Array): Error {
  const text = new TextDecoder().decode(stdout).trim();
  const seconds = text === "" ? Number.NaN : Number(text);
  try {
    return new SnoozeError(seconds);
  } catch (e) {
    return new PermanentError(
      `command exited with ${EXIT_SNOOZE} (snooze) but stdout is not a delay in seconds: ` +
        `${JSON.stringify(text.slice(0, 80))} (${(e as Error).message})`,
    );
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

/**
 * The command name a shell would run first in `command`: the first word after `NAME=value`
 * assignments, when it is a plain word; `null` when it is not (quotes, `$`, redirections
 * and other shell syntax: then only the shell can tell).
 *
 * @example
 * ```ts
 * import { commandWord } from "./exec.ts";
 * commandWord("LANG=C ./resize.sh --fast"); // "./resize.sh"
 * ```
 */
export function commandWord(command: string): string | null {
  for (const w of command.trim().split(/\s+/)) {
    if (/^[A-Za-z_][A-Za-z0-9_]*=[A-Za-z0-9_./@%+,:=-]*$/.test(w)) continue; // an assignment
    return /^[A-Za-z0-9_./@%+,:~][A-Za-z0-9_./@%+,:=~-]*$/.test(w) ? w : null;
  }
  return null;
}

function keepTail(tail: Uint8Array, chunk: Uint8Array, max: number): Uint8Array {
  const joined = concatBytes([tail, chunk]);
  return joined.length <= max ? joined : joined.slice(joined.length - max);
}

/** A stream passed through, its failure (a payload that does not match) reported to `onError`. */
function watched(
  source: ReadableStream<Uint8Array>,
  onError: (e: unknown) => void,
): ReadableStream<Uint8Array> {
  const reader = source.getReader();
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      try {
        const r = await reader.read();
        if (r.done) controller.close();
        else controller.enqueue(r.value);
      } catch (e) {
        onError(e);
        throw e;
      }
    },
    async cancel(reason) {
      await reader.cancel(reason);
    },
  }, { highWaterMark: 0 });
}
