/**
 * The request context the dev server's operation handlers receive, and small helpers
 * they share.
 *
 * @module
 */

import type { StorageEngine } from "../store/engine.ts";
import { invalidArgument } from "./errors.ts";

/** One authenticated request, routed to a bucket (and key). */
export interface RequestContext {
  /** The storage engine. */
  engine: StorageEngine;
  /** The request (its body already consumed: use {@link RequestContext.body}). */
  req: Request;
  /** Parsed URL. */
  url: URL;
  /** Query parameters. */
  query: URLSearchParams;
  /** Bucket name; `""` for service-level requests (ListBuckets). */
  bucket: string;
  /** Object key; `""` for bucket-level requests. */
  key: string;
  /** Decoded, checked body. */
  body: Uint8Array;
  /** Checksum headers to echo (`x-amz-checksum-*`) for uploads. */
  checksumHeaders: Record<string, string>;
  /** Server time of the request, ms since the epoch. */
  now: number;
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
