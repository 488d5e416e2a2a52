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
import type { DeleteEntry, VersionInfo } from "../store/types.ts";

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
  const prefix = q.keys.payloadsPrefix(shard);
  let marker: { keyMarker?: string; versionIdMarker?: string } = {};
  let gets = 0;
  for (;;) {
    const page = await q.store.listVersions({ prefix, maxKeys: 1000, ...marker });
    r.requests++;
    const byTask = new Map<string, VersionInfo[]>();
    for (const v of page.versions) {
      const p = q.keys.parsePayload(v.key);
      if (p === null) continue; // not ours: left alone
      r.scanned++;
      const list = byTask.get(p.taskId) ?? [];
      list.push(v);
      byTask.set(p.taskId, list);
    }
    const doomed: DeleteEntry[] = [];
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
      for (const v of versions) {
        if (orphaned(q, taskId, rec, v, now)) {
          doomed.push({ key: v.key, versionId: v.versionId === "null" ? undefined : v.versionId });
        }
      }
    }
    if (doomed.length) r.removed += (await q.store.deleteMany(doomed)).deleted.length;
    if (!page.isTruncated || gets >= maxGets) return r;
    marker = { keyMarker: page.nextKeyMarker, versionIdMarker: page.nextVersionIdMarker };
  }
}

function orphaned(
  q: QueueContext,
  taskId: string,
  rec: TaskRecord | null,
  v: VersionInfo,
  now: number,
): boolean {
  const old = now - v.lastModified.getTime() >= ORPHAN_PAYLOAD_AGE_MS;
  if (rec === null) return old;
  const keep = new Set<string>();
  if (rec.input_ref) keep.add(q.keys.payload(taskId, "input", rec.input_ref.sha256));
  if (rec.output_ref) keep.add(q.keys.payload(taskId, "output", rec.output_ref.sha256));
  if (keep.has(v.key)) return !v.isLatest; // a repeat write of the same bytes, or a marker
  if (rec.status === "running" && q.keys.parsePayload(v.key)?.kind === "output") return false;
  return old;
}
