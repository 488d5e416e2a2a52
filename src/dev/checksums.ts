/**
 * The flexible checksums S3 clients send with uploads (`x-amz-checksum-crc32`,
 * `-crc32c`, `-crc64nvme`, `-sha1`, `-sha256`): each is the base64 of the big-endian
 * digest. Recent botocore sends CRC32 with every PutObject, DeleteObjects and
 * PutBucketLifecycleConfiguration by default.
 *
 * @module
 */

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
const CRC64NVME = (() => {
  const poly = 0x9a6c9329ac4bc9b5n;
  const table = new BigUint64Array(256);
  for (let n = 0; n < 256; n++) {
    let c = BigInt(n);
    for (let k = 0; k < 8; k++) c = c & 1n ? (c >> 1n) ^ poly : c >> 1n;
    table[n] = c;
  }
  return table;
})();

function crc32With(table: Uint32Array, bytes: Uint8Array): Uint8Array {
  let c = 0xffffffff;
  for (let i = 0; i < bytes.length; i++) c = table[(c ^ bytes[i]!) & 0xff]! ^ (c >>> 8);
  const out = new Uint8Array(4);
  new DataView(out.buffer).setUint32(0, (c ^ 0xffffffff) >>> 0);
  return out;
}

function crc64nvme(bytes: Uint8Array): Uint8Array {
  let c = 0xffffffffffffffffn;
  for (let i = 0; i < bytes.length; i++) {
    c = CRC64NVME[Number((c ^ BigInt(bytes[i]!)) & 0xffn)]! ^ (c >> 8n);
  }
  const out = new Uint8Array(8);
  new DataView(out.buffer).setBigUint64(0, c ^ 0xffffffffffffffffn);
  return out;
}

/** Base64 of bytes. */
export function toBase64(bytes: Uint8Array): string {
  let s = "";
  for (let i = 0; i < bytes.length; i++) s += String.fromCharCode(bytes[i]!);
  return btoa(s);
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
  switch (algorithm) {
    case "crc32":
      return toBase64(crc32With(CRC32, bytes));
    case "crc32c":
      return toBase64(crc32With(CRC32C, bytes));
    case "crc64nvme":
      return toBase64(crc64nvme(bytes));
    case "sha1":
      return toBase64(new Uint8Array(await crypto.subtle.digest("SHA-1", bytes as BufferSource)));
    case "sha256":
      return toBase64(new Uint8Array(await crypto.subtle.digest("SHA-256", bytes as BufferSource)));
  }
}
