/**
 * Schedule operations: create (or upsert), read, list, enable, disable, delete, trigger,
 * and the last-run record. Every change of a schedule object is one conditional write
 * (`If-None-Match: *` to create, `If-Match` in a compare-and-swap loop to change), and a
 * write whose answer was lost is recognised by its `write_id` (spec invariant 4).
 *
 * @module
 */

import { Bytes } from "../task/bytes.ts";
import { submitTask } from "../protocol/submit.ts";
import { listPages } from "../store/paging.ts";
import type { QueueContext } from "../protocol/context.ts";
import { OqError, SchemaError } from "../base/errors.ts";
import { nonce } from "../base/ids.ts";
import { validateName } from "../task/names.ts";
import { mapLimit } from "../base/concurrency.ts";
import {
  parseCron,
  readCurrent,
  Schedule,
  SCHEDULE_SCHEMA_VERSION,
  type ScheduleRecord,
  ScheduleRecordSchema,
  writeStored,
} from "./schedule.ts";
import { newTaskRecord, PROBE_PLACEMENT, type SubmitOptions } from "../task/new_task.ts";
import type { Task } from "../task/task.ts";

/** Options of `createSchedule`. */
export interface CreateScheduleOptions {
  /** Per-attempt timeout of the submitted tasks. @default the queue's defaultTimeoutSeconds */
  timeoutSeconds?: number;
  /** Retries of the submitted tasks. @default the queue's defaultMaxRetries */
  maxRetries?: number;
  /** IANA timezone the cron expression is read in. @default "UTC" */
  timezone?: string;
  /** Whether schedulers submit its runs. @default true (an upsert keeps the current state) */
  enabled?: boolean;
  /** Replace the schedule if the id exists, instead of failing. @default false */
  upsert?: boolean;
}

/**
 * `createSchedule` met an existing id (and `upsert` was not set).
 *
 * @example
 * ```ts
 * import { MemoryStore, Queue, ScheduleExistsError } from "../../mod.ts";
 * import { createSchedule } from "./operations.ts";
 * const queue = new Queue(new MemoryStore());
 * try { await createSchedule(queue.context, "nightly", "report", {}, "0 2 * * *"); }
 * catch (e) { if (!(e instanceof ScheduleExistsError)) throw e; }
 * ```
 */
export class ScheduleExistsError extends OqError {
  /** The schedule id. */
  readonly scheduleId: string;

  /** Create the error for a schedule id. */
  constructor(scheduleId: string) {
    super(
      "ScheduleExists",
      `Schedule ${JSON.stringify(scheduleId)} already exists (pass upsert: true to replace it)`,
    );
    this.scheduleId = scheduleId;
  }
}

const MAX_CAS_ROUNDS = 16;

function sameDefinition(a: ScheduleRecord, b: ScheduleRecord): boolean {
  return a.task_type === b.task_type && a.cron === b.cron && a.timezone === b.timezone &&
    a.timeout_seconds === b.timeout_seconds && a.max_retries === b.max_retries &&
    a.enabled === b.enabled && JSON.stringify(a.input) === JSON.stringify(b.input);
}

/**
 * Create a schedule: `taskType` with `input` is submitted at every due time of the 5-field
 * `cron` (read in `timezone`, UTC by default) by whichever {@link Scheduler} runs. Never
 * fires for times before it was created. Everything is validated before any I/O. An
 * existing id is a {@link ScheduleExistsError} unless `upsert` is set; an upsert that
 * changes the cron or timezone (or enables) restarts the schedule from now, and one that
 * changes nothing writes nothing.
 *
 * @example
 * ```ts
 * import { MemoryStore, Queue } from "../../mod.ts";
 * import { createSchedule } from "./operations.ts";
 * const queue = new Queue(new MemoryStore());
 * const s = await createSchedule(queue.context, "nightly-report", "report", { kind: "daily" }, "0 2 * * *", {
 *   timezone: "Europe/Berlin",
 * });
 * console.log(s.id, s.enabled); // "nightly-report" true
 * ```
 */
