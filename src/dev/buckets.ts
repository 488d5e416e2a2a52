/**
 * Bucket-level operations of the dev server: ListBuckets, CreateBucket, HeadBucket,
 * DeleteBucket, Get/PutBucketVersioning, Get/Put/DeleteBucketLifecycle and
 * GetBucketLocation. Semantics come from the {@link StorageEngine}; this module speaks
 * the wire format.
 *
 * @module
 */

import { compareKeys } from "../store/sorted_keys.ts";
import { ownerOf } from "./access.ts";
import { empty, ownedBucket, type RequestContext } from "./context.ts";
import {
  invalidArgument,
  invalidRequest,
  malformedXml,
  notImplemented,
  S3Error,
} from "./errors.ts";
import { parseLifecycle, renderLifecycle } from "./lifecycle.ts";
import { document, el, isoTime, ownerXml, parseBody, xmlResponse } from "./xml.ts";

/** The region the dev server reports. */
export const DEV_REGION = "us-east-1";

/**
 * Throw InvalidBucketName unless `name` follows S3's bucket naming rules: 3 to 63
 * characters of `a-z 0-9 . -`; every dot-separated label starts and ends with a letter or
 * digit (so no `..`, `-.` or `.-`); not an IP address; none of the prefixes and suffixes
 * AWS reserves. The rules also make every valid name a safe directory name.
 */
export function validateBucketName(name: string): void {
  const ok = name.length >= 3 && name.length <= 63 &&
    name.split(".").every((label) => /^[a-z0-9]([a-z0-9-]*[a-z0-9])?$/.test(label)) &&
    !/^\d+\.\d+\.\d+\.\d+$/.test(name) &&
    !/^(xn--|sthree-|amzn-s3-demo-)/.test(name) &&
    !/(-s3alias|--ol-s3|\.mrap|--x-s3|--table-s3)$/.test(name);
  if (!ok) {
    throw new S3Error("InvalidBucketName", 400, "The specified bucket is not valid.", {
      fields: { BucketName: name },
    });
  }
}

/**
 * ListBuckets (GET /): the requesting account's buckets by name, with `prefix` and paging
 * (`max-buckets`, and the `continuation-token` the previous page answered).
 */
export function listBuckets(ctx: RequestContext): Response {
  const q = ctx.query;
  const rawMax = q.get("max-buckets");
  let max = 10000;
  if (rawMax !== null) {
    max = Number(rawMax);
    if (!/^\d+$/.test(rawMax.trim()) || max < 1 || max > 10000) {
      throw invalidArgument(
        "max-buckets must be an integer from 1 to 10000",
        "max-buckets",
        rawMax,
      );
    }
  }
  const prefix = q.get("prefix") ?? "";
  const token = q.get("continuation-token") || undefined;
  const after = token !== undefined ? decodeBucketToken(token) : undefined;
  const mine = ctx.engine.listBuckets().filter((b) =>
    b.name.startsWith(prefix) && (after === undefined || compareKeys(b.name, after) > 0) &&
    ownerOf(ctx.accounts, ctx.engine.bucket(b.name).owner).accessKeyId === ctx.account.accessKeyId
  );
  const page = mine.slice(0, max);
  const buckets = page
    .map((b) => `<Bucket>${el("Name", b.name)}${el("CreationDate", isoTime(b.createdAt))}</Bucket>`)
    .join("");
  const next = mine.length > max ? btoa(page[page.length - 1]!.name) : undefined;
  return xmlResponse(
    document(
      "ListAllMyBucketsResult",
      `<Buckets>${buckets}</Buckets>${ownerXml(ctx.account)}` +
        el("ContinuationToken", next) + (q.has("prefix") ? el("Prefix", prefix) : ""),
    ),
  );
}

function decodeBucketToken(token: string): string {
  try {
    return atob(token);
  } catch {
    throw invalidArgument(
      "The continuation token provided is incorrect",
      "continuation-token",
      token,
    );
  }
}

/**
 * CreateBucket (PUT /bucket): a bucket of the requesting account, with the
 * LocationConstraint it names. An existing bucket of the same account is success (as in
 * us-east-1); one of another account is BucketAlreadyExists.
 */
