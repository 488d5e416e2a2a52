/**
 * Raw HTTP for the `oq dev` tests: requests whose path is sent exactly as written (fetch
 * and aws4fetch normalise `a/../b` away), with any `Host` header and header bytes, and a
 * SigV4 signer over those raw bytes (header values as latin-1 strings, one character per
 * byte, as they travel).
 */
import { request } from "node:http";
import { Buffer } from "node:buffer";
import { canonicalQuery, canonicalUri } from "../src/dev/sigv4.ts";
import { sha256Hex, signHex, signingKey } from "../src/dev/sigv4_crypto.ts";
import { DEV_DEFAULTS } from "../src/dev/main.ts";
import { amzDate } from "./dev_backend.ts";

/** An answer to a raw request. */
export interface RawResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  /** The body, decoded as UTF-8. */
  body: string;
}

/** Options of {@link rawRequest}. */
export interface RawOptions {
  method?: string;
  /** Path and query exactly as sent, e.g. `/b/a/../c?x=1`. */
  path: string;
  /** Headers as latin-1 strings; `host` overrides the default. */
  headers?: Record<string, string>;
  body?: Uint8Array | string;
}

/** Send one request over node:http to `base` (`http://127.0.0.1:port`), path as written. */
export function rawRequest(base: string, o: RawOptions): Promise<RawResponse> {
  const url = new URL(base);
  return new Promise((resolve, reject) => {
    const req = request({
      host: url.hostname,
      port: Number(url.port),
      method: o.method ?? "GET",
      path: o.path,
      headers: { connection: "close", ...o.headers },
      agent: false,
    }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () =>
        resolve({
          status: res.statusCode ?? 0,
          headers: res.headers,
          body: Buffer.concat(chunks).toString("utf8"),
        }));
      res.on("error", reject);
    });
    req.on("error", reject);
    req.end(o.body === undefined ? undefined : Buffer.from(o.body));
  });
}

/** What {@link signRaw} signs. */
export interface SignOptions extends RawOptions {
  /** `host:port` the request is sent to (signed). */
  host: string;
  accessKeyId?: string;
  secretAccessKey?: string;
  /** Signing time in ms. @default Date.now() */
  now?: number;
  /** The `x-amz-content-sha256` to sign. @default the body's SHA-256 */
  payloadHash?: string;
}

/**
 * The headers of `o` plus `host`, `x-amz-date`, `x-amz-content-sha256` (the body's real
 * SHA-256) and a SigV4 `authorization` signing all of them, over the raw path.
 */
export async function signRaw(o: SignOptions): Promise<Record<string, string>> {
  const body = o.body === undefined ? new Uint8Array() : Buffer.from(o.body);
  const [path = "/", query = ""] = o.path.split("?", 2);
  const date = amzDate(o.now ?? Date.now());
  const headers: Record<string, string> = {
    ...Object.fromEntries(Object.entries(o.headers ?? {}).map(([k, v]) => [k.toLowerCase(), v])),
    host: o.host,
    "x-amz-date": date,
    "x-amz-content-sha256": o.payloadHash ?? await sha256Hex(new Uint8Array(body)),
  };
  const names = Object.keys(headers).sort();
  const canonical = [
    o.method ?? "GET",
    canonicalUri(path),
    canonicalQuery(new URLSearchParams(query)),
    names.map((n) => `${n}:${headers[n]!.trim()}\n`).join(""),
    names.join(";"),
    headers["x-amz-content-sha256"],
  ].join("\n");
  const scope = `${date.slice(0, 8)}/us-east-1/s3/aws4_request`;
  const toSign = [
    "AWS4-HMAC-SHA256",
    date,
    scope,
    await sha256Hex(new Uint8Array(Buffer.from(canonical, "latin1"))),
  ].join("\n");
  const key = await signingKey(
    o.secretAccessKey ?? DEV_DEFAULTS.secretAccessKey,
    date.slice(0, 8),
    "us-east-1",
    "s3",
  );
  const accessKeyId = o.accessKeyId ?? DEV_DEFAULTS.accessKeyId;
  headers.authorization = `AWS4-HMAC-SHA256 Credential=${accessKeyId}/${scope}, SignedHeaders=${
    names.join(";")
  }, Signature=${await signHex(key, toSign)}`;
  return headers;
}

/** Sign and send a raw request to a dev server at `base`. */
export async function signedRaw(
  base: string,
  o: Omit<SignOptions, "host"> & { host?: string },
): Promise<RawResponse> {
  const host = o.host ?? new URL(base).host;
  return await rawRequest(base, { ...o, headers: await signRaw({ ...o, host }) });
}
