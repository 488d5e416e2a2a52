/**
 * Parsing of flag values: durations (`30s`, `5m`, `1h30m`), times (RFC 3339), integers and
 * JSON inputs (`'{"a":1}'`, `@file.json`, `-` for stdin). Bad values are usage errors
 * (exit 2) whose message names the flag and quotes the value.
 *
 * @module
 */

import { MAX_INTERVAL_MS, MAX_TIME_MS, MAX_TIMEOUT_SECONDS } from "../base/limits.ts";
import { readFileBytes, readStdin } from "../runtime/mod.ts";
import { usageError } from "./errors.ts";

const UNITS: Record<string, number> = {
  ms: 1,
  s: 1000,
  m: 60_000,
  h: 3_600_000,
  d: 86_400_000,
  w: 604_800_000,
};

/**
 * Parse a duration into milliseconds: `500ms`, `30s`, `5m`, `1h`, `2d`, `1w`, or a
 * combination like `1h30m`. A bare number is in `bareUnit` (seconds unless said otherwise).
 * A duration over `maxMs` (default 365 days, see src/base/limits.ts) is a usage error naming
 * the flag and the limit.
 *
 * @example
 * ```ts
 * import { parseDuration } from "./parse.ts";
 * parseDuration("1h30m", "--delay"); // 5400000
 * ```
 */
export function parseDuration(
  value: string,
  flag: string,
  bareUnit: "s" | "ms" = "s",
  maxMs: number = MAX_INTERVAL_MS,
): number {
  const v = value.trim();
  let ms: number | undefined;
  if (/^\d+(\.\d+)?$/.test(v)) {
    ms = Number(v) * UNITS[bareUnit]!;
  } else if (/^(\d+(\.\d+)?(ms|s|m|h|d|w))+$/.test(v)) {
    ms = 0;
    for (const m of v.matchAll(/(\d+(?:\.\d+)?)(ms|s|m|h|d|w)/g)) {
      ms += Number(m[1]) * UNITS[m[2]!]!;
    }
  }
  if (ms === undefined || !Number.isFinite(ms)) {
    throw usageError(
      `Invalid duration ${
        JSON.stringify(value)
      } for ${flag}: use e.g. 30s, 5m, 1h, 1h30m, 2d (a bare number is ${
        bareUnit === "s" ? "seconds" : "milliseconds"
      })`,
    );
  }
  if (ms > maxMs) {
    throw usageError(
      `Invalid duration ${JSON.stringify(value)} for ${flag}: at most ${maxMs / 86_400_000}d (${
        maxMs >= 2 * 365 * 86_400_000 ? `${maxMs / (365 * 86_400_000)} years` : "365 days"
      })`,
    );
  }
  return ms;
}

/** Parse `--timeout` into seconds: more than 0, at most 365 days (a bare number is seconds). */
export function parseTimeout(value: string): number {
  const seconds = parseDuration(value, "--timeout", "s", MAX_TIMEOUT_SECONDS * 1000) / 1000;
  if (!(seconds > 0)) throw usageError("Invalid --timeout: must be more than 0");
  return seconds;
}

const RFC3339 = /^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?([Zz]|[+-]\d{2}:\d{2})$/;

/** Parse an RFC 3339 time (with a zone: `Z` or `+02:00`) into a Date, at most 9999-12-31T23:59:59.999Z. */
export function parseTimeFlag(value: string, flag: string): Date {
  const ms = RFC3339.test(value.trim()) ? Date.parse(value.trim()) : Number.NaN;
  if (ms > MAX_TIME_MS) {
    throw usageError(
      `Invalid time ${JSON.stringify(value)} for ${flag}: at most ${
        new Date(MAX_TIME_MS).toISOString()
      }`,
    );
  }
  if (Number.isNaN(ms)) {
    throw usageError(
      `Invalid time ${
        JSON.stringify(value)
      } for ${flag}: use RFC 3339 with a zone, e.g. 2026-01-28T09:00:00Z or 2026-01-28T10:00:00+01:00`,
    );
  }
  return new Date(ms);
}

/** Parse an integer flag within bounds. */
export function parseIntFlag(value: string, flag: string, min = 0, max = 1e9): number {
  const n = Number(value);
  if (!/^-?\d+$/.test(value.trim()) || !Number.isSafeInteger(n) || n < min || n > max) {
    throw usageError(
      `Invalid ${flag} ${JSON.stringify(value)}: an integer from ${min}${
        max < 1e9 ? ` to ${max}` : " up"
      }`,
    );
  }
  return n;
}

/** Parse JSON text, or a usage error naming where it came from and why it is not JSON. */
export function parseJsonText(text: string, where: string): unknown {
  try {
    return JSON.parse(text);
  } catch (e) {
    throw usageError(`Invalid JSON in ${where}: ${(e as Error).message}`);
  }
}

/** Read a text file for a flag; a missing file is a usage error. */
export async function readTextFlag(path: string, flag: string): Promise<string> {
  let bytes: Uint8Array | null;
  try {
    bytes = await readFileBytes(path);
  } catch (e) {
    throw usageError(`Cannot read ${path} (${flag}): ${(e as Error).message}`);
  }
  if (bytes === null) throw usageError(`File not found: ${path} (${flag})`);
  return new TextDecoder().decode(bytes);
}

/**
 * Resolve a JSON input flag: literal JSON, `@path` (a file), or `-` (stdin).
 *
 * @example
 * ```ts ignore
 * await readJsonInput('{"to":"a@b.c"}', "--input"); // { to: "a@b.c" }
 * await readJsonInput("@input.json", "--input");     // the file's JSON
 * ```
 */
export async function readJsonInput(value: string, flag: string): Promise<unknown> {
  if (value === "-") {
    return parseJsonText(new TextDecoder().decode(await readStdin()), `${flag} (stdin)`);
  }
  if (value.startsWith("@")) {
    const path = value.slice(1);
    return parseJsonText(await readTextFlag(path, flag), `${flag} (file ${path})`);
  }
  return parseJsonText(value, flag);
}

/** Accumulate a repeatable flag's values (`--exec a=x --exec b=y`); no default shown in help. */
export function collect(value: string, previous: string[] | undefined): string[] {
  return [...(previous ?? []), value];
}

/** Split a comma-separated list (`0,1,2`), dropping empty items. */
export function parseList(value: string): string[] {
  return value.split(",").map((s) => s.trim()).filter((s) => s !== "");
}
