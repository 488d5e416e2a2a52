/**
 * The one module that builds object keys (spec invariant 11). Every name that becomes part
 * of a key (task id, shard, task type, worker id, schedule id) is validated first (with
 * src/task/names.ts), so no `/`, `..` or control character can reach the bucket layout.
 * The layout is documented in docs/format.md.
 *
 * @module
 */

import {
  NAME_RE,
  SHARD_RE,
  shardOfTaskId,
  TASK_ID_RE,
  validateName,
  validatePrefix,
  validateShard,
} from "../task/names.ts";
import { checkPriority, dueTime, sortTime } from "../task/priority.ts";

import { parseTimeStamp, timeStamp } from "./time_stamp.ts";
export { parseTimeStamp, timeStamp };

// The stamp of a ready key: the due time, moved by the priority's worth and naming its level.
function readyStamp(dueAt: number, priority: number): string {
  return priority === 0
    ? timeStamp(dueAt)
    : `${timeStamp(sortTime(dueAt, checkPriority(priority)))}.p${priority}`;
}

/** A ready-index entry, parsed back from its key. */
export interface ReadyEntry {
  /** The full key. */
  key: string;
  /** Shard. */
  shard: string;
  /** Task type. */
  taskType: string;
  /** When the task becomes claimable (ms). */
  dueAt: number;
  /** The time the entry sorts by: `dueAt` moved earlier by the priority's worth. */
  sortAt: number;
  /** The task's priority level (0 unless given at submit). */
  priority: number;
  /** Task id (for a batch entry's candidate: one task its body names). */
  taskId: string;
  /** The batch id, when the entry is a batch entry (`batch.{id}`: src/protocol/ready_batches.ts). */
  batchId?: string;
}

/** A batch entry's last key segment: `batch.` then a ULID (never a task id). */
const BATCH_SEGMENT_RE = /^batch\.([0-9A-HJKMNP-TV-Z]{26})$/;

/**
 * What a deadline entry is for: a running task's lease end, a pending task's TTL, or a
 * lease group (one entry covering the leases of several tasks one worker claims from one
 * listing: src/protocol/lease_groups.ts).
 */
export type DeadlineKind = "lease" | "ttl" | "group";

/** A deadline-index entry, parsed back from its key. */
export type DeadlineEntry =
  & {
    /** The full key. */
    key: string;
    /** Shard. */
    shard: string;
    /** When the deadline passes (ms). */
    at: number;
  }
  & (
    | {
      /** Lease end or TTL of one task. */
      kind: "lease" | "ttl";
      /** Task id. */
      taskId: string;
    }
    | {
      /** A lease group: the tasks it covers are named in its body. */
      kind: "group";
      /** Group id. */
      groupId: string;
    }
  );

/** A lease group's id: `g` and 12 random bytes in url-safe base64 (16 characters). */
export const GROUP_ID_RE = /^g[A-Za-z0-9_-]{16}$/;

/**
 * Builds every key of one queue (one bucket and prefix).
 *
 * @example
 * ```ts
 * import { Keys } from "./keys.ts";
 * const keys = new Keys("oq/");
 * console.log(keys.task("0-01JD3X")); // "oq/tasks/0/0-01JD3X.json"
 * ```
 */
export class Keys {
  /** The queue's key prefix (`""` or ending with `/`). */
  readonly prefix: string;

  /** Create a key builder for a prefix. */
  constructor(prefix = "") {
    this.prefix = validatePrefix(prefix);
  }

  /** `tasks/{shard}/{id}.json`: the task, the single source of truth. */
  task(taskId: string): string {
    return `${this.prefix}tasks/${shardOfTaskId(taskId)}/${taskId}.json`;
  }

  /** Prefix of every task object of every shard (`tasks/`), for one listing of them all. */
  tasksRoot(): string {
    return `${this.prefix}tasks/`;
  }

  /**
   * The task id a key under {@link Keys.tasksRoot} holds; `null` when the key is not one
   * {@link Keys.task} builds.
   */
  parseTask(key: string): string | null {
    const root = this.tasksRoot();
    if (!key.startsWith(root) || !key.endsWith(".json")) return null;
    const id = key.slice(key.lastIndexOf("/") + 1, -5);
    try {
      return this.task(id) === key ? id : null;
    } catch {
      return null;
    }
  }

  /** Prefix of all tasks of a shard. */
  tasksPrefix(shard: string): string {
    return `${this.prefix}tasks/${validateShard(shard)}/`;
  }

  /**
   * `ready/{shard}/{type}/{due}/{id}`: claimable-from-`due` index entry. A task with a
   * priority level `p` other than 0 sorts by its due time moved `p` hours earlier, and says
   * its level after the stamp: `ready/{shard}/{type}/{sort}.p{p}/{id}` (src/task/priority.ts).
   */
  ready(shard: string, taskType: string, dueAt: number, taskId: string, priority = 0): string {
    shardOfTaskId(taskId);
    return `${this.readyTypePrefix(shard, taskType)}${readyStamp(dueAt, priority)}/${taskId}`;
  }

