/**
 * Single-object operations of the dev server: PutObject (conditional), GetObject and
 * HeadObject (by version, conditional, ranged) and DeleteObject. Conditions on ETags,
 * versions and delete markers are decided by the {@link StorageEngine}; this module adds
 * the HTTP parts (headers, time conditions, ranges, delete-marker headers on errors).
 *
 * @module
 */

import { EngineError, type Version } from "../store/engine.ts";
import {
  empty,
  header,
  httpDate,
  quoteEtag,
  type RequestContext,
  versionIdParam,
} from "./context.ts";
import { S3Error } from "./errors.ts";

/** Content-Type S3 stores when a PUT sends none. */
export const DEFAULT_CONTENT_TYPE = "binary/octet-stream";

const RESPONSE_OVERRIDES: Array<[string, string]> = [
  ["response-content-type", "content-type"],
  ["response-content-language", "content-language"],
  ["response-expires", "expires"],
  ["response-cache-control", "cache-control"],
  ["response-content-disposition", "content-disposition"],
  ["response-content-encoding", "content-encoding"],
];

/** PutObject: `If-None-Match: *` (create only) and `If-Match` (compare-and-swap). */
export function putObject(ctx: RequestContext): Response {
  const r = ctx.engine.put(ctx.bucket, ctx.key, ctx.body, {
    ifNoneMatch: header(ctx, "if-none-match"),
    ifMatch: header(ctx, "if-match"),
    contentType: header(ctx, "content-type") ?? DEFAULT_CONTENT_TYPE,
  });
  const headers: Record<string, string> = { etag: quoteEtag(r.etag), ...ctx.checksumHeaders };
  if (r.versionId !== undefined) headers["x-amz-version-id"] = r.versionId;
  return empty(200, headers);
}

/** The latest version of a key, when there is one (a delete marker included). */
function latestVersion(ctx: RequestContext): Version | undefined {
  const versions = ctx.engine.bucket(ctx.bucket).objects.get(ctx.key);
  return versions?.[versions.length - 1];
}

/**
 * Add S3's delete-marker headers to a read error: a 404 on a key whose current version
 * is a delete marker, or the 405 on a delete marker read by version id.
 */
function withMarkerHeaders(
  ctx: RequestContext,
  e: unknown,
  versionId: string | undefined,
): unknown {
  if (!(e instanceof EngineError)) return e;
  if (e.code === "NoSuchKey" && versionId === undefined) {
    const current = latestVersion(ctx);
    if (current?.deleteMarker) {
      return new S3Error(e.code, e.status, e.message, {
        headers: { "x-amz-delete-marker": "true", "x-amz-version-id": current.versionId },
      });
    }
  }
  if (e.code === "MethodNotAllowed" && versionId !== undefined) {
    const marker = ctx.engine.bucket(ctx.bucket).objects.get(ctx.key)?.find((v) =>
      v.versionId === versionId
    );
    return new S3Error(e.code, e.status, e.message, {
      fields: { Method: ctx.req.method, ResourceType: "DeleteMarker" },
      headers: {
        "x-amz-delete-marker": "true",
        "x-amz-version-id": versionId,
        allow: "DELETE",
        ...(marker ? { "last-modified": httpDate(marker.lastModified) } : {}),
      },
    });
  }
  return e;
}

function preconditionFailed(condition: string): S3Error {
  return new S3Error(
    "PreconditionFailed",
    412,
    "At least one of the pre-conditions you specified did not hold",
    {
      fields: { Condition: condition },
    },
  );
}

function parseHttpDate(value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const t = Date.parse(value);
  return Number.isNaN(t) ? undefined : t;
}

type RangeResult = { start: number; end: number } | "unsatisfiable" | null;

