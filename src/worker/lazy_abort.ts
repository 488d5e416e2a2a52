/**
 * An abort controller made only when its signal is asked for: a handler that never looks at
 * `ctx.signal` (most quick ones) costs no AbortController, AbortSignal or listener list. One
 * asked for after the abort comes aborted, with the same reason.
 *
 * @module
 */

/**
 * A lazily made AbortController.
 *
 * @example
 * ```ts
 * import { LazyAbort } from "./lazy_abort.ts";
 * const a = new LazyAbort();
 * a.abort(new Error("stop"));
 * a.aborted; // true
 * a.signal.aborted; // true: made now, already aborted
 * ```
 */
export class LazyAbort {
  #controller: AbortController | undefined;
  #aborted = false;
  #reason: unknown;

  /** The signal (made at the first call). */
  get signal(): AbortSignal {
    if (this.#controller === undefined) {
      this.#controller = new AbortController();
      if (this.#aborted) this.#controller.abort(this.#reason);
    }
    return this.#controller.signal;
  }

  /** True once {@link abort} was called. */
  get aborted(): boolean {
    return this.#aborted;
  }

  /** The reason given to {@link abort}; `undefined` before. */
  get reason(): unknown {
    return this.#reason;
  }

  /** Abort with `reason` (the first call wins, as for an AbortController). */
  abort(reason: unknown): void {
    if (this.#aborted) return;
    this.#aborted = true;
    this.#reason = reason;
    this.#controller?.abort(reason);
  }
}