  /**
   * `ready/{shard}/{type}/{due}/batch.{batch id}`: one entry for tasks of one `submitMany`
   * that share a lane, due time and priority, named in its body (src/protocol/ready_batches.ts).
   */
  readyBatch(
    shard: string,
    taskType: string,
    dueAt: number,
    batchId: string,
    priority = 0,
  ): string {
    if (!BATCH_SEGMENT_RE.test(`batch.${batchId}`)) {
      throw new TypeError(`Invalid batch id ${JSON.stringify(batchId)}`);
    }
    return `${this.readyTypePrefix(shard, taskType)}${
      readyStamp(dueAt, priority)
    }/batch.${batchId}`;
  }

  /** Prefix of the ready entries of one type in one shard (listed oldest first). */
  readyTypePrefix(shard: string, taskType: string): string {
    return `${this.prefix}ready/${validateShard(shard)}/${validateName("task type", taskType)}/`;
  }

  /** Prefix of every ready entry of every shard (`ready/`). */
  readyRoot(): string {
    return `${this.prefix}ready/`;
  }

  /** Prefix of all ready entries of a shard. */
  readyShardPrefix(shard: string): string {
    return `${this.prefix}ready/${validateShard(shard)}/`;
  }

  /** Parse a task's ready key; `null` when it is not one of ours (or is a batch entry). */
  parseReady(key: string): ReadyEntry | null {
    const parts = this.#readyParts(key);
    if (parts === null || !TASK_ID_RE.test(parts.last)) return null;
    const { last, ...entry } = parts;
    return { ...entry, taskId: last };
  }

  /**
   * Parse a batch entry's key ({@link readyBatch}); `null` for anything else. Its `taskId`
   * is empty: the body names the tasks.
   */
  parseReadyBatch(key: string): ReadyEntry | null {
    const parts = this.#readyParts(key);
    const m = parts === null ? null : BATCH_SEGMENT_RE.exec(parts.last);
    if (parts === null || m === null) return null;
    const { last: _, ...entry } = parts;
    return { ...entry, taskId: "", batchId: m[1]! };
  }

