/**
 * Bucket operations: HeadBucket, CreateBucket, Get/PutBucketVersioning and the lifecycle
 * configuration. Each is one request, counted as `BUCKET`.
 *
 * @module
 */

import { StoreError } from "../base/errors.ts";
import type { LifecycleRule, VersioningState } from "./types.ts";
import { createBucketBody, lifecycleBody, versioningBody } from "./bodies.ts";
import { md5Base64 } from "./md5.ts";
import { parseReply, parseVersioning } from "./responses.ts";
import type { S3Transport } from "./transport.ts";

/** HeadBucket: true when the bucket exists and we may use it, false on 404. */
export async function headBucket(t: S3Transport, signal?: AbortSignal): Promise<boolean> {
  const reply = await t.send({
    operation: "HeadBucket",
    kind: "BUCKET",
    method: "HEAD",
    accept: [404],
    signal,
  });
  return reply.status !== 404;
}

/**
 * CreateBucket (a LocationConstraint outside us-east-1); success when the bucket
 * already exists and is ours, which is also what a retry meets when the first attempt's
 * answer was lost.
 */
export async function createBucket(
  t: S3Transport,
  region: string,
  signal?: AbortSignal,
): Promise<void> {
  try {
    const body = createBucketBody(region);
    await t.send({ operation: "CreateBucket", kind: "BUCKET", method: "PUT", body, signal });
  } catch (e) {
    if (e instanceof StoreError && e.code === "BucketAlreadyOwnedByYou") return;
    throw e;
  }
}

/** GetBucketVersioning. */
export async function getBucketVersioning(
  t: S3Transport,
  signal?: AbortSignal,
): Promise<VersioningState> {
  const reply = await t.send({
    operation: "GetBucketVersioning",
    kind: "BUCKET",
    method: "GET",
    query: [["versioning", ""]],
    signal,
  });
  return parseReply("GetBucketVersioning", t.bucket, reply.body, parseVersioning);
}

/** PutBucketVersioning: Enabled (true) or Suspended (false). */
export async function putBucketVersioning(
  t: S3Transport,
  enabled: boolean,
  signal?: AbortSignal,
): Promise<void> {
  const body = versioningBody(enabled);
  await t.send({
    operation: "PutBucketVersioning",
    kind: "BUCKET",
    method: "PUT",
    query: [["versioning", ""]],
    headers: { "content-md5": md5Base64(body), "content-type": "application/xml" },
    body,
    signal,
  });
}

/**
 * Replace the bucket's lifecycle rules (PutBucketLifecycleConfiguration, which requires
 * Content-MD5). An empty list removes them with DeleteBucketLifecycle, since S3 rejects
 * an empty configuration.
 */
export async function putBucketLifecycle(
  t: S3Transport,
  rules: LifecycleRule[],
  signal?: AbortSignal,
): Promise<void> {
  if (rules.length === 0) {
    await t.send({
      operation: "DeleteBucketLifecycle",
      kind: "BUCKET",
      method: "DELETE",
      query: [["lifecycle", ""]],
      signal,
    });
    return;
  }
  const body = lifecycleBody(rules);
  await t.send({
    operation: "PutBucketLifecycleConfiguration",
    kind: "BUCKET",
    method: "PUT",
    query: [["lifecycle", ""]],
    headers: { "content-md5": md5Base64(body), "content-type": "application/xml" },
    body,
    signal,
  });
}
