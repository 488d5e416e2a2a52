/**
 * Parsers of S3's XML responses (ListObjectsV2, ListObjectVersions, DeleteObjects,
 * GetBucketVersioning) into the store types. Throw {@link XmlShapeError} on a body that
 * is not the expected document.
 *
 * @module
 */

import { StoreError } from "../base/errors.ts";
import type {
  DeleteManyResult,
  ListPage,
  ObjectInfo,
  VersionInfo,
  VersioningState,
  VersionPage,
} from "./types.ts";
import { unquoteEtag } from "./etag.ts";
import { children, childText, parseXml, type XmlNode, XmlShapeError } from "./xml.ts";

/**
 * Decoder for values S3 sent with `encoding-type=url`: `+` is a space, `%XX` a UTF-8
 * byte (the form botocore decodes; AWS writes spaces as `+` and `+` as `%2B`). Only used
 * when the response echoes `<EncodingType>url</EncodingType>`: a server that ignores the
 * parameter (moto does for ListObjectVersions) sends raw keys, which must not be decoded.
 */
export function decodeUrlEncoded(s: string): string {
  try {
    return decodeURIComponent(s.replace(/\+/g, " "));
  } catch {
    throw new XmlShapeError(`Malformed URL-encoded value in listing: "${s}"`);
  }
}

function rootNamed(xml: string, name: string): XmlNode {
  const root = parseXml(xml);
  if (root.name !== name) {
    throw new XmlShapeError(`Expected a <${name}> document, got <${root.name}>`);
  }
  return root;
}

function required(node: XmlNode, name: string): string {
  const value = childText(node, name);
  if (value === undefined) throw new XmlShapeError(`<${node.name}> has no <${name}>`);
  return value;
}

function size(node: XmlNode): number {
  const text = childText(node, "Size");
  if (text === undefined) return 0;
  const n = Number(text.trim());
  if (!Number.isSafeInteger(n) || n < 0) throw new XmlShapeError(`Bad <Size> "${text}"`);
  return n;
}

function date(node: XmlNode): Date {
  const text = required(node, "LastModified");
  const d = new Date(text.trim());
  if (Number.isNaN(d.getTime())) throw new XmlShapeError(`Bad <LastModified> "${text}"`);
  return d;
}

function bool(node: XmlNode, name: string): boolean {
  return childText(node, name)?.trim().toLowerCase() === "true";
}

function keyDecoder(root: XmlNode): (s: string) => string {
  const urlEncoded = childText(root, "EncodingType")?.trim().toLowerCase() === "url";
  return urlEncoded ? decodeUrlEncoded : (s) => s;
}

/** Parse a ListObjectsV2 (`ListBucketResult`) page. */
export function parseListObjects(xml: string): ListPage {
  const root = rootNamed(xml, "ListBucketResult");
  const decode = keyDecoder(root);
  const objects: ObjectInfo[] = children(root, "Contents").map((c) => ({
    key: decode(required(c, "Key")),
    etag: unquoteEtag(childText(c, "ETag") ?? ""),
    size: size(c),
    lastModified: date(c),
  }));
  const commonPrefixes = children(root, "CommonPrefixes").map((p) => decode(required(p, "Prefix")));
  const page: ListPage = { objects, commonPrefixes, isTruncated: bool(root, "IsTruncated") };
  const token = childText(root, "NextContinuationToken");
  if (token) page.nextContinuationToken = token;
  return page;
}

