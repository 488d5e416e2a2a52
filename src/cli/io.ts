/**
 * Where the CLI writes: data to stdout, everything else (logs, progress, errors) to
 * stderr. Colours only on a terminal and never when NO_COLOR is set; progress lines only
 * when stderr is a terminal.
 *
 * @module
 */

import { getEnv, isTerminal, writeStd } from "../runtime/mod.ts";

/** Write data (a table, an id, a JSON document) to stdout. A newline is added. */
export function out(line: string): void {
  writeStd("stdout", line.endsWith("\n") ? line : `${line}\n`);
}

/** Write one JSON document to stdout (2-space indented). */
export function outJson(value: unknown): void {
  out(JSON.stringify(value, null, 2));
}

/** Write one JSON line to stdout (for streams: `oq tail --json`, bulk submits). */
export function outJsonLine(value: unknown): void {
  out(JSON.stringify(value));
}

/** Write a log or error line to stderr. A newline is added. */
export function err(line: string): void {
  clearProgress();
  writeStd("stderr", line.endsWith("\n") ? line : `${line}\n`);
}

/** True when colours may be used on `stream`: a terminal, and NO_COLOR unset or empty. */
export function colorEnabled(stream: "stdout" | "stderr"): boolean {
  const noColor = getEnv("NO_COLOR");
  if (noColor !== undefined && noColor !== "") return false;
  const force = getEnv("FORCE_COLOR");
  if (force !== undefined && force !== "" && force !== "0") return true;
  return isTerminal(stream);
}

const CODES = {
  bold: [1, 22],
  dim: [2, 22],
  red: [31, 39],
  green: [32, 39],
  yellow: [33, 39],
  blue: [34, 39],
  magenta: [35, 39],
  cyan: [36, 39],
} as const;

/** A colour name of {@link Style}. */
export type ColorName = keyof typeof CODES;

/** ANSI styling that is a no-op when disabled. */
export class Style {
  /** Whether escape codes are emitted. */
  readonly enabled: boolean;

  /** Create a style for a stream (see {@link colorEnabled}) or with an explicit switch. */
  constructor(enabled: boolean) {
    this.enabled = enabled;
  }

  /** Wrap `text` in a colour or weight. */
  paint(color: ColorName, text: string): string {
    if (!this.enabled || text === "") return text;
    const [on, off] = CODES[color];
    return `\x1b[${on}m${text}\x1b[${off}m`;
  }

  /** Colour a task status by its meaning. */
  status(status: string): string {
    const color: ColorName | undefined = ({
      pending: "cyan",
      running: "blue",
      completed: "green",
      failed: "red",
      cancelled: "yellow",
      expired: "yellow",
      archived: "dim",
      pass: "green",
      warn: "yellow",
      fail: "red",
      skip: "dim",
    } as Record<string, ColorName>)[status];
    return color ? this.paint(color, status) : status;
  }
}

/** Styles for stdout and stderr, decided once per process. */
export const styles: { out: Style; err: Style } = {
  get out(): Style {
    return (cachedOut ??= new Style(colorEnabled("stdout")));
  },
  get err(): Style {
    return (cachedErr ??= new Style(colorEnabled("stderr")));
  },
};
let cachedOut: Style | undefined;
let cachedErr: Style | undefined;

let progressShown = false;

/**
 * Show a progress line on stderr (rewritten in place), only when stderr is a terminal.
 * Cleared by the next {@link err} or by {@link clearProgress}.
 */
export function progress(text: string): void {
  if (!isTerminal("stderr")) return;
  writeStd("stderr", `\r\x1b[2K${text}`);
  progressShown = true;
}

/** Remove the progress line, if one is shown. */
export function clearProgress(): void {
  if (!progressShown) return;
  progressShown = false;
  writeStd("stderr", "\r\x1b[2K");
}
