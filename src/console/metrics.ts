/**
 * `GET /metrics` of the console: the queue as of the shared snapshot (a scrape never
 * sends more requests than a page view: both read through the same cache) and the
 * console's own S3 requests.
 *
 * @module
 */

import { CENSUS_STATES } from "../queue/census.ts";
import { REQUEST_KINDS } from "../s3/counters.ts";
import { Exposition } from "./prometheus.ts";
import type { RefreshError, Snapshot, SnapshotCache } from "./snapshot.ts";
import type { MeteredStore } from "./metered_store.ts";

/** The console's metrics in the Prometheus text format. */
export function consoleMetrics(
  s: Snapshot | null,
  error: RefreshError | null,
  cache: SnapshotCache,
  store: MeteredStore,
): string {
  const e = new Exposition();
  e.family("oq_console_up", "gauge", "1 when the last refresh of the queue succeeded, else 0");
  e.sample("oq_console_up", error === null && s !== null ? 1 : 0);
  e.family("oq_console_refreshes_total", "counter", "Successful refreshes of the queue snapshot");
  e.sample("oq_console_refreshes_total", cache.refreshes);
  e.family("oq_console_refresh_errors_total", "counter", "Failed refreshes of the queue snapshot");
  e.sample("oq_console_refresh_errors_total", cache.failures);
  e.family(
    "oq_console_s3_requests_total",
    "counter",
    "S3 requests this console sent, by kind (refreshes, pages and actions)",
  );
  const counts = store.counters.snapshot();
  for (const kind of REQUEST_KINDS) {
    e.sample("oq_console_s3_requests_total", counts[kind], { kind });
  }
  if (s === null) return e.text();
  e.family(
    "oq_console_snapshot_timestamp_seconds",
    "gauge",
    "Store time of the snapshot these figures come from",
  );
  e.sample("oq_console_snapshot_timestamp_seconds", s.at.getTime() / 1000);
  e.family(
    "oq_tasks",
    "gauge",
    "Tasks by state (ready, scheduled, running, completed, failed, cancelled, expired, archived), type and shard",
  );
  for (const c of s.counts) {
    e.sample("oq_tasks", c.count, { state: c.state, task_type: c.taskType, shard: c.shard });
  }
  e.family("oq_tasks_by_state", "gauge", "Tasks by state, over every type and shard");
  for (const state of CENSUS_STATES) e.sample("oq_tasks_by_state", s.totals[state], { state });
  e.family(
    "oq_oldest_ready_age_seconds",
    "gauge",
    "How long the longest-waiting ready task has been due (queue latency); 0 when none is ready",
  );
  e.sample(
    "oq_oldest_ready_age_seconds",
    s.oldestReadyAt ? Math.max(0, (s.at.getTime() - s.oldestReadyAt.getTime()) / 1000) : 0,
  );
  e.family(
    "oq_census_unread_objects",
    "gauge",
    "Task objects not read yet by the census (left out of oq_tasks until read)",
  );
  e.sample("oq_census_unread_objects", s.census.unread);
  e.family(
    "oq_census_full_list_timestamp_seconds",
    "gauge",
    "Store time of the last full listing of the task objects (finished tasks are counted as of then at least)",
  );
  e.sample("oq_census_full_list_timestamp_seconds", s.census.fullAt.getTime() / 1000);
  e.family(
    "oq_workers",
    "gauge",
    "Workers with a heartbeat, by whether it is stale (over 11 minutes old)",
  );
  e.sample("oq_workers", s.workers.filter((w) => !w.stale).length, { stale: "false" });
  e.sample("oq_workers", s.workers.filter((w) => w.stale).length, { stale: "true" });
  e.family("oq_worker_in_flight_tasks", "gauge", "Tasks a worker runs, from its last heartbeat");
  for (const w of s.workers) {
    e.sample("oq_worker_in_flight_tasks", w.in_flight, { worker_id: w.worker_id });
  }
  e.family("oq_schedules", "gauge", "Schedules, by whether they are enabled");
  e.sample("oq_schedules", s.schedules.filter((x) => x.schedule.enabled).length, {
    enabled: "true",
  });
  e.sample("oq_schedules", s.schedules.filter((x) => !x.schedule.enabled).length, {
    enabled: "false",
  });
  e.family(
    "oq_schedule_next_run_timestamp_seconds",
    "gauge",
    "Next due time of each enabled schedule",
  );
  for (const x of s.schedules) {
    if (x.nextRunAt === null) continue;
    e.sample("oq_schedule_next_run_timestamp_seconds", x.nextRunAt.getTime() / 1000, {
      schedule_id: x.schedule.id,
    });
  }
  return e.text();
}
