/**
 * Reading and checking a request body as it streams in: the SigV4 payload hash
 * (`x-amz-content-sha256`), aws-chunked uploads (`STREAMING-...`, decoded and their
 * chunk and trailer signatures checked by `aws_chunked.ts`), `Content-MD5` and the
 * flexible checksums (`x-amz-checksum-*`, in a header or a trailer). Nothing is read before the signature was verified, and a body declared
 * larger than the limit is refused before its first byte; every digest is computed
 * incrementally, so a body never has to be whole in memory.
 *
 * What clients send, measured: boto3/botocore 1.43 over plain HTTP sends the body as is,
 * with its real SHA-256 in `x-amz-content-sha256` and an `x-amz-checksum-crc32` header
 * (it switches to aws-chunked with a trailing checksum only over HTTPS); aws4fetch sends
 * `UNSIGNED-PAYLOAD` unless told otherwise; oq's client signs the real SHA-256; the AWS SDK
 * for JavaScript v3 may send `STREAMING-UNSIGNED-PAYLOAD-TRAILER`.
 *
 * @module
 */

import { concatBytes, createDigest } from "../runtime/mod.ts";
import { AwsChunkedDecoder, incomplete } from "./aws_chunked.ts";
import { type Checksum, CHECKSUM_ALGORITHMS, createChecksum, toBase64 } from "./checksums.ts";
import { invalidRequest, S3Error } from "./errors.ts";
import type { VerifiedRequest } from "./sigv4.ts";
import { hex } from "./sigv4_crypto.ts";

/** Where the bytes of a body go as they are read. */
export interface BodySink {
  /** Take the next decoded bytes (the sink may keep the array). */
  write(bytes: Uint8Array): Promise<void> | void;
}

/** What reading a body found. */
export interface PayloadResult {
  /** Size of the decoded body in bytes. */
  size: number;
  /** Hex MD5 of the decoded body: the ETag of a single-part upload. */
  md5: string;
  /** Checksum headers to echo in the answer (e.g. `x-amz-checksum-crc32`). */
  checksumHeaders: Record<string, string>;
}

/** Largest XML request body accepted (DeleteObjects of 1000 long keys fits). */
export const MAX_XML_BODY = 10 * 1024 * 1024;

/** 400 EntityTooLarge: the object is larger than the server accepts. */
export function entityTooLarge(size: number | undefined, max: number): S3Error {
  return new S3Error(
    "EntityTooLarge",
    400,
    "Your proposed upload exceeds the maximum allowed size",
    {
      fields: {
        ...(size !== undefined ? { ProposedSize: String(size) } : {}),
        MaxSizeAllowed: String(max),
      },
    },
  );
}

function tooLongXml(): S3Error {
  return new S3Error("MaxMessageLengthExceeded", 400, "Your request was too big.");
}

/**
 * The body of a verified request, read once: into memory for XML documents
 * ({@link RequestBody.bytes}) or streamed into a sink for uploads
 * ({@link RequestBody.pipeTo}). Both check every digest the request came with and throw
 * XAmzContentSHA256Mismatch, BadDigest, InvalidDigest, IncompleteBody, EntityTooLarge or
 * SignatureDoesNotMatch (a chunk) as S3 does.
 *
 * @example
 * ```ts ignore
 * import { RequestBody } from "./payload.ts";
 * const body = new RequestBody(request, await verifySigV4(...));
 * const { bytes } = await body.bytes();
 * ```
 */
export class RequestBody {
  readonly #req: Request;
  readonly #verified: VerifiedRequest;
  #read = false;

  /** Wrap the body of a request whose signature was verified. */
  constructor(req: Request, verified: VerifiedRequest) {
    this.#req = req;
    this.#verified = verified;
  }

  /** True once the body was read (a request without a body counts as read). */
  get consumed(): boolean {
    return this.#read || this.#req.body === null;
  }

  /** The size the request declares for its decoded body, when it declares one. */
  declaredSize(): number | undefined {
    const h = this.#req.headers;
    const streaming = this.#verified.payloadHash.startsWith("STREAMING-");
    const value = streaming ? h.get("x-amz-decoded-content-length") : h.get("content-length");
    if (value === null || !/^\d+$/.test(value.trim())) return undefined;
    return Number(value);
  }

  /** Read the whole body into memory (an XML document): at most `limit` bytes. */
  async bytes(
    limit = MAX_XML_BODY,
  ): Promise<{ bytes: Uint8Array; checksumHeaders: Record<string, string> }> {
    const chunks: Uint8Array[] = [];
    const r = await this.#consume({ write: (b) => void chunks.push(b) }, limit, tooLongXml);
    return { bytes: concatBytes(chunks), checksumHeaders: r.checksumHeaders };
  }

  /** Stream the body into `sink`, at most `limit` bytes (EntityTooLarge beyond). */
  async pipeTo(sink: BodySink, limit: number): Promise<PayloadResult> {
    return await this.#consume(sink, limit, (size) => entityTooLarge(size, limit));
  }

