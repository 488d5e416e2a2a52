/**
 * Stored JSON objects (tasks, schedules, last-run records): schema-checked reads, and the
 * conditional write that recognises its own write by its `write_id` (invariant 4).
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

/** What a conditional write found: its own write, or (when it lost) the object as it is now. */
export type WriteOutcome<T> = { written: Stored<T> } | { current: Stored<T> | null };

/**
 * A conditional write (`If-None-Match: *` to create, `If-Match` to replace) that, when it
 * loses, re-reads the object with `read` and returns what it found. Every 412 is checked
 * this way, not only one met after a lost answer: an HTTP stack or a proxy may send a
 * request again without telling us (Deno's fetch does, after a dropped connection), and
 * the 412 then answers our own earlier copy. The write counts as ours when the object holds
 * its `write_id`. One GET per lost race, which the caller would spend anyway to decide
 * again. A failing re-read throws: the original error after a transient failure, the
 * read's own otherwise.
 */
export async function writeOrRead<T extends { write_id: string }>(
  store: ObjectStore,
  key: string,
  rec: T,
  cond: { ifNoneMatch: "*" } | { ifMatch: string },
  read: (key: string) => Promise<Stored<T> | null>,
): Promise<WriteOutcome<T>> {
  try {
    const r = await store.put(key, JSON.stringify(rec), {
      ...cond,
      contentType: "application/json",
    });
    return { written: { rec, etag: r.etag } };
  } catch (e) {
    const lost = e instanceof PreconditionFailedError;
    if (!lost && !(e instanceof TransientStoreError)) throw e;
    let current: Stored<T> | null;
    try {
      current = await read(key);
    } catch (readError) {
      throw lost ? readError : e;
    }
    if (current !== null && current.rec.write_id === rec.write_id) return { written: current };
    if (lost) return { current };
    throw e;
  }
}

/**
 * {@link writeOrRead} for callers that only need to know whether the write is theirs:
 * `null` when the condition lost (someone else wrote first), also when the re-read fails.
 */
export async function writeStored<T extends { write_id: string }>(
  store: ObjectStore,
  key: string,
  rec: T,
  cond: { ifNoneMatch: "*" } | { ifMatch: string },
  schema: z.ZodType<T>,
  version: number,
): Promise<Stored<T> | null> {
  // A re-read that fails counts as not ours: a lost race gives `null`, a transient failure
  // its own error (as if no re-read had been tried).
  const read = (k: string) =>
    readStored(store, k, schema, version).then((r) => r === "unchanged" ? null : r, () => null);
  return writtenOf(await writeOrRead(store, key, rec, cond, read));
}

/** The version a conditional write produced, `null` when it lost. */
export function writtenOf<T>(w: WriteOutcome<T>): Stored<T> | null {
  return "written" in w ? w.written : null;
}
