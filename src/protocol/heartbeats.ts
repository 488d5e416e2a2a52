/**
 * Worker heartbeats (`workers/{id}.json`): the stored record, and its requests. Written by
 * each worker on a timer (src/worker/heartbeat.ts), read by `oq workers`, `stats()` and the
 * console.
 *
 * @module
 */

import { z } from "zod";
import { SchemaError } from "../base/errors.ts";
import { mapLimit } from "../base/concurrency.ts";
import { parseStored } from "../base/parse_stored.ts";
import { listAllObjects } from "../store/paging.ts";
import type { QueueContext } from "./context.ts";

/** The stored heartbeat. */
export const HeartbeatSchema = z.object({
  schema_version: z.literal(1),
  worker_id: z.string(),
  shards: z.array(z.string()),
  task_types: z.array(z.string()),
  started_at: z.string(),
  last_seen_at: z.string(),
  in_flight: z.number().int().nonnegative(),
  in_flight_tasks: z.array(z.string()),
  concurrency: z.number().int().positive(),
  runtime: z.string(),
});

/** A worker heartbeat as stored. */
export type HeartbeatRecord = z.infer<typeof HeartbeatSchema>;

/** Write a worker's heartbeat (one PUT). */
export async function writeHeartbeat(q: QueueContext, rec: HeartbeatRecord): Promise<void> {
  await q.store.put(q.keys.worker(rec.worker_id), JSON.stringify(rec), {
    contentType: "application/json",
  });
}

/** Delete a worker's heartbeat (a clean stop; one free DELETE). */
export async function deleteHeartbeat(q: QueueContext, workerId: string): Promise<void> {
  await q.store.delete(q.keys.worker(workerId));
}

/**
 * Every valid worker heartbeat (`workers/{id}.json`), by worker id. Cost: one LIST per
 * 1000 heartbeats plus one GET each. An object that is not a valid heartbeat (malformed,
 * or not the worker its key names) is reported once (queue option `warn`) and skipped.
 */
export async function listHeartbeats(q: QueueContext): Promise<HeartbeatRecord[]> {
  const objects = await listAllObjects(q.store, q.keys.workersPrefix());
  const beats = await mapLimit(objects, 16, (obj) => readHeartbeat(q, obj.key));
  return beats.filter((b): b is HeartbeatRecord => b !== null).sort((a, b) =>
    a.worker_id < b.worker_id ? -1 : a.worker_id > b.worker_id ? 1 : 0
  );
}

/**
 * One worker's heartbeat (one GET), `null` when it is gone or not a valid heartbeat (a
 * malformed object, or not the worker its key names: reported once through the queue
 * option `warn`).
 */
export async function readHeartbeat(q: QueueContext, key: string): Promise<HeartbeatRecord | null> {
  const o = await q.store.get(key);
  if (o === null || o.kind !== "object") return null; // stopped since the LIST
  try {
    const rec = parseStored(key, o.body, HeartbeatSchema, 1);
    let named: string | null = null;
    try {
      named = q.keys.worker(rec.worker_id);
    } catch { /* an id no worker can have */ }
    if (named !== key) {
      throw new SchemaError(
        key,
        `worker_id ${JSON.stringify(rec.worker_id)} is not the worker this key holds`,
      );
    }
    return rec;
  } catch (e) {
    if (!(e instanceof SchemaError)) throw e;
    q.badObjects.report(key, o.etag, e.message);
    return null;
  }
}

/**
 * A heartbeat older than this looks stale: its worker stopped without cleaning up, or
 * cannot reach the bucket (a worker beats every 30 s while busy, every 5 minutes idle).
 */
export const HEARTBEAT_STALE_AFTER_MS = 11 * 60_000;

/** True when a heartbeat is older than {@link HEARTBEAT_STALE_AFTER_MS} at `now` (ms). */
export function isHeartbeatStale(beat: HeartbeatRecord, now: number): boolean {
  return now - Date.parse(beat.last_seen_at) > HEARTBEAT_STALE_AFTER_MS;
}
