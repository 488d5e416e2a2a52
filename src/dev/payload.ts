/**
 * Reading and checking a request body: the SigV4 payload hash (`x-amz-content-sha256`),
 * aws-chunked uploads (`STREAMING-...`, with chunk and trailer signatures), `Content-MD5`
 * and the flexible checksums (`x-amz-checksum-*`, in a header or a trailer).
 *
 * What clients send, measured: boto3/botocore 1.43 over plain HTTP sends the body as is,
 * with its real SHA-256 in `x-amz-content-sha256` and an `x-amz-checksum-crc32` header
 * (it switches to aws-chunked with a trailing checksum only over HTTPS); aws4fetch sends
 * `UNSIGNED-PAYLOAD` unless told otherwise; oq's client signs the real SHA-256; the AWS SDK
 * for JavaScript v3 may send `STREAMING-UNSIGNED-PAYLOAD-TRAILER`.
 *
 * @module
 */

import { concatBytes } from "../runtime.ts";
import { md5 } from "../s3/md5.ts";
import { checksum, CHECKSUM_ALGORITHMS, type ChecksumAlgorithm, toBase64 } from "./checksums.ts";
import { invalidRequest, S3Error } from "./errors.ts";
import type { VerifiedRequest } from "./sigv4.ts";
import { chunkSignature, sha256Hex, signaturesEqual, trailerSignature } from "./sigv4_crypto.ts";

/** A body read and checked. */
export interface Payload {
  /** The decoded body bytes. */
  body: Uint8Array;
  /** Checksum headers to echo in the answer (e.g. `x-amz-checksum-crc32`). */
  checksumHeaders: Record<string, string>;
}

const latin1 = new TextDecoder("latin1");
const CRLF = [13, 10] as const;

function incomplete(
  message = "You did not provide the number of bytes specified by the Content-Length HTTP header.",
): S3Error {
  return new S3Error("IncompleteBody", 400, message);
}

function indexOfCrlf(bytes: Uint8Array, from: number): number {
  for (let i = from; i + 1 < bytes.length; i++) {
    if (bytes[i] === CRLF[0] && bytes[i + 1] === CRLF[1]) return i;
  }
  return -1;
}

/**
 * Decode an aws-chunked body: `<hex size>[;chunk-signature=<sig>]\r\n<data>\r\n` chunks,
 * a zero-size last chunk, then optional trailer lines and an empty line. With a signing
 * context every chunk signature (and the trailer signature) is checked.
 */
