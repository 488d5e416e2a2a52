/**
 * Submitting a group of tasks together: the tasks that can share a ready entry (no
 * idempotency key, the same type, due time and priority) are placed in one lane per
 * {@link MAX_BATCH_TASKS} and share one batch entry (src/protocol/ready_batches.ts); the
 * others are submitted one by one. Each task of the group settles on its own: a bad input or
 * a failed write fails that task (or, for the batch entry, the tasks it would have named),
 * never the others. `submitMany` and the coalescing of concurrent `submit()` calls
 * (src/protocol/submit_coalescer.ts) both write through here.
 *
 * @module
 */

import { mapLimit } from "../base/concurrency.ts";
import { ulid } from "../base/ids.ts";
import { newTaskRecord, PROBE_PLACEMENT, type SubmitOptions } from "../task/new_task.ts";
import { Task, type TaskRecord } from "../task/task.ts";
import type { QueueContext } from "./context.ts";
import { MAX_BATCH_TASKS, writeBatchEntry } from "./ready_batches.ts";
import { placementOf, submitTask, type Submitted } from "./submit.ts";

/** One task of a group. */
export interface GroupItem {
  /** Task type. */
  type: string;
  /** Input. */
  input: unknown;
  /** Submit options (`idempotencyKey` makes it go alone). */
  options: SubmitOptions;
}

/** How one task of a group ended. */
export type Settled = { ok: true; value: Submitted } | { ok: false; error: unknown };

/** Requests in flight at once for one group. */
const PARALLEL = 16;

/** How a group is written. */
export interface GroupSettings {
  /**
   * One lane per batch entry (the tasks that share an entry share a lane, chosen for the
   * entry), rather than a lane per task (round robin, as for tasks submitted one by one).
   */
  pack: boolean;
  /** Throw the first invalid task's error before anything is written, instead of settling it. */
  all: boolean;
}

/**
 * Submit `items` together; the result at index i is how item i ended. All tasks of the group
 * are built with one store time, so that tasks submitted together are due together. Costs,
 * for k tasks that share an entry: k PUTs (the tasks), one PUT per {@link MAX_BATCH_TASKS}
 * (the entries), plus what a task costs beyond that on its own (a large input, a TTL entry)
 * and one signal touch per type; a task that goes alone costs what `submit` costs.
 */
export async function submitGroup(
  ctx: QueueContext,
  items: readonly GroupItem[],
  settings: GroupSettings,
): Promise<Settled[]> {
  const out: Settled[] = new Array(items.length);
  const now = await ctx.now();
  // Each task checked before anything is written (the layout included).
  const valid = new Map<number, TaskRecord>();
  for (const [i, { type, input, options }] of items.entries()) {
    try {
      valid.set(i, await newTaskRecord(type, input, options, ctx.options, now, PROBE_PLACEMENT));
    } catch (error) {
      if (settings.all) throw error;
      out[i] = { ok: false, error };
    }
  }
  // Where each entry goes: with `pack`, a lane per entry (chosen as it is written), else the
  // lane of each task's own record, built now.
  const placement = placementOf(ctx);
  const recs = new Map<number, TaskRecord>();
  const chunks = new Map<string, number[][]>(); // ready entry place -> chunks of indexes
  const alone: number[] = [];
  for (const [i, probe] of valid) {
    const { type, input, options } = items[i]!;
    if (options.idempotencyKey !== undefined) {
      alone.push(i);
      continue;
    }
    let rec: TaskRecord;
    try {
      rec = settings.pack
        ? probe
        : await newTaskRecord(type, input, options, ctx.options, now, placement);
    } catch (error) {
      if (settings.all) throw error;
      out[i] = { ok: false, error };
      continue;
    }
    recs.set(i, rec);
    const place = ctx.tasks.readyKey(rec);
    const key = place.slice(0, place.lastIndexOf("/"));
    const list = chunks.get(key) ?? [];
    if (list.length === 0 || list[list.length - 1]!.length === MAX_BATCH_TASKS) list.push([]);
    list[list.length - 1]!.push(i);
    chunks.set(key, list);
  }
  const batches: number[][] = [];
  for (const list of chunks.values()) {
    for (const chunk of list) {
      if (chunk.length > 1) batches.push(chunk);
      else alone.push(...chunk);
    }
  }
  const types = new Set<string>();
  await mapLimit(batches, PARALLEL, async (chunk) => {
    const built = settings.pack ? undefined : recs;
    for (const [i, v] of await writeBatch(ctx, items, chunk, now, built)) {
      out[i] = v;
      if (v.ok) types.add(v.value.task.taskType);
    }
  });
  // The wake-up signal, as a lone submit touches it (a failure is retried by the next one).
  for (const type of types) await ctx.signals.touch(type);
  await mapLimit(alone, PARALLEL, async (i) => {
    const item = items[i]!;
    try {
      out[i] = { ok: true, value: await submitTask(ctx, item.type, item.input, item.options) };
    } catch (error) {
      out[i] = { ok: false, error };
    }
  });
  return out;
}

