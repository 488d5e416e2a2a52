/**
 * CopyObject (PUT with `x-amz-copy-source`) for the dev server: read the source version
 * and write it to the destination through the engine, with the source conditions
 * (`x-amz-copy-source-if-match`, `-if-none-match`) and the destination conditions
 * (`If-Match`, `If-None-Match`) of a PutObject.
 *
 * @module
 */

import { EngineError } from "../store/engine.ts";
import { header, quoteEtag, type RequestContext } from "./context.ts";
import { invalidArgument, invalidRequest, S3Error } from "./errors.ts";
import { DEFAULT_CONTENT_TYPE } from "./objects.ts";
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

/** CopyObject within the dev server (any bucket it holds). */
export function copyObject(ctx: RequestContext, source: string): Response {
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
  let read;
  try {
    read = ctx.engine.get(src.bucket, src.key, {
      versionId: src.versionId,
      ifMatch: header(ctx, "x-amz-copy-source-if-match"),
      ifNoneMatch: header(ctx, "x-amz-copy-source-if-none-match"),
    });
  } catch (e) {
    if (e instanceof EngineError && e.code === "MethodNotAllowed") {
      throw invalidRequest(
        "The source of a copy request may not specifically refer to a delete marker by version id.",
      );
    }
    throw e;
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
  const contentType = directive === "REPLACE"
    ? header(ctx, "content-type") ?? DEFAULT_CONTENT_TYPE
    : v.contentType;
  const put = ctx.engine.put(ctx.bucket, ctx.key, v.body, {
    contentType,
    ifMatch: header(ctx, "if-match"),
    ifNoneMatch: header(ctx, "if-none-match"),
  });
  const headers: Record<string, string> = {};
  if (put.versionId !== undefined) headers["x-amz-version-id"] = put.versionId;
  if (read.versioned) headers["x-amz-copy-source-version-id"] = v.versionId;
  const body = document(
    "CopyObjectResult",
    `${el("LastModified", isoTime(ctx.engine.now()))}${el("ETag", quoteEtag(put.etag))}`,
  );
  return xmlResponse(body, 200, headers);
}
