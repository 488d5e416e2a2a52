/**
 * Exit codes of `oq` and the mapping of errors to them (docs/cli.md documents the table).
 *
 * @module
 */

import { ConfigError, StoreError } from "../base/errors.ts";

/** The exit codes of `oq`. */
export const EXIT = {
  /** Success. */
  ok: 0,
  /** The operation failed: an S3 error, a failed check, a refused state change. */
  failure: 1,
  /** Usage error: bad flag, bad value (JSON, duration, time, id), missing configuration. */
  usage: 2,
  /** Not found: the task or schedule does not exist. */
  notFound: 3,
  /** A long-running command stopped by a second SIGINT/SIGTERM without a graceful stop. */
  interrupted: 130,
} as const;

/** An error that ends the command with a given exit code and a message for stderr. */
export class CliError extends Error {
  /** The process exit code. */
  readonly exitCode: number;

  /** Create an error with an exit code. */
  constructor(message: string, exitCode: number) {
    super(printable(message));
    this.name = "CliError";
    this.exitCode = exitCode;
  }
}

/** A usage error (exit 2). */
export function usageError(message: string): CliError {
  return new CliError(message, EXIT.usage);
}

/** A not-found error (exit 3). */
export function notFoundError(message: string): CliError {
  return new CliError(message, EXIT.notFound);
}

/**
 * `s` with control characters (C0 but newline and tab, DEL, C1) and the bidirectional
 * overrides escaped as `\uXXXX`: an error message can quote user input (a flag value, a
 * JSON parser's excerpt, an object key) and must not drive the terminal.
 */
export function printable(s: string): string {
  let out = "";
  for (const ch of s) {
    const c = ch.charCodeAt(0);
    const control = (c < 0x20 && ch !== "\n" && ch !== "\t") || (c >= 0x7f && c <= 0x9f);
    const bidi = (c >= 0x202a && c <= 0x202e) || (c >= 0x2066 && c <= 0x2069);
    out += control || bidi ? `\\u${c.toString(16).padStart(4, "0")}` : ch;
  }
  return out;
}

/** How an error ends the process: exit code and the message to print (made printable). */
export function describeError(e: unknown): { exitCode: number; message: string } {
  const d = describe(e);
  return { exitCode: d.exitCode, message: printable(d.message) };
}

function describe(e: unknown): { exitCode: number; message: string } {
  if (e instanceof CliError) return { exitCode: e.exitCode, message: e.message };
  if (e instanceof StoreError || e instanceof ConfigError) {
    return { exitCode: EXIT.failure, message: e.message };
  }
  // The library validates every argument before any I/O and throws TypeError/RangeError
  // naming the bad value: those are usage errors.
  if (e instanceof TypeError || e instanceof RangeError) {
    if (/\bnot found\b/.test(e.message)) return { exitCode: EXIT.notFound, message: e.message };
    return { exitCode: EXIT.usage, message: e.message };
  }
  if (e instanceof Error) return { exitCode: EXIT.failure, message: e.message || e.name };
  return { exitCode: EXIT.failure, message: String(e) };
}
