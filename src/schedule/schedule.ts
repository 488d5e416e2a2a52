/**
 * Cron schedules: the stored schedule object (`schedules/{id}.json`), the stored last-run
 * record (`schedule-runs/{id}.json`, kept apart so the scheduler's writes never conflict
 * with an operator's enable/disable), their zod schemas, the read models users see, and
 * the cron arithmetic (croner, 5 fields, an IANA timezone), and the two primitives every
 * read and write of these objects goes through (conditional GET; conditional PUT that
 * recognises its own write after a lost answer by its `write_id`).
 *
 * @module
 */

import type { QueueContext } from "../protocol/context.ts";
import { Cron } from "croner";
import { z } from "zod";
import {
  readStored as readStoredWith,
  type Stored,
  writeStored as writeStoredWith,
} from "../protocol/stored.ts";
import { parseStored as parseStoredWith } from "../base/parse_stored.ts";
import { MAX_TIMEOUT_SECONDS } from "../base/limits.ts";

/** The stored format version of schedule objects and last-run records. */
export const SCHEDULE_SCHEMA_VERSION = 1;

/** The stored schedule JSON (`schedules/{id}.json`), format version 1; docs/scheduling.md describes each field. */
export interface ScheduleRecord {
  schema_version: 1;
  id: string;
  task_type: string;
  input: unknown;
  cron: string;
  timezone: string;
  timeout_seconds: number | null;
  max_retries: number | null;
  enabled: boolean;
  enabled_at: string;
  created_at: string;
  updated_at: string;
  revision: number;
  write_id: string;
}

/** The stored last-run JSON (`schedule-runs/{id}.json`), format version 1. */
export interface ScheduleRunRecord {
  schema_version: 1;
  schedule_id: string;
  last_run_at: string;
  last_task_id: string;
  next_run_at: string | null;
  updated_at: string;
  revision: number;
  write_id: string;
}

const isoDate: z.ZodType<string> = z.string().refine(
  (s) => !Number.isNaN(Date.parse(s)),
  "expected an RFC 3339 time",
);

/** Schema of {@link ScheduleRecord}. */
export const ScheduleRecordSchema: z.ZodType<ScheduleRecord> = z.object({
  schema_version: z.literal(SCHEDULE_SCHEMA_VERSION),
  id: z.string(),
  task_type: z.string(),
  input: z.unknown(),
  cron: z.string(),
  timezone: z.string(),
  timeout_seconds: z.number().positive().max(MAX_TIMEOUT_SECONDS).nullable(),
  max_retries: z.number().int().nonnegative().nullable(),
  enabled: z.boolean(),
  enabled_at: isoDate,
  created_at: isoDate,
  updated_at: isoDate,
  revision: z.number().int().nonnegative(),
  write_id: z.string(),
});

/** Schema of {@link ScheduleRunRecord}. */
export const ScheduleRunRecordSchema: z.ZodType<ScheduleRunRecord> = z.object({
  schema_version: z.literal(SCHEDULE_SCHEMA_VERSION),
  schedule_id: z.string(),
  last_run_at: isoDate,
  last_task_id: z.string(),
  next_run_at: isoDate.nullable(),
  updated_at: isoDate,
  revision: z.number().int().nonnegative(),
  write_id: z.string(),
});

/**
 * Parse stored bytes with a schema; a mismatch (or a newer `schema_version`) is a
 * {@link SchemaError} naming the key.
 *
 * @example
 * ```ts
 * import { parseStored, ScheduleRunRecordSchema } from "./schedule.ts";
 * const body = new TextEncoder().encode("{}");
 * try { parseStored("schedule-runs/a.json", body, ScheduleRunRecordSchema); } catch (e) { console.log(e); }
 * ```
 */
export function parseStored<T>(key: string, body: Uint8Array, schema: z.ZodType<T>): T {
  return parseStoredWith(key, body, schema, SCHEDULE_SCHEMA_VERSION);
}

/**
 * Validate an IANA timezone name (as the runtime's `Intl` knows it).
 *
 * @example
 * ```ts
 * import { validateTimezone } from "./schedule.ts";
 * validateTimezone("Europe/Berlin"); // "Europe/Berlin"
 * // validateTimezone("Mars/Olympus") throws RangeError: Unknown timezone "Mars/Olympus" ...
 * ```
 */
export function validateTimezone(timezone: unknown): string {
  if (typeof timezone !== "string" || timezone.trim() === "") {
    throw new TypeError(
      `Invalid timezone ${JSON.stringify(timezone)}: expected an IANA name such as "Europe/Berlin"`,
    );
  }
  try {
    new Intl.DateTimeFormat("en-US", { timeZone: timezone });
  } catch {
    throw new RangeError(
      `Unknown timezone ${
        JSON.stringify(timezone)
      }: expected an IANA name such as "Europe/Berlin", "America/New_York" or "UTC"`,
    );
  }
  return timezone;
}