// The tasks `chunk` (indexes into `items`, one ready entry's worth), built as `recs` has
// them or, without, in one lane chosen now: large inputs first, before anything points to
// them; then the batch entry naming the tasks whose input is stored; then each task's expiry
// entry and the task (index first).
async function writeBatch(
  ctx: QueueContext,
  items: readonly GroupItem[],
  chunk: readonly number[],
  now: number,
  recs?: ReadonlyMap<number, TaskRecord>,
): Promise<Map<number, Settled>> {
  const out = new Map<number, Settled>();
  // Without `recs`: one lane for the entry, the next in turn (the layout, read inside each
  // task's try, is cached: no request per task).
  const lane = recs === undefined ? ctx.pickShard() : "";
  const placement = async () => ({ ...await placementOf(ctx)(), pickShard: () => lane });
  const batchId = ulid(now);
  const built = await mapLimit(chunk, PARALLEL, async (i) => {
    const { type, input, options } = items[i]!;
    try {
      const rec = recs?.get(i) ??
        await newTaskRecord(type, input, options, ctx.options, now, placement);
      const w = await ctx.payloads.putInput({ ...rec, ready_batch: batchId });
      return { i, rec: w.rec, payload: w.write, input: rec.input };
    } catch (error) {
      out.set(i, { ok: false, error });
      return null;
    }
  });
  const ready = built.filter((b) => b !== null);
  if (ready.length === 0) return out;
  try {
    await writeBatchEntry(ctx, ready.map((b) => b.rec));
  } catch (error) {
    // Nothing points to the inputs stored: the payload sweep removes them.
    for (const b of ready) out.set(b.i, { ok: false, error });
    return out;
  }
  await mapLimit(ready, PARALLEL, async (b) => {
    try {
      if (b.rec.expires_at !== null) await ctx.tasks.putExpiry(b.rec);
      const r = await ctx.tasks.writeOrRead(b.rec);
      if (!("written" in r)) {
        // A new random id taken already: never seen, and never overwritten.
        if (b.payload) await ctx.payloads.undo(b.payload, r.current?.rec ?? null);
        throw new Error(`Task ${b.rec.id} exists already: its id was not unique`);
      }
      const task = new Task(r.written.rec, b.payload ? { input: b.input } : {});
      out.set(b.i, { ok: true, value: { task, created: true } });
    } catch (error) {
      out.set(b.i, { ok: false, error });
    }
  });
  return out;
}

/**
 * Submit many tasks (up to 16 writes at a time). `shared` options apply to every task; each
 * entry's own options win. Every entry is validated before anything is written, so a bad
 * one does not leave half a batch behind; a write that fails fails the call (the tasks
 * written before it stay).
 *
 * Tasks without an idempotency key that share a lane (round robin, as one by one), a due
 * time and a priority share one ready entry per {@link MAX_BATCH_TASKS}: k such tasks cost
 * k + ⌈k/100⌉ PUTs instead of 2k. The others are submitted one by one.
 */
export async function submitTasks(
  ctx: QueueContext,
  entries: ReadonlyArray<readonly [string, unknown, SubmitOptions?]>,
  shared: SubmitOptions,
): Promise<Submitted[]> {
  const items = entries.map(([type, input, opts]) => ({
    type,
    input,
    options: { ...shared, ...opts },
  }));
  const settled = await submitGroup(ctx, items, { pack: false, all: true });
  return settled.map((s) => {
    if (!s.ok) throw s.error;
    return s.value;
  });
}
