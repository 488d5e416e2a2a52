/**
 * The ETag an S3 store gives an object, known before it is written: the MD5 of the bytes in
 * hex, as S3 returns for a single-part upload without SSE-KMS or SSE-C (Ceph RGW, MinIO,
 * moto and `oq dev` do the same). A store with other ETags (SSE-KMS) makes a prediction
 * wrong, never unsafe: a compare-and-swap on it fails (docs/format.md, "Batch entries").
 *
 * @module
 */

import { md5Hex } from "../s3/md5.ts";

/**
 * The ETag (unquoted) of a single-part upload of `bytes`.
 *
 * @example
 * ```ts
 * import { predictedEtag } from "./etags.ts";
 * predictedEtag(new TextEncoder().encode("")); // "d41d8cd98f00b204e9800998ecf8427e"
 * ```
 */
export function predictedEtag(bytes: Uint8Array): string {
  return md5Hex(bytes);
}
