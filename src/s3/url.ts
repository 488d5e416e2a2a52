/**
 * Request URLs: path-style or virtual-hosted addressing, key and query encoding.
 *
 * Keys and query values are encoded the way SigV4 canonicalises them (RFC 3986: every
 * byte except `A-Z a-z 0-9 - _ . ~` is percent-encoded, `/` kept in paths), so the path
 * the server sees is exactly the one we signed, whether it re-encodes or not.
 *
 * @module
 */

/** The parts of the client configuration that addressing depends on. */
export interface Addressing {
  /** Base URL without a trailing slash. */
  endpoint: string;
  /** Bucket name. */
  bucket: string;
  /** Path-style (`endpoint/bucket/key`) rather than virtual-hosted (`bucket.host/key`). */
  forcePathStyle: boolean;
}

/** Query parameters in order; a `""` value is sent bare (`?versioning`), `undefined` is skipped. */
export type Query = Array<[string, string | undefined]>;

const encoder = new TextEncoder();
const DOT_SEGMENT = /(?:^|\/)\.\.?(?:\/|$)/;

/** Percent-encode one string per RFC 3986 (as SigV4 does). */
export function encodeRfc3986(s: string): string {
  return encodeURIComponent(s).replace(
    /[!'()*]/g,
    (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`,
  );
}

/**
 * Throw `TypeError` unless `key` can be addressed: a non-empty string of at most 1024
 * UTF-8 bytes with no `.` or `..` path segment (URL parsers resolve those, even
 * percent-encoded, so such a key would silently address another object).
 */
export function validateKey(key: unknown): asserts key is string {
  if (typeof key !== "string" || key === "") {
    throw new TypeError("Object key must be a non-empty string");
  }
  // A UTF-16 code unit is at most 3 UTF-8 bytes: short keys need no encoding to measure.
  if (key.length > 341 && encoder.encode(key).length > 1024) {
    throw new TypeError(`Object key is longer than 1024 bytes: "${key.slice(0, 64)}..."`);
  }
  if (DOT_SEGMENT.test(key)) {
    throw new TypeError(`Object key has a "." or ".." path segment: "${key}"`);
  }
}

/** Encode a key for a URL path: each `/`-separated segment per RFC 3986. */
export function encodeKey(key: string): string {
  return key.split("/").map(encodeRfc3986).join("/");
}

/**
 * The URL of the bucket (no key) or of one object, with a query string.
 *
 * @example
 * ```ts
 * import { buildUrl } from "./url.ts";
 * const a = { endpoint: "http://127.0.0.1:9000", bucket: "b", forcePathStyle: true };
 * buildUrl(a, "tasks/a b.json", [["versionId", "v1"]]);
 * // "http://127.0.0.1:9000/b/tasks/a%20b.json?versionId=v1"
 * ```
 */
export function buildUrl(a: Addressing, key?: string, query: Query = []): string {
  const path = key === undefined ? "" : `/${encodeKey(key)}`;
  let base: string;
  // Dotted bucket names break TLS wildcard certificates when virtual-hosted: use paths.
  if (a.forcePathStyle || a.bucket.includes(".")) {
    base = `${a.endpoint}/${encodeRfc3986(a.bucket)}${path || "/"}`;
  } else {
    const url = new URL(a.endpoint);
    base = `${url.protocol}//${a.bucket}.${url.host}${url.pathname.replace(/\/$/, "")}${
      path || "/"
    }`;
  }
  const parts: string[] = [];
  for (const [name, value] of query) {
    if (value === undefined) continue;
    parts.push(
      value === "" ? encodeRfc3986(name) : `${encodeRfc3986(name)}=${encodeRfc3986(value)}`,
    );
  }
  return parts.length > 0 ? `${base}?${parts.join("&")}` : base;
}

/** The bucket's address for messages: `http://127.0.0.1:9000/bucket`. */
export function describeBucket(a: Addressing): string {
  return `${a.endpoint}/${a.bucket}`;
}
