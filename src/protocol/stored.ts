/**
 * Stored JSON objects (tasks, schedules, last-run records): schema-checked reads, and the
 * conditional write that recognises its own write after a lost answer (invariant 4).
 *
 * @module
 */

import type { z } from "zod";
import { PreconditionFailedError, TransientStoreError } from "../base/errors.ts";
import type { ObjectStore } from "../store/types.ts";
import { parseStored } from "../base/parse_stored.ts";

/** A stored record with the ETag it was read or written with. */
export interface Stored<T> {
  /** The record. */
  rec: T;
  /** ETag of the stored object holding `rec`. */
  etag: string;
}

/**
 * Read and parse an object: `null` when absent, `"unchanged"` when `ifNoneMatch` still
 * matches (a conditional GET: one request, no body).
 */
export async function readStored<T>(
  store: ObjectStore,
  key: string,
  schema: z.ZodType<T>,
  version: number,
  ifNoneMatch?: string,
  signal?: AbortSignal,
): Promise<Stored<T> | "unchanged" | null> {
  const o = await store.get(key, { ifNoneMatch, signal });
  if (o === null) return null;
  if (o.kind === "not-modified") return "unchanged";
  return { rec: parseStored(key, o.body, schema, version), etag: o.etag };
}

/**
 * A conditional write (`If-None-Match: *` to create, `If-Match` to replace). `null` when
 * the condition lost: someone else wrote first. A definite 412 on the first attempt means
 * our write was not applied; after a lost answer (an ambiguous 412, or a transient failure)
 * it may have been, so the object is re-read and the write counts as ours when its
 * `write_id` is there.
 */
export async function writeStored<T extends { write_id: string }>(
  store: ObjectStore,
  key: string,
  rec: T,
  cond: { ifNoneMatch: "*" } | { ifMatch: string },
  schema: z.ZodType<T>,
  version: number,
): Promise<Stored<T> | null> {
  try {
    const r = await store.put(key, JSON.stringify(rec), {
      ...cond,
      contentType: "application/json",
    });
    return { rec, etag: r.etag };
  } catch (e) {
    const lost = e instanceof PreconditionFailedError;
    if (lost && !e.ambiguous) return null;
    if (!lost && !(e instanceof TransientStoreError)) throw e;
    const current = await readStored(store, key, schema, version).catch(() => null);
    if (current && current !== "unchanged" && current.rec.write_id === rec.write_id) return current;
    if (lost) return null;
    throw e;
  }
}
