/**
 * Flow control of a task type for every worker: `control/types/{task_type}.json` says
 * whether the type is paused, and its limits (concurrency, rate; src/protocol/slots.ts and
 * src/protocol/rate.ts enforce them). Pausing or resuming writes that object (a compare-and-swap),
 * then touches the type's wake-up signal, so every worker learns of the change at its next
 * signal check (every `wakeCheckIntervalMs`, 2.5 s by default) without polling the control
 * object: a worker reads it only when the type's signal changed, and once per
 * `safetyPollIntervalMs` in case a signal was lost. Task types that are never paused cost
 * nothing extra (docs/format.md, "Flow control").
 *
 * The record keeps fields it does not know (a newer oq may add limits), so an older writer
 * never drops them.
 *
 * @module
 */

import { z } from "zod";
import { nonce } from "../base/ids.ts";
import { SchemaError } from "../base/errors.ts";
import type { QueueContext } from "./context.ts";
import { readStored, type Stored, writeStored } from "./stored.ts";
import { listAllObjects } from "../store/paging.ts";

/** Version of the control record's format. */
export const CONTROL_SCHEMA_VERSION = 1;

const MAX_CAS_ROUNDS = 10;
const MAX_REASON_CHARS = 500;

/** The stored control record of one task type. */
export const TypeControlRecordSchema = z.looseObject({
  schema_version: z.number().int().positive(),
  task_type: z.string(),
  paused: z.boolean(),
  reason: z.string().nullable(),
  updated_at: z.string(),
  revision: z.number().int().nonnegative(),
  write_id: z.string(),
  /** At most this many tasks of the type run at once (src/protocol/slots.ts); absent: none. */
  concurrency: z.number().int().positive().nullable().optional(),
  /** At most `limit` starts in any `window_ms` (src/protocol/rate.ts); absent: none. */
  rate_limit: z.object({
    limit: z.number().int().positive(),
    window_ms: z.number().int().positive(),
  }).nullable().optional(),
});

/** The stored control record of one task type. */
export type TypeControlRecord = z.infer<typeof TypeControlRecordSchema>;

/** What a task type's flow control says. */
export interface TypeControl {
  /** The task type. */
  taskType: string;
  /** No worker claims tasks of the type while it is paused. */
  paused: boolean;
  /** Why it was paused (as given to `pause`), or `null`. */
  reason: string | null;
  /** When the control last changed (store clock). */
  updatedAt: Date;
  /** At most this many tasks of the type run at once, counting every worker; `null`: no limit. */
  concurrency: number | null;
  /** At most `limit` starts of the type in any window of `windowMs`; `null`: no limit. */
  rateLimit: RateLimit | null;
}

/** A rate limit: at most `limit` starts in any window of `windowMs` milliseconds. */
export interface RateLimit {
  /** Starts allowed per window. */
  limit: number;
  /** The window, in milliseconds. */
  windowMs: number;
}

/** Outcome of {@link setPaused}. */
export interface SetPausedResult {
  /** The control as it now stands. */
  control: TypeControl;
  /** False when the type already was in the asked state (nothing written). */
  changed: boolean;
  /**
   * False when the wake-up signal could not be touched: workers then learn of the change
   * only at their safety check (`safetyPollIntervalMs`, 15 minutes by default). Calling
   * again touches it again.
   */
  signalled: boolean;
}

/** What a stored control record says. */
export function toControl(rec: TypeControlRecord): TypeControl {
  return {
    taskType: rec.task_type,
    paused: rec.paused,
    reason: rec.reason,
    updatedAt: new Date(rec.updated_at),
    concurrency: rec.concurrency ?? null,
    rateLimit: rec.rate_limit
      ? { limit: rec.rate_limit.limit, windowMs: rec.rate_limit.window_ms }
      : null,
  };
}

function checkRecord(key: string, taskType: string, rec: TypeControlRecord): TypeControlRecord {
  if (rec.task_type !== taskType) {
    throw new SchemaError(key, `task_type is ${JSON.stringify(rec.task_type)}`);
  }
  return rec;
}

/**
 * Read a type's control record (one GET; a conditional one with `ifNoneMatch`). `null`
 * when the type has none (never paused); `"unchanged"` when `ifNoneMatch` still matches.
 * A malformed record is a `SchemaError` naming the key.
 */
export async function readTypeControl(
  ctx: QueueContext,
  taskType: string,
  ifNoneMatch?: string,
  signal?: AbortSignal,
): Promise<Stored<TypeControlRecord> | "unchanged" | null> {
  const key = ctx.keys.control(taskType);
  const r = await readStored(
    ctx.store,
    key,
    TypeControlRecordSchema,
    CONTROL_SCHEMA_VERSION,
    ifNoneMatch,
    signal,
  );
  if (r === null || r === "unchanged") return r;
  checkRecord(key, taskType, r.rec);
  return r;
}

/**
 * A type's flow control, or the default (not paused) when it has none. One GET.
 *
 * @example
 * ```ts
 * import { MemoryStore, Queue } from "../../mod.ts";
 * import { getTypeControl } from "./flow.ts";
 * const queue = new Queue(new MemoryStore());
 * (await getTypeControl(queue.context, "email")).paused; // false
 * ```
 */
