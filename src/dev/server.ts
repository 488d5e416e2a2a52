/**
 * The dev server's request handler: a web-standard `(Request) => Promise<Response>` that
 * speaks the S3 REST API (path-style, `/bucket/key`) over a {@link StorageEngine}.
 *
 * Every request is SigV4-verified, its body read and checked (`payload.ts`), then routed
 * to an operation; the answer carries `Date`, `x-amz-request-id`, `x-amz-id-2` and
 * `Server`, and failures become S3's XML error bodies (no body for HEAD). Operations
 * that may have written wait for `afterWrite` (the directory store's flush) before
 * answering, so an acknowledged write is on disk.
 *
 * @module
 */

import { EngineError, type StorageEngine } from "../store/engine.ts";
import * as buckets from "./buckets.ts";
import type { RequestContext } from "./context.ts";
import { copyObject } from "./copy.ts";
import { deleteObjects } from "./delete_objects.ts";
import { notImplemented, S3Error } from "./errors.ts";
import { listObjectsV1, listObjectsV2, listObjectVersions } from "./listing.ts";
import { deleteObject, getObject, putObject } from "./objects.ts";
import { readPayload } from "./payload.ts";
import { type Credentials, verifySigV4 } from "./sigv4.ts";
import { document, el } from "./xml.ts";

/** Options of {@link createDevHandler}. */
export interface DevHandlerOptions {
  /** The one access key / secret pair accepted. */
  credentials: Credentials;
  /** Awaited after every request that may have written (e.g. a directory flush). */
  afterWrite?: () => Promise<void>;
  /** Log lines (internal errors; every request when `logRequests`). */
  log?: (line: string) => void;
  /** Log one line per request. @default false */
  logRequests?: boolean;
}

/** The `Server` header of every answer. */
export const SERVER_NAME = "oq-dev";

// Sub-resources S3 knows that the dev server does not implement (answered 501, never
// mistaken for a plain GET/PUT of the bucket or object).
const UNSUPPORTED = [
  "accelerate",
  "acl",
  "analytics",
  "attributes",
  "cors",
  "encryption",
  "intelligent-tiering",
  "inventory",
  "legal-hold",
  "logging",
  "metrics",
  "notification",
  "object-lock",
  "ownershipControls",
  "partNumber",
  "policy",
  "policyStatus",
  "publicAccessBlock",
  "replication",
  "requestPayment",
  "restore",
  "retention",
  "select",
  "session",
  "tagging",
  "torrent",
  "uploadId",
  "uploads",
  "website",
];

function randomHex(bytes: number): string {
  return [...crypto.getRandomValues(new Uint8Array(bytes))].map((b) =>
    b.toString(16).padStart(2, "0")
  ).join("");
}

