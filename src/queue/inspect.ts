/**
 * Read-side operations for operators: list tasks, list ready ids, a task's history from
 * bucket versioning, and counts. These scan the bucket; their cost is stated on each.
 *
 * @module
 */

import { indexedTasks, isReadyKey } from "../protocol/ready_batches.ts";
import type { QueueContext } from "../protocol/context.ts";
import { SchemaError } from "../base/errors.ts";
import { listHeartbeats } from "../protocol/heartbeats.ts";
import { listAllObjects } from "../store/paging.ts";
import { validateName, validateShard } from "../task/names.ts";
import { mapLimit } from "../base/concurrency.ts";
import { Task, TASK_STATUSES, type TaskStatus } from "../task/task.ts";
import type { ObjectInfo } from "../store/types.ts";
import { leasedTaskIds } from "../protocol/lease_groups.ts";

/** Options of `queue.list`. */
export interface ListTasksOptions {
  /** Only this status. Archived tasks are listed only when asked for. */
  status?: TaskStatus;
  /** Only this task type. */
  taskType?: string;
  /** At most this many tasks. @default 100 */
  limit?: number;
}

/**
 * Tasks of a shard, oldest first (ids are time-ordered). Cost: one LIST per 1000 tasks
 * scanned plus one GET per task scanned, so filtering by status scans until `limit` match.
 * An object that is not a valid task is reported once (queue option `warn`) and skipped.
 */
export async function listTasks(
  q: QueueContext,
  shard: string,
  o: ListTasksOptions = {},
): Promise<Task[]> {
  validateShard(shard);
  if (o.status !== undefined && !TASK_STATUSES.includes(o.status)) {
    throw new TypeError(
      `Invalid status ${JSON.stringify(o.status)}: one of ${TASK_STATUSES.join(", ")}`,
    );
  }
  if (o.taskType !== undefined) validateName("task type", o.taskType);
  const limit = o.limit ?? 100;
  if (!Number.isInteger(limit) || limit < 1) throw new RangeError(`Invalid limit: ${limit}`);
  const out: Task[] = [];
  for await (const page of q.tasks.objectPages(shard)) {
    for (let i = 0; i < page.objects.length && out.length < limit; i += 16) {
      const batch = page.objects.slice(i, i + 16);
      const tasks = await Promise.all(batch.map(async (obj) => {
        try {
          const v = await q.tasks.readAt(obj.key);
          return v === null || v.rec.deleting_at !== undefined ? null : new Task(v.rec);
        } catch (e) {
          if (!(e instanceof SchemaError)) throw e;
          q.badObjects.report(obj.key, e.etag, e.message);
          return null;
        }
      }));
      for (const t of tasks) {
        if (t === null || out.length >= limit) continue;
        if (o.status !== undefined ? t.status !== o.status : t.status === "archived") continue;
        if (o.taskType !== undefined && t.taskType !== o.taskType) continue;
        out.push(t);
      }
    }
    if (out.length >= limit) break;
  }
  return out;
}

/** Ids of a shard's tasks that are due now, from the ready index (LISTs only, no GET). */
export async function listReady(
  q: QueueContext,
  shard: string,
  o: { limit?: number; taskType?: string } = {},
): Promise<string[]> {
  validateShard(shard);
  const limit = o.limit ?? 100;
  const now = q.clock.now();
  const prefix = o.taskType
    ? q.keys.readyTypePrefix(shard, o.taskType)
    : q.keys.readyShardPrefix(shard);
  const ids: string[] = [];
  for await (const page of q.tasks.indexPages(prefix)) {
    for (const t of await indexedTasks(q, page.objects.map((o) => o.key))) {
      if (t.dueAt <= now && ids.length < limit) ids.push(t.taskId);
    }
    if (ids.length >= limit) break;
  }
  return ids;
}

/**
 * Every stored version of a task, oldest first (one LIST per 1000 versions plus one GET
 * per version). Needs bucket versioning; without it, only the current version exists. A
 * version that is not a valid task is reported once (queue option `warn`) and skipped.
 */
export async function getHistory(q: QueueContext, taskId: string): Promise<Task[]> {
  const key = q.keys.task(taskId);
  const ids = await q.tasks.versionIds(taskId);
  const versions = await mapLimit(ids, 16, async (versionId) => {
    try {
      const v = await q.tasks.readAt(key, versionId);
      return v === null ? null : new Task(v.rec);
    } catch (e) {
      if (!(e instanceof SchemaError)) throw e;
      q.badObjects.report(key, e.etag, `${e.message} (version ${versionId})`);
      return null;
    }
  });
  // ListObjectVersions gives newest first; the revision counter orders them exactly.
  return versions.filter((t): t is Task => t !== null).sort((a, b) => a.revision - b.revision);
}

