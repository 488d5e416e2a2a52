/**
 * Single-object operations of the dev server: PutObject (conditional, streamed to the
 * body store, with metadata), GetObject and HeadObject (by version, conditional, ranged,
 * streamed from the body store) and DeleteObject. Conditions on ETags, versions and
 * delete markers are decided by the {@link StorageEngine}; this module adds the HTTP parts
 * (headers, time conditions, ranges, delete-marker headers on errors).
 *
 * @module
 */

import { EngineError, type Version } from "../store/engine.ts";
import {
  empty,
  header,
  httpDate,
  ownedBucket,
  quoteEtag,
  type RequestContext,
  versionIdParam,
} from "./context.ts";
import {
  checkDeleteConditions,
  parseSizeCondition,
  parseTimeCondition,
} from "./delete_conditions.ts";
import { invalidArgument, S3Error } from "./errors.ts";
import { answerHeaders, applyResponseOverrides, storedHeaders } from "./metadata.ts";
import { entityTooLarge } from "./payload.ts";
import { document, el, xmlResponse } from "./xml.ts";

/** Content-Type S3 stores when a PUT sends none. */
export const DEFAULT_CONTENT_TYPE = "binary/octet-stream";

/** The version id header of a write: none for the `"null"` version (unversioned, suspended). */
export function versionHeader(versionId: string | undefined): Record<string, string> {
  return versionId !== undefined && versionId !== "null" ? { "x-amz-version-id": versionId } : {};
}

/**
 * PutObject: the body streams into the body store and is checked whole before the engine
 * evaluates the conditions (`If-None-Match`, `If-Match`, both `*` or an ETag) and writes.
 */
export async function putObject(ctx: RequestContext): Promise<Response> {
  ownedBucket(ctx);
  const headers = storedHeaders(ctx.req.headers);
  const declared = ctx.body.declaredSize();
  if (declared !== undefined && declared > ctx.maxObjectSize) {
    throw entityTooLarge(declared, ctx.maxObjectSize);
  }
  const upload = await ctx.bodies.receive(ctx.bucket, declared);
  let r;
  try {
    const payload = await ctx.body.pipeTo(upload, ctx.maxObjectSize);
    const body = await upload.finish();
    r = ctx.engine.put(ctx.bucket, ctx.key, body, {
      ifNoneMatch: header(ctx, "if-none-match"),
      ifMatch: header(ctx, "if-match"),
      contentType: header(ctx, "content-type") ?? DEFAULT_CONTENT_TYPE,
      etag: payload.md5,
      headers,
      transfer: true,
    });
    return empty(200, {
      etag: quoteEtag(r.etag),
      ...payload.checksumHeaders,
      ...versionHeader(r.versionId),
    });
  } catch (e) {
    await upload.discard();
    throw e;
  }
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
    return new S3Error(e.code, e.status, e.message, {
      headers: current?.deleteMarker
        ? { "x-amz-delete-marker": "true", "x-amz-version-id": current.versionId }
        : { "x-amz-delete-marker": "false" },
    });
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

/** GetObject (`head` false) or HeadObject (`head` true); the body streams from the body store. */
export async function getObject(ctx: RequestContext, head: boolean): Promise<Response> {
  ownedBucket(ctx);
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
  const size = v.size;
  const headers: Record<string, string> = {
    ...meta,
    ...answerHeaders(v.headers),
    "content-type": v.contentType,
    "accept-ranges": "bytes",
  };
  applyResponseOverrides(ctx.query, headers);
  const range = parseRange(header(ctx, "range"), size);
  if (range === "unsatisfiable") {
    throw new S3Error("InvalidRange", 416, "The requested range is not satisfiable", {
      fields: { RangeRequested: header(ctx, "range") ?? "", ActualObjectSize: String(size) },
      headers: { "content-range": `bytes */${size}` },
    });
  }
  const start = range ? range.start : 0;
  const end = range ? range.end : size - 1;
  if (range) headers["content-range"] = `bytes ${start}-${end}/${size}`;
  headers["content-length"] = String(end + 1 - start);
  const status = range ? 206 : 200;
  if (head) return new Response(null, { status, headers });
  const body = await ctx.bodies.read(ctx.bucket, v, start, end);
  if (body === null) {
    // Removed between the engine read and opening its file: it is gone now.
    throw new EngineError("NoSuchKey", 404, "The specified key does not exist.");
  }
  return new Response(body as BodyInit, { status, headers });
}

/**
 * GetObjectAttributes (GET `?attributes`): the `ETag`, `StorageClass` and `ObjectSize`
 * asked for in `x-amz-object-attributes` (no stored checksums, no parts: single uploads).
 */
export function getObjectAttributes(ctx: RequestContext): Response {
  ownedBucket(ctx);
  const asked = (header(ctx, "x-amz-object-attributes") ?? "").split(",").map((a) => a.trim());
  if (asked.every((a) => a === "")) {
    throw invalidArgument(
      "Missing required header for this request: x-amz-object-attributes",
      "x-amz-object-attributes",
      "",
    );
  }
  const versionId = versionIdParam(ctx);
  let r;
  try {
    r = ctx.engine.get(ctx.bucket, ctx.key, { versionId });
  } catch (e) {
    throw withMarkerHeaders(ctx, e, versionId);
  }
  if (r.notModified) throw new Error("unreachable: a read without conditions answered 304");
  const v = r.version;
  const body = (asked.includes("ETag") ? el("ETag", v.etag) : "") +
    (asked.includes("StorageClass") ? el("StorageClass", "STANDARD") : "") +
    (asked.includes("ObjectSize") ? el("ObjectSize", v.size) : "");
  const headers: Record<string, string> = { "last-modified": httpDate(v.lastModified) };
  if (r.versioned) headers["x-amz-version-id"] = v.versionId;
  return xmlResponse(document("GetObjectAttributesResponse", body), 200, headers);
}

/** DeleteObject: a delete marker (versioned), removal of one version (`versionId`), or removal. */
export function deleteObject(ctx: RequestContext): Response {
  ownedBucket(ctx);
  const versionId = versionIdParam(ctx);
  // A conditional delete checks and deletes in one synchronous step, so it is atomic.
  checkDeleteConditions(ctx.engine, ctx.bucket, ctx.key, versionId, {
    ifMatch: header(ctx, "if-match"),
    lastModified: parseTimeCondition(
      header(ctx, "x-amz-if-match-last-modified-time"),
      "x-amz-if-match-last-modified-time",
    ),
    size: parseSizeCondition(header(ctx, "x-amz-if-match-size"), "x-amz-if-match-size"),
  });
  const r = ctx.engine.delete(ctx.bucket, ctx.key, versionId);
  const headers: Record<string, string> = {};
  if (r.deleteMarker) headers["x-amz-delete-marker"] = "true";
  if (r.versionId !== undefined) headers["x-amz-version-id"] = r.versionId;
  return empty(204, headers);
}
