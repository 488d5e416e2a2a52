/**
 * Stored JSON objects (tasks, schedules, last-run records): schema-checked reads, and the
 * conditional write that recognises its own write after a lost answer (invariant 4).
 *
 * @module
 */

import type { z } from "zod";
import { PreconditionFailedError, SchemaError, TransientStoreError } from "../base/errors.ts";
import type { ObjectStore } from "../store/types.ts";

/** A stored record with the ETag it was read or written with. */
export interface Stored<T> {
  /** The record. */
  rec: T;
  /** ETag of the stored object holding `rec`. */
  etag: string;
}

/**
 * Parse stored bytes with a schema. Invalid UTF-8, invalid JSON, a `schema_version` newer
 * than `version`, or a schema mismatch is a {@link SchemaError} naming the key.
 *
 * @example
 * ```ts
 * import { z } from "zod";
 * import { parseStored } from "./stored.ts";
 * const schema = z.object({ schema_version: z.literal(1), n: z.number() });
 * parseStored("a.json", new TextEncoder().encode('{"schema_version":1,"n":2}'), schema, 1); // { schema_version: 1, n: 2 }
 * ```
 */
export function parseStored<T>(
  key: string,
  body: Uint8Array,
  schema: z.ZodType<T>,
  version: number,
): T {
  let json: unknown;
  try {
    json = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(body));
  } catch (e) {
    throw new SchemaError(key, `not valid UTF-8 JSON (${(e as Error).message})`, { cause: e });
  }
  const v = (json as { schema_version?: unknown } | null)?.schema_version;
  if (typeof v === "number" && v > version) {
    throw new SchemaError(
      key,
      `schema_version ${v} is newer than this oq understands (${version})`,
    );
  }
  const r = schema.safeParse(json);
  if (!r.success) {
    const issue = r.error.issues[0]!;
    throw new SchemaError(key, `${issue.path.join(".") || "(root)"}: ${issue.message}`);
  }
  return r.data;
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
