/**
 * The request context the dev server's operation handlers receive, and small helpers
 * they share.
 *
 * @module
 */

import type { BucketState, StorageEngine } from "../store/engine.ts";
import { type Account, ownerOf } from "./access.ts";
import type { BodyStore } from "./bodies.ts";
import { accessDenied, invalidArgument } from "./errors.ts";
import type { RequestBody } from "./payload.ts";

/** One authenticated request, routed to a bucket (and key). */
export interface RequestContext {
  /** The storage engine. */
  engine: StorageEngine;
  /** Where object bodies are kept. */
  bodies: BodyStore;
  /** The request (read its body through {@link RequestContext.body}). */
  req: Request;
  /** Query parameters. */
  query: URLSearchParams;
  /** Bucket name; `""` for service-level requests (ListBuckets). */
  bucket: string;
  /** Object key, exactly as sent (decoded); `""` for bucket-level requests. */
  key: string;
  /** The request body, not read yet. */
  body: RequestBody;
  /** The account the request was signed by. */
  account: Account;
  /** Every account (the first is the primary one). */
  accounts: readonly Account[];
  /** Largest object accepted, in bytes. */
  maxObjectSize: number;
  /** Server time of the request, ms since the epoch. */
  now: number;
}

/**
 * A bucket of the requesting account: NoSuchBucket when absent, AccessDenied when another
 * account owns it (the dev server has no ACLs or policies).
 */
export function ownedBucket(ctx: RequestContext, name = ctx.bucket): BucketState {
  const b = ctx.engine.bucket(name);
  if (ownerOf(ctx.accounts, b.owner).accessKeyId !== ctx.account.accessKeyId) {
    throw accessDenied();
  }
  return b;
}

/** An empty answer with headers. */
export function empty(status: number, headers: Record<string, string> = {}): Response {
  return new Response(null, { status, headers });
}

/** A header value, or `undefined` when absent. */
export function header(ctx: RequestContext, name: string): string | undefined {
  return ctx.req.headers.get(name) ?? undefined;
}

/** The `versionId` query parameter; InvalidArgument when present but empty. */
export function versionIdParam(ctx: RequestContext): string | undefined {
  const v = ctx.query.get("versionId");
  if (v === null) return undefined;
  if (v === "") throw invalidArgument("Version id cannot be the empty string", "versionId", "");
  return v;
}

/** A quoted ETag header value. */
export function quoteEtag(etag: string): string {
  return `"${etag}"`;
}

/** The HTTP date of a time in ms (`Last-Modified`, `Date`). */
export function httpDate(ms: number): string {
  return new Date(ms).toUTCString();
}
