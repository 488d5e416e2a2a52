/**
 * SigV4 verification for the dev server: the `Authorization` header and presigned URLs
 * (query authentication), with HMAC-SHA256 from WebCrypto. It rebuilds the canonical
 * request the way AWS does for S3 (path decoded, then each segment RFC 3986-encoded once;
 * query pairs decoded, encoded and sorted; signed headers trimmed with inner whitespace
 * collapsed) and compares signatures in constant time.
 *
 * Any region in the credential scope is accepted (the dev server has no region), the
 * service must be `s3`, and the request time must be within 15 minutes of the server's.
 * The payload hash is returned for the body reader (`payload.ts`) to check.
 *
 * @module
 */

import { accessDenied, invalidArgument, invalidRequest, S3Error } from "./errors.ts";
import {
  sha256Hex,
  signaturesEqual,
  signHex,
  type SigningContext,
  signingKey,
} from "./sigv4_crypto.ts";

/** One access key / secret pair the dev server accepts. */
export interface Credentials {
  /** Access key id. */
  accessKeyId: string;
  /** Secret access key. */
  secretAccessKey: string;
}

/** A verified request. */
export interface VerifiedRequest {
  /** The access key id the request was signed with. */
  accessKeyId: string;
  /** The payload hash the request was signed with (`x-amz-content-sha256`). */
  payloadHash: string;
  /** Signing context, for streaming payloads. */
  signing: SigningContext;
}

/** Largest accepted difference between the request time and the server's, in ms. */
export const MAX_SKEW_MS = 15 * 60 * 1000;

const ALGORITHM = "AWS4-HMAC-SHA256";
const PAYLOAD_TOKENS = new Set([
  "UNSIGNED-PAYLOAD",
  "STREAMING-UNSIGNED-PAYLOAD-TRAILER",
  "STREAMING-AWS4-HMAC-SHA256-PAYLOAD",
  "STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER",
]);

