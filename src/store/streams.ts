/**
 * Helpers for streamed bodies at the storage seam: a {@link StreamBody} read into one
 * buffer and checked against its announced size and SHA-256 (what S3 does with a signed
 * payload hash), and stored bytes handed out as chunks. Used by stores that hold bodies
 * in memory anyway.
 *
 * @module
 */

import { sha256Hex } from "../runtime/hash.ts";
import type { PutBody, StreamBody } from "../s3/types.ts";

/** Size of the chunks {@link chunksOf} hands out. */
export const CHUNK_BYTES = 64 * 1024;

/** Whether a body is a {@link StreamBody} (neither bytes nor a string). */
export function isStreamBody(body: PutBody): body is StreamBody {
  return typeof body !== "string" && !(body instanceof Uint8Array);
}

/**
 * A streamed body's bytes, read whole; a size or SHA-256 other than announced is an
 * error (S3's `IncompleteBody` / `XAmzContentSHA256Mismatch`), and nothing is written.
 *
 * @example
 * ```ts
 * import { collectBody } from "./streams.ts";
 * const bytes = await collectBody({
 *   size: 3,
 *   sha256: "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
 *   async *chunks() {
 *     yield new TextEncoder().encode("abc");
 *   },
 * });
 * bytes.length; // 3
 * ```
 */
export async function collectBody(body: StreamBody): Promise<Uint8Array> {
  const out = new Uint8Array(body.size);
  let at = 0;
  for await (const chunk of body.chunks()) {
    if (at + chunk.length > out.length) {
      throw new StreamBodyError(
        "IncompleteBody",
        `body is longer than the ${body.size} bytes announced`,
      );
    }
    out.set(chunk, at);
    at += chunk.length;
  }
  if (at !== out.length) {
    throw new StreamBodyError(
      "IncompleteBody",
      `body is ${at} bytes, not the ${body.size} announced`,
    );
  }
  const got = await sha256Hex(out);
  if (got !== body.sha256) {
    throw new StreamBodyError(
      "XAmzContentSHA256Mismatch",
      `body has SHA-256 ${got}, not the ${body.sha256} announced`,
    );
  }
  return out;
}

/** A streamed body that does not match what it announced. */
export class StreamBodyError extends Error {
  /** S3's code for the mismatch. */
  readonly code: "IncompleteBody" | "XAmzContentSHA256Mismatch";
  /** Create the error. */
  constructor(code: "IncompleteBody" | "XAmzContentSHA256Mismatch", message: string) {
    super(message);
    this.name = "StreamBodyError";
    this.code = code;
  }
}

/** Bytes handed out as chunks of at most {@link CHUNK_BYTES} (views, not copies). */
export async function* chunksOf(bytes: Uint8Array): AsyncGenerator<Uint8Array> {
  for (let at = 0; at < bytes.length; at += CHUNK_BYTES) {
    yield bytes.subarray(at, Math.min(at + CHUNK_BYTES, bytes.length));
  }
}
