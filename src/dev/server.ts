/**
 * The dev server's request handler: a web-standard `(Request, info) => Promise<Response>`
 * that speaks the S3 REST API (path-style, `/bucket/key`) over a {@link StorageEngine}.
 *
 * Every request has its `Host` checked (`access.ts`), is SigV4-verified against the
 * accounts' key pairs, and is routed to an operation with its body still unread: an
 * operation reads and checks it (`payload.ts`) only once the request is known to be
 * allowed. Keys are taken from the request-target as sent (`a/../b` is a key, as on S3).
 * The answer carries `Date`, `x-amz-request-id`, `x-amz-id-2` and `Server`, and failures
 * become S3's XML error bodies (no body for HEAD). Operations that may have written wait
 * for `afterWrite` (the directory store's flush) before answering, so an acknowledged
 * write is on disk.
 *
 * @module
 */

import type { RequestInfo } from "../runtime/mod.ts";
import { EngineError, type StorageEngine } from "../store/engine.ts";
import { type Account, hostRefused } from "./access.ts";
import { hostAllowed } from "../base/host_guard.ts";
import { type BodyStore, MemoryBodies } from "./bodies.ts";
import * as buckets from "./buckets.ts";
import type { RequestContext } from "./context.ts";
import { copyObject } from "./copy.ts";
import { deleteObjects } from "./delete_objects.ts";
import { getAcl, putAcl } from "./acl.ts";
import { accessDenied, notImplemented, S3Error } from "./errors.ts";
import { listObjectsV1, listObjectsV2, listObjectVersions } from "./listing.ts";
import { deleteObject, getObject, getObjectAttributes, putObject } from "./objects.ts";
import { RequestBody } from "./payload.ts";
import { verifySigV4 } from "./sigv4.ts";
import { document, el } from "./xml.ts";

/** Options of {@link createDevHandler}. */
export interface DevHandlerOptions {
  /** The accounts (key pairs) accepted; the first is the primary account. */
  accounts: readonly Account[];
  /** Where object bodies are kept. @default in memory */
  bodies?: BodyStore;
  /** Largest object accepted, in bytes. @default 5 GiB */
  maxObjectSize?: number;
  /** The host the server was configured with (answered besides loopback names and IPs). @default "127.0.0.1" */
  host?: string;
  /** More `Host` names to answer. @default none */
  allowedHosts?: readonly string[];
  /** Awaited after every request that may have written (e.g. a directory flush). */
  afterWrite?: () => Promise<void>;
  /** Log lines (internal errors; every request when `logRequests`). */
  log?: (line: string) => void;
  /** Log one line per request. @default false */
  logRequests?: boolean;
}

/** The `Server` header of every answer. */
export const SERVER_NAME = "oq-dev";

/** The largest object S3 accepts in one PUT, and the dev server's default limit: 5 GiB. */
export const MAX_OBJECT_SIZE = 5 * 1024 ** 3;

