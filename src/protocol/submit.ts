/**
 * Submitting a task: build its record, then write its index entries before the task
 * (create-only), then touch the wake-up signal. The one place that creates tasks, used by
 * `Queue.submit` and the scheduler.
 *
 * @module
 */

import { mapLimit } from "../base/concurrency.ts";
import {
  type DerivedId,
  newTaskRecord,
  type Placement,
  PROBE_PLACEMENT,
  type SubmitOptions,
} from "../task/new_task.ts";
import { ulid } from "../base/ids.ts";
import { MAX_BATCH_TASKS, writeBatchEntry } from "./ready_batches.ts";
import { replaceableByKey, replacementOf } from "../task/idempotency.ts";
import { Task } from "../task/task.ts";
import type { QueueContext } from "./context.ts";
import { finishDeletion } from "./delete.ts";

/** A submit's outcome: the task, and whether this call created it or found it. */
export interface Submitted {
  /** The task as stored. */
  task: Task;
  /** False when the id existed (an idempotent re-submit, or a schedule run already submitted). */
  created: boolean;
}

/** Attempts to settle a create conflict before giving up (each: one GET, one PUT). */
const CONFLICT_ROUNDS = 4;

/**
 * Submit a task, optionally under an id derived from `derived` (schedulers derive it from
 * the schedule and the run's due time). Costs two PUTs (ready entry, then the task), a
 * third for the TTL entry of a task with an expiry, one more before them for an input over
 * `inlinePayloadBytes` (stored beside the task), and at most once per `signalCoalesceMs` per
 * type two signal PUTs. A re-submit whose id exists adds one GET; when the stored task's
 * deduplication window has passed and it has finished (src/task/idempotency.ts), one more
 * PUT (If-Match) replaces it.
 */
export async function submitTask(
  ctx: QueueContext,
  taskType: string,
  input: unknown,
  options: SubmitOptions = {},
  derived?: DerivedId,
  deletions = 0,
): Promise<Submitted> {
  const now = await ctx.now();
  const built = await newTaskRecord(
    taskType,
    input,
    options,
    ctx.options,
    now,
    placementOf(ctx),
    derived,
  );
  const tasks = ctx.tasks;
  // A large input first, before anything points to it: a crash after this PUT leaves an
  // orphan payload (removed by the sweep), never a task whose input is missing.
  const { rec, write: payload } = await ctx.payloads.putInput(built);
  // Index first: a crash after this PUT leaves a hint to a missing task (removed by
  // pollers and the monitor), never a pending task that no index points to.
  const entry = await tasks.putReady(rec);
  if (rec.expires_at !== null) await tasks.putExpiry(rec);
  // A write that loses returns the task as it is now (read to check the write was not our
  // own, sent twice by the HTTP stack): no second read to decide again.
  let w = await tasks.writeOrRead(rec);
  for (let round = 1; !("written" in w); round++) {
    // The id exists: an idempotent re-submit (or a schedule run already submitted).
    const existing = w.current;
    if (existing !== null && existing.rec.deleting_at !== undefined && deletions < 2) {
      // Its task is being deleted (a delete in progress, or one a crash left marked): for
      // readers it is gone. Finish the delete (which also removes what this submit wrote
      // under the id, such as its payload), then submit again from the start.
      await tasks.deleteEntry(entry);
      await finishDeletion(ctx, existing.rec);
      return submitTask(ctx, taskType, input, options, derived, deletions + 1);
    }
    const replace = existing !== null && replaceableByKey(existing.rec, now);
    if (round > CONFLICT_ROUNDS || (existing !== null && !replace)) {
      if (existing && tasks.readyKey(existing.rec) !== entry.key) await tasks.deleteEntry(entry);
      if (payload) await ctx.payloads.undo(payload, existing?.rec ?? null);
      if (existing === null) throw new Error(`Task ${rec.id} exists but cannot be read`);
      if (replace) {
        throw new Error(`Task ${rec.id} kept changing: its key's new task was not written`);
      }
      return { task: new Task(existing.rec), created: false };
    }
    // Gone since the create (deleted): create it again. Or the key's window has passed and
    // its task has finished: replace it under the same id. If-Match makes one of several
    // concurrent re-submits win; the others read its task (pending: not replaceable) in the
    // next round and return it.
    w = existing === null
      ? await tasks.writeOrRead(rec)
      : await tasks.writeOrRead(replacementOf(rec, existing.rec), existing.etag);
  }
  const created = w.written;
  await ctx.signals.touch(taskType);
  // The caller's input is the value: no need to read back what was just written.
  return { task: new Task(created.rec, payload ? { input: built.input } : {}), created: true };
}

