/**
 * Bucket-level operations of the dev server: ListBuckets, CreateBucket, HeadBucket,
 * DeleteBucket, Get/PutBucketVersioning, Get/Put/DeleteBucketLifecycle and
 * GetBucketLocation. Semantics come from the {@link StorageEngine}; this module speaks
 * the wire format.
 *
 * @module
 */

import { empty, type RequestContext } from "./context.ts";
import { invalidRequest, malformedXml, notImplemented, S3Error } from "./errors.ts";
import { parseLifecycle, renderLifecycle } from "./lifecycle.ts";
import { document, el, isoTime, ownerXml, parseBody, xmlResponse } from "./xml.ts";

/** The region the dev server reports. */
export const DEV_REGION = "us-east-1";

/**
 * Throw InvalidBucketName unless `name` follows S3's bucket naming rules (3 to 63
 * characters of `a-z 0-9 . -`, starting and ending with a letter or digit, no `..`, not
 * an IP address). The rules also make every valid name a safe directory name.
 */
export function validateBucketName(name: string): void {
  const ok = /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/.test(name) && !name.includes("..") &&
    !/^\d+\.\d+\.\d+\.\d+$/.test(name);
  if (!ok) {
    throw new S3Error("InvalidBucketName", 400, "The specified bucket is not valid.", {
      fields: { BucketName: name },
    });
  }
}

/** ListBuckets (GET /). */
export function listBuckets(ctx: RequestContext): Response {
  const buckets = ctx.engine.listBuckets()
    .map((b) => `<Bucket>${el("Name", b.name)}${el("CreationDate", isoTime(b.createdAt))}</Bucket>`)
    .join("");
  return xmlResponse(
    document("ListAllMyBucketsResult", `${ownerXml()}<Buckets>${buckets}</Buckets>`),
  );
}

/** CreateBucket (PUT /bucket): an existing bucket is success, as in us-east-1. */
export function createBucket(ctx: RequestContext): Response {
  validateBucketName(ctx.bucket);
  if (ctx.req.headers.get("x-amz-bucket-object-lock-enabled")?.toLowerCase() === "true") {
    throw notImplemented("object lock");
  }
  if (ctx.body.length > 0) parseBody(ctx.body, "CreateBucketConfiguration");
  ctx.engine.createBucket(ctx.bucket);
  return empty(200, { location: `/${ctx.bucket}` });
}

/** HeadBucket (HEAD /bucket). */
export function headBucket(ctx: RequestContext): Response {
  ctx.engine.bucket(ctx.bucket);
  return empty(200, { "x-amz-bucket-region": DEV_REGION });
}

/** DeleteBucket (DELETE /bucket): BucketNotEmpty while any version remains. */
export function deleteBucket(ctx: RequestContext): Response {
  ctx.engine.deleteBucket(ctx.bucket);
  return empty(204);
}

/** GetBucketLocation (GET /bucket?location): empty means us-east-1. */
export function getLocation(ctx: RequestContext): Response {
  ctx.engine.bucket(ctx.bucket);
  return xmlResponse(document("LocationConstraint", ""));
}

/** GetBucketVersioning (GET /bucket?versioning): no Status when never versioned. */
export function getVersioning(ctx: RequestContext): Response {
  const state = ctx.engine.bucket(ctx.bucket).versioning;
  const status = state === "Unversioned" ? "" : el("Status", state);
  return xmlResponse(document("VersioningConfiguration", status));
}

/** PutBucketVersioning (PUT /bucket?versioning). */
export function putVersioning(ctx: RequestContext): Response {
  const root = parseBody(ctx.body, "VersioningConfiguration");
  const status = root.children.find((c) => c.name === "Status")?.text.trim();
  if (status !== "Enabled" && status !== "Suspended") throw malformedXml();
  if (root.children.some((c) => c.name === "MfaDelete" && c.text.trim() === "Enabled")) {
    throw notImplemented("MFA delete");
  }
  ctx.engine.setVersioning(ctx.bucket, status === "Enabled");
  return empty(200);
}

/** InvalidRequest unless the request carries Content-MD5 or a checksum (DeleteObjects, lifecycle). */
export function requireIntegrityHeader(ctx: RequestContext): void {
  if (ctx.req.headers.has("content-md5") || Object.keys(ctx.checksumHeaders).length > 0) return;
  throw invalidRequest("Missing required header for this request: Content-MD5");
}

/** PutBucketLifecycleConfiguration (PUT /bucket?lifecycle); needs Content-MD5 or a checksum, as on AWS. */
export function putLifecycle(ctx: RequestContext): Response {
  ctx.engine.bucket(ctx.bucket);
  requireIntegrityHeader(ctx);
  ctx.engine.setLifecycle(ctx.bucket, parseLifecycle(ctx.body));
  return empty(200);
}

/** GetBucketLifecycleConfiguration (GET /bucket?lifecycle). */
export function getLifecycle(ctx: RequestContext): Response {
  const rules = ctx.engine.bucket(ctx.bucket).lifecycle;
  if (rules.length === 0) {
    throw new S3Error(
      "NoSuchLifecycleConfiguration",
      404,
      "The lifecycle configuration does not exist",
      {
        fields: { BucketName: ctx.bucket },
      },
    );
  }
  return xmlResponse(renderLifecycle(rules));
}

/** DeleteBucketLifecycle (DELETE /bucket?lifecycle). */
export function deleteLifecycle(ctx: RequestContext): Response {
  ctx.engine.setLifecycle(ctx.bucket, []);
  return empty(204);
}