  #readyParts(key: string): (Omit<ReadyEntry, "taskId"> & { last: string }) | null {
    const rest = key.startsWith(`${this.prefix}ready/`)
      ? key.slice(this.prefix.length + 6).split("/")
      : [];
    if (rest.length !== 4) return null;
    const [shard, taskType, sortStamp, last] = rest as [string, string, string, string];
    const level = /^(.*)\.p(-?[1-9])$/.exec(sortStamp);
    const sortAt = parseTimeStamp(level ? level[1]! : sortStamp);
    const priority = level ? Number(level[2]) : 0;
    if (Number.isNaN(sortAt) || !SHARD_RE.test(shard) || !NAME_RE.test(taskType)) return null;
    return { key, shard, taskType, dueAt: dueTime(sortAt, priority), sortAt, priority, last };
  }

  /**
   * `deadlines/{shard}/{at}/{id}.{kind}`: the monitor's index of times at which a task must
   * be looked at: `lease` (a running task's lease ends) or `ttl` (a pending task expires).
   * One prefix for both, so an idle monitor lists one prefix per shard.
   */
  deadline(shard: string, at: number, taskId: string, kind: "lease" | "ttl"): string {
    shardOfTaskId(taskId);
    return `${this.deadlinePrefix(shard)}${timeStamp(at)}/${taskId}.${kind}`;
  }

  /**
   * `deadlines/{shard}/{at}/{group}.group`: a lease group's entry, `tail` being what a task
   * covered by it records in `lease_group` (`{at stamp}/{group id}`).
   */
  leaseGroup(shard: string, tail: string): string {
    const [stamp, id] = tail.split("/");
    if (
      tail.split("/").length !== 2 || Number.isNaN(parseTimeStamp(stamp!)) ||
      !GROUP_ID_RE.test(id!)
    ) {
      throw new TypeError(`Invalid lease group ${JSON.stringify(tail)}`);
    }
    return `${this.deadlinePrefix(shard)}${tail}.group`;
  }

  /** Prefix of every deadline entry of every shard (`deadlines/`). */
  deadlinesRoot(): string {
    return `${this.prefix}deadlines/`;
  }

  /** Prefix of the deadline entries of a shard (listed soonest first). */
  deadlinePrefix(shard: string): string {
    return `${this.prefix}deadlines/${validateShard(shard)}/`;
  }

  /** Parse a deadline key; `null` when it is not one of ours. */
  parseDeadline(key: string): DeadlineEntry | null {
    const head = `${this.prefix}deadlines/`;
    const rest = key.startsWith(head) ? key.slice(head.length).split("/") : [];
    if (rest.length !== 3) return null;
    const [shard, stamp, name] = rest as [string, string, string];
    const dot = name.lastIndexOf(".");
    const id = name.slice(0, dot);
    const kind = name.slice(dot + 1);
    const at = parseTimeStamp(stamp);
    if (Number.isNaN(at) || !SHARD_RE.test(shard)) return null;
    if (kind === "group") {
      return GROUP_ID_RE.test(id) ? { key, shard, at, kind, groupId: id } : null;
    }
    if (!TASK_ID_RE.test(id) || (kind !== "lease" && kind !== "ttl")) return null;
    return { key, shard, at, taskId: id, kind };
  }

  /**
   * `payloads/{home}/{id}/{kind}-{sha256}`: an input or output stored beside its task
   * (src/protocol/payloads.ts). Named by the task's id (its home shard, like the task) and
   * by the content's hash, so two different values never share a key.
   */
  payload(taskId: string, kind: "input" | "output", sha256: string): string {
    if (!/^[0-9a-f]{64}$/.test(sha256)) throw new TypeError(`Invalid SHA-256 "${sha256}"`);
    return `${this.payloadsOf(taskId)}${kind}-${sha256}`;
  }

  /** Prefix of every payload of one task (`payloads/{home}/{id}/`). */
  payloadsOf(taskId: string): string {
    return `${this.prefix}payloads/${shardOfTaskId(taskId)}/${taskId}/`;
  }

  /** Prefix of the payloads of every task of a home shard (`payloads/{shard}/`). */
  payloadsPrefix(shard: string): string {
    return `${this.prefix}payloads/${validateShard(shard)}/`;
  }

  /** Parse a payload key; `null` when it is not one {@link Keys.payload} builds. */
  parsePayload(
    key: string,
  ): { taskId: string; kind: "input" | "output"; sha256: string } | null {
    const head = `${this.prefix}payloads/`;
    const rest = key.startsWith(head) ? key.slice(head.length).split("/") : [];
    if (rest.length !== 3) return null;
    const [, taskId, name] = rest as [string, string, string];
    const m = /^(input|output)-([0-9a-f]{64})$/.exec(name);
    if (!m || !TASK_ID_RE.test(taskId)) return null;
    const kind = m[1] as "input" | "output";
    try {
      return this.payload(taskId, kind, m[2]!) === key ? { taskId, kind, sha256: m[2]! } : null;
    } catch {
      return null;
    }
  }

  /** `workers/{id}.json`: a worker's heartbeat. */
  worker(workerId: string): string {
    return `${this.prefix}workers/${validateName("worker id", workerId)}.json`;
  }

  /** Prefix of all heartbeats. */
  workersPrefix(): string {
    return `${this.prefix}workers/`;
  }

  /** `signals/types/{type}`: the wake-up object producers touch when work of a type appears. */
  signal(taskType: string): string {
    return `${this.prefix}signals/types/${validateName("task type", taskType)}`;
  }

  /** `signals/any`: touched together with every type's signal; idle workers watch only this. */
  anySignal(): string {
    return `${this.prefix}signals/any`;
  }

  /** `control/types/{type}.json`: a task type's flow control (pause; src/protocol/flow.ts). */
  control(taskType: string): string {
    return `${this.controlPrefix()}${validateName("task type", taskType)}.json`;
  }

  /** Prefix of every task type's flow control. */
  controlPrefix(): string {
    return `${this.prefix}control/types/`;
  }

  /** The task type of a key under {@link Keys.controlPrefix}; `null` when it is not one of ours. */
  parseControl(key: string): string | null {
    const p = this.controlPrefix();
    if (!key.startsWith(p) || !key.endsWith(".json")) return null;
    const t = key.slice(p.length, -5);
    return NAME_RE.test(t) && !t.includes("..") ? t : null;
  }

  /** `control/slots/{type}.json`: holders of a type's concurrency limit (src/protocol/slots.ts). */
  slots(taskType: string): string {
    return `${this.prefix}control/slots/${validateName("task type", taskType)}.json`;
  }

  /** `control/rate/{type}.json`: recent starts of a rate-limited type (src/protocol/rate.ts). */
  rate(taskType: string): string {
    return `${this.prefix}control/rate/${validateName("task type", taskType)}.json`;
  }

  /** `schedules/{id}.json`: a cron schedule. */
  schedule(scheduleId: string): string {
    return `${this.prefix}schedules/${validateName("schedule id", scheduleId)}.json`;
  }

  /** Prefix of all schedules. */
  schedulesPrefix(): string {
    return `${this.prefix}schedules/`;
  }

  /** The schedule id of a key under {@link Keys.schedulesPrefix}; `null` when it is not one of ours. */
  parseSchedule(key: string): string | null {
    const p = this.schedulesPrefix();
    if (!key.startsWith(p) || !key.endsWith(".json")) return null;
    const id = key.slice(p.length, -5);
    return NAME_RE.test(id) && !id.includes("..") ? id : null;
  }

  /** `schedule-runs/{id}.json`: the last-run record of a schedule. */
  scheduleRun(scheduleId: string): string {
    return `${this.prefix}schedule-runs/${validateName("schedule id", scheduleId)}.json`;
  }

  /** `layout.json`: the bucket's layout (shard count, format version; src/protocol/layout.ts). */
  layout(): string {
    return `${this.prefix}layout.json`;
  }

  /** Scratch keys used by `oq doctor`. */
  scratch(name: string): string {
    return `${this.prefix}doctor/${validateName("scratch name", name)}`;
  }
}
