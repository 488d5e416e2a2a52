/**
 * The parts of an absolute http(s) URL that a request needs, without a WHATWG `URL` per
 * request: the origin's parts are parsed once (by `URL`) and kept; the path and query are
 * sliced from the string. A URL whose path holds anything but what an encoded S3 key and
 * query contain (which `URL` might rewrite) is parsed by `URL` whole.
 *
 * @module
 */

/** What {@link urlParts} gives. */
export interface UrlParts {
  /** `http:` or `https:`. */
  protocol: string;
  /** Host name, IPv6 addresses without brackets (as node:http wants it). */
  hostname: string;
  /** Port, `""` for the scheme's default. */
  port: string;
  /** `host[:port]`, as `URL.host` (what SigV4 signs). */
  host: string;
  /** Path, `/` at least. */
  pathname: string;
  /** `?` and the query, or `""`. */
  search: string;
}

type Origin = Pick<UrlParts, "protocol" | "hostname" | "port" | "host">;

const origins = new Map<string, Origin>();
const MAX_ORIGINS = 64;
// Unreserved and sub-delimiter characters, `%`, `:`, `@`, `/` and `?`: nothing `URL` changes.
const PLAIN_PATH = /^\/[A-Za-z0-9\-._~%!$&'()*+,;=:@/?]*$/;

/**
 * The parts of `url`.
 *
 * @example
 * ```ts
 * import { urlParts } from "./url_parts.ts";
 * const p = urlParts("http://127.0.0.1:9000/b/tasks/0/x.json?versionId=1");
 * p.host; // "127.0.0.1:9000"
 * p.pathname; // "/b/tasks/0/x.json"
 * p.search; // "?versionId=1"
 * ```
 */
export function urlParts(url: string): UrlParts {
  const start = url.indexOf("//");
  const slash = start < 0 ? -1 : url.indexOf("/", start + 2);
  const path = slash < 0 ? "/" : url.slice(slash);
  if (start < 0 || !PLAIN_PATH.test(path)) return fromUrl(new URL(url));
  const originText = slash < 0 ? url : url.slice(0, slash);
  let origin = origins.get(originText);
  if (origin === undefined) {
    origin = fromUrl(new URL(originText));
    if (origins.size < MAX_ORIGINS) origins.set(originText, origin);
  }
  const q = path.indexOf("?");
  return {
    ...origin,
    pathname: q < 0 ? path : path.slice(0, q),
    search: q < 0 || q === path.length - 1 ? "" : path.slice(q),
  };
}

function fromUrl(u: URL): UrlParts {
  const h = u.hostname;
  return {
    protocol: u.protocol,
    hostname: h.startsWith("[") && h.endsWith("]") ? h.slice(1, -1) : h,
    port: u.port,
    host: u.host,
    pathname: u.pathname,
    search: u.search,
  };
}
