/**
 * Read-side operations for operators: list tasks, list ready ids, a task's history from
 * bucket versioning, and counts. These scan the bucket; their cost is stated on each.
 *
 * @module
 */

import { SchemaError } from "./errors.ts";
import { validateName, validateShard } from "./keys.ts";
import type { Queue } from "./queue.ts";
import { parseTaskRecord, Task, TASK_STATUSES, type TaskStatus } from "./task.ts";

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
 */
export async function listTasks(
  q: Queue,
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
  let token: string | undefined;
  do {
    const page = await q.store.list({
      prefix: q.keys.tasksPrefix(shard),
      continuationToken: token,
      maxKeys: 1000,
    });
    token = page.nextContinuationToken;
    for (let i = 0; i < page.objects.length && out.length < limit; i += 16) {
      const batch = page.objects.slice(i, i + 16);
      const tasks = await Promise.all(batch.map(async (obj) => {
        const o2 = await q.store.get(obj.key);
        if (o2 === null || o2.kind !== "object") return null;
        try {
          return new Task(parseTaskRecord(obj.key, o2.body));
        } catch (e) {
          if (e instanceof SchemaError) q.options.warn(`oq: skipped ${e.message}`);
          else throw e;
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
  } while (token && out.length < limit);
  return out;
}

/** Ids of a shard's tasks that are due now, from the ready index (LISTs only, no GET). */
export async function listReady(
  q: Queue,
  shard: string,
  o: { limit?: number; taskType?: string } = {},
): Promise<string[]> {
  validateShard(shard);
  const limit = o.limit ?? 100;
  const now = q.store.now();
  const prefix = o.taskType
    ? q.keys.readyTypePrefix(shard, o.taskType)
    : q.keys.readyShardPrefix(shard);
  const ids: string[] = [];
  let token: string | undefined;
  do {
    const page = await q.store.list({ prefix, continuationToken: token });
    token = page.nextContinuationToken;
    for (const obj of page.objects) {
      const e = q.keys.parseReady(obj.key);
      if (e && e.dueAt <= now && ids.length < limit) ids.push(e.taskId);
    }
  } while (token && ids.length < limit);
  return ids;
}

/**
 * Every stored version of a task, oldest first (one LIST per 1000 versions plus one GET
 * per version). Needs bucket versioning; without it, only the current version exists.
 */
export async function getHistory(q: Queue, taskId: string): Promise<Task[]> {
  const key = q.keys.task(taskId);
  const ids: string[] = [];
  let keyMarker: string | undefined;
  let versionIdMarker: string | undefined;
  for (;;) {
    const page = await q.store.listVersions({ prefix: key, keyMarker, versionIdMarker });
    for (const v of page.versions) if (v.key === key && !v.isDeleteMarker) ids.push(v.versionId);
    if (!page.isTruncated) break;
    keyMarker = page.nextKeyMarker;
    versionIdMarker = page.nextVersionIdMarker;
  }
  const versions = await Promise.all(ids.map(async (versionId) => {
    const o = await q.store.get(key, { versionId: versionId === "null" ? undefined : versionId });
    return o && o.kind === "object" ? new Task(parseTaskRecord(key, o.body)) : null;
  }));
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
  /** Heartbeat objects (workers that did not stop cleanly may linger until cleaned). */
  workers: number;
}

async function countKeys(q: Queue, prefix: string, f?: (key: string) => boolean): Promise<number> {
  let n = 0;
  let token: string | undefined;
  do {
    const page = await q.store.list({ prefix, continuationToken: token });
    token = page.nextContinuationToken;
    n += f ? page.objects.filter((o) => f(o.key)).length : page.objects.length;
  } while (token);
  return n;
}

/** Index-based counts: one LIST per 1000 keys of each index, no GETs. */
export async function stats(q: Queue): Promise<QueueStats> {
  const now = q.store.now();
  // Entries due within the clock's uncertainty count as ready: another process's "now" may
  // be a little ahead of ours.
  const readyBy = now + q.store.clockUncertaintyMs();
  const shards: Record<string, ShardStats> = {};
  const total: ShardStats = { ready: 0, scheduled: 0, running: 0, tasks: 0 };
  // Every home shard: a shard a reshard retired still holds task objects.
  const homes = (await q.syncLayout()).homeShards;
  await Promise.all(homes.map(async (shard) => {
    const [ready, all, running, tasks] = await Promise.all([
      countKeys(
        q,
        q.keys.readyShardPrefix(shard),
        (k) => (q.keys.parseReady(k)?.dueAt ?? Infinity) <= readyBy,
      ),
      countKeys(q, q.keys.readyShardPrefix(shard)),
      countKeys(q, q.keys.deadlinePrefix(shard), (k) => q.keys.parseDeadline(k)?.kind === "lease"),
      countKeys(q, q.keys.tasksPrefix(shard)),
    ]);
    shards[shard] = { ready, scheduled: all - ready, running, tasks };
  }));
  for (const s of Object.values(shards)) {
    total.ready += s.ready;
    total.scheduled += s.scheduled;
    total.running += s.running;
    total.tasks += s.tasks;
  }
  return { at: new Date(now), shards, total, workers: await countKeys(q, q.keys.workersPrefix()) };
}
