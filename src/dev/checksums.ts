/**
 * The flexible checksums S3 clients send with uploads (`x-amz-checksum-crc32`,
 * `-crc32c`, `-crc64nvme`, `-sha1`, `-sha256`): each is the base64 of the big-endian
 * digest. Recent botocore sends CRC32 with every PutObject, DeleteObjects and
 * PutBucketLifecycleConfiguration by default.
 *
 * @module
 */

import { createDigest } from "../runtime/mod.ts";

/** The checksum algorithms S3 accepts, by the suffix of their header name. */
export type ChecksumAlgorithm = "crc32" | "crc32c" | "crc64nvme" | "sha1" | "sha256";

/** Every algorithm, in the order headers are checked. */
export const CHECKSUM_ALGORITHMS: readonly ChecksumAlgorithm[] = [
  "crc32",
  "crc32c",
  "crc64nvme",
  "sha1",
  "sha256",
];

function crcTable32(poly: number): Uint32Array {
  const table = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ poly : c >>> 1;
    table[n] = c >>> 0;
  }
  return table;
}

const CRC32 = crcTable32(0xedb88320);
const CRC32C = crcTable32(0x82f63b78);
// CRC-64/NVME as two 32-bit halves per table entry (BigInt per byte is far too slow).
const [CRC64_HI, CRC64_LO] = (() => {
  const poly = 0x9a6c9329ac4bc9b5n;
  const hi = new Uint32Array(256);
  const lo = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = BigInt(n);
    for (let k = 0; k < 8; k++) c = c & 1n ? (c >> 1n) ^ poly : c >> 1n;
    hi[n] = Number(c >> 32n);
    lo[n] = Number(c & 0xffffffffn);
  }
  return [hi, lo];
})();

/** An incremental checksum (see {@link createChecksum}). */
export interface Checksum {
  /** Add bytes. */
  update(bytes: Uint8Array): void;
  /** The base64 checksum of everything added, as sent in `x-amz-checksum-<algorithm>`. */
  base64(): string;
}

function crc32Checksum(table: Uint32Array): Checksum {
  let c = 0xffffffff;
  return {
    update(bytes) {
      for (let i = 0; i < bytes.length; i++) c = table[(c ^ bytes[i]!) & 0xff]! ^ (c >>> 8);
    },
    base64() {
      const out = new Uint8Array(4);
      new DataView(out.buffer).setUint32(0, (c ^ 0xffffffff) >>> 0);
      return toBase64(out);
    },
  };
}

function crc64Checksum(): Checksum {
  let hi = 0xffffffff;
  let lo = 0xffffffff;
  return {
    update(bytes) {
      for (let i = 0; i < bytes.length; i++) {
        const t = (lo ^ bytes[i]!) & 0xff;
        lo = ((lo >>> 8) | (hi << 24)) ^ CRC64_LO[t]!;
        hi = (hi >>> 8) ^ CRC64_HI[t]!;
      }
    },
    base64() {
      const out = new Uint8Array(8);
      const view = new DataView(out.buffer);
      view.setUint32(0, (hi ^ 0xffffffff) >>> 0);
      view.setUint32(4, (lo ^ 0xffffffff) >>> 0);
      return toBase64(out);
    },
  };
}

/** Base64 of bytes. */
export function toBase64(bytes: Uint8Array): string {
  let s = "";
  for (let i = 0; i < bytes.length; i++) s += String.fromCharCode(bytes[i]!);
  return btoa(s);
}

/** Start an incremental checksum of one of S3's algorithms. */
export async function createChecksum(algorithm: ChecksumAlgorithm): Promise<Checksum> {
  switch (algorithm) {
    case "crc32":
      return crc32Checksum(CRC32);
    case "crc32c":
      return crc32Checksum(CRC32C);
    case "crc64nvme":
      return crc64Checksum();
    case "sha1":
    case "sha256": {
      const d = await createDigest(algorithm);
      return { update: (b) => d.update(b), base64: () => toBase64(d.digest()) };
    }
  }
}

/**
 * The base64 checksum of `bytes`, as sent in `x-amz-checksum-<algorithm>`.
 *
 * @example
 * ```ts
 * import { checksum } from "./checksums.ts";
 * await checksum("crc32", new TextEncoder().encode("hello world")); // "DUoRhQ=="
 * ```
 */
export async function checksum(algorithm: ChecksumAlgorithm, bytes: Uint8Array): Promise<string> {
  const c = await createChecksum(algorithm);
  c.update(bytes);
  return c.base64();
}