// Sub-resources S3 knows that the dev server does not implement (answered 501, never
// mistaken for a plain GET/PUT of the bucket or object).
const UNSUPPORTED = [
  "accelerate",
  "analytics",
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

function splitTarget(target: string): { path: string; query: URLSearchParams } {
  const t = target.startsWith("/") ? target : target.replace(/^[a-z][a-z0-9+.-]*:\/\/[^/]*/i, "");
  const q = t.indexOf("?");
  return {
    path: (q < 0 ? t : t.slice(0, q)) || "/",
    query: new URLSearchParams(q < 0 ? "" : t.slice(q + 1)),
  };
}

function splitPath(path: string): { bucket: string; key: string } {
  const p = path.replace(/^\//, "");
  const i = p.indexOf("/");
  try {
    if (i < 0) return { bucket: decodeURIComponent(p), key: "" };
    return {
      bucket: decodeURIComponent(p.slice(0, i)),
      key: decodeURIComponent(p.slice(i + 1)),
    };
  } catch {
    throw new S3Error("InvalidURI", 400, "Couldn't parse the specified URI.");
  }
}

function route(ctx: RequestContext): Response | Promise<Response> {
  const method = ctx.req.method;
  const q = ctx.query;
  const unsupported = UNSUPPORTED.find((name) => q.has(name));
  if (unsupported !== undefined) throw notImplemented(`the "${unsupported}" sub-resource`);
  if (q.has("acl") && ctx.bucket !== "") {
    if (method === "GET") return getAcl(ctx);
    if (method === "PUT") return putAcl(ctx);
    throw methodNotAllowed(method);
  }
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
      if (q.has("attributes")) return getObjectAttributes(ctx);
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

// A CORS preflight: the dev server has no CORS configuration, so none is allowed.
function preflight(req: Request): S3Error {
  if (req.headers.get("origin") === null) {
    return new S3Error(
      "BadRequest",
      400,
      "Insufficient information. Origin request header needed.",
    );
  }
  return new S3Error(
    "AccessForbidden",
    403,
    "CORSResponse: This CORS request is not allowed. The dev server has no CORS configuration.",
  );
}

function isAnonymous(req: Request, query: URLSearchParams): boolean {
  return req.headers.get("authorization") === null && !query.has("X-Amz-Algorithm") &&
    !query.has("X-Amz-Credential") && !query.has("AWSAccessKeyId");
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
 * import { accountsOf } from "./access.ts";
 * import { createDevHandler } from "./server.ts";
 * const accounts = await accountsOf([{ accessKeyId: "oqdev", secretAccessKey: "oqdevsecret" }]);
 * const handler = createDevHandler(new StorageEngine(Date.now), { accounts });
 * const res = await handler(new Request("http://127.0.0.1:9000/"), { target: "/" });
 * console.log(res.status); // 403: not signed
 * ```
 */
export function createDevHandler(
  engine: StorageEngine,
  options: DevHandlerOptions,
): (req: Request, info: RequestInfo) => Promise<Response> {
  const bodies = options.bodies ?? new MemoryBodies();
  const maxObjectSize = options.maxObjectSize ?? MAX_OBJECT_SIZE;
  const configuredHost = options.host ?? "127.0.0.1";
  const allowedHosts = options.allowedHosts ?? [];
  return async (req: Request, info: RequestInfo): Promise<Response> => {
    const requestId = randomHex(8).toUpperCase();
    const now = engine.now();
    const { path, query } = splitTarget(info.target);
    let where = { bucket: "", key: "" };
    let response: Response;
    try {
      const host = req.headers.get("host");
      if (!hostAllowed(host, configuredHost, allowedHosts)) throw hostRefused(host ?? "");
      if (req.method === "OPTIONS") throw preflight(req);
      where = splitPath(path);
      if (isAnonymous(req, query) && where.bucket !== "" && !engine.hasBucket(where.bucket)) {
        engine.bucket(where.bucket); // NoSuchBucket, as S3 answers anonymous requests
      }
      const verified = await verifySigV4(
        req,
        { pathname: path, searchParams: query },
        options.accounts,
        now,
      );
      const account = options.accounts.find((a) => a.accessKeyId === verified.accessKeyId);
      if (account === undefined) throw accessDenied();
      const ctx: RequestContext = {
        engine,
        bodies,
        req,
        query,
        ...where,
        body: new RequestBody(req, verified),
        account,
        accounts: options.accounts,
        maxObjectSize,
        now,
      };
      try {
        response = await route(ctx);
      } finally {
        if (req.method !== "GET" && req.method !== "HEAD") await options.afterWrite?.();
      }
    } catch (e) {
      let err: EngineError;
      if (e instanceof EngineError) err = e;
      else {
        options.log?.(
          `oq dev: internal error on ${req.method} ${path}: ${
            e instanceof Error ? e.stack ?? e.message : e
          }`,
        );
        err = new S3Error(
          "InternalError",
          500,
          "We encountered an internal error. Please try again.",
        );
      }
      response = errorResponse(err, req.method, path, where, requestId);
    }
    const headers = new Headers(response.headers);
    headers.set("date", new Date(now).toUTCString());
    headers.set("x-amz-request-id", requestId);
    headers.set("x-amz-id-2", btoa(randomHex(24)));
    headers.set("server", SERVER_NAME);
    if (options.logRequests) {
      options.log?.(`${req.method} ${info.target} ${response.status}`);
    }
    return new Response(req.method === "HEAD" ? null : response.body, {
      status: response.status,
      headers,
    });
  };
}
