/**
 * Shared test helpers: `it` with a timeout, a fake clock and a queue over the memory store.
 */
import { it as nodeIt, type TestContext } from "node:test";
import { MemoryStore } from "../src/store/memory_store.ts";
import { Queue } from "../src/queue/queue.ts";
import type { Clock } from "../src/base/clock.ts";
import type { LongTimeout } from "../src/base/timer.ts";
import type { QueueOptions } from "../src/protocol/options.ts";
import { RequestCounters } from "../src/s3/counters.ts";

/**
 * How long one test may run by default: far more than any case needs on a loaded machine,
 * so that a case that hangs (a worker never stopped, a wait that never ends) fails with
 * this timeout on every runtime instead of holding up the run. A case may set its own.
 */
export const TEST_TIMEOUT_MS = 120_000;

/** Options of {@link it}, as node:test takes them. */
export interface TestOptions {
  /** Milliseconds before the test fails. @default TEST_TIMEOUT_MS */
  timeout?: number;
  /** Skip the test (a string says why). */
  skip?: boolean | string;
  /** Mark the test as to do. */
  todo?: boolean | string;
}

type TestFn = (t: TestContext) => void | Promise<void>;

/**
 * node:test's `it`, with {@link TEST_TIMEOUT_MS} unless the options give a timeout. Every
 * test file takes `it` from here, so that no test runs without a limit.
 */
export function it(name: string, fn: TestFn): void;
export function it(name: string, options: TestOptions, fn: TestFn): void;
export function it(name: string, a: TestOptions | TestFn, b?: TestFn): void {
  const [options, fn] = typeof a === "function" ? [{}, a] : [a, b!];
  void nodeIt(name, { timeout: TEST_TIMEOUT_MS, ...options }, fn);
}

/**
 * Wait until `count()` reaches `target`, failing only when it has not moved for `stallMs`:
 * a slow machine gets there later, a stuck run fails. For long runs whose total time
 * depends on the machine and the server (hundreds of tasks through moto).
 */
export async function untilProgress(
  count: () => number,
  target: number,
  stallMs: number,
  what: string,
): Promise<void> {
  let last = count();
  let movedAt = Date.now();
  while (last < target) {
    await new Promise((r) => setTimeout(r, 20));
    const n = count();
    if (n !== last) {
      last = n;
      movedAt = Date.now();
    } else if (Date.now() - movedAt > stallMs) {
      throw new Error(`No progress for ${stallMs} ms waiting for ${what} (${n} of ${target})`);
    }
  }
}

/**
 * Assert that a store-clock estimate holds this machine's time (the server runs here) within
 * its own stated uncertainty. No fixed bound: the uncertainty grows with the round trip, so
 * a loaded machine widens it instead of failing the test.
 */
export function assertHoldsLocalTime(clock: { now(): number; uncertaintyMs(): number }): void {
  const before = Date.now();
  const estimate = clock.now();
  const after = Date.now();
  const u = clock.uncertaintyMs();
  if (!(estimate - u <= after && estimate + u >= before)) {
    throw new Error(`Store clock ${estimate - before} ms off the local one, uncertainty ${u} ms`);
  }
}

/** A clock that only moves when told to. */
export class FakeClock implements Clock {
  ms: number;
  #timers: Array<{ at: number; seq: number; fn: () => void; live: boolean }> = [];
  #seq = 0;
  constructor(ms = Date.UTC(2026, 10, 22, 12, 0, 0)) {
    this.ms = ms;
  }
  now = (): number => this.ms;
  /** A timer that fires when {@link FakeClock.advance} passes its time (never on its own). */
  setTimer = (fn: () => void, ms: number): LongTimeout => {
    const t = { at: this.ms + Math.max(0, ms), seq: this.#seq++, fn, live: true };
    this.#timers.push(t);
    return { cancel: () => void (t.live = false) };
  };
  /** Move time forward, firing every timer that comes due on the way, in time order. */
  advance(ms: number): void {
    const end = this.ms + ms;
    for (;;) {
      this.#timers = this.#timers.filter((t) => t.live);
      const next = this.#timers.filter((t) =>
        t.at <= end
      ).sort((a, b) => a.at - b.at || a.seq - b.seq)[0];
      if (!next) break;
      this.ms = Math.max(this.ms, next.at);
      next.live = false;
      next.fn();
    }
    this.ms = end;
  }
  /** Timers waiting. */
  get pending(): number {
    return this.#timers.filter((t) => t.live).length;
  }
  /**
   * Advance `ms` in steps of `stepMs`, letting the code woken by each step run (its promises
   * and I/O on the memory store) before the next. No wall-clock wait beyond those turns.
   */
  async run(ms: number, stepMs = 1000): Promise<void> {
    for (let done = 0; done < ms; done += stepMs) {
      this.advance(Math.min(stepMs, ms - done));
      await settle();
    }
  }
}

/** Let pending promise callbacks and zero-delay timers run (a few event-loop turns). */
export async function settle(turns = 3): Promise<void> {
  for (let i = 0; i < turns; i++) await new Promise((r) => setTimeout(r, 0));
}

/** A queue over a fresh memory store with a fake clock. */
export function memQueue(
  options: QueueOptions = {},
  clock = new FakeClock(),
): { queue: Queue; store: MemoryStore; clock: FakeClock } {
  const store = new MemoryStore({ clock: clock.now });
  const queue = new Queue(store, { warn: () => {}, ...options });
  return { queue, store, clock };
}

/**
 * Wait (real time) until `f` is true, or fail after `ms`. The limit only bounds a wait for
 * something that should happen: keep it generous (a loaded machine is slow), and never use
 * it to assert that something happened quickly.
 */
export async function until(
  f: () => boolean | Promise<boolean>,
  ms = 30_000,
  what = "condition",
): Promise<void> {
  const end = Date.now() + ms;
  while (!(await f())) {
    if (Date.now() > end) throw new Error(`Timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

/** The result of `f` and the requests `store` sent while it ran, by kind. */
export async function counted<T>(store: MemoryStore, f: () => Promise<T>) {
  const s0 = store.counters.snapshot();
  const result = await f();
  return { result, n: RequestCounters.diff(store.counters.snapshot(), s0) };
}
