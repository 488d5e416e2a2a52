/**
 * Bad objects met by reads that list many objects (tasks, heartbeats, schedules, index
 * entries): each is reported through the queue's `warn` once per process and object
 * version, and the read goes on with the rest. A bucket is shared with whoever can write
 * to it, so one malformed object must never hide the good ones, nor fill a log.
 *
 * @module
 */

import type { Queue } from "../queue/queue.ts";

const reported = new WeakMap<Queue, Set<string>>();

/**
 * Report a bad object through `queue.options.warn` (`oq: skipped <why>`), unless this
 * queue already reported the same version of it (`etag`; without one, the key alone).
 * True when it was reported now.
 *
 * @example
 * ```ts
 * import { MemoryStore, Queue } from "../../mod.ts";
 * import { reportBadObject } from "./bad_objects.ts";
 * const queue = new Queue(new MemoryStore(), { warn: (m) => console.log(m) });
 * reportBadObject(queue, "workers/x.json", '"e1"', 'Object "workers/x.json" is not a heartbeat');
 * reportBadObject(queue, "workers/x.json", '"e1"', "again"); // false: reported once
 * ```
 */
export function reportBadObject(
  queue: Queue,
  key: string,
  etag: string | undefined,
  why: string,
): boolean {
  let seen = reported.get(queue);
  if (seen === undefined) reported.set(queue, seen = new Set());
  const id = `${key}\n${etag ?? ""}`;
  if (seen.has(id)) return false;
  seen.add(id);
  queue.options.warn(`oq: skipped ${why}`);
  return true;
}