/**
 * Parse a 5-field cron expression (minute hour day-of-month month day-of-week, or a
 * nickname such as `@hourly`) in a timezone. Throws `TypeError`/`RangeError` saying what
 * is wrong: wrong field count (seconds are not supported), bad value, unknown timezone.
 *
 * @example
 * ```ts
 * import { parseCron } from "./schedule.ts";
 * const cron = parseCron("*\/15 9-17 * * MON-FRI", "Europe/Berlin");
 * console.log(cron.nextRun(new Date("2026-03-02T08:00:00Z"))); // 2026-03-02T08:00:00.000Z (09:00 CET)
 * ```
 */
export function parseCron(cron: unknown, timezone: unknown = "UTC"): Cron {
  const shown = JSON.stringify(cron);
  if (typeof cron !== "string" || cron.trim() === "") {
    throw new TypeError(`Invalid cron ${shown}: expected 5 fields such as "*/15 * * * *"`);
  }
  const fields = cron.trim().split(/\s+/);
  if (!cron.trim().startsWith("@") && fields.length !== 5) {
    const why = fields.length === 6
      ? "6 fields given; seconds are not supported, use minute hour day-of-month month day-of-week"
      : `${fields.length} field${fields.length === 1 ? "" : "s"} given, expected 5 ` +
        "(minute hour day-of-month month day-of-week)";
    throw new TypeError(`Invalid cron ${shown}: ${why}`);
  }
  const tz = validateTimezone(timezone);
  let parsed: Cron;
  try {
    parsed = new Cron(cron, { mode: "5-part", timezone: tz });
  } catch (e) {
    // Croner may echo the input: escape control characters so the message prints safely.
    const message = JSON.stringify((e as Error).message.replace(/^Cron\w*: /, "")).slice(1, -1);
    const Ctor = e instanceof RangeError ? RangeError : TypeError;
    throw new Ctor(`Invalid cron ${shown}: ${message}`);
  }
  // A valid pattern can still name a date that never comes ("0 0 31 2 *"): a schedule that
  // would silently never run is refused. (Checked from 2000, so any pattern that ever fires
  // has a run after that date; croner searches a bounded number of years.)
  if (parsed.nextRun(new Date(Date.UTC(2000, 0, 1))) === null) {
    throw new RangeError(`Invalid cron ${shown}: it never fires (no such date)`);
  }
  return parsed;
}

/**
 * The latest due time of `cron` in `(after, now]` (ms), or `null` when none: the run a
 * scheduler submits. Earlier due times in the window are coalesced into this one.
 *
 * @example
 * ```ts
 * import { latestDueAt, parseCron } from "./schedule.ts";
 * const hourly = parseCron("0 * * * *");
 * const t = latestDueAt(hourly, Date.parse("2026-01-01T09:30:00Z"), Date.parse("2026-01-01T12:10:00Z"));
 * console.log(new Date(t!).toISOString()); // 2026-01-01T12:00:00.000Z (10:00 and 11:00 coalesced)
 * ```
 */
export function latestDueAt(cron: Cron, after: number, now: number): number | null {
  if (!(now > after)) return null;
  const first = cron.nextRun(new Date(after));
  if (first === null || first.getTime() > now) return null;
  // previousRuns excludes a run exactly at its reference: look from just after `now`.
  const last = cron.previousRuns(1, new Date(now + 1))[0];
  return last && last.getTime() >= first.getTime() && last.getTime() <= now
    ? last.getTime()
    : first.getTime();
}

/**
 * The first due time of `cron` strictly after `after` (ms), or `null` when it never fires again.
 *
 * @example
 * ```ts
 * import { nextDueAt, parseCron } from "./schedule.ts";
 * console.log(nextDueAt(parseCron("0 9 * * *"), Date.parse("2026-01-01T09:00:00Z"))); // 2026-01-02T09:00Z in ms
 * ```
 */
export function nextDueAt(cron: Cron, after: number): number | null {
  return cron.nextRun(new Date(after))?.getTime() ?? null;
}

/**
 * A schedule as users see it (camelCase, `Date`s): a snapshot read from the bucket.
 *
 * @example
 * ```ts
 * import { MemoryStore, Queue } from "../../mod.ts";
 * const queue = new Queue(new MemoryStore());
 * const s = await queue.getSchedule("nightly-report");
 * if (s) console.log(s.cron, s.timezone, s.enabled, s.nextRunAfter(await queue.now()));
 * ```
 */
