/**
 * Listing operations of the dev server: ListObjectsV2 (`list-type=2`), ListObjects (v1)
 * and ListObjectVersions (`?versions`), with S3's parameters, pagination markers and
 * `encoding-type=url`. The pages themselves come from the {@link StorageEngine}.
 *
 * @module
 */

import type { Account } from "./access.ts";
import { compareKeys } from "../store/sorted_keys.ts";
import type { ObjectInfo } from "../store/types.ts";
import { ownedBucket, quoteEtag, type RequestContext } from "./context.ts";
import { invalidArgument, notImplemented } from "./errors.ts";
import { document, el, isoTime, ownerXml, urlEncodeValue, xmlResponse } from "./xml.ts";

interface CommonParams {
  prefix: string;
  delimiter?: string;
  maxKeys: number;
  encode: (s: string) => string;
  encodingType?: string;
}

function commonParams(q: URLSearchParams): CommonParams {
  const encoding = q.get("encoding-type");
  if (encoding !== null && encoding.toLowerCase() !== "url") {
    throw invalidArgument(
      "Invalid Encoding Method specified in Request",
      "encoding-type",
      encoding,
    );
  }
  const raw = q.get("max-keys");
  let maxKeys = 1000;
  if (raw !== null) {
    const n = Number(raw);
    if (!/^\d+$/.test(raw.trim()) || !Number.isSafeInteger(n)) {
      throw invalidArgument(
        "Provided max-keys not an integer or within integer range",
        "max-keys",
        raw,
      );
    }
    maxKeys = Math.min(n, 1000);
  }
  return {
    prefix: q.get("prefix") ?? "",
    delimiter: q.get("delimiter") || undefined,
    maxKeys,
    encode: encoding !== null ? urlEncodeValue : (s) => s,
    encodingType: encoding !== null ? "url" : undefined,
  };
}

function contents(o: ObjectInfo, encode: (s: string) => string, owner?: Account): string {
  return `<Contents>${el("Key", encode(o.key))}${
    el("LastModified", isoTime(o.lastModified.getTime()))
  }${el("ETag", quoteEtag(o.etag))}${el("Size", o.size)}${owner ? ownerXml(owner) : ""}${
    el("StorageClass", "STANDARD")
  }</Contents>`;
}

function prefixes(list: string[], encode: (s: string) => string): string {
  return list.map((p) => `<CommonPrefixes>${el("Prefix", encode(p))}</CommonPrefixes>`).join("");
}

/** ListObjectsV2 (GET /bucket?list-type=2). */
export function listObjectsV2(ctx: RequestContext): Response {
  ownedBucket(ctx);
  const q = ctx.query;
  const p = commonParams(q);
  // An empty token is no token (AWS echoes it and lists from the start).
  const token = q.get("continuation-token") ?? undefined;
  const startAfter = q.get("start-after") || undefined;
  const page = ctx.engine.list(ctx.bucket, {
    prefix: p.prefix,
    delimiter: p.delimiter,
    startAfter,
    maxKeys: p.maxKeys,
    continuationToken: token || undefined,
  });
  const owner = q.get("fetch-owner") === "true" ? ctx.account : undefined;
  const head = el("Name", ctx.bucket) + el("Prefix", p.encode(p.prefix)) +
    el("Delimiter", p.delimiter !== undefined ? p.encode(p.delimiter) : undefined) +
    el("MaxKeys", p.maxKeys) +
    el("EncodingType", p.encodingType) +
    el("KeyCount", page.objects.length + page.commonPrefixes.length) +
    el("IsTruncated", page.isTruncated) + el("ContinuationToken", token) +
    el("NextContinuationToken", page.nextContinuationToken) +
    el("StartAfter", startAfter !== undefined ? p.encode(startAfter) : undefined);
  const body = page.objects.map((o) => contents(o, p.encode, owner)).join("") +
    prefixes(page.commonPrefixes, p.encode);
  return xmlResponse(document("ListBucketResult", head + body));
}

