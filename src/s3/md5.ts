/**
 * MD5 in pure TypeScript. WebCrypto has no MD5, but S3 requires a `Content-MD5` header on
 * DeleteObjects and PutBucketLifecycleConfiguration, and a single-part upload's ETag is
 * the MD5 of its body (which the in-memory store reproduces). Not for security.
 *
 * @module
 */

// Per-round left-rotation amounts (RFC 1321, section 3.4).
// deno-fmt-ignore
const SHIFTS = [
  7, 12, 17, 22, 7, 12, 17, 22, 7, 12, 17, 22, 7, 12, 17, 22,
  5, 9, 14, 20, 5, 9, 14, 20, 5, 9, 14, 20, 5, 9, 14, 20,
  4, 11, 16, 23, 4, 11, 16, 23, 4, 11, 16, 23, 4, 11, 16, 23,
  6, 10, 15, 21, 6, 10, 15, 21, 6, 10, 15, 21, 6, 10, 15, 21,
];

// K[i] = floor(abs(sin(i + 1)) * 2^32).
const K = Array.from(
  { length: 64 },
  (_, i) => Math.floor(Math.abs(Math.sin(i + 1)) * 2 ** 32) >>> 0,
);

/**
 * The 16-byte MD5 digest of `bytes`.
 *
 * @example
 * ```ts
 * import { md5 } from "./md5.ts";
 * md5(new TextEncoder().encode("abc")).length; // 16
 * ```
 */
export function md5(bytes: Uint8Array): Uint8Array {
  // Padding: 0x80, zeros up to 56 mod 64, then the bit length as 64-bit little-endian.
  const paddedLength = (((bytes.length + 8) >>> 6) + 1) << 6;
  const buf = new Uint8Array(paddedLength);
  buf.set(bytes);
  buf[bytes.length] = 0x80;
  const view = new DataView(buf.buffer);
  const bitLength = bytes.length * 8;
  view.setUint32(paddedLength - 8, bitLength >>> 0, true);
  view.setUint32(paddedLength - 4, Math.floor(bitLength / 2 ** 32), true);

  let a0 = 0x67452301;
  let b0 = 0xefcdab89;
  let c0 = 0x98badcfe;
  let d0 = 0x10325476;
  const m = new Uint32Array(16);

  for (let offset = 0; offset < paddedLength; offset += 64) {
    for (let j = 0; j < 16; j++) m[j] = view.getUint32(offset + j * 4, true);
    let a = a0;
    let b = b0;
    let c = c0;
    let d = d0;
    for (let i = 0; i < 64; i++) {
      let f: number;
      let g: number;
      if (i < 16) {
        f = (b & c) | (~b & d);
        g = i;
      } else if (i < 32) {
        f = (d & b) | (~d & c);
        g = (5 * i + 1) & 15;
      } else if (i < 48) {
        f = b ^ c ^ d;
        g = (3 * i + 5) & 15;
      } else {
        f = c ^ (b | ~d);
        g = (7 * i) & 15;
      }
      const sum = (a + f + K[i]! + m[g]!) | 0;
      const s = SHIFTS[i]!;
      a = d;
      d = c;
      c = b;
      b = (b + ((sum << s) | (sum >>> (32 - s)))) | 0;
    }
    a0 = (a0 + a) | 0;
    b0 = (b0 + b) | 0;
    c0 = (c0 + c) | 0;
    d0 = (d0 + d) | 0;
  }

  const out = new Uint8Array(16);
  const outView = new DataView(out.buffer);
  outView.setUint32(0, a0, true);
  outView.setUint32(4, b0, true);
  outView.setUint32(8, c0, true);
  outView.setUint32(12, d0, true);
  return out;
}

/**
 * The MD5 digest of `bytes` as 32 lowercase hex characters (the form of an S3 ETag).
 *
 * @example
 * ```ts
 * import { md5Hex } from "./md5.ts";
 * md5Hex(new Uint8Array()); // "d41d8cd98f00b204e9800998ecf8427e"
 * ```
 */
export function md5Hex(bytes: Uint8Array): string {
  let hex = "";
  for (const b of md5(bytes)) hex += b.toString(16).padStart(2, "0");
  return hex;
}

/**
 * The MD5 digest of `bytes` in base64: the value of a `Content-MD5` header.
 *
 * @example
 * ```ts
 * import { md5Base64 } from "./md5.ts";
 * md5Base64(new Uint8Array()); // "1B2M2Y8AsgTpgAmY7PhCfg=="
 * ```
 */
export function md5Base64(bytes: Uint8Array): string {
  return btoa(String.fromCharCode(...md5(bytes)));
}