export class Schedule {
  /** Schedule id. */
  readonly id: string;
  /** Type of the tasks it submits. */
  readonly taskType: string;
  /** Input of the tasks it submits. */
  readonly input: unknown;
  /** 5-field cron expression. */
  readonly cron: string;
  /** IANA timezone the cron expression is read in. */
  readonly timezone: string;
  /** Per-attempt timeout of its tasks (`null`: the queue's default). */
  readonly timeoutSeconds: number | null;
  /** Retries of its tasks (`null`: the queue's default). */
  readonly maxRetries: number | null;
  /** Whether schedulers submit its runs. */
  readonly enabled: boolean;
  /** Since when it is enabled (with its current definition): no run before this time fires. */
  readonly enabledAt: Date;
  /** Creation time. */
  readonly createdAt: Date;
  /** Time of the last change. */
  readonly updatedAt: Date;
  /** Write counter, +1 on every change. */
  readonly revision: number;

  /** Build the read model from a stored record. */
  constructor(rec: ScheduleRecord) {
    this.id = rec.id;
    this.taskType = rec.task_type;
    this.input = rec.input;
    this.cron = rec.cron;
    this.timezone = rec.timezone;
    this.timeoutSeconds = rec.timeout_seconds;
    this.maxRetries = rec.max_retries;
    this.enabled = rec.enabled;
    this.enabledAt = new Date(rec.enabled_at);
    this.createdAt = new Date(rec.created_at);
    this.updatedAt = new Date(rec.updated_at);
    this.revision = rec.revision;
  }

  /** The first due time strictly after `time` by its cron and timezone (`null`: never). */
  nextRunAfter(time: Date): Date | null {
    const t = nextDueAt(parseCron(this.cron, this.timezone), time.getTime());
    return t === null ? null : new Date(t);
  }

  /** A plain JSON form (camelCase, ISO times), e.g. for `--json` output. */
  toJSON(): Record<string, unknown> {
    return Object.assign({}, this) as Record<string, unknown>;
  }
}

/** The last regular run of a schedule, as `getScheduleLastRun` returns it. */
export interface ScheduleLastRun {
  /** Schedule id. */
  scheduleId: string;
  /** Due time of the last submitted run. */
  lastRunAt: Date;
  /** Id of the task of that run. */
  lastTaskId: string;
  /** The next due time after it was written (`null`: the cron never fires again). */
  nextRunAt: Date | null;
  /** When the record was written. */
  updatedAt: Date;
}

/**
 * The read model of a stored last-run record.
 *
 * @example
 * ```ts ignore
 * const last = toLastRun(runRecord);
 * console.log(last.lastRunAt, last.lastTaskId);
 * ```
 */
export function toLastRun(rec: ScheduleRunRecord): ScheduleLastRun {
  return {
    scheduleId: rec.schedule_id,
    lastRunAt: new Date(rec.last_run_at),
    lastTaskId: rec.last_task_id,
    nextRunAt: rec.next_run_at === null ? null : new Date(rec.next_run_at),
    updatedAt: new Date(rec.updated_at),
  };
}

/** A stored record with the ETag it was read or written with. */
export type { Stored } from "../protocol/stored.ts";

/**
 * Read a schedule or last-run object: `null` when absent, `"unchanged"` when `ifNoneMatch`
 * still matches (a conditional GET: one request, no body). SchemaError when malformed.
 * @internal
 */
export async function readStored<T>(
  queue: QueueContext,
  key: string,
  schema: z.ZodType<T>,
  ifNoneMatch?: string,
): Promise<Stored<T> | "unchanged" | null> {
  return await readStoredWith(queue.store, key, schema, SCHEDULE_SCHEMA_VERSION, ifNoneMatch);
}

/**
 * {@link readStored} without a condition: the record, or `null` when absent.
 * @internal
 */
export async function readCurrent<T>(
  queue: QueueContext,
  key: string,
  schema: z.ZodType<T>,
): Promise<Stored<T> | null> {
  return (await readStored(queue, key, schema)) as Stored<T> | null;
}

/**
 * A conditional write of a schedule or last-run object. `null` when the condition lost
 * (someone else wrote first); after a lost answer, the write is recognised as ours by its
 * `write_id` on re-read.
 * @internal
 */
export async function writeStored<T extends { write_id: string }>(
  queue: QueueContext,
  key: string,
  rec: T,
  cond: { ifNoneMatch: "*" } | { ifMatch: string },
  schema: z.ZodType<T>,
): Promise<Stored<T> | null> {
  return await writeStoredWith(queue.store, key, rec, cond, schema, SCHEDULE_SCHEMA_VERSION);
}
