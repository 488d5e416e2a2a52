/**
 * The headers the dev server stores with an object and returns on GET and HEAD, as S3
 * does: user metadata (`x-amz-meta-*`, at most 2 KB) and the representation headers
 * `Cache-Control`, `Content-Disposition`, `Content-Encoding` (without the transfer-only
 * `aws-chunked`), `Content-Language` and `Expires`; plus the `response-*` query
 * parameters that override them on a GET.
 *
 * @module
 */

import { invalidArgument, S3Error } from "./errors.ts";

/** Representation headers stored with an object. */
export const STORED_HEADERS = [
  "cache-control",
  "content-disposition",
  "content-encoding",
  "content-language",
  "expires",
] as const;

/** Largest user metadata (`x-amz-meta-*` names without the prefix, plus values), in bytes. */
export const MAX_USER_METADATA = 2048;

const encoder = new TextEncoder();
const utf8 = new TextDecoder("utf-8", { fatal: true });

function maxCode(s: string): number {
  let max = 0;
  for (let i = 0; i < s.length; i++) max = Math.max(max, s.charCodeAt(i));
  return max;
}

/**
 * A header value as text: the runtimes hand over header bytes one per character
 * (latin-1), so UTF-8 sent by a client arrives as mojibake; decode it when it is valid
 * UTF-8, keep it otherwise.
 */
function headerText(value: string): string {
  if (maxCode(value) < 0x80 || maxCode(value) > 0xff) return value;
  try {
    return utf8.decode(Uint8Array.from(value, (c) => c.charCodeAt(0)));
  } catch {
    return value;
  }
}

/**
 * A stored metadata value as a header value: as is when every character fits in one
 * byte (latin-1, what HTTP clients decode headers as), else the RFC 2047 encoded word S3
 * answers with (`=?UTF-8?B?...?=`).
 */
export function metadataHeaderValue(value: string): string {
  if (maxCode(value) <= 0xff) return value;
  let binary = "";
  for (const b of encoder.encode(value)) binary += String.fromCharCode(b);
  return `=?UTF-8?B?${btoa(binary)}?=`;
}

/** The stored headers of an object as answer headers (see {@link metadataHeaderValue}). */
export function answerHeaders(stored: Record<string, string> | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(stored ?? {})) {
    out[name] = name.startsWith("x-amz-meta-") ? metadataHeaderValue(value) : value;
  }
  return out;
}

/**
 * The headers of a PutObject (or of a CopyObject that replaces metadata) to store with
 * the object. Throws MetadataTooLarge beyond {@link MAX_USER_METADATA}.
 *
 * @example
 * ```ts
 * import { storedHeaders } from "./metadata.ts";
 * storedHeaders(new Headers({ "x-amz-meta-a": "1", "content-encoding": "aws-chunked,gzip" }));
 * // { "x-amz-meta-a": "1", "content-encoding": "gzip" }
 * ```
 */
export function storedHeaders(headers: Headers): Record<string, string> {
  const out: Record<string, string> = {};
  let size = 0;
  headers.forEach((value, name) => {
    if (!name.startsWith("x-amz-meta-")) return;
    const text = headerText(value);
    out[name] = text;
    size += encoder.encode(name.slice(11)).length + encoder.encode(text).length;
  });
  if (size > MAX_USER_METADATA) {
    throw new S3Error(
      "MetadataTooLarge",
      400,
      "Your metadata headers exceed the maximum allowed metadata size.",
      { fields: { Size: String(size), MaxSizeAllowed: String(MAX_USER_METADATA) } },
    );
  }
  for (const name of STORED_HEADERS) {
    const value = headers.get(name);
    if (value !== null) out[name] = value;
  }
  const encoding = out["content-encoding"];
  if (encoding !== undefined) {
    const kept = encoding.split(",").map((t) => t.trim()).filter((t) =>
      t !== "" && t.toLowerCase() !== "aws-chunked"
    );
    if (kept.length > 0) out["content-encoding"] = kept.join(", ");
    else delete out["content-encoding"];
  }
  return out;
}

const RESPONSE_OVERRIDES: Array<[string, string]> = [
  ["response-content-type", "content-type"],
  ["response-content-language", "content-language"],
  ["response-expires", "expires"],
  ["response-cache-control", "cache-control"],
  ["response-content-disposition", "content-disposition"],
  ["response-content-encoding", "content-encoding"],
];

/**
 * Apply the `response-*` query parameters of a GET to its answer headers. A value that
 * cannot be a header (CR, LF, other control characters) is InvalidArgument, as on S3.
 */
export function applyResponseOverrides(
  query: URLSearchParams,
  headers: Record<string, string>,
): void {
  for (const [param, name] of RESPONSE_OVERRIDES) {
    const value = query.get(param);
    if (value === null) continue;
    if (!/^[\t\x20-\x7e\x80-\xff]*$/.test(value)) {
      throw invalidArgument(
        `Header value cannot be represented using ISO-8859-1 or holds control characters`,
        param,
        value.replace(/[\r\n]/g, " "),
      );
    }
    headers[name] = value;
  }
}
