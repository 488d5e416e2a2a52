/**
 * S3 failures mapped to oq's error classes, in one function ({@link mapS3Error}), plus
 * the one rule that says which failures are worth retrying ({@link isRetryable}).
 *
 * @module
 */

import {
  AccessDeniedError,
  NoSuchBucketError,
  PreconditionFailedError,
  StoreError,
  type StoreErrorContext,
  TransientStoreError,
} from "../base/errors.ts";

/** What went wrong with one request, as input to {@link mapS3Error}. */
export interface S3Failure extends StoreErrorContext {
  /** `"http"`: an error response; `"network"`: no response; `"timeout"`: no response in time. */
  kind: "http" | "network" | "timeout";
  /** The server's `Message`, or a description of the network failure. */
  detail?: string;
  /** The request carried `If-Match` or `If-None-Match` and wrote (PUT/POST/DELETE). */
  conditionalWrite?: boolean;
  /** The request carried `If-Match` (a missing key then means the condition failed). */
  ifMatch?: boolean;
  /** An earlier attempt of this request failed in a way that may have applied it. */
  mayHaveApplied?: boolean;
  /** The underlying exception, if any. */
  cause?: unknown;
}

// Codes that mean "try again"; HTTP statuses below cover servers that send other codes.
const TRANSIENT_CODES = new Set([
  "SlowDown",
  "InternalError",
  "ServiceUnavailable",
  "RequestTimeout",
  "UnknownError", // Ceph RGW, e.g. to the losers of a concurrent If-Match race
  "NetworkError",
  "Timeout",
]);
const TRANSIENT_STATUSES = new Set([429, 500, 502, 503, 504]);

/** Code used when an error response has no (parsable) body: HEAD, proxies. */
export function codeForStatus(status: number): string {
  switch (status) {
    case 301:
      return "PermanentRedirect";
    case 304:
      return "NotModified";
    case 400:
      return "BadRequest";
    case 403:
      return "AccessDenied";
    case 404:
      return "NotFound";
    case 405:
      return "MethodNotAllowed";
    case 409:
      return "Conflict";
    case 412:
      return "PreconditionFailed";
    case 429:
      return "SlowDown";
    case 500:
      return "InternalError";
    case 501:
      return "NotImplemented";
    case 503:
      return "ServiceUnavailable";
    default:
      return `Http${status}`;
  }
}

/** Is this failure worth another attempt? Transient ones, and a skewed clock (re-signed). */
export function isRetryable(f: Pick<S3Failure, "kind" | "status" | "s3Code">): boolean {
  if (f.kind !== "http") return true;
  if (f.s3Code === "RequestTimeTooSkewed") return true; // the next attempt signs with the server clock
  return isTransient(f);
}

/**
 * Could a request that failed this way have been applied? Only when its answer was lost
 * or the server failed mid-way: not for 4xx, and not for SlowDown (rejected up front).
 */
export function mayHaveBeenApplied(f: Pick<S3Failure, "kind" | "status" | "s3Code">): boolean {
  if (f.kind !== "http") return true;
  if (f.s3Code === "SlowDown" || f.status === 429) return false;
  return (f.status ?? 0) >= 500;
}

function isTransient(f: Pick<S3Failure, "kind" | "status" | "s3Code">): boolean {
  if (f.kind !== "http") return true;
  if (f.s3Code !== undefined && TRANSIENT_CODES.has(f.s3Code)) return true;
  return f.status !== undefined && TRANSIENT_STATUSES.has(f.status);
}

/**
 * Map a failed request to the error callers catch. The only place that knows S3 status
 * codes and error codes:
 * - 412 PreconditionFailed, 409 ConditionalRequestConflict, and (for a conditional write
 *   with `If-Match`) 404 NoSuchKey, which AWS answers where Ceph answers 412:
 *   PreconditionFailedError, with `ambiguous: true` when an earlier attempt of the same
 *   request may have been applied;
 * - 403: AccessDeniedError; NoSuchBucket: NoSuchBucketError;
 * - 500/502/503/504, 429, SlowDown, network errors, timeouts: TransientStoreError;
 * - anything else: StoreError with the S3 code.
 *
 * Messages name the operation, key and code; never credentials.
 */
export function mapS3Error(f: S3Failure): StoreError {
  const code = f.s3Code ?? (f.status !== undefined ? codeForStatus(f.status) : "NetworkError");
  const context: StoreErrorContext = { operation: f.operation, status: f.status, s3Code: code };
  if (f.bucket !== undefined) context.bucket = f.bucket;
  if (f.key !== undefined) context.key = f.key;
  if (f.requestId !== undefined) context.requestId = f.requestId;
  const options = f.cause !== undefined ? { cause: f.cause } : undefined;

  const lostCondition = f.status === 412 ||
    (f.status === 409 && code === "ConditionalRequestConflict") ||
    (f.conditionalWrite === true && f.ifMatch === true && f.status === 404 &&
      (code === "NoSuchKey" || code === "NotFound"));
  if (lostCondition) {
    // `ambiguous`: an earlier attempt may have been applied, so the condition may have
    // failed because of our own write (spec invariant 4: the caller re-reads). Ceph RGW
    // makes this common: losers of an If-Match race get 500 UnknownError, then 412.
    const ambiguous = f.mayHaveApplied === true;
    const note = ambiguous ? " after a retry; our earlier attempt may have been applied" : "";
    return new PreconditionFailedError("PreconditionFailed", context, {
      ambiguous,
      message: message(f, code, note),
      cause: f.cause,
    });
  }
  if (f.status === 403 && code !== "RequestTimeTooSkewed") {
    return new AccessDeniedError("AccessDenied", context, message(f, code), options);
  }
  if (code === "NoSuchBucket") {
    return new NoSuchBucketError("NoSuchBucket", context, message(f, code), options);
  }
  if (isTransient({ kind: f.kind, status: f.status, s3Code: code })) {
    return new TransientStoreError(code, context, message(f, code), options);
  }
  return new StoreError(code, context, message(f, code), options);
}

function message(f: S3Failure, code: string, note = ""): string {
  const where = f.key !== undefined
    ? ` on "${f.key}"`
    : f.bucket !== undefined
    ? ` on bucket "${f.bucket}"`
    : "";
  const status = f.status !== undefined ? ` (HTTP ${f.status})` : "";
  const detail = f.detail ? `: ${truncate(f.detail, 300)}` : "";
  return `${f.operation} failed${where}: ${code}${status}${note}${detail}`;
}

function truncate(s: string, max: number): string {
  const oneLine = s.replace(/\s+/g, " ").trim();
  return oneLine.length > max ? `${oneLine.slice(0, max)}...` : oneLine;
}
