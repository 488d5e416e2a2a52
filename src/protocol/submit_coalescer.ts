/**
 * Coalescing of concurrent `submit()` calls (group commit): calls made in the same turn of
 * the event loop, and calls made while `maxInFlight` groups are being written, are written
 * together as one group (src/protocol/submit_group.ts), whose tasks share a batch entry:
 * k tasks cost k + 1 PUTs instead of 2k. A call made alone is written at once, as before,
 * so a producer that submits one task at a time sees no change in latency or requests.
 * Each call still settles on its own: its task, or its own error.
 *
 * @module
 */

import type { SubmitOptions } from "../task/new_task.ts";
import type { QueueContext } from "./context.ts";
import type { CoalescingSettings } from "./options.ts";
import { submitTask, type Submitted } from "./submit.ts";
import { type GroupItem, submitGroup } from "./submit_group.ts";

interface Waiting {
  item: GroupItem;
  resolve: (s: Submitted) => void;
  reject: (e: unknown) => void;
}

/**
 * The `submit()` calls of one queue, written in groups.
 *
 * @example
 * ```ts
 * import { MemoryStore, Queue } from "../../mod.ts";
 * const queue = new Queue(new MemoryStore());
 * // Made in one turn: one group, one ready entry for the three tasks (5 PUTs, not 6).
 * const tasks = await Promise.all([1, 2, 3].map((n) => queue.submit("email", { n })));
 * ```
 */
export class SubmitCoalescer {
  readonly #ctx: QueueContext;
  readonly #s: CoalescingSettings;
  #waiting: Waiting[] = [];
  #inFlight = 0;
  #armed = false;

  /** Coalesce the submits of `ctx` with `settings`. */
  constructor(ctx: QueueContext, settings: CoalescingSettings) {
    this.#ctx = ctx;
    this.#s = settings;
  }

  /** Submit a task with the calls made with it (see the module). */
  submit(type: string, input: unknown, options: SubmitOptions): Promise<Submitted> {
    return new Promise((resolve, reject) => {
      this.#waiting.push({ item: { type, input, options }, resolve, reject });
      this.#arm(this.#s.lingerMs);
    });
  }

  // Write what waits after `delayMs` (0: at the end of this turn), unless a write is already
  // armed or every group slot is taken (a group that ends arms it again).
  #arm(delayMs: number): void {
    if (this.#armed || this.#inFlight >= this.#s.maxInFlight) return;
    this.#armed = true;
    const go = () => {
      this.#armed = false;
      this.#flush();
    };
    if (delayMs > 0) this.#ctx.clock.setTimer(go, delayMs);
    else queueMicrotask(go);
  }

  #flush(): void {
    while (this.#waiting.length > 0 && this.#inFlight < this.#s.maxInFlight) {
      const group = this.#waiting.splice(0, this.#s.maxTasks);
      this.#inFlight++;
      void this.#write(group).finally(() => {
        this.#inFlight--;
        // The calls that waited for a slot have waited long enough: no linger for them.
        if (this.#waiting.length > 0) this.#arm(0);
      });
    }
  }

  async #write(group: Waiting[]): Promise<void> {
    if (group.length === 1) {
      const [{ item, resolve, reject }] = group as [Waiting];
      await submitTask(this.#ctx, item.type, item.input, item.options).then(resolve, reject);
      return;
    }
    try {
      const settled = await submitGroup(this.#ctx, group.map((w) => w.item), {
        pack: true,
        all: false,
      });
      for (const [i, w] of group.entries()) {
        const s = settled[i]!;
        if (s.ok) w.resolve(s.value);
        else w.reject(s.error);
      }
    } catch (error) {
      for (const w of group) w.reject(error);
    }
  }
}

/** A `submit()` of one queue. */
export type Submit = (type: string, input: unknown, options: SubmitOptions) => Promise<Submitted>;

/**
 * The `submit()` of a queue: through a {@link SubmitCoalescer} unless its option
 * `submitCoalescing` is `false`; a call with an idempotency key always on its own.
 */
export function submitter(ctx: QueueContext): Submit {
  const settings = ctx.options.submitCoalescing;
  const coalescer = settings === null ? null : new SubmitCoalescer(ctx, settings);
  return (type, input, options) =>
    coalescer === null || options.idempotencyKey !== undefined
      ? submitTask(ctx, type, input, options)
      : coalescer.submit(type, input, options);
}
