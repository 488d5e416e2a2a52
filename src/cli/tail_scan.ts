/**
 * The scanner behind `oq tail`: LIST the tasks prefixes, compare ETags with the previous
 * scan, GET only new and changed task objects.
 *
 * @module
 */

import type { QueueContext } from "../protocol/context.ts";
import { SchemaError } from "../base/errors.ts";
import { mapLimit } from "../base/concurrency.ts";
import { Task } from "../task/task.ts";

interface Seen {
  etag: string;
  status?: string;
  taskType?: string;
}

/** One observed change. */
export interface TailEvent {
  /** `created` (new object), `changed`, or `deleted` (purged). */
  event: "created" | "changed" | "deleted";
  /** Store time of the scan that saw it. */
  time: string;
  /** Task id. */
  taskId: string;
  /** Task type, when known (always, unless `deleted` before it was ever read). */
  taskType: string | null;
  /** Status before, when known. */
  previousStatus: string | null;
  /** The task after the change (absent for `deleted`). */
  task?: Task;
}

/** Polls the tasks prefixes and reports changes (see {@link TaskTail.scan}). */
export class TaskTail {
  readonly #queue: QueueContext;
  readonly #shards: string[];
  readonly #seen = new Map<string, Seen>();
  #primed = false;

  /** Tail these shards of a queue. */
  constructor(queue: QueueContext, shards: string[]) {
    this.#queue = queue;
    this.#shards = shards;
  }

  /**
   * One scan: LIST every shard, GET new and changed objects. The first scan only records
   * the ETags (or reports every task as `created` with `initial`).
   */
  async scan(initial = false): Promise<TailEvent[]> {
    const q = this.#queue;
    const listed = new Map<string, string>();
    await Promise.all(this.#shards.map(async (shard) => {
      for await (const page of q.tasks.objectPages(shard)) {
        for (const o of page.objects) if (o.key.endsWith(".json")) listed.set(o.key, o.etag);
      }
    }));
    const time = new Date(q.store.now()).toISOString();
    const report = this.#primed || initial;
    const changed = [...listed].filter(([key, etag]) => this.#seen.get(key)?.etag !== etag);
    const events: TailEvent[] = [];
    if (report) {
      const read = await mapLimit(changed, 16, async ([key]) => {
        try {
          const v = await q.tasks.readAt(key);
          return v === null ? null : { key, etag: v.etag, task: new Task(v.rec) };
        } catch (e) {
          if (!(e instanceof SchemaError)) throw e;
          // Reported once; not read again until it changes.
          q.badObjects.report(key, e.etag, e.message);
          if (e.etag !== undefined) this.#seen.set(key, { etag: e.etag });
          return null;
        }
      });
      for (const r of read) {
        if (r === null) continue;
        const before = this.#seen.get(r.key);
        if (before?.etag === r.etag) continue;
        events.push({
          event: before ? "changed" : "created",
          time,
          taskId: r.task.id,
          taskType: r.task.taskType,
          previousStatus: before?.status ?? null,
          task: r.task,
        });
        listed.set(r.key, r.etag);
        this.#seen.set(r.key, { etag: r.etag, status: r.task.status, taskType: r.task.taskType });
      }
      for (const [key, seen] of this.#seen) {
        if (listed.has(key)) continue;
        const id = key.slice(key.lastIndexOf("/") + 1, -5);
        events.push({
          event: "deleted",
          time,
          taskId: id,
          taskType: seen.taskType ?? null,
          previousStatus: seen.status ?? null,
        });
        this.#seen.delete(key);
      }
    } else {
      for (const [key, etag] of listed) this.#seen.set(key, { etag });
    }
    this.#primed = true;
    return events.sort((a, b) =>
      (a.task?.updatedAt.getTime() ?? 0) - (b.task?.updatedAt.getTime() ?? 0)
    );
  }
}