  async #consume(
    sink: BodySink,
    limit: number,
    tooLarge: (size?: number) => S3Error,
  ): Promise<PayloadResult> {
    if (this.#read) throw new Error("The request body was already read");
    this.#read = true;
    const declared = this.declaredSize();
    if (declared !== undefined && declared > limit) throw tooLarge(declared);
    const headers = this.#req.headers;
    const contentMd5 = parseContentMd5(headers.get("content-md5"));
    const hash = this.#verified.payloadHash;
    const streaming = hash.startsWith("STREAMING-");
    const md5 = await createDigest("md5");
    const sha256 = !streaming && hash !== "UNSIGNED-PAYLOAD"
      ? await createDigest("sha256")
      : undefined;
    const checksums = await wantedChecksums(headers);
    let size = 0;
    const emit = async (bytes: Uint8Array) => {
      size += bytes.length;
      if (size > limit) throw tooLarge();
      md5.update(bytes);
      sha256?.update(bytes);
      for (const c of checksums.values()) c.update(bytes);
      await sink.write(bytes);
    };
    const decoder = streaming ? new AwsChunkedDecoder(this.#verified, emit) : undefined;
    if (this.#req.body !== null) {
      const reader = this.#req.body.getReader();
      try {
        for (;;) {
          let next;
          try {
            next = await reader.read();
          } catch {
            throw incomplete(); // the client went away before the end of its body
          }
          if (next.done) break;
          if (decoder) await decoder.push(next.value);
          else await emit(next.value);
        }
      } finally {
        reader.releaseLock();
      }
    }
    const trailers = decoder ? await decoder.end() : new Map<string, string>();
    if (streaming && declared !== undefined && declared !== size) throw incomplete();
    if (sha256) {
      const computed = hex(sha256.digest());
      if (computed !== hash) {
        throw new S3Error(
          "XAmzContentSHA256Mismatch",
          400,
          "The provided 'x-amz-content-sha256' header does not match what was computed.",
          { fields: { ClientComputedContentSHA256: hash, S3ComputedContentSHA256: computed } },
        );
      }
    }
    const digest = md5.digest();
    if (contentMd5 !== undefined && toBase64(digest) !== contentMd5.value) {
      throw new S3Error(
        "BadDigest",
        400,
        "The Content-MD5 you specified did not match what we received.",
        { fields: { ExpectedDigest: contentMd5.given, CalculatedDigest: toBase64(digest) } },
      );
    }
    return {
      size,
      md5: hex(digest),
      checksumHeaders: checkChecksums(headers, trailers, checksums),
    };
  }
}

function parseContentMd5(given: string | null): { given: string; value: string } | undefined {
  if (given === null) return undefined;
  let decoded: string;
  try {
    decoded = atob(given.trim());
  } catch {
    decoded = "";
  }
  if (decoded.length !== 16) {
    throw new S3Error("InvalidDigest", 400, "The Content-MD5 you specified was invalid.");
  }
  return { given, value: btoa(decoded) };
}

// The checksums to compute: those sent as headers and the one a trailer will carry.
async function wantedChecksums(headers: Headers): Promise<Map<string, Checksum>> {
  const names = new Set<string>();
  for (const algorithm of CHECKSUM_ALGORITHMS) {
    if (headers.has(`x-amz-checksum-${algorithm}`)) names.add(algorithm);
  }
  const trailer = headers.get("x-amz-trailer")?.trim().toLowerCase();
  if (trailer?.startsWith("x-amz-checksum-")) names.add(trailer.slice(15));
  if (names.size > 1) {
    throw invalidRequest(
      "Expecting a single x-amz-checksum- header. Multiple checksum Types are not allowed.",
    );
  }
  const out = new Map<string, Checksum>();
  for (const algorithm of CHECKSUM_ALGORITHMS) {
    if (names.has(algorithm)) out.set(algorithm, await createChecksum(algorithm));
  }
  return out;
}

function checkChecksums(
  headers: Headers,
  trailers: Map<string, string>,
  checksums: Map<string, Checksum>,
): Record<string, string> {
  const declaredTrailer = headers.get("x-amz-trailer")?.trim().toLowerCase();
  if (declaredTrailer && !trailers.has(declaredTrailer)) {
    throw new S3Error(
      "MalformedTrailerError",
      400,
      `The request declared the trailer "${declaredTrailer}" but did not send it`,
    );
  }
  const out: Record<string, string> = {};
  for (const [algorithm, c] of checksums) {
    const name = `x-amz-checksum-${algorithm}`;
    const given = (headers.get(name) ?? trailers.get(name) ?? "").trim();
    const computed = c.base64();
    if (computed !== given) {
      throw new S3Error(
        "BadDigest",
        400,
        `The ${algorithm.toUpperCase()} you specified did not match the calculated checksum.`,
      );
    }
    out[name] = computed;
  }
  return out;
}
