/**
 * A small shared JSON object that several processes change by compare-and-swap (a limit's
 * semaphore or rate log), as one process sees it: the last version it read or wrote, so a
 * process alone on the object pays no GET before its writes, and its own changes run one
 * at a time (they would only conflict with each other).
 *
 * @module
 */

import type { z } from "zod";
import { nonce } from "../base/ids.ts";
import { SchemaError } from "../base/errors.ts";
import type { ObjectStore } from "../store/types.ts";
import { readStored, type Stored, writeStored } from "./stored.ts";

/** The fields every such record has. */
export interface SharedRecord {
  /** Format version. */
  schema_version: number;
  /** The task type it belongs to. */
  task_type: string;
  /** +1 on every write. */
  revision: number;
  /** Random nonce of the latest write. */
  write_id: string;
}

/**
 * One shared record of one task type.
 *
 * @example
 * ```ts
 * import { z } from "zod";
 * import { MemoryStore } from "../../mod.ts";
 * import { CachedRecord } from "./cached_record.ts";
 * const schema = z.object({
 *   schema_version: z.number(), task_type: z.string(), revision: z.number(), write_id: z.string(),
 *   n: z.number(),
 * });
 * const rec = new CachedRecord(new MemoryStore(), "k.json", schema, 1, "email");
 * await rec.write(await rec.read(true), { n: 1 }); // created with If-None-Match: *
 * ```
 */
export class CachedRecord<T extends SharedRecord> {
  readonly #store: ObjectStore;
  readonly #key: string;
  readonly #schema: z.ZodType<T>;
  readonly #version: number;
  readonly #taskType: string;
  #cached: Stored<T> | null | undefined = undefined;
  #chain: Promise<unknown> = Promise.resolve();

  /** The record at `key`, of `taskType`, in format `version`. */
  constructor(
    store: ObjectStore,
    key: string,
    schema: z.ZodType<T>,
    version: number,
    taskType: string,
  ) {
    this.#store = store;
    this.#key = key;
    this.#schema = schema;
    this.#version = version;
    this.#taskType = taskType;
  }

  /** Run `f` after this process's earlier changes of the record. */
  serial<R>(f: () => Promise<R>): Promise<R> {
    const run = this.#chain.then(f, f);
    this.#chain = run.catch(() => {});
    return run;
  }

  /** The record (`null`: absent): the last known version, or a fresh GET when `fresh` or none is known. */
  async read(fresh: boolean): Promise<Stored<T> | null> {
    if (!fresh && this.#cached !== undefined) return this.#cached;
    const r = await readStored(this.#store, this.#key, this.#schema, this.#version);
    const cur = r === "unchanged" ? null : r;
    if (cur !== null && cur.rec.task_type !== this.#taskType) {
      throw new SchemaError(this.#key, `task_type is ${JSON.stringify(cur.rec.task_type)}`);
    }
    this.#cached = cur;
    return cur;
  }

  /**
   * Replace `cur` (`If-Match`; `If-None-Match: *` when absent) with its fields changed to
   * `fields`; unknown fields are kept. `null` when another writer came first.
   */
  async write(
    cur: Stored<T> | null,
    fields: Omit<T, keyof SharedRecord>,
  ): Promise<Stored<T> | null> {
    const next = {
      ...(cur?.rec ?? {}),
      ...fields,
      schema_version: Math.max(cur?.rec.schema_version ?? 0, this.#version),
      task_type: this.#taskType,
      revision: cur ? cur.rec.revision + 1 : 0,
      write_id: nonce(),
    } as T;
    const cond = cur ? { ifMatch: cur.etag } : { ifNoneMatch: "*" as const };
    try {
      const w = await writeStored(this.#store, this.#key, next, cond, this.#schema, this.#version);
      this.#cached = w ?? undefined;
      return w;
    } catch (e) {
      this.#cached = undefined; // unknown state: read before the next write
      throw e;
    }
  }
}
