/**
 * The aws-chunked body encoding of streaming SigV4 uploads (`STREAMING-...` payload
 * hashes), decoded as the bytes arrive: chunk sizes, chunk signatures chained from the
 * request's own signature, the final empty chunk and the trailer (a trailing checksum and
 * its signature).
 *
 * @module
 */

import { concatBytes, createDigest, type Digest } from "../runtime/mod.ts";
import { invalidRequest, S3Error } from "./errors.ts";
import type { VerifiedRequest } from "./sigv4.ts";
import { chunkSignature, hex, signaturesEqual, trailerSignature } from "./sigv4_crypto.ts";

const latin1 = new TextDecoder("latin1");
const MAX_CHUNK_HEADER = 4096;
const MAX_TRAILER = 16 * 1024;

/** 400 IncompleteBody: the body ended early, or its aws-chunked framing is malformed. */
export function incomplete(
  message = "You did not provide the number of bytes specified by the Content-Length HTTP header.",
): S3Error {
  return new S3Error("IncompleteBody", 400, message);
}

/**
 * A streaming decoder of aws-chunked bodies: `<hex size>[;chunk-signature=<sig>]\r\n<data>\r\n`
 * chunks, a zero-size last chunk, then optional trailer lines. With a signing context
 * every chunk signature (and the trailer signature) is checked; data is passed on as it
 * arrives, so a sink may see the data of a chunk whose signature then fails (the caller
 * discards what it received when decoding throws).
 *
 * @example
 * ```ts ignore
 * import { AwsChunkedDecoder } from "./aws_chunked.ts";
 * const decoder = new AwsChunkedDecoder(verified, async (bytes) => await sink.write(bytes));
 * for await (const raw of request.body!) await decoder.push(raw);
 * const trailers = await decoder.end();
 * ```
 */
export class AwsChunkedDecoder {
  readonly #verified: VerifiedRequest;
  readonly #emit: (bytes: Uint8Array) => Promise<void>;
  readonly #signed: boolean;
  #state: "size" | "data" | "crlf" | "trailer" = "size";
  #line: number[] = [];
  #remaining = 0;
  #crlf = 0;
  #chunkHash: Digest | undefined;
  #signature = "";
  #previous: string;
  #trailer: Uint8Array[] = [];
  #trailerSize = 0;

  /** Decode for a verified request, passing decoded bytes to `emit`. */
  constructor(verified: VerifiedRequest, emit: (bytes: Uint8Array) => Promise<void>) {
    this.#verified = verified;
    this.#emit = emit;
    this.#signed = verified.payloadHash.startsWith("STREAMING-AWS4-HMAC-SHA256-PAYLOAD");
    this.#previous = verified.signing.seedSignature;
  }

  /** Decode the next raw bytes (any split of the body). */
  async push(bytes: Uint8Array): Promise<void> {
    let i = 0;
    while (i < bytes.length) {
      switch (this.#state) {
        case "size": {
          const b = bytes[i++]!;
          this.#line.push(b);
          if (this.#line.length > MAX_CHUNK_HEADER) {
            throw incomplete("An aws-chunked chunk header is too long");
          }
          const n = this.#line.length;
          if (n >= 2 && this.#line[n - 2] === 13 && b === 10) await this.#header();
          break;
        }
        case "data": {
          const n = Math.min(this.#remaining, bytes.length - i);
          const piece = bytes.subarray(i, i + n);
          i += n;
          this.#remaining -= n;
          this.#chunkHash?.update(piece);
          await this.#emit(piece);
          if (this.#remaining === 0) {
            await this.#checkChunk();
            this.#state = "crlf";
          }
          break;
        }
        case "crlf": {
          if (bytes[i++] !== (this.#crlf === 0 ? 13 : 10)) {
            throw incomplete("An aws-chunked chunk is not followed by CRLF");
          }
          if (++this.#crlf === 2) {
            this.#crlf = 0;
            this.#state = "size";
          }
          break;
        }
        case "trailer": {
          const rest = bytes.subarray(i);
          i = bytes.length;
          this.#trailerSize += rest.length;
          if (this.#trailerSize > MAX_TRAILER) throw invalidRequest("The trailer is too long");
          this.#trailer.push(rest.slice());
        }
      }
    }
  }

  /** The body ended: check that it was complete and return the trailer headers. */
  async end(): Promise<Map<string, string>> {
    if (this.#state !== "trailer") {
      throw incomplete("The aws-chunked body ended before its last chunk");
    }
    const trailers = new Map<string, string>();
    let trailerSig: string | undefined;
    let canonical = "";
    for (const line of latin1.decode(concatBytes(this.#trailer)).split(/\r?\n/)) {
      if (line === "") continue;
      const i = line.indexOf(":");
      if (i <= 0) {
        throw invalidRequest("The request contained trailing data that was not well-formed");
      }
      const name = line.slice(0, i).trim().toLowerCase();
      const value = line.slice(i + 1).trim();
      if (name === "x-amz-trailer-signature") trailerSig = value;
      else {
        trailers.set(name, value);
        canonical += `${name}:${value}\n`;
      }
    }
    if (this.#signed && this.#verified.payloadHash.endsWith("-TRAILER")) {
      const expected = await trailerSignature(this.#verified.signing, this.#previous, canonical);
      if (!signaturesEqual(trailerSig ?? "", expected)) {
        throw new S3Error(
          "SignatureDoesNotMatch",
          403,
          "The trailer signature we calculated does not match the signature you provided.",
        );
      }
    }
    return trailers;
  }

  async #header(): Promise<void> {
    const text = latin1.decode(Uint8Array.from(this.#line.slice(0, -2)));
    this.#line = [];
    const [sizeHex = "", ...extensions] = text.split(";");
    const size = Number.parseInt(sizeHex.trim(), 16);
    if (!/^[0-9a-fA-F]+$/.test(sizeHex.trim()) || !Number.isSafeInteger(size)) {
      throw incomplete(`Malformed aws-chunked chunk size "${sizeHex}"`);
    }
    this.#signature =
      extensions.map((e) => e.trim()).find((e) => e.startsWith("chunk-signature="))?.slice(16) ??
        "";
    this.#chunkHash = this.#signed ? await createDigest("sha256") : undefined;
    if (size === 0) {
      await this.#checkChunk();
      this.#state = "trailer";
      return;
    }
    this.#remaining = size;
    this.#state = "data";
  }

  async #checkChunk(): Promise<void> {
    if (!this.#signed) return;
    const hash = hex(this.#chunkHash!.digest());
    const expected = await chunkSignature(this.#verified.signing, this.#previous, hash);
    if (!signaturesEqual(this.#signature, expected)) {
      throw new S3Error(
        "SignatureDoesNotMatch",
        403,
        "The chunk signature we calculated does not match the signature you provided.",
      );
    }
    this.#previous = expected;
  }
}

/**
 * Decode a whole aws-chunked body held in memory (see {@link AwsChunkedDecoder}).
 *
 * @example
 * ```ts ignore
 * import { decodeAwsChunked } from "./aws_chunked.ts";
 * const { body, trailers } = await decodeAwsChunked(raw, await verifySigV4(...));
 * ```
 */
export async function decodeAwsChunked(
  raw: Uint8Array,
  verified: VerifiedRequest,
): Promise<{ body: Uint8Array; trailers: Map<string, string> }> {
  const chunks: Uint8Array[] = [];
  const decoder = new AwsChunkedDecoder(verified, (b) => {
    chunks.push(b.slice());
    return Promise.resolve();
  });
  await decoder.push(raw);
  return { trailers: await decoder.end(), body: concatBytes(chunks) };
}
