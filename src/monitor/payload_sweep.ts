/**
 * The sweep of payload objects (`payloads/{home}/{task_id}/...`): removes the payloads no
 * task points to. The write order (payload before the task write that points to it) makes
 * such orphans the only debris a crash can leave: a submit that died after its payload, a
 * re-submit whose task existed, an attempt whose completion lost its lease, a purge that
 * died between the task and its payloads. The monitor's sweep runs it once per shard per
 * pass (src/monitor/sweep.ts).
 *
 * Rules, per version listed (ListObjectVersions of the shard's payload prefix):
 * - a version of a key the task records (`input_ref`, `output_ref`) stays when it is the
 *   current one; older versions of it (the same bytes written again) are removed;
 * - a version of a key the task does not record is removed once it is older than
 *   {@link ORPHAN_PAYLOAD_AGE_MS} (a submit in progress writes its payload before its task),
 *   except outputs of a running task (its attempt may be about to record one);
 * - when the task does not exist, every version older than that age is removed.
 *
 * Cost: one LIST per 1,000 payload versions, one GET per task that has payloads, free
 * DELETEs. A shard without payloads costs one LIST per pass.
 *
 * @module
 */

import type { QueueContext } from "../protocol/context.ts";
import { SchemaError } from "../base/errors.ts";
import type { TaskRecord } from "../task/task.ts";
import type { PayloadVersion } from "../protocol/payloads.ts";

/** A payload nothing points to is removed once it is this old: 1 hour. */
export const ORPHAN_PAYLOAD_AGE_MS = 3_600_000;

/** Counts of one payload sweep of a shard. */
export interface PayloadSweepResult {
  /** Payload versions looked at. */
  scanned: number;
  /** Payload versions removed. */
  removed: number;
  /** Requests sent (LIST and GET; DELETEs are free and not counted). */
  requests: number;
}

/**
 * Sweep the payloads of one home shard: at most `maxGets` task reads, every page of the
 * listing otherwise. Returns what it did.
 */
export async function sweepPayloads(
  q: QueueContext,
  shard: string,
  maxGets: number,
  onInvalid: (e: SchemaError) => void = () => {},
): Promise<PayloadSweepResult> {
  const r: PayloadSweepResult = { scanned: 0, removed: 0, requests: 0 };
  const now = q.clock.now();
  let gets = 0;
  for await (const byTask of q.payloads.shardVersions(shard)) {
    r.requests++;
    for (const versions of byTask.values()) r.scanned += versions.length;
    const doomed: PayloadVersion[] = [];
    for (const [taskId, versions] of byTask) {
      // A task whose payloads are all young and current needs no read yet.
      if (
        versions.every((v) => v.isLatest && now - v.lastModified.getTime() < ORPHAN_PAYLOAD_AGE_MS)
      ) {
        continue;
      }
      if (gets >= maxGets) break;
      gets++;
      r.requests++;
      let rec: TaskRecord | null;
      try {
        rec = (await q.tasks.read(taskId))?.rec ?? null;
      } catch (e) {
        if (!(e instanceof SchemaError)) throw e;
        onInvalid(e);
        continue; // a task we cannot read may point to any of them
      }
      doomed.push(...versions.filter((v) => orphaned(q, taskId, rec, v, now)));
    }
    r.removed += await q.payloads.removeVersions(doomed);
    if (gets >= maxGets) return r;
  }
  return r;
}

function orphaned(
  q: QueueContext,
  taskId: string,
  rec: TaskRecord | null,
  v: PayloadVersion,
  now: number,
): boolean {
  const old = now - v.lastModified.getTime() >= ORPHAN_PAYLOAD_AGE_MS;
  if (rec === null) return old;
  if (q.payloads.referenced(taskId, rec, v)) return !v.isLatest; // a repeat write of the same bytes, or a marker
  if (rec.status === "running" && v.kind === "output") return false;
  return old;
}
