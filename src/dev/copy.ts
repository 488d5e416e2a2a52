/**
 * CopyObject (PUT with `x-amz-copy-source`) for the dev server: read the source version
 * and write it to the destination through the engine, with the source conditions
 * (`x-amz-copy-source-if-match`, `-if-none-match`) and the destination conditions
 * (`If-Match`, `If-None-Match`) of a PutObject. Metadata is copied, or replaced with the
 * request's (`x-amz-metadata-directive: REPLACE`). Errors about the source name the
 * source bucket and key.
 *
 * @module
 */

import { EngineError } from "../store/engine.ts";
import { header, ownedBucket, quoteEtag, type RequestContext } from "./context.ts";
import { invalidArgument, invalidRequest, S3Error } from "./errors.ts";
import { storedHeaders } from "./metadata.ts";
import { DEFAULT_CONTENT_TYPE, versionHeader } from "./objects.ts";
import { document, el, isoTime, xmlResponse } from "./xml.ts";

function parseCopySource(source: string): { bucket: string; key: string; versionId?: string } {
  const [path = "", query] = source.split("?", 2);
  let decoded: string;
  try {
    decoded = decodeURIComponent(path).replace(/^\//, "");
  } catch {
    decoded = "";
  }
  const i = decoded.indexOf("/");
  if (i <= 0 || i === decoded.length - 1) {
    throw invalidArgument(
      "Copy Source must mention the source bucket and key: sourcebucket/sourcekey",
      "x-amz-copy-source",
      source,
    );
  }
  const versionId = query !== undefined
    ? new URLSearchParams(query).get("versionId") ?? undefined
    : undefined;
  return { bucket: decoded.slice(0, i), key: decoded.slice(i + 1), versionId };
}

// An error about the source names the source, not the destination of the request.
function aboutSource(e: unknown, src: { bucket: string; key: string }): unknown {
  if (!(e instanceof EngineError)) return e;
  if (e.code === "MethodNotAllowed") {
    return invalidRequest(
      "The source of a copy request may not specifically refer to a delete marker by version id.",
    );
  }
  if (e.code === "NoSuchKey" || e.code === "NoSuchVersion") {
    return new S3Error(e.code, e.status, e.message, { fields: { Key: src.key } });
  }
  if (e.code === "NoSuchBucket") {
    return new S3Error(e.code, e.status, e.message, { fields: { BucketName: src.bucket } });
  }
  return e;
}

/** CopyObject between buckets of the requesting account. */
export async function copyObject(ctx: RequestContext, source: string): Promise<Response> {
  ownedBucket(ctx);
  const src = parseCopySource(source);
  const directive = (header(ctx, "x-amz-metadata-directive") ?? "COPY").toUpperCase();
  if (directive !== "COPY" && directive !== "REPLACE") {
    throw invalidArgument("Unknown metadata directive.", "MetadataDirective", directive);
  }
  if (
    src.bucket === ctx.bucket && src.key === ctx.key && src.versionId === undefined &&
    directive === "COPY"
  ) {
    throw invalidRequest(
      "This copy request is illegal because it is trying to copy an object to itself without changing the object's metadata, storage class, website redirect location or encryption attributes.",
    );
  }
  const replace = directive === "REPLACE";
  const headers = replace ? storedHeaders(ctx.req.headers) : undefined;
  let read;
  try {
    ownedBucket(ctx, src.bucket);
    read = ctx.engine.get(src.bucket, src.key, {
      versionId: src.versionId,
      ifMatch: header(ctx, "x-amz-copy-source-if-match"),
      ifNoneMatch: header(ctx, "x-amz-copy-source-if-none-match"),
    });
  } catch (e) {
    throw aboutSource(e, src);
  }
  if (read.notModified) {
    throw new S3Error(
      "PreconditionFailed",
      412,
      "At least one of the pre-conditions you specified did not hold",
      {
        fields: { Condition: "x-amz-copy-source-If-None-Match" },
      },
    );
  }
  const v = read.version;
  const copy = await ctx.bodies.copy(src.bucket, v, ctx.bucket);
  if (copy === null) {
    throw aboutSource(new EngineError("NoSuchKey", 404, "The specified key does not exist."), src);
  }
  let put;
  try {
    put = ctx.engine.put(ctx.bucket, ctx.key, copy.body, {
      contentType: replace ? header(ctx, "content-type") ?? DEFAULT_CONTENT_TYPE : v.contentType,
      ifMatch: header(ctx, "if-match"),
      ifNoneMatch: header(ctx, "if-none-match"),
      etag: v.etag,
      headers: headers ?? v.headers,
    });
  } catch (e) {
    await copy.discard();
    throw e;
  }
  const answer: Record<string, string> = versionHeader(put.versionId);
  if (read.versioned) answer["x-amz-copy-source-version-id"] = v.versionId;
  const body = document(
    "CopyObjectResult",
    `${el("LastModified", isoTime(ctx.engine.now()))}${el("ETag", quoteEtag(put.etag))}`,
  );
  return xmlResponse(body, 200, answer);
}
