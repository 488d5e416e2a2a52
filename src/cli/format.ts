/**
 * Human output: aligned tables, relative times, task details.
 *
 * @module
 */

import type { Task } from "../task/task.ts";
import type { Keys } from "../protocol/keys.ts";
import type { PayloadRef } from "../task/payload_ref.ts";
import { Bytes } from "../task/bytes.ts";
import { printable } from "./errors.ts";
import type { Style } from "./io.ts";

// deno-lint-ignore no-control-regex
const ANSI = /\x1b\[[0-9;]*m/g;

/** The visible width of a string (ANSI codes excluded). */
export function visibleWidth(s: string): number {
  return [...s.replace(ANSI, "")].length;
}

/**
 * An aligned table: a bold header row, columns separated by two spaces, no trailing blanks.
 *
 * @example
 * ```ts
 * import { table } from "./format.ts";
 * import { Style } from "./io.ts";
 * table(["ID", "STATUS"], [["0-01JD", "pending"]], new Style(false));
 * // "ID      STATUS\n0-01JD  pending"
 * ```
 */
export function table(headers: string[], rows: string[][], style: Style): string {
  const widths = headers.map((h, i) =>
    Math.max(visibleWidth(h), ...rows.map((r) => visibleWidth(r[i] ?? "")))
  );
  const line = (cells: string[]) =>
    cells.map((c, i) => i === cells.length - 1 ? c : c + " ".repeat(widths[i]! - visibleWidth(c)))
      .join("  ").trimEnd();
  return [style.paint("bold", line(headers)), ...rows.map(line)].join("\n");
}

/** A short duration: `850ms`, `12s`, `5m`, `3h`, `2d` (`1m30s` style below an hour). */
export function formatDuration(ms: number): string {
  const a = Math.abs(ms);
  if (a < 1000) return `${Math.round(a)}ms`;
  const s = Math.round(a / 1000);
  if (s < 60) return `${s}s`;
  if (s < 3600) {
    const m = Math.floor(s / 60), r = s % 60;
    return m < 10 && r ? `${m}m${r}s` : `${m}m`;
  }
  if (s < 86_400) {
    const h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60);
    return h < 10 && m ? `${h}h${m}m` : `${h}h`;
  }
  return `${Math.floor(s / 86_400)}d`;
}

/** A time relative to `now`: `5s ago`, `in 3m`, `just now`, `-` for null. */
export function relativeTime(date: Date | null | undefined, now: number): string {
  if (!date || Number.isNaN(date.getTime())) return "-";
  const d = date.getTime() - now;
  if (Math.abs(d) < 1000) return "just now";
  return d < 0 ? `${formatDuration(-d)} ago` : `in ${formatDuration(d)}`;
}

/**
 * Stored text for one table cell or log field: whitespace runs (newlines too) become one
 * space, control characters are escaped ({@link printable}), at most `max` characters are
 * kept (before escaping) with an ellipsis.
 */
export function truncate(s: string | null | undefined, max = Infinity): string {
  if (!s) return "";
  const one = s.replace(/\s+/g, " ").trim();
  return printable(one.length <= max ? one : `${one.slice(0, max - 1)}…`);
}

/** The rows of `oq list`. */
export function taskRows(tasks: readonly Task[], now: number, style: Style): string[][] {
  return tasks.map((t) => [
    printable(t.id),
    printable(t.taskType),
    style.status(t.status),
    String(t.attempt),
    relativeTime(t.createdAt, now),
    relativeTime(t.status === "pending" ? t.availableAt : t.updatedAt, now),
    truncate(t.lastError, 60),
  ]);
}

/** Headers of {@link taskRows}. */
export const TASK_HEADERS = [
  "ID",
  "TYPE",
  "STATUS",
  "ATTEMPT",
  "CREATED",
  "UPDATED/DUE",
  "LAST ERROR",
];

/**
 * `oq get`: one task as aligned `field: value` lines. Stored text (the last error is a
 * handler's stderr) has its control characters escaped; newlines are kept. An input or
 * output stored beside the task and not loaded shows as its reference (size, hash, key).
 */
export function taskDetails(t: Task, now: number, style: Style, keys?: Keys): string {
  // A reference that was not loaded: what is stored where (`oq get --payload` reads it).
  const stored = (r: PayloadRef, kind: "input" | "output") =>
    `stored beside the task: ${r.size} bytes${r.format === "bytes" ? " (raw)" : ""}, ` +
    `sha256 ${r.sha256}` +
    (keys ? ` (${printable(keys.payload(t.id, kind, r.sha256))})` : "") +
    style.paint(
      "dim",
      r.format === "bytes" ? `; oq payload ${t.id} ${kind} writes it` : "; --payload shows it",
    );
  // Raw bytes are never printed here, loaded or not: their reference says where they are.
  const loaded = (v: unknown) => v !== null && !(v instanceof Bytes);
  const time = (d: Date | null) => d ? `${d.toISOString()} (${relativeTime(d, now)})` : "-";
  const json = (v: unknown) => printable(JSON.stringify(v) ?? "undefined");
  const fields: Array<[string, string]> = [
    ["id", printable(t.id)],
    ["type", printable(t.taskType)],
    ["status", style.status(t.status) + (t.cancelRequested ? " (cancel requested)" : "")],
    ["shard", printable(t.shard)],
    ["attempt", `${t.attempt} (retries ${t.retryCount}/${t.maxRetries})`],
    ["created", time(t.createdAt)],
    ["updated", time(t.updatedAt)],
    ["available", time(t.availableAt)],
    ["expires", time(t.expiresAt)],
    ["timeout", `${t.timeoutSeconds}s`],
    ["worker", printable(t.workerId ?? "-")],
    ["lease until", time(t.leaseExpiresAt)],
    ["completed", time(t.completedAt)],
    ["idempotency", printable(t.idempotencyKey ?? "-")],
    ["input", t.inputRef && !loaded(t.input) ? stored(t.inputRef, "input") : json(t.input)],
    ["output", t.outputRef && !loaded(t.output) ? stored(t.outputRef, "output") : json(t.output)],
    ["last error", printable(t.lastError ?? "-")],
  ];
  if (t.cancelReason) fields.push(["cancel reason", printable(t.cancelReason)]);
  if (t.progressAt) fields.push(["progress", `${json(t.progress)} at ${time(t.progressAt)}`]);
  if (t.snoozes > 0) fields.push(["snoozes", String(t.snoozes)]);
  if (t.priority !== 0) fields.push(["priority", String(t.priority)]);
  if (t.idempotencyExpiresAt) fields.push(["key window", `until ${time(t.idempotencyExpiresAt)}`]);
  const width = Math.max(...fields.map(([k]) => k.length));
  const lines = fields.map(([k, v]) => `${style.paint("bold", k.padEnd(width))}  ${v}`);
  for (const e of t.errors) {
    lines.push(
      `${" ".repeat(width)}  ${style.paint("dim", `attempt ${e.attempt} ${e.kind}`)}: ${
        printable(e.message)
      }`,
    );
  }
  return lines.join("\n");
}