// Where a new task goes: the layout's shards, read when first needed.
function placementOf(ctx: QueueContext): () => Promise<Placement> {
  return async () => {
    const layout = await ctx.syncLayout();
    return {
      pickShard: () => ctx.pickShard(),
      keyShardCount: layout.keyShardCount,
      laneFor: (id) => layout.laneFor(id),
    };
  };
}

/**
 * Submit many tasks (up to 16 writes at a time). `shared` options apply to every task; each
 * entry's own options win. Every entry is validated before anything is written, so a bad
 * one does not leave half a batch behind.
 *
 * Tasks without an idempotency key that share a lane, a due time and a priority share one
 * ready entry per {@link MAX_BATCH_TASKS} (src/protocol/ready_batches.ts): k such tasks
 * cost k + ⌈k/100⌉ PUTs instead of 2k. The others are submitted one by one.
 */
export async function submitTasks(
  ctx: QueueContext,
  entries: ReadonlyArray<readonly [string, unknown, SubmitOptions?]>,
  shared: SubmitOptions,
): Promise<Submitted[]> {
  const now = await ctx.now();
  const options = entries.map(([, , opts]) => ({ ...shared, ...opts }));
  for (const [i, [type, input]] of entries.entries()) {
    await newTaskRecord(type, input, options[i]!, ctx.options, now, PROBE_PLACEMENT);
  }
  const out: Submitted[] = new Array(entries.length);
  const one = async (i: number) => {
    const [type, input] = entries[i]!;
    out[i] = await submitTask(ctx, type, input, options[i]!);
  };
  const batchable = [...entries.keys()].filter((i) => options[i]!.idempotencyKey === undefined);
  if (batchable.length < 2) {
    await mapLimit([...entries.keys()], 16, one);
    return out;
  }
  // Built with one `now`, so that tasks submitted together are due together.
  const placement = placementOf(ctx);
  const built = await mapLimit(batchable, 16, async (i) => {
    const [type, input] = entries[i]!;
    const rec = await newTaskRecord(type, input, options[i]!, ctx.options, now, placement);
    return { i, rec, input: rec.input };
  });
  // Group by ready entry (lane, type, due time, priority), at most MAX_BATCH_TASKS each.
  const groups: (typeof built)[] = [];
  const open = new Map<string, typeof built>();
  for (const b of built) {
    const place = ctx.tasks.readyKey(b.rec);
    const key = place.slice(0, place.lastIndexOf("/"));
    let group = open.get(key);
    if (group === undefined || group.length === MAX_BATCH_TASKS) {
      group = [];
      open.set(key, group);
      groups.push(group);
    }
    group.push(b);
  }
  const lone = groups.filter((g) => g.length === 1).map((g) => g[0]!.i);
  // Large inputs first, before anything points to them (as for one task); then each batch's
  // entry; then each task's expiry entry and the task (index first).
  const batched = groups.filter((g) => g.length > 1).map((g) => {
    const batchId = ulid(now);
    return g.map((b) => ({ ...b, rec: { ...b.rec, ready_batch: batchId } }));
  });
  const writes = await mapLimit(batched.flat(), 16, async (b) => {
    const w = await ctx.payloads.putInput(b.rec);
    return { ...b, rec: w.rec, payload: w.write };
  });
  let at = 0;
  const sized = batched.map((g) => writes.slice(at, at += g.length));
  await mapLimit(sized, 16, (g) => writeBatchEntry(ctx, g.map((b) => b.rec)));
  const types = new Set<string>();
  await mapLimit(writes, 16, async (b) => {
    if (b.rec.expires_at !== null) await ctx.tasks.putExpiry(b.rec);
    const r = await ctx.tasks.writeOrRead(b.rec);
    if (!("written" in r)) {
      // A new random id taken already: never seen, and never overwritten.
      if (b.payload) await ctx.payloads.undo(b.payload, r.current?.rec ?? null);
      throw new Error(`Task ${b.rec.id} exists already: its id was not unique`);
    }
    types.add(b.rec.task_type);
    out[b.i] = {
      task: new Task(r.written.rec, b.payload ? { input: b.input } : {}),
      created: true,
    };
  });
  for (const type of types) await ctx.signals.touch(type);
  const rest = [...entries.keys()].filter((i) => options[i]!.idempotencyKey !== undefined);
  await mapLimit([...lone, ...rest], 16, one);
  return out;
}
