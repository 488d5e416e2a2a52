/**
 * Event logs of the long-running commands: one line per event on stderr, human
 * (`2026-11-22T13:00:01.234Z completed 0-01JD... send_email attempt=1 duration=120ms`) or
 * JSON lines (`{"time":...,"event":"task:completed","task_id":...}`).
 *
 * @module
 */

import { printable, usageError } from "./errors.ts";
import { err, styles } from "./io.ts";
import { formatDuration } from "./format.ts";
import type { ColorName } from "./io.ts";

/** `--log-format`. */
export type LogFormat = "human" | "json";

/** Validate `--log-format`. */
export function parseLogFormat(v: string): LogFormat {
  if (v !== "human" && v !== "json") {
    throw usageError(`Invalid --log-format ${JSON.stringify(v)}: human or json`);
  }
  return v;
}

/** Fields of one event (snake_case keys in JSON; `key=value` in human lines). */
export type LogFields = Record<string, string | number | boolean | null | undefined>;

const EVENT_COLOR: Record<string, ColorName> = {
  "task:claimed": "blue",
  "task:completed": "green",
  "task:retried": "yellow",
  "task:failed": "red",
  "task:cancelled": "yellow",
  "task:released": "cyan",
  "task:lost": "red",
  "task:stderr": "dim",
  "monitor:recovered": "yellow",
  "schedule:submitted": "green",
  error: "red",
};

/** Writes event lines to stderr. */
export class EventLog {
  /** The format. */
  readonly format: LogFormat;
  #base: LogFields;

  /** Create a log; `base` fields go on every JSON line (e.g. the worker id). */
  constructor(format: LogFormat, base: LogFields = {}) {
    this.format = format;
    this.#base = base;
  }

  /** Replace the fields put on every JSON line. */
  setBase(base: LogFields): void {
    this.#base = base;
  }

  /** Log an event with fields. */
  event(event: string, fields: LogFields = {}, level: "info" | "error" = "info"): void {
    err(this.line(event, fields, level));
  }

  /** The line {@link EventLog.event} writes (without the newline). */
  line(event: string, fields: LogFields = {}, level: "info" | "error" = "info"): string {
    const time = new Date().toISOString();
    if (this.format === "json") {
      const clean = Object.fromEntries(
        Object.entries({ ...this.#base, ...fields }).filter(([, v]) => v !== undefined),
      );
      return JSON.stringify({ time, level, event, ...clean });
    }
    const s = styles.err;
    if (event === "log") {
      return `${s.paint("dim", time)} ${printable(String(fields.message ?? ""))}`;
    }
    const name = event.includes(":") ? event.slice(event.indexOf(":") + 1) : event;
    const color = EVENT_COLOR[event] ?? (level === "error" ? "red" : undefined);
    const parts = [s.paint("dim", time), color ? s.paint(color, name.padEnd(9)) : name.padEnd(9)];
    for (const [k, v] of Object.entries(fields)) {
      if (v === undefined || v === null) continue;
      // Values can quote a command's output or an object key: never raw control characters.
      if (k === "task_id" || k === "task_type" || k === "message") parts.push(printable(String(v)));
      else if (k === "line") parts.push(`| ${printable(String(v))}`);
      else if (k === "duration_ms" && typeof v === "number") {
        parts.push(`duration=${formatDuration(v)}`);
      } else {
        const text = typeof v === "string" && /\s/.test(v) ? JSON.stringify(v) : String(v);
        parts.push(`${k}=${printable(text)}`);
      }
    }
    return parts.join(" ");
  }

  /** Log a message (human) or `{event: "log", message}` (JSON). */
  info(message: string): void {
    this.event("log", { message });
  }

  /** Log an error with its context. */
  error(context: string, error: unknown): void {
    const message = error instanceof Error ? error.message : String(error);
    this.event("error", { context, error: message }, "error");
  }
}
