/** Shared test helpers: a fake clock and a queue over the memory store. */
import { MemoryStore } from "../src/store/memory_store.ts";
import { Queue } from "../src/queue.ts";
import type { QueueOptions } from "../src/options.ts";

/** A clock that only moves when told to. */
export class FakeClock {
  ms: number;
  constructor(ms = Date.UTC(2026, 10, 22, 12, 0, 0)) {
    this.ms = ms;
  }
  now = (): number => this.ms;
  advance(ms: number): void {
    this.ms += ms;
  }
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

/** Wait (real time) until `f` is true, or fail after `ms`. */
export async function until(
  f: () => boolean | Promise<boolean>,
  ms = 5000,
  what = "condition",
): Promise<void> {
  const end = Date.now() + ms;
  while (!(await f())) {
    if (Date.now() > end) throw new Error(`Timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}
