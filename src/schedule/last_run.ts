/**
 * A schedule's last-run record (`schedule-runs/{id}.json`): read it, and advance it by a
 * conditional write once a run's task exists, never moving it back (docs/scheduling.md).
 *
 * @module
 */

import type { QueueContext } from "../protocol/context.ts";
import { nonce } from "../base/ids.ts";
import {
  readCurrent,
  SCHEDULE_SCHEMA_VERSION,
  type ScheduleLastRun,
  type ScheduleRunRecord,
  ScheduleRunRecordSchema,
  type Stored,
  toLastRun,
  writeStored,
} from "./schedule.ts";

/**
 * The last regular run of a schedule (due time, task id, next due time), or `null` when
 * it has not run yet. One GET.
 *
 * @example
 * ```ts
 * import { MemoryStore, Queue } from "../../mod.ts";
 * import { getScheduleLastRun } from "./last_run.ts";
 * const queue = new Queue(new MemoryStore());
 * const last = await getScheduleLastRun(queue.context, "nightly-report");
 * if (last) console.log(last.lastRunAt, last.lastTaskId, last.nextRunAt);
 * ```
 */
export async function getScheduleLastRun(
  queue: QueueContext,
  scheduleId: string,
): Promise<ScheduleLastRun | null> {
  const cur = await readCurrent(queue, queue.keys.scheduleRun(scheduleId), ScheduleRunRecordSchema);
  return cur ? toLastRun(cur.rec) : null;
}

/**
 * Advance a schedule's last-run record to the run due at `run.due`, whose task exists, by
 * a conditional write from `cur` (the record as last read; `null`: none yet). Never moves
 * it back: when another scheduler got there first, its record stands. Returns the record
 * as now stored (`undefined` when it was deleted under us: the schedule is being deleted)
 * and the requests sent.
 * @internal
 */
export async function advanceLastRun(
  queue: QueueContext,
  scheduleId: string,
  cur: Stored<ScheduleRunRecord> | null,
  run: { due: number; taskId: string; next: number | null; now: number },
): Promise<{ run: Stored<ScheduleRunRecord> | null | undefined; requests: number }> {
  const key = queue.keys.scheduleRun(scheduleId);
  const iso = (ms: number) => new Date(ms).toISOString();
  let requests = 0;
  for (let round = 0; round < 8; round++) {
    if (cur && Date.parse(cur.rec.last_run_at) >= run.due) return { run: cur, requests };
    const rec: ScheduleRunRecord = {
      schema_version: SCHEDULE_SCHEMA_VERSION,
      schedule_id: scheduleId,
      last_run_at: iso(run.due),
      last_task_id: run.taskId,
      next_run_at: run.next === null ? null : iso(run.next),
      updated_at: iso(run.now),
      revision: cur ? cur.rec.revision + 1 : 0,
      write_id: nonce(),
    };
    const cond = cur ? { ifMatch: cur.etag } : { ifNoneMatch: "*" as const };
    requests++;
    const w = await writeStored(queue, key, rec, cond, ScheduleRunRecordSchema);
    if (w) return { run: w, requests };
    requests++;
    const again = await readCurrent(queue, key, ScheduleRunRecordSchema);
    if (cur && again === null) return { run: undefined, requests };
    cur = again;
  }
  throw new Error(`The last-run record of schedule ${JSON.stringify(scheduleId)} kept changing`);
}