export async function createBucket(ctx: RequestContext): Promise<Response> {
  validateBucketName(ctx.bucket);
  if (ctx.req.headers.get("x-amz-bucket-object-lock-enabled")?.toLowerCase() === "true") {
    throw notImplemented("object lock");
  }
  const { bytes } = await ctx.body.bytes();
  let location = "";
  if (bytes.length > 0) {
    const root = parseBody(bytes, "CreateBucketConfiguration");
    location = root.children.find((c) => c.name === "LocationConstraint")?.text.trim() ?? "";
  }
  if (ctx.engine.hasBucket(ctx.bucket)) {
    const owner = ownerOf(ctx.accounts, ctx.engine.bucket(ctx.bucket).owner);
    if (owner.accessKeyId !== ctx.account.accessKeyId) {
      throw new S3Error(
        "BucketAlreadyExists",
        409,
        "The requested bucket name is not available. The bucket namespace is shared by all users of the system. Please select a different name and try again.",
        { fields: { BucketName: ctx.bucket } },
      );
    }
    return empty(200, { location: `/${ctx.bucket}` });
  }
  ctx.engine.createBucket(ctx.bucket);
  const b = ctx.engine.bucket(ctx.bucket);
  b.owner = ctx.account.accessKeyId;
  if (location !== "") b.location = location;
  return empty(200, { location: `/${ctx.bucket}` });
}

/** HeadBucket (HEAD /bucket). */
export function headBucket(ctx: RequestContext): Response {
  ownedBucket(ctx);
  return empty(200, { "x-amz-bucket-region": DEV_REGION });
}

/** DeleteBucket (DELETE /bucket): BucketNotEmpty while any version remains. */
export function deleteBucket(ctx: RequestContext): Response {
  ownedBucket(ctx);
  ctx.engine.deleteBucket(ctx.bucket);
  return empty(204);
}

/** GetBucketLocation (GET /bucket?location): the bucket's LocationConstraint; empty means us-east-1. */
export function getLocation(ctx: RequestContext): Response {
  return xmlResponse(document("LocationConstraint", ownedBucket(ctx).location ?? ""));
}

/** GetBucketVersioning (GET /bucket?versioning): no Status when never versioned. */
export function getVersioning(ctx: RequestContext): Response {
  const state = ownedBucket(ctx).versioning;
  const status = state === "Unversioned" ? "" : el("Status", state);
  return xmlResponse(document("VersioningConfiguration", status));
}

/** PutBucketVersioning (PUT /bucket?versioning). */
export async function putVersioning(ctx: RequestContext): Promise<Response> {
  ownedBucket(ctx);
  const root = parseBody((await ctx.body.bytes()).bytes, "VersioningConfiguration");
  const status = root.children.find((c) => c.name === "Status")?.text.trim();
  if (status !== "Enabled" && status !== "Suspended") throw malformedXml();
  if (root.children.some((c) => c.name === "MfaDelete" && c.text.trim() === "Enabled")) {
    throw notImplemented("MFA delete");
  }
  ctx.engine.setVersioning(ctx.bucket, status === "Enabled");
  return empty(200);
}

/**
 * Read an XML request body that must carry Content-MD5 or a checksum (DeleteObjects,
 * lifecycle), as on AWS: InvalidRequest without one.
 */
export async function readIntegrityBody(ctx: RequestContext): Promise<Uint8Array> {
  const { bytes, checksumHeaders } = await ctx.body.bytes();
  if (ctx.req.headers.has("content-md5") || Object.keys(checksumHeaders).length > 0) return bytes;
  throw invalidRequest("Missing required header for this request: Content-MD5");
}

/** PutBucketLifecycleConfiguration (PUT /bucket?lifecycle); needs Content-MD5 or a checksum, as on AWS. */
export async function putLifecycle(ctx: RequestContext): Promise<Response> {
  ownedBucket(ctx);
  ctx.engine.setLifecycle(ctx.bucket, parseLifecycle(await readIntegrityBody(ctx)));
  return empty(200);
}

/** GetBucketLifecycleConfiguration (GET /bucket?lifecycle). */
export function getLifecycle(ctx: RequestContext): Response {
  const rules = ownedBucket(ctx).lifecycle;
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
  ownedBucket(ctx);
  ctx.engine.setLifecycle(ctx.bucket, []);
  return empty(204);
}
