/**
 * SigV4 signing of S3 requests (header authentication), our own: the signing key is
 * derived once per date (region and service are fixed per client), and every hash and HMAC
 * runs on the runtime's native `node:crypto` where it exists (src/runtime/hash.ts), else on
 * WebCrypto with the signing key imported once. A request then costs one SHA-256 of its
 * body, one of its canonical request and one HMAC. The canonical request follows AWS's
 * rules as aws4fetch applies them for S3 (the same signed headers, path and query
 * canonicalisation), and tests/sigv4.test.ts checks the output against AWS's published
 * example and against aws4fetch's for many requests.
 *
 * Payload hashing: we sign the real SHA-256 of every body (`X-Amz-Content-Sha256`), not
 * `UNSIGNED-PAYLOAD`. The signature then covers the body, so a body altered or truncated on
 * the way (plain-HTTP endpoints such as local MinIO, Ceph or moto have no TLS to catch it)
 * is rejected by the server instead of stored, and servers that refuse unsigned payloads
 * accept us.
 *
 * @module
 */

import type { StreamBody } from "./types.ts";
import {
  importHmacKey,
  type NativeHashing,
  nativeHashing,
  sha256Hex,
  toHex,
  webHmacSha256,
  webSha256,
} from "../runtime/hash.ts";
import { urlParts } from "../runtime/url_parts.ts";

/** Credentials and region to sign with. */
export interface SigningConfig {
  /** Access key id. */
  accessKeyId: string;
  /** Secret access key. */
  secretAccessKey: string;
  /** Session token, if any. */
  sessionToken?: string;
  /** Signing region. */
  region: string;
  /**
   * Native hashing to use; `null` for WebCrypto only (as on an edge runtime).
   * @default the runtime's (nativeHashing() of src/runtime/hash.ts)
   */
  hashing?: NativeHashing | null;
}

/** One request to sign. */
export interface UnsignedRequest {
  /** HTTP method. */
  method: string;
  /** Full URL, already encoded (see url.ts). */
  url: string;
  /** Headers to send (and sign, except the few SigV4 leaves unsigned). */
  headers: Record<string, string>;
  /** Body bytes, if any, or a streamed body whose SHA-256 is known (signed as it is). */
  body?: Uint8Array | StreamBody;
  /** Signing time in ms since the epoch: the store's clock, so a skewed local clock is harmless. */
  timeMs: number;
}

const SERVICE = "s3";

function bodySize(body: Uint8Array | StreamBody): number {
  return body instanceof Uint8Array ? body.length : body.size;
}

// Headers left out of the signature (proxies and fetch implementations may set or
// rewrite them); the same list as aws4fetch's.
const UNSIGNED = new Set([
  "authorization",
  "content-type",
  "content-length",
  "user-agent",
  "presigned-expires",
  "expect",
  "x-amzn-trace-id",
  "range",
  "connection",
]);

// RFC 9110 token characters, and a field value without NUL, CR or LF (after trimming) and
// within Latin-1: what the fetch Headers class accepts.
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
const BAD_VALUE = /[\0\r\n\u0100-\uffff]/;
const EDGE_SPACE = /^[\t\n\r ]+|[\t\n\r ]+$/g;

let lastSecond = Number.NaN;
let lastAmzDate = "";

/** `YYYYMMDDTHHMMSSZ`, the SigV4 timestamp format. */
export function amzDate(timeMs: number): string {
  const second = Math.floor(timeMs / 1000);
  if (second !== lastSecond) {
    lastAmzDate = new Date(second * 1000).toISOString().replace(/[:-]|\.\d{3}/g, "");
    lastSecond = second;
  }
  return lastAmzDate;
}

/** Percent-encode the characters that encodeURIComponent leaves but RFC 3986 reserves. */
function rfc3986(s: string): string {
  return s.replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
}

/** The canonical URI of an S3 path: decoded once, then each byte encoded once, `/` kept. */
function canonicalPath(pathname: string): string {
  let decoded: string;
  try {
    decoded = decodeURIComponent(pathname.replace(/\+/g, " "));
  } catch {
    decoded = pathname;
  }
  return rfc3986(encodeURIComponent(decoded).replace(/%2F/g, "/"));
}

/** The canonical query: first value of each named parameter, encoded, sorted. */
function canonicalQuery(search: string): string {
  if (search === "") return "";
  const params = new URLSearchParams(search);
  const seen = new Set<string>();
  const pairs: [string, string][] = [];
  for (const [k, v] of params) {
    if (k === "" || seen.has(k)) continue;
    seen.add(k);
    pairs.push([rfc3986(encodeURIComponent(k)), rfc3986(encodeURIComponent(v))]);
  }
  pairs.sort(([k1, v1], [k2, v2]) => k1 < k2 ? -1 : k1 > k2 ? 1 : v1 < v2 ? -1 : v1 > v2 ? 1 : 0);
  return pairs.map(([k, v]) => `${k}=${v}`).join("&");
}

const encoder = new TextEncoder();

/**
 * Signs S3 requests. The only holder of the secret access key and the session token: they
 * live in private fields, which `JSON.stringify`, `util.inspect`, `Deno.inspect`,
 * `Bun.inspect` and `console.log` cannot reach.
 */
export class RequestSigner {
  readonly #accessKeyId: string;
  readonly #secretAccessKey: string;
  readonly #sessionToken: string | undefined;
  readonly #region: string;
  readonly #native: NativeHashing | undefined;
  readonly #secrets: string[];
  #raw: { date: string; key: Uint8Array } | undefined;
  #web: { date: string; key: Promise<CryptoKey> } | undefined;