/** Parse a ListObjectVersions (`ListVersionsResult`) page, keeping the server's order. */
export function parseListVersions(xml: string): VersionPage {
  const root = rootNamed(xml, "ListVersionsResult");
  const decode = keyDecoder(root);
  const versions: VersionInfo[] = [];
  for (const node of root.children) {
    if (node.name !== "Version" && node.name !== "DeleteMarker") continue;
    const isDeleteMarker = node.name === "DeleteMarker";
    versions.push({
      key: decode(required(node, "Key")),
      versionId: required(node, "VersionId"),
      isLatest: bool(node, "IsLatest"),
      isDeleteMarker,
      etag: isDeleteMarker ? "" : unquoteEtag(childText(node, "ETag") ?? ""),
      size: isDeleteMarker ? 0 : size(node),
      lastModified: date(node),
    });
  }
  const page: VersionPage = {
    versions: latestFirst(versions),
    isTruncated: bool(root, "IsTruncated"),
  };
  const nextKey = childText(root, "NextKeyMarker");
  if (nextKey) page.nextKeyMarker = decode(nextKey);
  const nextVersion = childText(root, "NextVersionIdMarker");
  if (nextVersion) page.nextVersionIdMarker = nextVersion;
  return page;
}

/**
 * Within each key's run of entries, move the `IsLatest` one to the front, keeping the rest
 * in the server's order. A no-op on S3, MinIO and Ceph, which list the latest first
 * anyway; moto 5.2 lists all `<Version>`s before all `<DeleteMarker>`s, so a current
 * delete marker would otherwise come after the versions it hides.
 */
function latestFirst(entries: VersionInfo[]): VersionInfo[] {
  const out: VersionInfo[] = [];
  let start = 0;
  for (let i = 1; i <= entries.length; i++) {
    if (i < entries.length && entries[i]!.key === entries[start]!.key) continue;
    const run = entries.slice(start, i);
    const latest = run.findIndex((v) => v.isLatest);
    if (latest > 0) run.unshift(...run.splice(latest, 1));
    out.push(...run);
    start = i;
  }
  return out;
}

/** Parse a DeleteObjects (`DeleteResult`) answer (keys are not URL-encoded there). */
export function parseDeleteResult(xml: string): DeleteManyResult {
  const root = rootNamed(xml, "DeleteResult");
  const result: DeleteManyResult = { deleted: [], errors: [] };
  for (const node of root.children) {
    if (node.name !== "Deleted" && node.name !== "Error") continue;
    const entry: { key: string; versionId?: string } = { key: required(node, "Key") };
    const versionId = childText(node, "VersionId");
    if (versionId) entry.versionId = versionId;
    if (node.name === "Deleted") {
      result.deleted.push(entry);
    } else {
      result.errors.push({
        ...entry,
        code: childText(node, "Code")?.trim() || "Unknown",
        message: childText(node, "Message") ?? "",
      });
    }
  }
  return result;
}

/**
 * Parse GetBucketVersioning: no `<Status>` means the bucket was never versioned. moto
 * answers a never-versioned bucket with an empty `<GetBucketVersioningResponse/>`.
 */
export function parseVersioning(xml: string): VersioningState {
  const root = parseXml(xml);
  if (root.name !== "VersioningConfiguration" && root.name !== "GetBucketVersioningResponse") {
    throw new XmlShapeError(`Expected a <VersioningConfiguration> document, got <${root.name}>`);
  }
  const status = childText(root, "Status")?.trim();
  if (status === "Enabled" || status === "Suspended") return status;
  if (status === undefined || status === "") return "Unversioned";
  throw new XmlShapeError(`Unknown versioning status "${status}"`);
}

const decoder = new TextDecoder();

/**
 * Decode and parse a response body; a body of the wrong shape becomes a StoreError with
 * code `InvalidResponse` naming the operation.
 */
export function parseReply<T>(
  operation: string,
  bucket: string,
  body: Uint8Array,
  parse: (xml: string) => T,
): T {
  try {
    return parse(decoder.decode(body));
  } catch (e) {
    if (!(e instanceof XmlShapeError)) throw e;
    const context = { operation, bucket, s3Code: "InvalidResponse" };
    const message = `${operation} failed on bucket "${bucket}": InvalidResponse: ${e.message}`;
    throw new StoreError("InvalidResponse", context, message, { cause: e });
  }
}
