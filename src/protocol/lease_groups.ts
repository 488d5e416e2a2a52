/**
 * Lease groups: one deadline entry covering the leases of several tasks that one worker
 * claims from one listing of a lane, instead of one lease entry per task (the fifth PUT of
 * the happy path; docs/format.md "Lease groups").
 *
 * The entry `deadlines/{shard}/{at}/{group}.group` is written, with the ids of the
 * candidates the worker may claim under it in its body, before any of their claims (index
 * first, task second). A task claimed under the group records `lease_group` (`{at}/{group}`)
 * and a lease that ends no later than `at`. The worker deletes the entry once it claims no
 * more under it and every task it claimed under it has ended; a worker that dies leaves
 * it for the monitor, which at `at` reads the body and recovers each named task still
 * running under the group with its lease expired.
 *
 * @module
 */

import { z } from "zod";
import { nonce } from "../base/ids.ts";
import { SchemaError } from "../base/errors.ts";
import { GROUP_ID_RE, timeStamp } from "./keys.ts";
import type { QueueContext } from "./context.ts";
import { readStored, type Stored, writeStored } from "./stored.ts";
import type { EntryRef } from "./tasks.ts";
import type { TaskRecord } from "../task/task.ts";

/** Most task ids one group names. */
export const MAX_GROUP_TASKS = 100;

/** The body of a lease group's entry. */
export interface LeaseGroupRecord {
  /** `1`. */
  schema_version: 1;
  /** The worker that wrote it. */
  worker_id: string;
  /** The lane's task type. */
  task_type: string;
  /** Tasks the worker may claim under the group (a claimed one records `lease_group`). */
  task_ids: string[];
  /** When it was written (store time). */
  created_at: string;
  /** Nonce of this write (invariant 4). */
  write_id: string;
}

const LeaseGroupSchema: z.ZodType<LeaseGroupRecord> = z.object({
  schema_version: z.literal(1),
  worker_id: z.string(),
  task_type: z.string(),
  task_ids: z.array(z.string()).max(MAX_GROUP_TASKS),
  created_at: z.string(),
  write_id: z.string(),
});

/** A lease group written by this process. */
export interface WrittenGroup {
  /** The entry (key and version id). */
  ref: EntryRef;
  /** What a task claimed under it records in `lease_group`. */
  tail: string;
  /** When its leases end at the latest (ms, store time). */
  at: number;
}

/** A new group id (`g` and 12 random bytes, url-safe base64). */
export function newGroupId(): string {
  const id = `g${nonce()}${nonce()}`.slice(0, 17);
  if (!GROUP_ID_RE.test(id)) throw new Error(`bad group id ${id}`);
  return id;
}

/**
 * Write a lease group's entry (one PUT, create-only) naming `taskIds`, for leases ending
 * by `at`.
 */
export async function writeGroup(
  q: QueueContext,
  shard: string,
  taskType: string,
  workerId: string,
  taskIds: readonly string[],
  at: number,
): Promise<WrittenGroup> {
  if (taskIds.length === 0 || taskIds.length > MAX_GROUP_TASKS) {
    throw new RangeError(`A lease group names 1 to ${MAX_GROUP_TASKS} tasks`);
  }
  const tail = `${timeStamp(at)}/${newGroupId()}`;
  const key = q.keys.leaseGroup(shard, tail);
  const rec: LeaseGroupRecord = {
    schema_version: 1,
    worker_id: workerId,
    task_type: taskType,
    task_ids: [...taskIds],
    created_at: new Date(q.clock.now()).toISOString(),
    write_id: nonce(),
  };
  // The key is new (a random id): a plain PUT, safe to retry, and its answer has the version.
  const r = await q.store.put(key, JSON.stringify(rec), { contentType: "application/json" });
  return { ref: { key, versionId: r.versionId }, tail, at: Math.floor(at) };
}

/** Read a group's body: `null` when the entry is gone; a bad body is a {@link SchemaError}. */
export async function readGroup(
  q: QueueContext,
  key: string,
): Promise<Stored<LeaseGroupRecord> | null> {
  const r = await readStored(q.store, key, LeaseGroupSchema, 1);
  return r === "unchanged" ? null : r;
}

/** The tail (`{at}/{group}`) of a group entry's key, as tasks record it. */
export function groupTail(q: QueueContext, key: string): string | null {
  const d = q.keys.parseDeadline(key);
  if (d?.kind !== "group") return null;
  return key.slice(q.keys.deadlinePrefix(d.shard).length, -".group".length);
}

/**
 * The sweep's check of a running task covered by a group: one GET of the group's entry;
 * when it is gone (deleted from outside) or does not name the task, write it again naming
 * the task, or add the task to the entry there (compare-and-swap). True when it wrote.
 */
export async function repairGroup(q: QueueContext, rec: TaskRecord): Promise<boolean> {
  if (rec.lease_group === undefined) throw new TypeError(`Task ${rec.id} has no lease group`);
  const key = q.keys.leaseGroup(rec.shard, rec.lease_group);
  for (let round = 0; round < 8; round++) {
    let cur: Stored<LeaseGroupRecord> | null;
    try {
      cur = await readGroup(q, key);
    } catch (e) {
      if (!(e instanceof SchemaError)) throw e;
      cur = null; // unreadable: replaced by one that names the task
      await q.store.delete(key).catch(() => undefined);
    }
    if (cur?.rec.task_ids.includes(rec.id)) return false;
    const ids = [...(cur?.rec.task_ids ?? []), rec.id].slice(-MAX_GROUP_TASKS);
    const next: LeaseGroupRecord = {
      schema_version: 1,
      worker_id: cur?.rec.worker_id ?? rec.worker_id ?? "",
      task_type: rec.task_type,
      task_ids: ids,
      created_at: cur?.rec.created_at ?? new Date(q.clock.now()).toISOString(),
      write_id: nonce(),
    };
    const cond = cur === null ? { ifNoneMatch: "*" as const } : { ifMatch: cur.etag };
    if (await writeStored(q.store, key, next, cond, LeaseGroupSchema, 1) !== null) return true;
  }
  throw new Error(`Lease group ${key} kept changing while it was repaired`);
}

/**
 * The tasks a deadline entry's key says may be running: the task of a lease entry, the
 * tasks a lease group names (one GET of its body; `[]` when it is gone or unreadable), none
 * for a TTL entry or a key that is not ours.
 */
export async function leasedTaskIds(q: QueueContext, key: string): Promise<string[]> {
  const d = q.keys.parseDeadline(key);
  if (d?.kind === "lease") return [d.taskId];
  if (d?.kind !== "group") return [];
  const group = await readGroup(q, key).catch(() => null);
  return group?.rec.task_ids ?? [];
}