/** RFC 3986 percent-encoding of every byte except `A-Z a-z 0-9 - _ . ~`. */
export function encodeRfc3986(s: string): string {
  return encodeURIComponent(s).replace(
    /[!'()*]/g,
    (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`,
  );
}

/** The canonical URI of a raw (still percent-encoded) path. */
export function canonicalUri(rawPath: string): string {
  if (rawPath === "") return "/";
  return rawPath.split("/").map((segment) => {
    try {
      return encodeRfc3986(decodeURIComponent(segment));
    } catch {
      throw new S3Error("InvalidURI", 400, "Couldn't parse the specified URI.");
    }
  }).join("/");
}

/** The canonical query string; `X-Amz-Signature` is left out. */
export function canonicalQuery(params: URLSearchParams): string {
  return [...params]
    .filter(([k]) => k !== "X-Amz-Signature")
    .map(([k, v]) => [encodeRfc3986(k), encodeRfc3986(v)] as const)
    .sort(([k1, v1], [k2, v2]) => (k1 < k2 ? -1 : k1 > k2 ? 1 : v1 < v2 ? -1 : v1 > v2 ? 1 : 0))
    .map(([k, v]) => `${k}=${v}`)
    .join("&");
}

/**
 * The bytes a client signed: header values arrive one character per byte (latin-1), so
 * each character up to U+00FF is that byte again (a client's UTF-8 is signed as UTF-8);
 * anything above (a runtime that decoded UTF-8 itself) is encoded as UTF-8.
 */
function headerBytes(s: string): Uint8Array {
  const out: number[] = [];
  for (const ch of s) {
    const c = ch.codePointAt(0)!;
    if (c <= 0xff) out.push(c);
    else out.push(...new TextEncoder().encode(ch));
  }
  return Uint8Array.from(out);
}

function malformed(message: string): S3Error {
  return new S3Error(
    "AuthorizationHeaderMalformed",
    400,
    `The authorization header is malformed; ${message}`,
  );
}

/** Parse `YYYYMMDDTHHMMSSZ` to ms; NaN when malformed. */
export function parseAmzDate(s: string): number {
  const m = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/.exec(s);
  if (!m) return NaN;
  return Date.UTC(+m[1]!, +m[2]! - 1, +m[3]!, +m[4]!, +m[5]!, +m[6]!);
}

function formatAmzDate(ms: number): string {
  return new Date(ms).toISOString().replace(/[:-]|\.\d{3}/g, "");
}

interface AuthParts {
  accessKeyId: string;
  date: string;
  region: string;
  service: string;
  terminator: string;
  signedHeaders: string[];
  signature: string;
  datetime: string;
  payloadHash: string;
  presigned: boolean;
}

function splitCredential(
  credential: string,
): Omit<AuthParts, "signedHeaders" | "signature" | "datetime" | "payloadHash" | "presigned"> {
  const parts = credential.split("/");
  if (parts.length !== 5) {
    throw malformed(
      `the Credential is mal-formed; expecting "<YOUR-AKID>/YYYYMMDD/REGION/SERVICE/aws4_request".`,
    );
  }
  const [accessKeyId, date, region, service, terminator] = parts as [
    string,
    string,
    string,
    string,
    string,
  ];
  return { accessKeyId, date, region, service, terminator };
}

function fromHeader(auth: string, headers: Headers): AuthParts {
  if (!auth.startsWith(`${ALGORITHM} `)) {
    if (auth.startsWith("AWS ")) {
      throw invalidRequest(
        "The authorization mechanism you have provided is not supported. Please use AWS4-HMAC-SHA256.",
      );
    }
    throw malformed(`the authorization mechanism is not ${ALGORITHM}`);
  }
  const fields = new Map<string, string>();
  for (const part of auth.slice(ALGORITHM.length + 1).split(",")) {
    const i = part.indexOf("=");
    if (i > 0) fields.set(part.slice(0, i).trim(), part.slice(i + 1).trim());
  }
  const credential = fields.get("Credential");
  const signed = fields.get("SignedHeaders");
  const signature = fields.get("Signature");
  if (!credential || !signed || !signature) {
    throw malformed("Credential, SignedHeaders and Signature are required");
  }
  let datetime = headers.get("x-amz-date") ?? "";
  if (!datetime) {
    const date = Date.parse(headers.get("date") ?? "");
    if (Number.isNaN(date)) {
      throw accessDenied("AWS authentication requires a valid Date or x-amz-date header");
    }
    datetime = formatAmzDate(date);
  }
  const payloadHash = headers.get("x-amz-content-sha256");
  if (payloadHash === null) {
    throw invalidRequest("Missing required header for this request: x-amz-content-sha256");
  }
  return {
    ...splitCredential(credential),
    signedHeaders: signed.split(";"),
    signature: signature.toLowerCase(),
    datetime,
    payloadHash,
    presigned: false,
  };
}

function fromQuery(q: URLSearchParams, headers: Headers, now: number): AuthParts {
  if (q.get("X-Amz-Algorithm") !== ALGORITHM) {
    throw invalidArgument(
      'X-Amz-Algorithm only supports "AWS4-HMAC-SHA256"',
      "X-Amz-Algorithm",
      q.get("X-Amz-Algorithm") ?? "",
    );
  }
  const credential = q.get("X-Amz-Credential");
  const signed = q.get("X-Amz-SignedHeaders");
  const signature = q.get("X-Amz-Signature");
  const datetime = q.get("X-Amz-Date");
  const expires = Number(q.get("X-Amz-Expires"));
  if (!credential || !signed || !signature || !datetime) {
    throw accessDenied(
      "Query-string authentication version 4 requires the X-Amz-Algorithm, X-Amz-Credential, X-Amz-Signature, X-Amz-Date, X-Amz-SignedHeaders, and X-Amz-Expires parameters.",
    );
  }
  if (!Number.isInteger(expires) || expires < 1 || expires > 604800) {
    throw accessDenied("X-Amz-Expires must be between 1 and 604800 seconds");
  }
  const start = parseAmzDate(datetime);
  if (!Number.isNaN(start) && now > start + expires * 1000) {
    throw new S3Error("AccessDenied", 403, "Request has expired", {
      fields: {
        "X-Amz-Expires": String(expires),
        Expires: new Date(start + expires * 1000).toISOString(),
        ServerTime: new Date(now).toISOString(),
      },
    });
  }
  return {
    ...splitCredential(credential),
    signedHeaders: signed.split(";"),
    signature: signature.toLowerCase(),
    datetime,
    payloadHash: headers.get("x-amz-content-sha256") ?? "UNSIGNED-PAYLOAD",
    presigned: true,
  };
}

/**
 * Where a request goes: its path exactly as sent (still percent-encoded, dot segments
 * kept) and its query. A `URL` fits, but parsing a URL removes dot segments, so the dev
 * server passes the raw request-target's path.
 */
export interface RequestTarget {
  /** The path as sent, e.g. `/bucket/a/../b%20c`. */
  pathname: string;
  /** The query parameters. */
  searchParams: URLSearchParams;
}

/**
 * Verify the SigV4 signature of a request. Throws an {@link S3Error} (403
 * AccessDenied, InvalidAccessKeyId, SignatureDoesNotMatch, RequestTimeTooSkewed; 400
 * AuthorizationHeaderMalformed, InvalidRequest) unless it was signed with one of the
 * `credentials`. Every `x-amz-*` header must be signed, in presigned URLs too (otherwise
 * a presigned PUT could become a CopyObject). The body is not read: check it against
 * `payloadHash` afterwards.
 *
 * @example
 * ```ts
 * import { verifySigV4 } from "./sigv4.ts";
 * const req = new Request("http://127.0.0.1:9000/");
 * await verifySigV4(req, new URL(req.url), { accessKeyId: "oqdev", secretAccessKey: "oqdevsecret" }, Date.now())
 *   .catch((e) => console.log(e.code)); // "AccessDenied": the request is not signed
 * ```
 */
export async function verifySigV4(
  req: Request,
  url: RequestTarget,
  credentials: Credentials | readonly Credentials[],
  now: number,
): Promise<VerifiedRequest> {
  const auth = req.headers.get("authorization");
  let parts: AuthParts;
  if (auth !== null) parts = fromHeader(auth, req.headers);
  else if (url.searchParams.has("X-Amz-Algorithm") || url.searchParams.has("X-Amz-Credential")) {
    parts = fromQuery(url.searchParams, req.headers, now);
  } else if (url.searchParams.has("AWSAccessKeyId")) {
    throw invalidRequest(
      "The authorization mechanism you have provided is not supported. Please use AWS4-HMAC-SHA256.",
    );
  } else {
    throw accessDenied(
      "Anonymous access is not allowed: sign requests with SigV4 (oq dev credentials)",
    );
  }
  const list: readonly Credentials[] = Array.isArray(credentials) ? credentials : [credentials];
  const account = list.find((c) => c.accessKeyId === parts.accessKeyId);
  if (account === undefined) {
    throw new S3Error(
      "InvalidAccessKeyId",
      403,
      "The AWS Access Key Id you provided does not exist in our records.",
      {
        fields: { AWSAccessKeyId: parts.accessKeyId },
      },
    );
  }
  if (
    parts.service !== "s3" || parts.terminator !== "aws4_request" || !/^\d{8}$/.test(parts.date)
  ) {
    throw malformed(
      `the credential scope "${parts.date}/${parts.region}/${parts.service}/${parts.terminator}" is not valid for s3`,
    );
  }
  const time = parseAmzDate(parts.datetime);
  if (Number.isNaN(time)) {
    throw accessDenied(`X-Amz-Date "${parts.datetime}" is not in the format YYYYMMDDTHHMMSSZ`);
  }
  if (parts.datetime.slice(0, 8) !== parts.date) {
    throw malformed(
      `Invalid credential date "${parts.date}". This date is not the same as X-Amz-Date: "${
        parts.datetime.slice(0, 8)
      }".`,
    );
  }
  if (!parts.presigned && Math.abs(time - now) > MAX_SKEW_MS) {
    throw new S3Error(
      "RequestTimeTooSkewed",
      403,
      "The difference between the request time and the current time is too large.",
      {
        fields: {
          RequestTime: parts.datetime,
          ServerTime: new Date(now).toISOString(),
          MaxAllowedSkewMilliseconds: String(MAX_SKEW_MS),
        },
      },
    );
  }
  if (parts.presigned && time - now > MAX_SKEW_MS) throw accessDenied("Request is not valid yet");
  if (!PAYLOAD_TOKENS.has(parts.payloadHash) && !/^[0-9a-f]{64}$/.test(parts.payloadHash)) {
    throw invalidArgument(
      "x-amz-content-sha256 must be UNSIGNED-PAYLOAD, STREAMING-..., or a valid sha256 value.",
      "x-amz-content-sha256",
      parts.payloadHash,
    );
  }
  const signedHeaders = parts.signedHeaders.map((h) => h.trim().toLowerCase());
  if (!signedHeaders.includes("host")) throw malformed("the host header must be signed");
  const unsigned: string[] = [];
  req.headers.forEach((_v, name) => {
    if (name.startsWith("x-amz-") && !signedHeaders.includes(name)) unsigned.push(name);
  });
  if (unsigned.length > 0) {
    throw new S3Error(
      "AccessDenied",
      403,
      "There were headers present in the request which were not signed",
      { fields: { HeadersNotSigned: unsigned.join(", ") } },
    );
  }
  const canonicalHeaders = signedHeaders
    .map((h) => `${h}:${(req.headers.get(h) ?? "").trim().replace(/\s+/g, " ")}\n`)
    .join("");
  const canonicalRequest = [
    req.method.toUpperCase(),
    canonicalUri(url.pathname),
    canonicalQuery(url.searchParams),
    canonicalHeaders,
    signedHeaders.join(";"),
    parts.payloadHash,
  ].join("\n");
  const scope = `${parts.date}/${parts.region}/s3/aws4_request`;
  const stringToSign = [
    ALGORITHM,
    parts.datetime,
    scope,
    await sha256Hex(headerBytes(canonicalRequest)),
  ].join("\n");
  const key = await signingKey(account.secretAccessKey, parts.date, parts.region, "s3");
  const expected = await signHex(key, stringToSign);
  if (!signaturesEqual(expected, parts.signature)) {
    throw new S3Error(
      "SignatureDoesNotMatch",
      403,
      "The request signature we calculated does not match the signature you provided. Check your key and signing method.",
      {
        fields: {
          AWSAccessKeyId: parts.accessKeyId,
          StringToSign: stringToSign,
          CanonicalRequest: canonicalRequest,
        },
      },
    );
  }
  return {
    accessKeyId: account.accessKeyId,
    payloadHash: parts.payloadHash,
    signing: { key, datetime: parts.datetime, scope, seedSignature: expected },
  };
}
