/**
 * SHA-256 and HMAC-SHA-256 for the library (SigV4 signatures, payload hashes, derived ids):
 * the runtime's native, synchronous `node:crypto` where it exists (Node 20.16+, Bun, Deno,
 * reached through `process.getBuiltinModule`, so nothing here imports a `node:*` module and
 * the library still bundles for a browser), WebCrypto where it is the only choice (browsers,
 * Workers without `nodejs_compat`, older Node 20). Native hashing of a small buffer costs a
 * few microseconds; WebCrypto's costs a promise, a trip to a thread pool and, for an HMAC, a
 * CryptoKey per key.
 *
 * @module
 */

/** Bytes, or a string hashed as its UTF-8 bytes. */
export type HashInput = Uint8Array | string;

/** Synchronous native hashing (see {@link nativeHashing}). */
export interface NativeHashing {
  /** The 32-byte SHA-256 digest of `data`. */
  sha256(data: HashInput): Uint8Array;
  /** The SHA-256 digest of `data` in lowercase hex. */
  sha256Hex(data: HashInput): string;
  /** The 32-byte HMAC-SHA-256 of `data` under `key`. */
  hmacSha256(key: HashInput, data: HashInput): Uint8Array;
  /** The HMAC-SHA-256 of `data` under `key` in lowercase hex. */
  hmacSha256Hex(key: HashInput, data: HashInput): string;
  /** A SHA-256 fed piece by piece (a payload hashed as it streams, never held whole). */
  sha256Stream(): Sha256Stream;
}

/** An incremental SHA-256 (see {@link NativeHashing.sha256Stream}). */
export interface Sha256Stream {
  /** Hash the next bytes. */
  update(data: Uint8Array): void;
  /** The digest of everything given, in lowercase hex; the stream is done. */
  hex(): string;
}

interface NodeHash {
  update(data: HashInput): NodeHash;
  digest(): Uint8Array;
  digest(encoding: "hex"): string;
}

interface NodeCrypto {
  createHash(algorithm: string): NodeHash;
  createHmac(algorithm: string, key: HashInput): NodeHash;
  /** One-shot digest (Node 20.12+, Bun, Deno): no Hash object per call. */
  hash?: {
    (algorithm: string, data: HashInput, encoding: "hex"): string;
    (algorithm: string, data: HashInput, encoding: "buffer"): Uint8Array;
  };
}

// deno-lint-ignore no-explicit-any
const g = globalThis as any;
let native: NativeHashing | null | undefined;

/**
 * The runtime's native hashing (`node:crypto` through `process.getBuiltinModule`: Node
 * 20.16+, Bun, Deno); `undefined` where there is none, and callers use WebCrypto.
 *
 * @example
 * ```ts
 * import { nativeHashing, toHex } from "./hash.ts";
 * const native = nativeHashing();
 * if (native) toHex(native.sha256("abc")).slice(0, 8); // "ba7816bf"
 * ```
 */
export function nativeHashing(): NativeHashing | undefined {
  if (native === undefined) native = loadNative();
  return native ?? undefined;
}

function loadNative(): NativeHashing | null {
  let c: NodeCrypto | undefined;
  try {
    c = g.process?.getBuiltinModule?.("node:crypto") as NodeCrypto | undefined;
  } catch {
    return null;
  }
  if (typeof c?.createHash !== "function" || typeof c.createHmac !== "function") return null;
  const nodeCrypto = c;
  // The one-shot digest where there is one: half the cost of a Hash object for the small
  // inputs of a signature (a canonical request, a task record).
  const hash = typeof c.hash === "function" ? c.hash : undefined;
  return {
    sha256: hash
      ? (data) => hash("sha256", data, "buffer")
      : (data) => nodeCrypto.createHash("sha256").update(data).digest(),
    sha256Hex: hash
      ? (data) => hash("sha256", data, "hex")
      : (data) => nodeCrypto.createHash("sha256").update(data).digest("hex"),
    hmacSha256: (key, data) => nodeCrypto.createHmac("sha256", key).update(data).digest(),
    hmacSha256Hex: (key, data) => nodeCrypto.createHmac("sha256", key).update(data).digest("hex"),
    sha256Stream: () => {
      const h = nodeCrypto.createHash("sha256");
      return {
        update: (data) => void h.update(data),
        hex: () => h.digest("hex"),
      };
    },
  };
}

const encoder = new TextEncoder();
const EMPTY_SHA256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

/**
 * Lowercase hex SHA-256 of `data`: native where the runtime has it, else WebCrypto.
 *
 * @example
 * ```ts
 * import { sha256Hex } from "./hash.ts";
 * await sha256Hex(""); // "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
 * ```
 */
export async function sha256Hex(data: HashInput): Promise<string> {
  if (data.length === 0) return EMPTY_SHA256;
  const n = nativeHashing();
  if (n) return n.sha256Hex(data);
  return toHex(await webSha256(data));
}

/** SHA-256 through WebCrypto only (the fallback of {@link sha256Hex}). */
export async function webSha256(data: HashInput): Promise<Uint8Array> {
  const bytes = typeof data === "string" ? encoder.encode(data) : data;
  return new Uint8Array(await crypto.subtle.digest("SHA-256", bytes as BufferSource));
}

/** Import raw bytes as a WebCrypto HMAC-SHA-256 key (import once, sign many times). */
export async function importHmacKey(raw: Uint8Array): Promise<CryptoKey> {
  return await crypto.subtle.importKey(
    "raw",
    raw as BufferSource,
    { name: "HMAC", hash: "SHA-256" },
    false,
    ["sign"],
  );
}

/** HMAC-SHA-256 through WebCrypto, under a key from {@link importHmacKey}. */
export async function webHmacSha256(key: CryptoKey, data: HashInput): Promise<Uint8Array> {
  const bytes = typeof data === "string" ? encoder.encode(data) : data;
  return new Uint8Array(await crypto.subtle.sign("HMAC", key, bytes as BufferSource));
}

const HEX = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, "0"));

/**
 * Lowercase hex of bytes.
 *
 * @example
 * ```ts
 * import { toHex } from "./hash.ts";
 * toHex(new Uint8Array([0, 171])); // "00ab"
 * ```
 */
export function toHex(bytes: Uint8Array): string {
  let hex = "";
  for (let i = 0; i < bytes.length; i++) hex += HEX[bytes[i]!];
  return hex;
}
