/**
 * The one way a transition writes a record (src/task/transitions.ts): checked against the
 * transition table, `revision` and `write_id` bumped, and the index fields (`lease_group`,
 * `lease_index`, `ready_batch`) dropped when the change leaves what they index.
 *
 * @module
 */

import { nonce } from "../base/ids.ts";
import { checkTransition, type Operation } from "./transition_table.ts";
import type { TaskRecord, TaskStatus } from "./task.ts";

/** A transition's outcome: the next record, or why it does not apply. */
export type Transition =
  | { ok: true; next: TaskRecord }
  | { ok: false; reason: string; status: TaskStatus };

/** An ISO time of `ms`. */
export const iso = (ms: number) => new Date(ms).toISOString();

/** A refused transition. */
export function no(rec: TaskRecord, reason: string): Transition {
  return { ok: false, reason, status: rec.status };
}

/** `op` applied to `rec` with `changes`, at `now`. */
export function write(
  op: Operation,
  rec: TaskRecord,
  now: number,
  changes: Partial<TaskRecord>,
): Transition {
  checkTransition(op, rec.status, changes.status ?? rec.status);
  // A task marked for deletion is gone for every writer: nothing may claim, retry or archive it.
  if (rec.deleting_at !== undefined) return no(rec, "task is being deleted");
  // The index fields are put back only where they still hold (a `delete` would leave V8 a
  // slow dictionary object, which every later read and JSON.stringify of the record pays).
  const { lease_group, lease_index, ready_batch, ...kept } = rec;
  const { ready_batch: batchChange, ...given } = changes;
  const next: TaskRecord = {
    ...kept,
    ...given,
    updated_at: iso(now),
    revision: rec.revision + 1,
    write_id: nonce(),
  };
  // A lease group (or the ready entry, `lease_index`) indexes one lease in one lane: a claim
  // says so; any other change of the lease (its end, an extension) or lane (a move) leaves it.
  if (!("lease_expires_at" in changes || "shard" in changes)) {
    if (lease_group !== undefined && !("lease_group" in changes)) next.lease_group = lease_group;
    if (lease_index !== undefined && !("lease_index" in changes)) next.lease_index = lease_index;
  }
  // A batch entry indexes the task only while it waits where it was submitted: a claim, or a
  // move, leaves it for good (its own entries from then on).
  // (A change that names it, even as `undefined`, decides: leaveBatch takes it away.)
  const batch = "ready_batch" in changes ? batchChange : ready_batch;
  if (batch !== undefined && waitsInPlace(rec, next)) next.ready_batch = batch;
  return { ok: true, next };
}

// `next` still waits where `rec` waited: pending in the same lane, due time and priority.
function waitsInPlace(rec: TaskRecord, next: TaskRecord): boolean {
  return rec.status === "pending" && next.status === "pending" && next.shard === rec.shard &&
    next.available_at === rec.available_at && (next.priority ?? 0) === (rec.priority ?? 0);
}
