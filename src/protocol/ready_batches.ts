/**
 * Batch entries: one ready entry for the tasks of one `submitMany` call that share a lane,
 * a due time and a priority, instead of one entry per task (the fourth PUT of the happy
 * path; docs/format.md "Batch entries").
 *
 * The entry `ready/{shard}/{type}/{due}/batch.{id}` is written, naming the tasks in its
 * body, before any of them (index first, task second). Each task records `ready_batch`, so
 * `readyKey` gives the batch entry while the task waits where it was submitted; any other
 * change (a claim among them: the lease goes in a lease group) drops `ready_batch`, and a
 * change that leaves the task pending writes its own entry first, as for any task. A task
 * that has left the entry never comes back to it.
 *
 * Nobody deletes a batch entry for one of its tasks: a worker deletes it once it has seen
 * every named task leave it (src/worker/batch_entries.ts). Its body never changes, so a
 * reader reads it once.
 *
 * @module
 */

import { z } from "zod";
import { mapLimit } from "../base/concurrency.ts";
import { nonce } from "../base/ids.ts";
import { predictedEtag } from "../store/etags.ts";
import type { QueueContext } from "./context.ts";
import { readStored } from "./stored.ts";
import type { EntryRef } from "./tasks.ts";
import type { TaskRecord } from "../task/task.ts";

const utf8 = new TextEncoder();

/** Most tasks one batch entry names. */
export const MAX_BATCH_TASKS = 100;

/** Most bytes of task records one batch entry carries (beyond them it names the rest). */
export const MAX_BATCH_RECORD_BYTES = 256 * 1024;

/** A task as its producer wrote it: the record, and the ETag S3 gives that object. */
export interface WrittenRecord {
  /** The MD5 of the object's bytes in hex: the ETag of a single-part PUT without SSE-KMS. */
  etag: string;
  /** The record (checked by its reader as a task object read from the bucket is). */
  record: unknown;
}

/** The body of a batch entry. */
export interface ReadyBatchRecord {
  /** `1`. */
  schema_version: 1;
  /** The tasks' type. */
  task_type: string;
  /** The tasks the entry indexes, each recording `ready_batch`. */
  task_ids: string[];
  /** When it was written (store time). */
  created_at: string;
  /** Nonce of this write (invariant 4). */
  write_id: string;
  /**
   * The records the named tasks are written with, by task id, as far as
   * {@link MAX_BATCH_RECORD_BYTES} allows: a worker claims such a task with `If-Match` on the
   * ETag given here, without reading it first. Readers that do not know the field ignore it.
   */
  records?: Record<string, WrittenRecord>;
}

const ReadyBatchSchema: z.ZodType<ReadyBatchRecord> = z.object({
  schema_version: z.literal(1),
  task_type: z.string(),
  task_ids: z.array(z.string()).min(1).max(MAX_BATCH_TASKS),
  created_at: z.string(),
  write_id: z.string(),
  records: z.record(z.string(), z.object({ etag: z.string(), record: z.unknown() })).optional(),
});

/** What a batch entry's body says: the tasks it names, and the records of those it carries. */
export interface BatchBody {
  /** The named tasks. */
  ids: string[];
  /** The records the body carries, by task id. */
  records: Map<string, WrittenRecord>;
}

/**
 * Write the batch entry of `recs` (one PUT; a new key, so a plain PUT safe to retry). Every
 * record must carry the same `ready_batch`, lane, type, due time and priority.
 */
