/**
 * Submitting a task: build its record, then write its index entries before the task
 * (create-only), then touch the wake-up signal. The one place that creates tasks, used by
 * `Queue.submit` and the scheduler.
 *
 * @module
 */

import {
  type DerivedId,
  newTaskRecord,
  type Placement,
  type SubmitOptions,
} from "../task/new_task.ts";
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

/** Where a new task goes: the layout's shards, read when first needed. */
export function placementOf(ctx: QueueContext): () => Promise<Placement> {
  return async () => {
    const layout = await ctx.syncLayout();
    return {
      pickShard: () => ctx.pickShard(),
      keyShardCount: layout.keyShardCount,
      laneFor: (id) => layout.laneFor(id),
    };
  };
}
