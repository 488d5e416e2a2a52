/**
 * oq: a distributed task queue whose only backend is S3-compatible object storage.
 *
 * Producers submit tasks; workers claim them atomically with conditional writes, run
 * handlers and record results. Retries with back-off, a dead-letter state, timeouts,
 * lease recovery, cancellation, TTLs, delayed tasks and history from bucket versioning.
 *
 * @example
 * ```ts
 * import { MemoryStore, Queue, Worker } from "./mod.ts";
 * const queue = new Queue(new MemoryStore());
 * await queue.submit("send_email", { to: "a@b.c" });
 * const worker = new Worker(queue, "worker-1").task("send_email", (input) => ({ sent: true }));
 * ```
 *
 * @module
 */

export { connect } from "./src/queue/connect.ts";
export type { ConnectEnv, ConnectOptions } from "./src/queue/connect.ts";
export { Queue } from "./src/queue/queue.ts";
export type { CancelResult } from "./src/queue/state_changes.ts";
export type { DeleteTaskOptions, DeleteTaskResult } from "./src/protocol/delete.ts";
export type { RateLimit, SetPausedResult, TypeControl } from "./src/protocol/flow.ts";
export type { LimitOptions } from "./src/protocol/type_limits.ts";
export { type WaitOptions, WaitTimeoutError } from "./src/queue/wait.ts";
export type {
  CoalescingSettings,
  QueueOptions,
  ResolvedQueueOptions,
  SubmitCoalescing,
} from "./src/protocol/options.ts";
export type {
  BulkCancelOptions,
  BulkCancelResult,
  BulkRetryOptions,
  BulkRetryResult,
  CancelByTypeOptions,
  RetryFailedOptions,
} from "./src/queue/bulk.ts";
export { CENSUS_STATES, TaskCensus } from "./src/queue/census.ts";
export type {
  CensusCount,
  CensusEntry,
  CensusListOptions,
  CensusPage,
  CensusRefresh,
  CensusState,
  TaskCensusOptions,
} from "./src/queue/census.ts";
export type { Clock } from "./src/base/clock.ts";
export type { LongTimeout } from "./src/base/timer.ts";
export type { EventSource, Listener } from "./src/base/events.ts";
export type { SubmitOptions } from "./src/task/new_task.ts";
export { Worker } from "./src/worker/worker.ts";
export type { PollResult, WorkerEvents, WorkerRunOptions } from "./src/worker/options.ts";
export type { DrainOptions, DrainStopReason, DrainSummary } from "./src/worker/drain.ts";
export { Schedule } from "./src/schedule/schedule.ts";
export type { ScheduleLastRun } from "./src/schedule/schedule.ts";
export { ScheduleExistsError } from "./src/schedule/operations.ts";
export type { CreateScheduleOptions } from "./src/schedule/operations.ts";
export { Scheduler } from "./src/schedule/scheduler.ts";
export type {
  ScheduledRun,
  ScheduleFailure,
  SchedulerEvents,
  SchedulerOptions,
  SchedulerResult,
} from "./src/schedule/scheduler.ts";
export { Monitor } from "./src/monitor/monitor.ts";
export type { MonitorEvents, MonitorOptions, MonitorResult } from "./src/monitor/monitor.ts";
export type { RetentionOptions, SweepResult } from "./src/monitor/sweep.ts";
export {
  PermanentError,
  RetryableError,
  SnoozeError,
  TaskAbortedError,
} from "./src/worker/handler.ts";
export { PayloadError, type PayloadRef } from "./src/task/payload_ref.ts";
export { Bytes, bytes, type ByteSource } from "./src/task/bytes.ts";
export type { Handler, TaskContext } from "./src/worker/handler.ts";
export { Task, TASK_STATUSES, TaskStatus } from "./src/task/task.ts";
export { DEFAULT_RETRY_POLICY } from "./src/task/retry_policy.ts";
export type { RetryPolicy } from "./src/task/retry_policy.ts";
export { DEFAULT_POLL_SETTINGS } from "./src/worker/poll_schedule.ts";
export type { PollSettings } from "./src/worker/poll_schedule.ts";
export {
  AccessDeniedError,
  ConfigError,
  NoSuchBucketError,
  OqError,
  PreconditionFailedError,
  SchemaError,
  StoreError,
  TransientStoreError,
} from "./src/base/errors.ts";
export type { StoreErrorContext } from "./src/base/errors.ts";
export { MemoryStore } from "./src/store/memory_store.ts";
export type { MemoryStoreOptions } from "./src/store/memory_store.ts";
export type { RequestCounts, RequestKind, RequestMeter } from "./src/s3/counters.ts";
export type {
  DeleteEntry,
  DeleteManyResult,
  DeleteResult,
  GetOptions,
  LifecycleRule,
  ListOptions,
  ListPage,
  ListVersionsOptions,
  NotModified,
  ObjectInfo,
  ObjectStore,
  PutBody,
  PutOptions,
  PutResult,
  StoredObject,
  StreamBody,
  StreamedObject,
  VersionInfo,
  VersioningState,
  VersionPage,
} from "./src/store/types.ts";
export type { ListTasksOptions, QueueStats, ShardStats } from "./src/queue/inspect.ts";
export { S3Store } from "./src/store/s3_store.ts";
export type { FetchFunction, S3ClientOptions } from "./src/s3/config.ts";
export { VERSION } from "./src/base/version.ts";
export { initBucket, lifecycleRules } from "./src/queue/init.ts";
export { Layout, LAYOUT_FORMAT } from "./src/protocol/layout.ts";
export type { LayoutChange, LayoutRecord } from "./src/protocol/layout.ts";
export { reshard } from "./src/queue/reshard.ts";
export type { ReshardOptions, ReshardResult } from "./src/queue/reshard.ts";
export type { DrainResult } from "./src/protocol/lanes.ts";
export type { InitOptions, InitResult } from "./src/queue/init.ts";