export async function writeBatchEntry(
  q: QueueContext,
  recs: readonly TaskRecord[],
): Promise<EntryRef> {
  const first = recs[0];
  if (first?.ready_batch === undefined || recs.length > MAX_BATCH_TASKS) {
    throw new RangeError(`A batch entry names 1 to ${MAX_BATCH_TASKS} tasks of one batch`);
  }
  const key = q.tasks.readyKey(first);
  if (recs.some((r) => q.tasks.readyKey(r) !== key)) {
    throw new TypeError(`The tasks of batch ${first.ready_batch} do not share one ready entry`);
  }
  const records: Record<string, WrittenRecord> = {};
  let bytes = 0;
  for (const rec of recs) {
    // The task's PUT sends these bytes (src/protocol/stored.ts, writeOrRead).
    const text = utf8.encode(JSON.stringify(rec));
    if ((bytes += text.length) > MAX_BATCH_RECORD_BYTES) break;
    records[rec.id] = { etag: predictedEtag(text), record: rec };
  }
  const body: ReadyBatchRecord = {
    schema_version: 1,
    task_type: first.task_type,
    task_ids: recs.map((r) => r.id),
    created_at: new Date(q.clock.now()).toISOString(),
    write_id: nonce(),
    records,
  };
  const r = await q.store.put(key, JSON.stringify(body), { contentType: "application/json" });
  return { key, versionId: r.versionId };
}

/**
 * The task ids a batch entry names (one GET): `null` when the entry is gone; a bad body is a
 * SchemaError naming the key.
 */
export async function readBatchEntry(q: QueueContext, key: string): Promise<string[] | null> {
  return (await readBatchBody(q, key))?.ids ?? null;
}

/**
 * {@link readBatchEntry} with the records the body carries (one GET): `null` when the entry is
 * gone; a bad body is a SchemaError naming the key.
 */
export async function readBatchBody(q: QueueContext, key: string): Promise<BatchBody | null> {
  const r = await readStored(q.store, key, ReadyBatchSchema, 1);
  if (r === "unchanged" || r === null) return null;
  const ids = r.rec.task_ids;
  const named = new Set(ids);
  const records = new Map(Object.entries(r.rec.records ?? {}).filter(([id]) => named.has(id)));
  return { ids, records };
}

/**
 * The bodies of batch entries, read once each (a body never changes, and a batch id is never
 * used twice). For readers that list the ready index again and again (the census).
 */
export class BatchBodies {
  readonly #bodies = new Map<string, string[]>();

  /**
   * The ids named by each of `keys` (batch entries from one listing of the index), reading
   * the ones not known yet; `[]` for one that is gone or unreadable. Bodies of entries no
   * longer listed are forgotten.
   */
  async read(q: QueueContext, keys: readonly string[]): Promise<Map<string, string[]>> {
    const out = new Map<string, string[]>();
    for (const key of keys) {
      let ids = this.#bodies.get(key);
      if (ids === undefined) ids = (await readBatchEntry(q, key).catch(() => null)) ?? [];
      out.set(key, ids);
    }
    this.#bodies.clear();
    for (const [k, v] of out) this.#bodies.set(k, v);
    return out;
  }
}

/** A task the ready index says is pending, and when it is due. */
export interface IndexedTask {
  /** Task id. */
  taskId: string;
  /** When it is due (ms). */
  dueAt: number;
  /** The entry that indexes it. */
  entryKey: string;
}

/**
 * The tasks the ready entries `keys` index: a task's own entry names it; a batch entry names
 * the tasks of its body (one GET each, 8 at a time; `[]` for one gone or unreadable), some
 * of which may have left it since. Keys that are neither are skipped.
 */
export async function indexedTasks(
  q: QueueContext,
  keys: readonly string[],
): Promise<IndexedTask[]> {
  const out: IndexedTask[][] = await mapLimit(keys, 8, async (key) => {
    const own = q.keys.parseReady(key);
    if (own !== null) return [{ taskId: own.taskId, dueAt: own.dueAt, entryKey: key }];
    const batch = q.keys.parseReadyBatch(key);
    if (batch === null) return [];
    const ids = (await readBatchEntry(q, key).catch(() => null)) ?? [];
    return ids.map((taskId) => ({ taskId, dueAt: batch.dueAt, entryKey: key }));
  });
  return out.flat();
}

/** True when `key` is a ready entry oq writes: a task's own, or a batch entry. */
export function isReadyKey(q: QueueContext, key: string): boolean {
  return q.keys.parseReady(key) !== null || q.keys.parseReadyBatch(key) !== null;
}