export async function createSchedule(
  queue: QueueContext,
  scheduleId: string,
  taskType: string,
  input: unknown,
  cron: string,
  options: CreateScheduleOptions = {},
): Promise<Schedule> {
  validateName("schedule id", scheduleId);
  const timezone = options.timezone ?? "UTC";
  parseCron(cron, timezone); // throws on a bad pattern, zone, or a date that never comes
  for (const k of ["enabled", "upsert"] as const) {
    if (options[k] !== undefined && typeof options[k] !== "boolean") {
      throw new TypeError(`Invalid ${k}: ${JSON.stringify(options[k])} (true or false)`);
    }
  }
  if (input instanceof Bytes) {
    throw new TypeError(
      "A schedule's input is kept inside the schedule as JSON: it cannot be bytes(...)",
    );
  }
  // Validate type, input, timeout and retries exactly as a submit of a run will.
  const submit = runOptions({
    timeout_seconds: options.timeoutSeconds ?? null,
    max_retries: options.maxRetries ?? null,
  });
  const probe = await newTaskRecord(taskType, input, submit, queue.options, 0, PROBE_PLACEMENT);
  // A schedule keeps its input inside its own object: at most inlinePayloadBytes of JSON.
  const size = new TextEncoder().encode(JSON.stringify(probe.input)).length;
  if (size > queue.options.inlinePayloadBytes) {
    throw new RangeError(
      `Schedule input is ${size} bytes, over the limit of ${queue.options.inlinePayloadBytes} ` +
        `(queue option inlinePayloadBytes: a schedule keeps its input inside its object)`,
    );
  }
  const key = queue.keys.schedule(scheduleId);
  for (let round = 0; round < MAX_CAS_ROUNDS; round++) {
    const now = new Date(await queue.now()).toISOString();
    const cur = await readCurrent(queue, key, ScheduleRecordSchema);
    if (cur !== null && !options.upsert) throw new ScheduleExistsError(scheduleId);
    const base: ScheduleRecord = {
      schema_version: SCHEDULE_SCHEMA_VERSION,
      id: scheduleId,
      task_type: taskType,
      input: probe.input,
      cron,
      timezone,
      timeout_seconds: options.timeoutSeconds ?? null,
      max_retries: options.maxRetries ?? null,
      enabled: options.enabled ?? cur?.rec.enabled ?? true,
      enabled_at: now,
      created_at: now,
      updated_at: now,
      revision: 0,
      write_id: nonce(),
    };
    if (cur === null) {
      // A last-run record left by a deleted schedule of the same id must not be read as ours.
      const runKey = queue.keys.scheduleRun(scheduleId);
      if ((await queue.store.head(runKey)) !== null) await queue.store.delete(runKey);
      const w = await writeStored(queue, key, base, { ifNoneMatch: "*" }, ScheduleRecordSchema);
      if (w) return new Schedule(w.rec);
      continue; // created concurrently: look again
    }
    const old = cur.rec;
    if (sameDefinition(old, base)) return new Schedule(old);
    const restart = old.cron !== cron || old.timezone !== timezone ||
      (!old.enabled && base.enabled);
    const next: ScheduleRecord = {
      ...base,
      enabled_at: restart ? now : old.enabled_at,
      created_at: old.created_at,
      revision: old.revision + 1,
    };
    const w = await writeStored(queue, key, next, { ifMatch: cur.etag }, ScheduleRecordSchema);
    if (w) return new Schedule(w.rec);
  }
  throw new Error(`Schedule ${JSON.stringify(scheduleId)} kept changing; try again`);
}

/**
 * The submit options of a schedule's runs (null: the queue's default).
 * @internal
 */
