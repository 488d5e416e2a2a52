/**
 * Bad objects met by reads that list many objects (tasks, heartbeats, schedules, index
 * entries): each is reported through the queue's `warn` once per process and object
 * version, and the read goes on with the rest. A bucket is shared with whoever can write
 * to it, so one malformed object must never hide the good ones, nor fill a log.
 *
 * @module
 */

import { ReportOnce } from "../base/report_once.ts";

/**
 * Reports each bad object once (per key and version) through a warning sink.
 *
 * @example
 * ```ts
 * import { BadObjects } from "./bad_objects.ts";
 * const bad = new BadObjects((m) => console.log(m));
 * bad.report("workers/x.json", '"e1"', 'Object "workers/x.json" is not a heartbeat'); // true
 * bad.report("workers/x.json", '"e1"', "again"); // false: reported once
 * ```
 */
export class BadObjects {
  readonly #warn: (message: string) => void;
  readonly #once = new ReportOnce();

  /** Report through `warn` (`oq: skipped <why>`). */
  constructor(warn: (message: string) => void) {
    this.#warn = warn;
  }

  /**
   * Report a bad object, unless the same version of it (`etag`; without one, the key
   * alone) was reported already. True when it was reported now.
   */
  report(key: string, etag: string | undefined, why: string): boolean {
    if (!this.#once.first(`${key}\n${etag ?? ""}`)) return false;
    this.#warn(`oq: skipped ${why}`);
    return true;
  }
}
