/**
 * What a worker knows of its task types' flow control (src/protocol/flow.ts): which are
 * paused, and their limits. It reads a type's control object (a conditional GET) before it first claims a
 * task of the type ({@link PausedTypes.ensure}), then when the type's wake-up signal
 * changed (pause and resume touch it), and once per `refreshMs` (in case that signal was
 * lost). So a pause takes effect at the worker's next signal check, a type the worker never
 * found work for costs nothing, and one it did costs one GET per `refreshMs` at most.
 *
 * @module
 */

import { SchemaError } from "../base/errors.ts";
import type { QueueContext } from "../protocol/context.ts";
import { readTypeControl } from "../protocol/flow.ts";

interface Known {
  paused: boolean;
  limits: TypeLimits | null;
  etag: string | null;
  readAt: number;
}

/** A type's limits as last read (src/worker/limiter.ts enforces them). */
export interface TypeLimits {
  /** At most this many running at once, or `null`. */
  concurrency: number | null;
  /** At most `limit` starts per `windowMs`, or `null`. */
  rate: { limit: number; windowMs: number } | null;
}

/**
 * The paused state of a worker's task types.
 *
 * @example
 * ```ts
 * import { MemoryStore, Queue } from "../../mod.ts";
 * import { setPaused } from "../protocol/flow.ts";
 * import { PausedTypes } from "./paused_types.ts";
 * const queue = new Queue(new MemoryStore());
 * await setPaused(queue.context, "email", true);
 * const paused = new PausedTypes(queue.context, 900_000);
 * await paused.ensure(["email", "sms"], 0);
 * paused.isPaused("email"); // true
 * ```
 */
export class PausedTypes {
  readonly #ctx: QueueContext;
  readonly #refreshMs: number;
  readonly #known = new Map<string, Known>();

  /** Track the types of a queue; re-read each at least every `refreshMs`. */
  constructor(ctx: QueueContext, refreshMs: number) {
    this.#ctx = ctx;
    this.#refreshMs = refreshMs;
  }

  /**
   * Re-read the control of known types whose signal changed (`changed`) or that were last
   * read `refreshMs` ago or more. Types never read stay unread until
   * {@link PausedTypes.ensure}. A type whose read fails keeps its last known state; the
   * errors are returned for the caller to report.
   */
  refresh(types: readonly string[], changed: readonly string[], now: number): Promise<Error[]> {
    return this.#read(
      types.filter((t) => {
        const k = this.#known.get(t);
        return k !== undefined &&
          (changed.includes(t) || now - k.readAt >= this.#refreshMs || now < k.readAt);
      }),
      now,
    );
  }

  /**
   * Read the control of the types never read (before the first claim of one of their
   * tasks). A read that fails leaves the type unknown: {@link PausedTypes.mayClaim} is
   * false until its state is known.
   */
  ensure(types: readonly string[], now: number): Promise<Error[]> {
    return this.#read(types.filter((t) => !this.#known.has(t)), now);
  }

  /** Whether tasks of the type may be claimed: its control was read and says "not paused". */
  mayClaim(taskType: string): boolean {
    const k = this.#known.get(taskType);
    return k !== undefined && !k.paused;
  }

  // A malformed control object is reported once and counts as "not paused" (it cannot say
  // otherwise).
  async #read(due: readonly string[], now: number): Promise<Error[]> {
    const errors: Error[] = [];
    await Promise.all(due.map(async (t) => {
      const k = this.#known.get(t);
      try {
        const r = await readTypeControl(this.#ctx, t, k?.etag ?? undefined);
        if (r === "unchanged") this.#known.set(t, { ...k!, readAt: now });
        else if (r === null) {
          this.#known.set(t, { paused: false, limits: null, etag: null, readAt: now });
        } else {
          const c = r.rec.concurrency ?? null;
          const rate = r.rec.rate_limit
            ? { limit: r.rec.rate_limit.limit, windowMs: r.rec.rate_limit.window_ms }
            : null;
          const limits = c === null && rate === null ? null : { concurrency: c, rate };
          this.#known.set(t, { paused: r.rec.paused, limits, etag: r.etag, readAt: now });
        }
      } catch (e) {
        if (e instanceof SchemaError) {
          this.#ctx.badObjects.report(this.#ctx.keys.control(t), undefined, e.message);
          this.#known.set(t, { paused: false, limits: null, etag: null, readAt: now });
        } else errors.push(e as Error);
      }
    }));
    return errors;
  }

  /** Whether the type was paused when last read (unknown types are not). */
  isPaused(taskType: string): boolean {
    return this.#known.get(taskType)?.paused ?? false;
  }

  /** The type's limits when last read; `null` when it has none (or was never read). */
  limits(taskType: string): TypeLimits | null {
    return this.#known.get(taskType)?.limits ?? null;
  }

  /** The paused types among those read. */
  paused(): string[] {
    return [...this.#known].filter(([, k]) => k.paused).map(([t]) => t).sort();
  }
}