/** Parse a single `bytes=` range; null when absent or ignorable (S3 ignores malformed and multiple ranges). */
function parseRange(value: string | undefined, size: number): RangeResult {
  if (value === undefined) return null;
  const m = /^\s*bytes=(\d*)-(\d*)\s*$/.exec(value);
  if (!m || (m[1] === "" && m[2] === "")) return null;
  if (m[1] === "") {
    const n = Number(m[2]);
    if (n === 0 || size === 0) return "unsatisfiable";
    return { start: Math.max(0, size - n), end: size - 1 };
  }
  const start = Number(m[1]);
  const last = m[2] === "" ? size - 1 : Number(m[2]);
  if (last < start) return null;
  if (start >= size) return "unsatisfiable";
  return { start, end: Math.min(last, size - 1) };
}

/** GetObject (`head` false) or HeadObject (`head` true). */
export function getObject(ctx: RequestContext, head: boolean): Response {
  const versionId = versionIdParam(ctx);
  const ifMatch = header(ctx, "if-match");
  const ifNoneMatch = header(ctx, "if-none-match");
  let r;
  try {
    r = ctx.engine.get(ctx.bucket, ctx.key, { versionId, ifMatch, ifNoneMatch });
  } catch (e) {
    throw withMarkerHeaders(ctx, e, versionId);
  }
  const found = r.notModified ? ctx.engine.get(ctx.bucket, ctx.key, { versionId }) : r;
  if (found.notModified) throw new Error("unreachable: a read without conditions answered 304");
  const v = found.version;
  const meta: Record<string, string> = {
    etag: quoteEtag(v.etag),
    "last-modified": httpDate(v.lastModified),
  };
  if (found.versioned) meta["x-amz-version-id"] = v.versionId;
  if (r.notModified) return empty(304, meta);
  // Time conditions are evaluated only when the matching ETag condition is absent (RFC 9110, as S3).
  const seconds = Math.floor(v.lastModified / 1000) * 1000;
  const unmodifiedSince = parseHttpDate(header(ctx, "if-unmodified-since"));
  if (ifMatch === undefined && unmodifiedSince !== undefined && seconds > unmodifiedSince) {
    throw preconditionFailed("If-Unmodified-Since");
  }
  const modifiedSince = parseHttpDate(header(ctx, "if-modified-since"));
  if (
    ifNoneMatch === undefined && modifiedSince !== undefined && modifiedSince <= ctx.now &&
    seconds <= modifiedSince
  ) {
    return empty(304, meta);
  }
  const size = v.body.length;
  const headers: Record<string, string> = {
    ...meta,
    "content-type": v.contentType,
    "accept-ranges": "bytes",
  };
  for (const [param, name] of RESPONSE_OVERRIDES) {
    const value = ctx.query.get(param);
    if (value !== null) headers[name] = value;
  }
  const range = parseRange(header(ctx, "range"), size);
  if (range === "unsatisfiable") {
    throw new S3Error("InvalidRange", 416, "The requested range is not satisfiable", {
      fields: { RangeRequested: header(ctx, "range") ?? "", ActualObjectSize: String(size) },
      headers: { "content-range": `bytes */${size}` },
    });
  }
  let body = v.body;
  let status = 200;
  if (range) {
    body = v.body.subarray(range.start, range.end + 1);
    status = 206;
    headers["content-range"] = `bytes ${range.start}-${range.end}/${size}`;
  }
  headers["content-length"] = String(body.length);
  return new Response(head ? null : body.slice() as BodyInit, { status, headers });
}

/** DeleteObject: a delete marker (versioned), removal of one version (`versionId`), or removal. */
export function deleteObject(ctx: RequestContext): Response {
  const versionId = versionIdParam(ctx);
  const ifMatch = header(ctx, "if-match");
  // A conditional delete checks and deletes in one synchronous step, so it is atomic.
  if (ifMatch !== undefined) ctx.engine.get(ctx.bucket, ctx.key, { versionId, ifMatch });
  const r = ctx.engine.delete(ctx.bucket, ctx.key, versionId);
  const headers: Record<string, string> = {};
  if (r.deleteMarker) headers["x-amz-delete-marker"] = "true";
  if (r.versionId !== undefined) headers["x-amz-version-id"] = r.versionId;
  return empty(204, headers);
}