export function runOptions(
  o: Pick<ScheduleRecord, "timeout_seconds" | "max_retries">,
): SubmitOptions {
  const out: SubmitOptions = {};
  if (o.timeout_seconds !== null) out.timeoutSeconds = o.timeout_seconds;
  if (o.max_retries !== null) out.maxRetries = o.max_retries;
  return out;
}

/**
 * Read a schedule (one GET). `null` when it does not exist.
 *
 * @example
 * ```ts
 * import { MemoryStore, Queue } from "../../mod.ts";
 * import { getSchedule } from "./operations.ts";
 * const queue = new Queue(new MemoryStore());
 * const s = await getSchedule(queue.context, "nightly-report");
 * ```
 */
export async function getSchedule(
  queue: QueueContext,
  scheduleId: string,
): Promise<Schedule | null> {
  const cur = await readCurrent(queue, queue.keys.schedule(scheduleId), ScheduleRecordSchema);
  return cur ? new Schedule(cur.rec) : null;
}

/**
 * Every schedule, by id. Cost: one LIST per 1000 schedules plus one GET each. An object
 * a scheduler could not run (it does not match the schema, its id is not its key's, its
 * cron or timezone does not parse, or its key names no schedule) is reported once (queue
 * option `warn`) and skipped, as the {@link Scheduler} does: the others are still listed.
 *
 * @example
 * ```ts
 * import { MemoryStore, Queue } from "../../mod.ts";
 * import { listSchedules } from "./operations.ts";
 * const queue = new Queue(new MemoryStore());
 * for (const s of await listSchedules(queue.context)) console.log(s.id, s.cron, s.enabled);
 * ```
 */
export async function listSchedules(queue: QueueContext): Promise<Schedule[]> {
  const listed: Array<{ id: string; key: string }> = [];
  for await (const page of listPages(queue.store, { prefix: queue.keys.schedulesPrefix() })) {
    for (const o of page.objects) {
      const id = queue.keys.parseSchedule(o.key);
      if (id !== null) listed.push({ id, key: o.key });
      else queue.badObjects.report(o.key, o.etag, `Object "${o.key}": the key names no schedule`);
    }
  }
  const found = await mapLimit(listed, 16, async ({ id, key }) => {
    let etag: string | undefined;
    try {
      const cur = await readCurrent(queue, key, ScheduleRecordSchema);
      if (cur === null) return null; // deleted since the LIST
      etag = cur.etag;
      checkSchedule(key, id, cur.rec);
      return cur.rec;
    } catch (e) {
      if (!(e instanceof SchemaError)) throw e;
      queue.badObjects.report(key, etag, e.message);
      return null;
    }
  });
  return found.filter((r): r is ScheduleRecord => r !== null).map((r) => new Schedule(r));
}

/**
 * A SchemaError when a well-formed schedule record cannot be run: its id is not the one its
 * key names, or its cron or timezone does not parse.
 * @internal
 */
export function checkSchedule(key: string, id: string, rec: ScheduleRecord): void {
  if (rec.id !== id) {
    throw new SchemaError(key, `id: ${JSON.stringify(rec.id)} does not match the key`);
  }
  try {
    parseCron(rec.cron, rec.timezone);
  } catch (e) {
    throw new SchemaError(key, (e as Error).message);
  }
}

/** Compare-and-swap a schedule until `change` is applied; `null` from `change`: nothing to do. */
async function mutate(
  queue: QueueContext,
  scheduleId: string,
  change: (rec: ScheduleRecord, now: string) => ScheduleRecord | null,
): Promise<Schedule> {
  const key = queue.keys.schedule(scheduleId);
  for (let round = 0; round < MAX_CAS_ROUNDS; round++) {
    const cur = await readCurrent(queue, key, ScheduleRecordSchema);
    if (cur === null) throw new RangeError(`Schedule ${JSON.stringify(scheduleId)} not found`);
    const now = new Date(await queue.now()).toISOString();
    const changed = change(cur.rec, now);
    if (changed === null) return new Schedule(cur.rec);
    const next = { ...changed, updated_at: now, revision: cur.rec.revision + 1, write_id: nonce() };
    const w = await writeStored(queue, key, next, { ifMatch: cur.etag }, ScheduleRecordSchema);
    if (w) return new Schedule(w.rec);
  }
  throw new Error(`Schedule ${JSON.stringify(scheduleId)} kept changing; try again`);
}