/** ListObjects, version 1 (GET /bucket with `marker`). */
export function listObjectsV1(ctx: RequestContext): Response {
  ownedBucket(ctx);
  const q = ctx.query;
  const p = commonParams(q);
  const marker = q.get("marker") ?? "";
  let startAfter = marker || undefined;
  // A marker that is a common prefix (the NextMarker of a previous page) skips its whole group.
  if (p.delimiter && marker.startsWith(p.prefix)) {
    const i = marker.indexOf(p.delimiter, p.prefix.length);
    if (i >= 0 && i + p.delimiter.length === marker.length) startAfter = `${marker}\u{10FFFF}`;
  }
  const page = ctx.engine.list(ctx.bucket, {
    prefix: p.prefix,
    delimiter: p.delimiter,
    startAfter,
    maxKeys: p.maxKeys,
  });
  let nextMarker: string | undefined;
  if (page.isTruncated && p.delimiter !== undefined) {
    const lastKey = page.objects[page.objects.length - 1]?.key;
    const lastPrefix = page.commonPrefixes[page.commonPrefixes.length - 1];
    nextMarker = lastKey === undefined
      ? lastPrefix
      : lastPrefix === undefined || compareKeys(lastKey, lastPrefix) > 0
      ? lastKey
      : lastPrefix;
  }
  // Version 1 leaves the top-level Prefix unencoded (boto3 does not decode it there).
  const head = el("Name", ctx.bucket) + el("Prefix", p.prefix) +
    el("Marker", p.encode(marker)) +
    el("NextMarker", nextMarker !== undefined ? p.encode(nextMarker) : undefined) +
    el("MaxKeys", p.maxKeys) +
    el("Delimiter", p.delimiter !== undefined ? p.encode(p.delimiter) : undefined) +
    el("EncodingType", p.encodingType) + el("IsTruncated", page.isTruncated);
  const body = page.objects.map((o) => contents(o, p.encode, ctx.account)).join("") +
    prefixes(page.commonPrefixes, p.encode);
  return xmlResponse(document("ListBucketResult", head + body));
}

/** ListObjectVersions (GET /bucket?versions): versions and delete markers in S3 order. */
export function listObjectVersions(ctx: RequestContext): Response {
  ownedBucket(ctx);
  const q = ctx.query;
  const p = commonParams(q);
  if (p.delimiter !== undefined) throw notImplemented("ListObjectVersions with a delimiter");
  const keyMarker = q.get("key-marker") || undefined;
  const versionIdMarker = q.get("version-id-marker") || undefined;
  if (versionIdMarker !== undefined && keyMarker === undefined) {
    throw invalidArgument(
      "A version-id marker cannot be specified without a key marker.",
      "version-id-marker",
      versionIdMarker,
    );
  }
  const page = ctx.engine.listVersions(ctx.bucket, {
    prefix: p.prefix,
    keyMarker,
    versionIdMarker,
    maxKeys: p.maxKeys,
  });
  const head = el("Name", ctx.bucket) + el("Prefix", p.encode(p.prefix)) +
    el("KeyMarker", p.encode(keyMarker ?? "")) +
    el("VersionIdMarker", versionIdMarker ?? "") +
    el(
      "NextKeyMarker",
      page.nextKeyMarker !== undefined ? p.encode(page.nextKeyMarker) : undefined,
    ) +
    el("NextVersionIdMarker", page.nextVersionIdMarker) + el("MaxKeys", p.maxKeys) +
    el("EncodingType", p.encodingType) + el("IsTruncated", page.isTruncated);
  const body = page.versions.map((v) => {
    const common = el("Key", p.encode(v.key)) + el("VersionId", v.versionId) +
      el("IsLatest", v.isLatest) +
      el("LastModified", isoTime(v.lastModified.getTime()));
    if (v.isDeleteMarker) return `<DeleteMarker>${common}${ownerXml(ctx.account)}</DeleteMarker>`;
    return `<Version>${common}${el("ETag", quoteEtag(v.etag))}${el("Size", v.size)}${
      el("StorageClass", "STANDARD")
    }${ownerXml(ctx.account)}</Version>`;
  }).join("");
  return xmlResponse(document("ListVersionsResult", head + body));
}
