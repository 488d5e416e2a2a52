/**
 * A tiny typed event emitter whose listeners cannot break the emitter: a throwing (or
 * rejecting) listener is reported to `onListenerError` and the others still run.
 *
 * @module
 */

/** Listener of one event. */
export type Listener<T> = (payload: T) => void | Promise<void>;

/**
 * The listening side of typed events (`worker.events`, `monitor.events`,
 * `scheduler.events`): add and remove listeners; only their owner emits.
 */
export interface EventSource<Events extends Record<string, unknown>> {
  /** Where listener failures go. @default console.error */
  onListenerError: (error: unknown, event: string) => void;
  /** Add a listener; returns a function that removes it. */
  on<K extends keyof Events>(event: K, listener: Listener<Events[K]>): () => void;
  /** Remove a listener. */
  off<K extends keyof Events>(event: K, listener: Listener<Events[K]>): void;
}

/**
 * Typed events, named `noun:verb`: the owner's side of an {@link EventSource}.
 *
 * @example
 * ```ts
 * import { Emitter } from "./events.ts";
 * const e = new Emitter<{ "task:done": { id: string } }>();
 * e.on("task:done", ({ id }) => console.log(id));
 * e.emit("task:done", { id: "0-01" });
 * ```
 */
export class Emitter<Events extends Record<string, unknown>> implements EventSource<Events> {
  readonly #listeners = new Map<keyof Events, Set<Listener<never>>>();
  /** Where listener failures go. @default console.error */
  onListenerError: (error: unknown, event: string) => void = (e, ev) =>
    console.error(`oq: listener of ${ev} failed:`, e);

  /** Add a listener; returns a function that removes it. */
  on<K extends keyof Events>(event: K, listener: Listener<Events[K]>): () => void {
    let set = this.#listeners.get(event);
    if (!set) this.#listeners.set(event, set = new Set());
    set.add(listener as Listener<never>);
    return () => set.delete(listener as Listener<never>);
  }

  /** Remove a listener. */
  off<K extends keyof Events>(event: K, listener: Listener<Events[K]>): void {
    this.#listeners.get(event)?.delete(listener as Listener<never>);
  }

  /** Call every listener of `event`; never throws. */
  emit<K extends keyof Events>(event: K, payload: Events[K]): void {
    const set = this.#listeners.get(event);
    if (!set) return;
    for (const l of set) {
      try {
        const r = (l as Listener<Events[K]>)(payload);
        if (r && typeof (r as Promise<void>).catch === "function") {
          (r as Promise<void>).catch((e) => this.onListenerError(e, String(event)));
        }
      } catch (e) {
        this.onListenerError(e, String(event));
      }
    }
  }
}
