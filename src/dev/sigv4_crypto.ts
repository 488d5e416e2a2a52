/**
 * The cryptography of SigV4 for the dev server, over WebCrypto: SHA-256, the derived
 * signing key (cached per date and region), HMAC signatures, the chunk and trailer
 * signatures of streaming uploads, and constant-time comparison.
 *
 * @module
 */

const encoder = new TextEncoder();

/** What signed streaming uploads need to check each chunk's signature. */
export interface SigningContext {
  /** The derived signing key. */
  key: CryptoKey;
  /** Request time, `YYYYMMDDTHHMMSSZ`. */
  datetime: string;
  /** Credential scope, `date/region/s3/aws4_request`. */
  scope: string;
  /** The request's own signature: the "previous signature" of the first chunk. */
  seedSignature: string;
}

/** Lowercase hex. */
export function hex(bytes: ArrayBuffer | Uint8Array): string {
  const b = bytes instanceof Uint8Array ? bytes : new Uint8Array(bytes);
  let s = "";
  for (let i = 0; i < b.length; i++) s += b[i]!.toString(16).padStart(2, "0");
  return s;
}

/** Lowercase hex SHA-256. */
export async function sha256Hex(data: Uint8Array | string): Promise<string> {
  const bytes = typeof data === "string" ? encoder.encode(data) : data;
  return hex(await crypto.subtle.digest("SHA-256", bytes as BufferSource));
}

async function hmacKey(raw: Uint8Array): Promise<CryptoKey> {
  return await crypto.subtle.importKey(
    "raw",
    raw as BufferSource,
    { name: "HMAC", hash: "SHA-256" },
    false,
    [
      "sign",
    ],
  );
}

async function hmac(key: CryptoKey, data: string): Promise<Uint8Array> {
  return new Uint8Array(await crypto.subtle.sign("HMAC", key, encoder.encode(data)));
}

/** HMAC-SHA256 of `data` with a signing key, as lowercase hex. */
export async function signHex(key: CryptoKey, data: string): Promise<string> {
  return hex(await hmac(key, data));
}

const keyCache = new Map<string, CryptoKey>();

/** Derive the SigV4 signing key for a date, region and service (cached). */
export async function signingKey(
  secret: string,
  date: string,
  region: string,
  service: string,
): Promise<CryptoKey> {
  const cacheKey = [secret, date, region, service].join("\n");
  const cached = keyCache.get(cacheKey);
  if (cached) return cached;
  let k = await hmacKey(encoder.encode(`AWS4${secret}`));
  for (const part of [date, region, service, "aws4_request"]) {
    k = await hmacKey(await hmac(k, part));
  }
  if (keyCache.size >= 32) keyCache.clear();
  keyCache.set(cacheKey, k);
  return k;
}

function timingSafeEqual(a: string, b: string): boolean {
  if (a.length !== b.length) return false;
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= a.charCodeAt(i) ^ b.charCodeAt(i);
  return diff === 0;
}

const EMPTY_SHA256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

/**
 * The expected signature of one chunk of a `STREAMING-AWS4-HMAC-SHA256-PAYLOAD` upload,
 * from the hex SHA-256 of the chunk's data.
 */
export async function chunkSignature(
  ctx: SigningContext,
  previous: string,
  chunkSha256: string,
): Promise<string> {
  const s = [
    "AWS4-HMAC-SHA256-PAYLOAD",
    ctx.datetime,
    ctx.scope,
    previous,
    EMPTY_SHA256,
    chunkSha256,
  ].join("\n");
  return await signHex(ctx.key, s);
}

/** The expected signature of the trailer of a `...-PAYLOAD-TRAILER` upload. */
export async function trailerSignature(
  ctx: SigningContext,
  previous: string,
  trailer: string,
): Promise<string> {
  const s = [
    "AWS4-HMAC-SHA256-TRAILER",
    ctx.datetime,
    ctx.scope,
    previous,
    await sha256Hex(trailer),
  ].join("\n");
  return await signHex(ctx.key, s);
}

/** Constant-time comparison of two hex signatures (case-insensitive). */
export function signaturesEqual(a: string, b: string): boolean {
  return timingSafeEqual(a.toLowerCase(), b.toLowerCase());
}
