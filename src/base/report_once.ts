/**
 * Reporting a lasting problem once: a corrupt object stays corrupt until someone fixes it,
 * and a loop that meets it every cycle must not log it every cycle, forever.
 *
 * @module
 */

/**
 * Remembers what was reported (bounded: the oldest entries are forgotten first, so at worst
 * a problem is reported again much later).
 *
 * @example
 * ```ts
 * import { ReportOnce } from "./report_once.ts";
 * const once = new ReportOnce();
 * once.first('Object "tasks/0/x.json" does not match its schema'); // true
 * once.first('Object "tasks/0/x.json" does not match its schema'); // false
 * ```
 */
export class ReportOnce {
  readonly #seen = new Set<string>();
  readonly #max: number;

  /** Remember at most `max` problems. */
  constructor(max = 10_000) {
    this.#max = max;
  }

  /** True the first time `problem` is seen (report it then), false afterwards. */
  first(problem: string): boolean {
    if (this.#seen.has(problem)) return false;
    if (this.#seen.size >= this.#max) {
      const oldest = this.#seen.values().next().value;
      if (oldest !== undefined) this.#seen.delete(oldest);
    }
    this.#seen.add(problem);
    return true;
  }
}