  /** Create a signer for the S3 service in one region. */
  constructor(config: SigningConfig) {
    if (config.accessKeyId == null) throw new TypeError("accessKeyId is a required option");
    if (config.secretAccessKey == null) {
      throw new TypeError("secretAccessKey is a required option");
    }
    this.#accessKeyId = config.accessKeyId;
    this.#secretAccessKey = config.secretAccessKey;
    this.#sessionToken = config.sessionToken || undefined;
    this.#region = config.region;
    this.#native = config.hashing === undefined ? nativeHashing() : config.hashing ?? undefined;
    // Short values (test keys like "x") cannot be told from ordinary words.
    this.#secrets = [config.secretAccessKey, config.sessionToken, config.accessKeyId]
      .filter((v): v is string => v !== undefined && v.length >= 8);
  }

  /**
   * The headers to send: `r.headers` (names lowercased) with `x-amz-content-sha256`,
   * `x-amz-date`, `x-amz-security-token` (with a session token) and `authorization`.
   * Throws `TypeError` for a header name or value that fetch would refuse.
   */
  async sign(r: UnsignedRequest): Promise<Record<string, string>> {
    const native = this.#native;
    const payloadHash = r.body === undefined || bodySize(r.body) === 0
      ? await sha256Hex("")
      : !(r.body instanceof Uint8Array)
      ? r.body.sha256
      : native
      ? native.sha256Hex(r.body)
      : toHex(await webSha256(r.body));
    const headers = normaliseHeaders(r.headers);
    headers["x-amz-content-sha256"] = payloadHash;
    const datetime = amzDate(r.timeMs);
    headers["x-amz-date"] = datetime;
    if (this.#sessionToken) headers["x-amz-security-token"] = this.#sessionToken;

    const url = urlParts(r.url);
    const names = ["host"];
    for (const name in headers) if (!UNSIGNED.has(name)) names.push(name);
    names.sort();
    let canonicalHeaders = "";
    for (const name of names) {
      const value = name === "host" ? url.host : headers[name]!.replace(/\s+/g, " ");
      canonicalHeaders += `${name}:${value}\n`;
    }
    const signedHeaders = names.join(";");
    const canonical = `${r.method.toUpperCase()}\n${canonicalPath(url.pathname)}\n${
      canonicalQuery(url.search)
    }\n${canonicalHeaders}\n${signedHeaders}\n${payloadHash}`;
    const date = datetime.slice(0, 8);
    const scope = `${date}/${this.#region}/${SERVICE}/aws4_request`;
    let signature: string;
    if (native) {
      const toSign = `AWS4-HMAC-SHA256\n${datetime}\n${scope}\n${native.sha256Hex(canonical)}`;
      signature = native.hmacSha256Hex(this.#rawKey(native, date), toSign);
    } else {
      const toSign = `AWS4-HMAC-SHA256\n${datetime}\n${scope}\n${
        toHex(await webSha256(canonical))
      }`;
      signature = toHex(await webHmacSha256(await this.#webKey(date), toSign));
    }
    headers["authorization"] = `AWS4-HMAC-SHA256 Credential=${this.#accessKeyId}/${scope}, ` +
      `SignedHeaders=${signedHeaders}, Signature=${signature}`;
    return headers;
  }

  /** The signing key of `date` (`YYYYMMDD`) as raw bytes, derived once per date. */
  #rawKey(native: NativeHashing, date: string): Uint8Array {
    if (this.#raw?.date !== date) {
      let k = native.hmacSha256(`AWS4${this.#secretAccessKey}`, date);
      for (const part of [this.#region, SERVICE, "aws4_request"]) k = native.hmacSha256(k, part);
      this.#raw = { date, key: k };
    }
    return this.#raw.key;
  }

  /**
   * The signing key of `date` imported into WebCrypto, derived and imported once per date
   * (concurrent first requests share the derivation).
   */
  #webKey(date: string): Promise<CryptoKey> {
    if (this.#web?.date !== date) {
      const derive = async (): Promise<CryptoKey> => {
        const secret = encoder.encode(`AWS4${this.#secretAccessKey}`);
        let k = await webHmacSha256(await importHmacKey(secret), date);
        for (const part of [this.#region, SERVICE, "aws4_request"]) {
          k = await webHmacSha256(await importHmacKey(k), part);
        }
        return await importHmacKey(k);
      };
      const web = { date, key: derive() };
      // A failed derivation is not kept: the next request tries again.
      web.key.catch(() => {
        if (this.#web === web) this.#web = undefined;
      });
      this.#web = web;
    }
    return this.#web.key;
  }

  /**
   * `text` with the credentials and any SigV4 signature replaced by `[redacted]`: for
   * messages built from what a server or a fetch implementation said.
   */
  redact(text: string): string {
    let out = text;
    for (const secret of this.#secrets) out = out.split(secret).join("[redacted]");
    // A signature is a credential too while it is valid (15 minutes).
    return out.replace(/(Signature=)[0-9a-fA-F]{64}/gi, "$1[redacted]");
  }
}

/**
 * Header names lowercased, values trimmed of HTTP whitespace, repeated names (in other
 * cases) joined with ", ", `host` dropped (the URL's host is signed and sent): what a fetch
 * `Headers` object makes of them.
 */
function normaliseHeaders(given: Record<string, string>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const name in given) {
    if (!TOKEN.test(name)) throw new TypeError(`Invalid header name "${name}"`);
    const value = String(given[name]).replace(EDGE_SPACE, "");
    if (BAD_VALUE.test(value)) throw new TypeError(`Invalid value of header "${name}"`);
    const lower = name.toLowerCase();
    if (lower === "host") continue;
    out[lower] = lower in out ? `${out[lower]}, ${value}` : value;
  }
  return out;
}