function splitPath(pathname: string): { bucket: string; key: string } {
  const path = pathname.replace(/^\//, "");
  const i = path.indexOf("/");
  try {
    if (i < 0) return { bucket: decodeURIComponent(path), key: "" };
    return {
      bucket: decodeURIComponent(path.slice(0, i)),
      key: decodeURIComponent(path.slice(i + 1)),
    };
  } catch {
    throw new S3Error("InvalidURI", 400, "Couldn't parse the specified URI.");
  }
}

function route(ctx: RequestContext): Response {
  const method = ctx.req.method;
  const q = ctx.query;
  const unsupported = UNSUPPORTED.find((name) => q.has(name));
  if (unsupported !== undefined) throw notImplemented(`the "${unsupported}" sub-resource`);
  if (ctx.bucket === "") {
    if (method === "GET") return buckets.listBuckets(ctx);
    throw methodNotAllowed(method);
  }
  if (ctx.key === "") {
    switch (method) {
      case "GET":
        if (q.has("versioning")) return buckets.getVersioning(ctx);
        if (q.has("lifecycle")) return buckets.getLifecycle(ctx);
        if (q.has("location")) return buckets.getLocation(ctx);
        if (q.has("versions")) return listObjectVersions(ctx);
        if (q.get("list-type") === "2") return listObjectsV2(ctx);
        return listObjectsV1(ctx);
      case "PUT":
        if (q.has("versioning")) return buckets.putVersioning(ctx);
        if (q.has("lifecycle")) return buckets.putLifecycle(ctx);
        return buckets.createBucket(ctx);
      case "HEAD":
        return buckets.headBucket(ctx);
      case "DELETE":
        if (q.has("lifecycle")) return buckets.deleteLifecycle(ctx);
        return buckets.deleteBucket(ctx);
      case "POST":
        if (q.has("delete")) return deleteObjects(ctx);
        throw notImplemented("POST on a bucket without ?delete");
      default:
        throw methodNotAllowed(method);
    }
  }
  switch (method) {
    case "GET":
      return getObject(ctx, false);
    case "HEAD":
      return getObject(ctx, true);
    case "PUT": {
      const source = ctx.req.headers.get("x-amz-copy-source");
      return source !== null ? copyObject(ctx, source) : putObject(ctx);
    }
    case "DELETE":
      return deleteObject(ctx);
    default:
      throw methodNotAllowed(method);
  }
}

function methodNotAllowed(method: string): S3Error {
  return new S3Error(
    "MethodNotAllowed",
    405,
    "The specified method is not allowed against this resource.",
    {
      fields: { Method: method, ResourceType: "OBJECT" },
    },
  );
}

function errorResponse(
  e: EngineError,
  method: string,
  resource: string,
  where: { bucket: string; key: string },
  requestId: string,
): Response {
  const fields: Record<string, string> = {};
  if (e.code === "NoSuchKey") fields.Key = where.key;
  if (e.code === "NoSuchBucket" || e.code === "BucketNotEmpty") fields.BucketName = where.bucket;
  Object.assign(fields, e instanceof S3Error ? e.fields : {});
  const headers: Record<string, string> = e instanceof S3Error ? { ...e.headers } : {};
  if (method === "HEAD") return new Response(null, { status: e.status, headers });
  const extra = Object.entries(fields).map(([k, v]) => el(k, v)).join("");
  const body = document(
    "Error",
    el("Code", e.code) + el("Message", e.message) + extra + el("Resource", resource) +
      el("RequestId", requestId),
    false,
  );
  return new Response(body, {
    status: e.status,
    headers: { "content-type": "application/xml", ...headers },
  });
}

/**
 * Create the S3 request handler over an engine.
 *
 * @example
 * ```ts
 * import { StorageEngine } from "../store/engine.ts";
 * import { createDevHandler } from "./server.ts";
 * const handler = createDevHandler(new StorageEngine(Date.now), {
 *   credentials: { accessKeyId: "oqdev", secretAccessKey: "oqdevsecret" },
 * });
 * const res = await handler(new Request("http://127.0.0.1:9000/"));
 * console.log(res.status); // 403: not signed
 * ```
 */
export function createDevHandler(
  engine: StorageEngine,
  options: DevHandlerOptions,
): (req: Request) => Promise<Response> {
  return async (req: Request): Promise<Response> => {
    const requestId = randomHex(8).toUpperCase();
    const now = engine.now();
    const url = new URL(req.url);
    let where = { bucket: "", key: "" };
    let response: Response;
    try {
      where = splitPath(url.pathname);
      const verified = await verifySigV4(req, url, options.credentials, now);
      const payload = await readPayload(req, verified);
      const ctx: RequestContext = {
        engine,
        req,
        url,
        query: url.searchParams,
        ...where,
        body: payload.body,
        checksumHeaders: payload.checksumHeaders,
        now,
      };
      try {
        response = route(ctx);
      } finally {
        if (req.method !== "GET" && req.method !== "HEAD") await options.afterWrite?.();
      }
    } catch (e) {
      let err: EngineError;
      if (e instanceof EngineError) err = e;
      else {
        options.log?.(
          `oq dev: internal error on ${req.method} ${url.pathname}: ${
            e instanceof Error ? e.stack ?? e.message : e
          }`,
        );
        err = new S3Error(
          "InternalError",
          500,
          "We encountered an internal error. Please try again.",
        );
      }
      response = errorResponse(err, req.method, url.pathname, where, requestId);
    }
    const headers = new Headers(response.headers);
    headers.set("date", new Date(now).toUTCString());
    headers.set("x-amz-request-id", requestId);
    headers.set("x-amz-id-2", btoa(randomHex(24)));
    headers.set("server", SERVER_NAME);
    if (options.logRequests) {
      options.log?.(`${req.method} ${url.pathname}${url.search} ${response.status}`);
    }
    return new Response(req.method === "HEAD" ? null : response.body, {
      status: response.status,
      headers,
    });
  };
}
