/**
 * Preconditions of a delete (DeleteObject headers, DeleteObjects `<Object>` elements): the
 * ETag (`If-Match`, `*` for "exists"), the last-modified time and the size of the version
 * the delete would remove or hide. AWS evaluates the ETag on every bucket and the time and
 * size on directory buckets; the dev server honours all three everywhere rather than
 * accepting a condition it would not check. A missing key (or a delete marker as the current
 * version) fails a condition with 404 NoSuchKey, as AWS answers `If-Match` on general
 * purpose buckets.
 *
 * @module
 */

import { EngineError, type StorageEngine } from "../store/engine.ts";
import { invalidArgument } from "./errors.ts";

/** What a delete must find before it deletes. */
export interface DeleteConditions {
  /** An ETag (quoted or not) or `*`. */
  ifMatch?: string;
  /** The version's last-modified time, in ms (compared to the second, as S3 keeps it). */
  lastModified?: number;
  /** The version's size in bytes. */
  size?: number;
}

/** True when no condition is set. */
export function unconditional(c: DeleteConditions): boolean {
  return c.ifMatch === undefined && c.lastModified === undefined && c.size === undefined;
}

/**
 * A time condition from its text (an HTTP date or ISO 8601, as the header and the XML
 * element carry it); undefined stays undefined. Throws InvalidArgument naming `name`.
 */
export function parseTimeCondition(text: string | undefined, name: string): number | undefined {
  if (text === undefined) return undefined;
  const ms = Date.parse(text.trim());
  if (Number.isNaN(ms)) throw invalidArgument(`Invalid ${name}`, name, text);
  return ms;
}

/** A size condition from its text; undefined stays undefined. Throws InvalidArgument naming `name`. */
export function parseSizeCondition(text: string | undefined, name: string): number | undefined {
  if (text === undefined) return undefined;
  const n = /^\s*\d+\s*$/.test(text) ? Number(text) : NaN;
  if (!Number.isSafeInteger(n)) throw invalidArgument(`Invalid ${name}`, name, text);
  return n;
}

/**
 * Throws unless the current version of `key` (or `versionId`) meets every condition:
 * NoSuchKey/NoSuchVersion (404), MethodNotAllowed (405, a delete marker by version id) or
 * PreconditionFailed (412). Synchronous, so a caller that deletes right after it is atomic.
 */
export function checkDeleteConditions(
  engine: StorageEngine,
  bucket: string,
  key: string,
  versionId: string | undefined,
  c: DeleteConditions,
): void {
  if (unconditional(c)) return;
  const r = engine.get(bucket, key, { versionId, ifMatch: c.ifMatch });
  if (r.notModified) return; // not reached: no If-None-Match is given
  const v = r.version;
  const second = (ms: number) => Math.floor(ms / 1000);
  if (
    (c.lastModified !== undefined && second(v.lastModified) !== second(c.lastModified)) ||
    (c.size !== undefined && v.size !== c.size)
  ) {
    throw new EngineError(
      "PreconditionFailed",
      412,
      "At least one of the pre-conditions you specified did not hold",
    );
  }
}
