/**
 * SigV4 signing with aws4fetch, without its fetch (which retries 5xx/429 up to ten
 * times on its own): we sign a Request here and the transport fetches it.
 *
 * Payload hashing: we sign the real SHA-256 of every body (`X-Amz-Content-Sha256`), not
 * aws4fetch's default `UNSIGNED-PAYLOAD` for S3. The signature then covers the body, so a
 * body altered or truncated on the way (plain-HTTP endpoints such as local MinIO, Ceph
 * or moto have no TLS to catch it) is rejected by the server instead of stored, and
 * servers that refuse unsigned payloads accept us. oq's bodies are small JSON documents,
 * so hashing them costs microseconds.
 *
 * @module
 */

import { AwsClient } from "aws4fetch";

/** Credentials and region to sign with. */
export interface SigningConfig {
  /** Access key id. */
  accessKeyId: string;
  /** Secret access key. */
  secretAccessKey: string;
  /** Session token, if any. */
  sessionToken?: string;
  /** Signing region. */
  region: string;
}

/** One request to sign. */
export interface UnsignedRequest {
  /** HTTP method. */
  method: string;
  /** Full URL, already encoded (see url.ts). */
  url: string;
  /** Headers to send (and sign, except the few SigV4 leaves unsigned). */
  headers: Record<string, string>;
  /** Body bytes, if any. */
  body?: Uint8Array;
  /** Abort signal carried by the Request. */
  signal?: AbortSignal;
  /** Signing time in ms since the epoch: the store's clock, so a skewed local clock is harmless. */
  timeMs: number;
}

const EMPTY_SHA256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

/** Lowercase hex SHA-256 of `bytes` (WebCrypto). */
export async function sha256Hex(bytes: Uint8Array): Promise<string> {
  if (bytes.length === 0) return EMPTY_SHA256;
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", bytes as BufferSource));
  let hex = "";
  for (const b of digest) hex += b.toString(16).padStart(2, "0");
  return hex;
}

/** `YYYYMMDDTHHMMSSZ`, the SigV4 timestamp format. */
export function amzDate(timeMs: number): string {
  return new Date(timeMs).toISOString().replace(/[:-]|\.\d{3}/g, "");
}

/**
 * Signs S3 requests. The only holder of the secret access key and the session token: they
 * live in private fields (aws4fetch's `AwsClient` keeps them as public properties, so the
 * client itself is private too), which `JSON.stringify`, `util.inspect`, `Deno.inspect`,
 * `Bun.inspect` and `console.log` cannot reach.
 */
export class RequestSigner {
  readonly #client: AwsClient;
  readonly #secrets: string[];

  /** Create a signer for the S3 service in one region. */
  constructor(config: SigningConfig) {
    this.#client = new AwsClient({
      accessKeyId: config.accessKeyId,
      secretAccessKey: config.secretAccessKey,
      sessionToken: config.sessionToken,
      service: "s3",
      region: config.region,
      retries: 0, // never used (we do not call AwsClient.fetch), but keep it inert anyway
    });
    // Short values (test keys like "x") cannot be told from ordinary words.
    this.#secrets = [config.secretAccessKey, config.sessionToken, config.accessKeyId]
      .filter((v): v is string => v !== undefined && v.length >= 8);
  }

  /** A signed Request, ready for fetch. */
  async sign(r: UnsignedRequest): Promise<Request> {
    const headers: Record<string, string> = {
      ...r.headers,
      "x-amz-content-sha256": await sha256Hex(r.body ?? new Uint8Array()),
    };
    return await this.#client.sign(r.url, {
      method: r.method,
      headers,
      body: r.body as BodyInit | undefined,
      signal: r.signal,
      // Redirects are answers (301 PermanentRedirect: wrong region), not places to resend
      // a request signed for another host.
      redirect: "manual",
      aws: { datetime: amzDate(r.timeMs) },
    });
  }

  /**
   * `text` with the credentials and any SigV4 signature replaced by `[redacted]`: for
   * messages built from what a server or a fetch implementation said.
   */
  redact(text: string): string {
    let out = text;
    for (const secret of this.#secrets) out = out.split(secret).join("[redacted]");
    // A signature is a credential too while it is valid (15 minutes).
    return out.replace(/(Signature=)[0-9a-fA-F]{64}/gi, "$1[redacted]");
  }
}
