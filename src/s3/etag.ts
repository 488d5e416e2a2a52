/**
 * ETag quoting, in one place. Callers always see ETags without quotes; what goes on the
 * wire depends on the server quirks below.
 *
 * @module
 */

/**
 * Strip the quotes (and a weak `W/` prefix) from an ETag as S3 sends it, in a header or
 * in list XML: `"abc"` becomes `abc`. An unquoted value is returned as is.
 *
 * @example
 * ```ts
 * import { unquoteEtag } from "./etag.ts";
 * unquoteEtag('"9b2cf535f27731c974343645a3985328"'); // "9b2cf535f27731c974343645a3985328"
 * ```
 */
export function unquoteEtag(etag: string): string {
  let s = etag.trim();
  if (s.startsWith("W/")) s = s.slice(2);
  if (s.length >= 2 && s.startsWith('"') && s.endsWith('"')) s = s.slice(1, -1);
  return s;
}

/**
 * The value to send in an `If-Match` / `If-None-Match` header for `etag` (given quoted
 * or not; `*` passes through).
 *
 * - Writes (PUT/POST/DELETE): UNQUOTED. Ceph RGW compares a write's `If-Match` with the
 *   stored ETag byte for byte, and stores it unquoted, so a quoted value always gets 412.
 *   AWS S3 and moto accept both forms.
 * - Reads (GET/HEAD): QUOTED, as HTTP specifies. moto compares HEAD's `If-Match` and
 *   `If-None-Match` with its quoted ETag exactly, so an unquoted value never matches
 *   there; Ceph RGW unquotes the header on reads, and AWS accepts both forms.
 *
 * @example
 * ```ts
 * import { conditionalEtag } from "./etag.ts";
 * conditionalEtag('"abc"', "PUT"); // "abc"
 * conditionalEtag("abc", "GET"); // '"abc"'
 * ```
 */
export function conditionalEtag(etag: string, method: string): string {
  const bare = unquoteEtag(etag);
  if (bare === "*") return bare;
  return method === "GET" || method === "HEAD" ? `"${bare}"` : bare;
}