/**
 * Enable a schedule. It fires from now on: runs missed while it was disabled are not replayed.
 * `RangeError` when it does not exist.
 *
 * @example
 * ```ts
 * import { MemoryStore, Queue } from "../../mod.ts";
 * import { createSchedule, enableSchedule } from "./operations.ts";
 * const queue = new Queue(new MemoryStore());
 * await createSchedule(queue.context, "nightly-report", "report", {}, "0 2 * * *", { enabled: false });
 * await enableSchedule(queue.context, "nightly-report");
 * ```
 */
export function enableSchedule(queue: QueueContext, scheduleId: string): Promise<Schedule> {
  return mutate(
    queue,
    scheduleId,
    (r, now) => r.enabled ? null : { ...r, enabled: true, enabled_at: now },
  );
}

/**
 * Disable a schedule: schedulers submit nothing for it until it is enabled again.
 * `RangeError` when it does not exist.
 *
 * @example
 * ```ts
 * import { MemoryStore, Queue } from "../../mod.ts";
 * import { createSchedule, disableSchedule } from "./operations.ts";
 * const queue = new Queue(new MemoryStore());
 * await createSchedule(queue.context, "nightly-report", "report", {}, "0 2 * * *");
 * await disableSchedule(queue.context, "nightly-report");
 * ```
 */
export function disableSchedule(queue: QueueContext, scheduleId: string): Promise<Schedule> {
  return mutate(queue, scheduleId, (r) => r.enabled ? { ...r, enabled: false } : null);
}

/**
 * Delete a schedule and its last-run record. True when it existed. Tasks already
 * submitted are not touched; a scheduler that is mid-cycle skips it.
 *
 * @example
 * ```ts
 * import { MemoryStore, Queue } from "../../mod.ts";
 * import { createSchedule, deleteSchedule } from "./operations.ts";
 * const queue = new Queue(new MemoryStore());
 * await createSchedule(queue.context, "nightly-report", "report", {}, "0 2 * * *");
 * await deleteSchedule(queue.context, "nightly-report"); // true
 * ```
 */
export async function deleteSchedule(queue: QueueContext, scheduleId: string): Promise<boolean> {
  const key = queue.keys.schedule(scheduleId);
  if ((await queue.store.head(key)) === null) return false;
  // Schedule first: a scheduler that lists after this sees nothing to run.
  await queue.store.delete(key);
  await queue.store.delete(queue.keys.scheduleRun(scheduleId));
  return true;
}

/**
 * Submit an extra run of a schedule now (a task with its own id), whether the schedule
 * is enabled or not. The regular runs and the last-run record are not touched.
 * `RangeError` when the schedule does not exist.
 *
 * @example
 * ```ts
 * import { MemoryStore, Queue } from "../../mod.ts";
 * import { createSchedule, triggerSchedule } from "./operations.ts";
 * const queue = new Queue(new MemoryStore());
 * await createSchedule(queue.context, "nightly-report", "report", {}, "0 2 * * *");
 * const task = await triggerSchedule(queue.context, "nightly-report");
 * ```
 */
export async function triggerSchedule(queue: QueueContext, scheduleId: string): Promise<Task> {
  const cur = await readCurrent(queue, queue.keys.schedule(scheduleId), ScheduleRecordSchema);
  if (cur === null) throw new RangeError(`Schedule ${JSON.stringify(scheduleId)} not found`);
  return (await submitTask(queue, cur.rec.task_type, cur.rec.input, runOptions(cur.rec))).task;
}
