/**
 * The thin loop every long-running part (worker, monitor, scheduler) is: run a step, wait
 * the delay it returns, repeat until stopped. A wait can be cut short (`wake`), e.g. when a
 * worker's slot frees up. The logic lives in the steps (`pollOnce`, `runOnce`), which
 * tests call directly.
 *
 * @module
 */

import { type Clock, clockOf } from "./clock.ts";

/**
 * Runs `step` until {@link Loop.stop}; `step` returns the delay in ms before the next run
 * and handles its own errors.
 *
 * @example
 * ```ts
 * import { Loop } from "./loop.ts";
 * let n = 0;
 * const loop = new Loop(() => Promise.resolve(++n < 3 ? 0 : 60_000));
 * const done = loop.start();
 * await loop.stop();
 * await done;
 * ```
 */
export class Loop {
  readonly #step: () => Promise<number>;
  readonly #clock: Clock;
  #running: Promise<void> | undefined;
  #stopping = false;
  #wake: (() => void) | undefined;

  /** Create a loop around a step; its waits run on `clock`'s timers. */
  constructor(step: () => Promise<number>, clock: Clock = clockOf(() => Date.now())) {
    this.#step = step;
    this.#clock = clock;
  }

  /** True between {@link Loop.start} and the end of {@link Loop.stop}. */
  get running(): boolean {
    return this.#running !== undefined;
  }

  /** True once {@link Loop.stop} was called. */
  get stopping(): boolean {
    return this.#stopping;
  }

  /** Start; the promise resolves when the loop has stopped. */
  start(): Promise<void> {
    if (this.#running) throw new Error("Already running");
    this.#stopping = false;
    this.#running = (async () => {
      while (!this.#stopping) {
        const delay = await this.#step();
        if (this.#stopping) break;
        if (delay > 0) await this.#sleep(delay);
      }
    })();
    return this.#running;
  }

  /** Cut the current wait short. */
  wake(): void {
    this.#wake?.();
  }

  /** Stop after the current step; resolves when the loop has ended. */
  async stop(): Promise<void> {
    this.#stopping = true;
    this.#wake?.();
    await this.#running;
    this.#running = undefined;
  }

  #sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        t.cancel();
        if (this.#wake === done) this.#wake = undefined;
        resolve();
      };
      // Any length (a monitor's idle interval may exceed what one setTimeout holds).
      const t = this.#clock.setTimer(done, ms);
      this.#wake = done;
    });
  }
}