export async function decodeAwsChunked(
  raw: Uint8Array,
  verified: VerifiedRequest,
): Promise<{ body: Uint8Array; trailers: Map<string, string> }> {
  const signed = verified.payloadHash.startsWith("STREAMING-AWS4-HMAC-SHA256-PAYLOAD");
  const withTrailer = verified.payloadHash.endsWith("-TRAILER");
  const chunks: Uint8Array[] = [];
  let previous = verified.signing.seedSignature;
  let pos = 0;
  for (;;) {
    const end = indexOfCrlf(raw, pos);
    if (end < 0) throw incomplete("The aws-chunked body ended before its last chunk");
    const [sizeHex = "", ...extensions] = latin1.decode(raw.subarray(pos, end)).split(";");
    const size = Number.parseInt(sizeHex.trim(), 16);
    if (!/^[0-9a-fA-F]+$/.test(sizeHex.trim()) || !Number.isSafeInteger(size)) {
      throw incomplete(`Malformed aws-chunked chunk size "${sizeHex}"`);
    }
    pos = end + 2;
    if (pos + size > raw.length) throw incomplete();
    const data = raw.subarray(pos, pos + size);
    pos += size;
    if (signed) {
      const given = extensions.map((e) =>
        e.trim()
      ).find((e) => e.startsWith("chunk-signature="))?.slice(16) ?? "";
      const expected = await chunkSignature(verified.signing, previous, data);
      if (!signaturesEqual(given, expected)) {
        throw new S3Error(
          "SignatureDoesNotMatch",
          403,
          "The chunk signature we calculated does not match the signature you provided.",
        );
      }
      previous = expected;
    }
    if (size === 0) break;
    chunks.push(data);
    if (raw[pos] !== CRLF[0] || raw[pos + 1] !== CRLF[1]) {
      throw incomplete("An aws-chunked chunk is not followed by CRLF");
    }
    pos += 2;
  }
  const trailers = new Map<string, string>();
  let trailerSig: string | undefined;
  let canonical = "";
  for (const line of latin1.decode(raw.subarray(pos)).split(/\r?\n/)) {
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
  if (signed && withTrailer) {
    const expected = await trailerSignature(verified.signing, previous, canonical);
    if (!signaturesEqual(trailerSig ?? "", expected)) {
      throw new S3Error(
        "SignatureDoesNotMatch",
        403,
        "The trailer signature we calculated does not match the signature you provided.",
      );
    }
  }
  return { body: concatBytes(chunks), trailers };
}

/**
 * Read the body of a verified request and check every digest it came with. Throws
 * XAmzContentSHA256Mismatch, BadDigest, InvalidDigest, IncompleteBody or
 * SignatureDoesNotMatch (a chunk) as S3 does.
 *
 * @example
 * ```ts
 * import { readPayload } from "./payload.ts";
 * // const { body, checksumHeaders } = await readPayload(request, await verifySigV4(...));
 * ```
 */
export async function readPayload(req: Request, verified: VerifiedRequest): Promise<Payload> {
  const raw = req.body === null ? new Uint8Array() : new Uint8Array(await req.arrayBuffer());
  const headers = req.headers;
  const hash = verified.payloadHash;
  let body: Uint8Array = raw;
  let trailers = new Map<string, string>();
  if (hash.startsWith("STREAMING-")) {
    ({ body, trailers } = await decodeAwsChunked(raw, verified));
    const declared = headers.get("x-amz-decoded-content-length");
    if (declared !== null && Number(declared) !== body.length) throw incomplete();
  } else if (hash !== "UNSIGNED-PAYLOAD") {
    const computed = await sha256Hex(raw);
    if (computed !== hash) {
      throw new S3Error(
        "XAmzContentSHA256Mismatch",
        400,
        "The provided 'x-amz-content-sha256' header does not match what was computed.",
        {
          fields: { ClientComputedContentSHA256: hash, S3ComputedContentSHA256: computed },
        },
      );
    }
  }
  checkContentMd5(headers.get("content-md5"), body);
  return { body, checksumHeaders: await checkChecksums(headers, trailers, body) };
}

function checkContentMd5(given: string | null, body: Uint8Array): void {
  if (given === null) return;
  let decoded: string;
  try {
    decoded = atob(given.trim());
  } catch {
    decoded = "";
  }
  if (decoded.length !== 16) {
    throw new S3Error("InvalidDigest", 400, "The Content-MD5 you specified was invalid.");
  }
  if (toBase64(md5(body)) !== btoa(decoded)) {
    throw new S3Error(
      "BadDigest",
      400,
      "The Content-MD5 you specified did not match what we received.",
      {
        fields: { ExpectedDigest: given, CalculatedDigest: toBase64(md5(body)) },
      },
    );
  }
}

async function checkChecksums(
  headers: Headers,
  trailers: Map<string, string>,
  body: Uint8Array,
): Promise<Record<string, string>> {
  const given: Array<[ChecksumAlgorithm, string]> = [];
  for (const algorithm of CHECKSUM_ALGORITHMS) {
    const name = `x-amz-checksum-${algorithm}`;
    const value = headers.get(name) ?? trailers.get(name);
    if (value !== undefined && value !== null) given.push([algorithm, value.trim()]);
  }
  const declaredTrailer = headers.get("x-amz-trailer")?.trim().toLowerCase();
  if (declaredTrailer && !trailers.has(declaredTrailer)) {
    throw new S3Error(
      "MalformedTrailerError",
      400,
      `The request declared the trailer "${declaredTrailer}" but did not send it`,
    );
  }
  if (given.length > 1) {
    throw invalidRequest(
      "Expecting a single x-amz-checksum- header. Multiple checksum Types are not allowed.",
    );
  }
  const out: Record<string, string> = {};
  for (const [algorithm, value] of given) {
    const computed = await checksum(algorithm, body);
    if (computed !== value) {
      throw new S3Error(
        "BadDigest",
        400,
        `The ${algorithm.toUpperCase()} you specified did not match the calculated checksum.`,
      );
    }
    out[`x-amz-checksum-${algorithm}`] = computed;
  }
  return out;
}