/** Counts per shard from the indexes (LISTs only; no GET per task). */
export interface ShardStats {
  /** Pending tasks that are due (ready entries due now). */
  ready: number;
  /** Pending tasks scheduled for later (future ready entries). */
  scheduled: number;
  /** Running tasks (lease entries). */
  running: number;
  /** Task objects of any state (completed and failed included). */
  tasks: number;
}

/** Queue statistics. */
export interface QueueStats {
  /** Store time of the count. */
  at: Date;
  /** Per shard. */
  shards: Record<string, ShardStats>;
  /** Sum over shards. */
  total: ShardStats;
  /**
   * Workers with a valid heartbeat, as {@link listHeartbeats} reads them (workers that did
   * not stop cleanly may linger until cleaned).
   */
  workers: number;
}

/** Count the listed objects `ok` accepts; report the others (once) as not oq's. */
function countValid(q: QueueContext, objects: ObjectInfo[], ok: (key: string) => boolean): number {
  let n = 0;
  for (const o of objects) {
    if (ok(o.key)) n++;
    else q.badObjects.report(o.key, o.etag, `Object "${o.key}": the key is not one oq writes`);
  }
  return n;
}

function isTaskKey(q: QueueContext, shard: string, key: string): boolean {
  const p = q.keys.tasksPrefix(shard);
  if (!key.startsWith(p) || !key.endsWith(".json")) return false;
  try {
    return q.keys.task(key.slice(p.length, -5)) === key;
  } catch {
    return false;
  }
}

/**
 * Running tasks by the deadline index: one per lease entry, and for each lease group (one
 * GET of its body) the tasks it names that have no ready entry, i.e. were claimed. A task
 * that finished while other tasks of its group still run counts until the group's entry is
 * deleted (at most the group's hold plus its longest task).
 */
async function runningFromIndex(
  q: QueueContext,
  deadlines: readonly ObjectInfo[],
  readyIndex: readonly ObjectInfo[],
): Promise<number> {
  const running = new Set<string>();
  // (A task under a batch entry runs under a lease group: the group's body names it.)
  const ready = new Set(readyIndex.map((o) => q.keys.parseReady(o.key)?.taskId));
  await mapLimit(deadlines, 8, async (o) => {
    for (const id of await leasedTaskIds(q, o.key)) if (!ready.has(id)) running.add(id);
  });
  return running.size;
}

/**
 * Index-based counts: one LIST per 1000 keys of each index, no GET per task, plus one
 * LIST and one GET per worker heartbeat. Keys that oq does not write (and heartbeats that
 * are not valid) are reported once (queue option `warn`) and not counted.
 */
export async function stats(q: QueueContext): Promise<QueueStats> {
  const now = q.clock.now();
  // Entries due within the clock's uncertainty count as ready: another process's "now" may
  // be a little ahead of ours.
  const readyBy = now + q.store.clockUncertaintyMs();
  const shards: Record<string, ShardStats> = {};
  const total: ShardStats = { ready: 0, scheduled: 0, running: 0, tasks: 0 };
  // Every home shard: a shard a reshard retired still holds task objects.
  const homes = (await q.syncLayout()).homeShards;
  await Promise.all(homes.map(async (shard) => {
    const [readyIndex, deadlines, taskObjects] = await Promise.all([
      listAllObjects(q.store, q.keys.readyShardPrefix(shard)),
      listAllObjects(q.store, q.keys.deadlinePrefix(shard)),
      listAllObjects(q.store, q.keys.tasksPrefix(shard)),
    ]);
    countValid(q, readyIndex, (k) => isReadyKey(q, k));
    // A batch entry counts the tasks its body names (one GET each), until it is deleted.
    const indexed = await indexedTasks(q, readyIndex.map((o) => o.key));
    const all = indexed.length;
    const ready = indexed.filter((t) => t.dueAt <= readyBy).length;
    countValid(q, deadlines, (k) => q.keys.parseDeadline(k) !== null);
    const running = await runningFromIndex(q, deadlines, readyIndex);
    const tasks = countValid(q, taskObjects, (k) => isTaskKey(q, shard, k));
    shards[shard] = { ready, scheduled: all - ready, running, tasks };
  }));
  for (const s of Object.values(shards)) {
    total.ready += s.ready;
    total.scheduled += s.scheduled;
    total.running += s.running;
    total.tasks += s.tasks;
  }
  const workers = (await listHeartbeats(q)).length;
  return { at: new Date(now), shards, total, workers };
}
