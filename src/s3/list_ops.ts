/**
 * Multi-key operations: ListObjectsV2, ListObjectVersions and DeleteObjects.
 *
 * @module
 */

import type {
  DeleteEntry,
  DeleteManyResult,
  ListOptions,
  ListPage,
  ListVersionsOptions,
  VersionPage,
} from "./types.ts";
import { deleteBody } from "./bodies.ts";
import { md5Base64 } from "./md5.ts";
import { parseDeleteResult, parseListObjects, parseListVersions, parseReply } from "./responses.ts";
import type { S3Transport } from "./transport.ts";
import { validateKey } from "./url.ts";

/** Most keys S3 accepts in one DeleteObjects request. */
export const DELETE_BATCH_SIZE = 1000;

/** ListObjectsV2, one page. Keys are requested URL-encoded (any byte survives XML) and decoded. */
export async function listObjects(t: S3Transport, options: ListOptions = {}): Promise<ListPage> {
  const reply = await t.send({
    operation: "ListObjectsV2",
    kind: "LIST",
    method: "GET",
    query: [
      ["list-type", "2"],
      ["encoding-type", "url"],
      ["prefix", options.prefix || undefined],
      ["delimiter", options.delimiter || undefined],
      ["start-after", options.startAfter || undefined],
      ["max-keys", maxKeys(options.maxKeys)],
      ["continuation-token", options.continuationToken || undefined],
    ],
    signal: options.signal,
  });
  return parseReply("ListObjectsV2", t.bucket, reply.body, parseListObjects);
}

/** ListObjectVersions, one page: versions and delete markers in the server's order. */
export async function listObjectVersions(
  t: S3Transport,
  options: ListVersionsOptions = {},
): Promise<VersionPage> {
  const reply = await t.send({
    operation: "ListObjectVersions",
    kind: "LIST_VERSIONS",
    method: "GET",
    query: [
      ["versions", ""],
      ["encoding-type", "url"],
      ["prefix", options.prefix || undefined],
      ["key-marker", options.keyMarker || undefined],
      // S3 rejects a version-id-marker without a key-marker.
      ["version-id-marker", options.keyMarker ? options.versionIdMarker || undefined : undefined],
      ["max-keys", maxKeys(options.maxKeys)],
    ],
    signal: options.signal,
  });
  return parseReply("ListObjectVersions", t.bucket, reply.body, parseListVersions);
}

/**
 * DeleteObjects, one request per {@link DELETE_BATCH_SIZE} entries, in order (Quiet off:
 * every key gets a result). Per-key failures are returned in `errors`; a failed request
 * throws, and the batches before it stay deleted.
 */
export async function deleteObjects(
  t: S3Transport,
  entries: DeleteEntry[],
  signal?: AbortSignal,
): Promise<DeleteManyResult> {
  for (const e of entries) validateKey(e.key);
  const result: DeleteManyResult = { deleted: [], errors: [] };
  for (let i = 0; i < entries.length; i += DELETE_BATCH_SIZE) {
    const body = deleteBody(entries.slice(i, i + DELETE_BATCH_SIZE));
    const reply = await t.send({
      operation: "DeleteObjects",
      kind: "DELETE_MANY",
      method: "POST",
      query: [["delete", ""]],
      headers: { "content-md5": md5Base64(body), "content-type": "application/xml" },
      body,
      signal,
    });
    const page = parseReply("DeleteObjects", t.bucket, reply.body, parseDeleteResult);
    result.deleted.push(...page.deleted);
    result.errors.push(...page.errors);
  }
  return result;
}

function maxKeys(n: number | undefined): string | undefined {
  if (n === undefined) return undefined;
  if (!Number.isInteger(n) || n < 0 || n > 1000) {
    throw new RangeError(`Option "maxKeys" must be an integer from 0 to 1000: ${n}`);
  }
  return String(n);
}