export async function getTypeControl(ctx: QueueContext, taskType: string): Promise<TypeControl> {
  const r = await readTypeControl(ctx, taskType);
  if (r === null || r === "unchanged") {
    return {
      taskType,
      paused: false,
      reason: null,
      updatedAt: new Date(0),
      concurrency: null,
      rateLimit: null,
    };
  }
  return toControl(r.rec);
}

/**
 * Pause (`paused: true`) or resume a task type for every worker: compare-and-swap the
 * control record, then touch the type's wake-up signal. Idempotent: a type already in the
 * asked state is not written again, but its signal is touched (so a call after a lost
 * signal repairs it). Two requests to read and write, two PUTs for the signal.
 *
 * @example
 * ```ts
 * import { MemoryStore, Queue } from "../../mod.ts";
 * import { setPaused } from "./flow.ts";
 * const queue = new Queue(new MemoryStore());
 * const r = await setPaused(queue.context, "email", true, { reason: "provider outage" });
 * r.control.paused; // true
 * ```
 */
export async function setPaused(
  ctx: QueueContext,
  taskType: string,
  paused: boolean,
  options: { reason?: string } = {},
): Promise<SetPausedResult> {
  ctx.keys.control(taskType); // validates the type name
  const reason = paused ? (options.reason ?? null) : null;
  if (reason !== null && reason.length > MAX_REASON_CHARS) {
    throw new RangeError(
      `The pause reason is ${reason.length} characters; at most ${MAX_REASON_CHARS}`,
    );
  }
  return await updateControl(
    ctx,
    taskType,
    (rec) =>
      (rec?.paused ?? false) === paused && (!paused || rec?.reason === reason)
        ? null
        : { paused, reason },
  );
}

/** The fields of a control record a change sets. */
export type ControlChange = Partial<
  Pick<TypeControlRecord, "paused" | "reason" | "concurrency" | "rate_limit">
>;

/**
 * Change a type's control record (compare-and-swap: GET, then PUT with `If-Match`, or
 * `If-None-Match: *` when it does not exist; retried on a lost race), then touch the type's
 * wake-up signal. `change` returns the fields to set, or `null` when the record already
 * says so (nothing written; the signal is touched anyway, repairing a lost one). Fields
 * this version does not know are kept.
 */
export async function updateControl(
  ctx: QueueContext,
  taskType: string,
  change: (current: TypeControlRecord | null) => ControlChange | null,
): Promise<SetPausedResult> {
  const key = ctx.keys.control(taskType); // validates the type name
  for (let round = 0; round < MAX_CAS_ROUNDS; round++) {
    const cur = await readTypeControl(ctx, taskType);
    const rec = cur === null || cur === "unchanged" ? null : cur.rec;
    const fields = change(rec);
    if (fields === null) {
      const signalled = await ctx.signals.touch(taskType, { force: true });
      return {
        control: rec ? toControl(rec) : await getTypeControl(ctx, taskType),
        changed: false,
        signalled,
      };
    }
    const now = new Date(await ctx.now()).toISOString();
    const next: TypeControlRecord = {
      paused: false,
      reason: null,
      ...(rec ?? {}),
      ...fields,
      schema_version: Math.max(rec?.schema_version ?? 0, CONTROL_SCHEMA_VERSION),
      task_type: taskType,
      updated_at: now,
      revision: rec ? rec.revision + 1 : 0,
      write_id: nonce(),
    };
    const cond = rec && cur !== null && cur !== "unchanged"
      ? { ifMatch: cur.etag }
      : { ifNoneMatch: "*" as const };
    const w = await writeStored(
      ctx.store,
      key,
      next,
      cond,
      TypeControlRecordSchema,
      CONTROL_SCHEMA_VERSION,
    );
    if (w) {
      const signalled = await ctx.signals.touch(taskType, { force: true });
      return { control: toControl(w.rec), changed: true, signalled };
    }
  }
  throw new Error(`The control of task type ${JSON.stringify(taskType)} kept changing; try again`);
}

/**
 * Every task type with a control record (one LIST per 1,000 plus one GET each), by type.
 * Malformed records are reported once through the queue's `warn` and skipped.
 *
 * @example
 * ```ts
 * import { MemoryStore, Queue } from "../../mod.ts";
 * import { listTypeControls, setPaused } from "./flow.ts";
 * const queue = new Queue(new MemoryStore());
 * await setPaused(queue.context, "email", true);
 * (await listTypeControls(queue.context)).map((c) => c.taskType); // ["email"]
 * ```
 */
export async function listTypeControls(
  ctx: QueueContext,
  keep: (control: TypeControl) => boolean = () => true,
): Promise<TypeControl[]> {
  const objects = await listAllObjects(ctx.store, ctx.keys.controlPrefix());
  const out: TypeControl[] = [];
  for (const o of objects) {
    const taskType = ctx.keys.parseControl(o.key);
    if (taskType === null) continue;
    try {
      const r = await readTypeControl(ctx, taskType);
      if (r !== null && r !== "unchanged" && keep(toControl(r.rec))) out.push(toControl(r.rec));
    } catch (e) {
      if (!(e instanceof SchemaError)) throw e;
      ctx.badObjects.report(o.key, o.etag, e.message);
    }
  }
  return out.sort((a, b) => a.taskType < b.taskType ? -1 : a.taskType > b.taskType ? 1 : 0);
}
